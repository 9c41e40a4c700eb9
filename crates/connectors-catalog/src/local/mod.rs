//! The `local` backend: manifests from a directory, re-read when they
//! change; tokens signed by a local key; a namespace-scoped policy.

mod files;
mod identity;
mod loader;
mod policy;
mod store;
mod watch;

pub use files::{check_private_mode, ensure_private_dir, write_private};
pub use identity::{
    IssuedToken, TokenIssuer, AUDIENCE, ISSUER, MAX_TTL, MIN_TTL, SIGNING_KEY_FILE,
};
pub use loader::MAX_MANIFEST_BYTES;
pub use policy::LocalPolicy;

use crate::access::{AccessCheck, AuthError, Decision, Identity};
use crate::snapshot::{ObjectRef, Snapshot};
use crate::{Catalog, CatalogError};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use connectors_types::connector::ConnectorStatus;
use connectors_types::connector_class::ConnectorClassStatus;
use loader::Loader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::Store;
use tokio::sync::watch as channel;

/// Tuning of the local backend.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// How often every file is checked even without a file event (a
    /// fallback for file systems without events; unchanged files cost one
    /// `stat`). Default 2 s.
    pub rescan_interval: Duration,
    /// How long a burst of file events may settle before reloading (an
    /// editor's save is several events). Default 150 ms.
    pub debounce: Duration,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            rescan_interval: Duration::from_secs(2),
            debounce: Duration::from_millis(150),
        }
    }
}

/// A manifest file, document or directory that could not be loaded. The
/// objects it held before keep being served until it is fixed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadProblem {
    /// The file (or a subdirectory that cannot be listed).
    pub file: PathBuf,
    /// Zero-based document index, when the problem is one document.
    pub document: Option<usize>,
    /// What is wrong (never a Secret value).
    pub message: String,
}

impl std::fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.document {
            Some(d) => write!(f, "{}: document {d}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Errors of the local backend.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A file or directory could not be used.
    #[error("{path}: {source}; check that it exists and that this user may use it")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The signing key is missing, unreadable or unsafe.
    #[error("{0}")]
    Key(String),
    /// A request was invalid (bad namespace, ttl, …).
    #[error("{0}")]
    Invalid(String),
}

impl LocalError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> LocalError {
        LocalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Objects, statuses and problems: what snapshots are built from. Held only
/// briefly (no I/O under this lock).
struct State {
    store: Store,
    problems: Vec<LoadProblem>,
}

/// The local backend: serves the manifests of one directory, re-read when
/// they change, with tokens of a local signing key and the
/// [`LocalPolicy`].
///
/// Every change (a file edited, added or removed, a load problem appearing
/// or going away, a status written) publishes a new [`Snapshot`] and sends
/// its generation to every [`Catalog::subscribe`] receiver.
pub struct LocalCatalog {
    config_dir: PathBuf,
    /// The files and what they held; locked while files are read, before
    /// `state`.
    loader: Mutex<Loader>,
    state: Mutex<State>,
    snapshot: ArcSwap<Snapshot>,
    changes: channel::Sender<u64>,
    issuer: TokenIssuer,
    policy: LocalPolicy,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

impl std::fmt::Debug for LocalCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCatalog")
            .field("config_dir", &self.config_dir)
            .field("generation", &self.snapshot.load().generation)
            .finish_non_exhaustive()
    }
}

impl LocalCatalog {
    /// Loads every manifest under `config_dir` (`.yaml`, `.yml`, `.json`,
    /// recursively, hidden entries skipped) and starts watching it. The
    /// token signing key lives in `data_dir` (created with the key on first
    /// start). Must be called inside a tokio runtime; the watcher task ends
    /// when the last `Arc` of the catalog is dropped.
    pub fn start(
        config_dir: &Path,
        data_dir: &Path,
        opts: LocalOptions,
    ) -> Result<Arc<LocalCatalog>, LocalError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            LocalError::Invalid("the local catalog must be started inside a tokio runtime".into())
        })?;
        if !config_dir.is_dir() {
            return Err(LocalError::Invalid(format!(
                "{} is not a directory; pass --config a directory of manifests (it may be empty)",
                config_dir.display()
            )));
        }
        let issuer = TokenIssuer::load_or_create(data_dir)?;
        let mut loader = Loader::new(config_dir);
        loader.scan(Duration::ZERO);
        let (desired, problems) = loader.desired();
        let mut store = Store::default();
        let snapshot = store
            .set_desired(desired)
            .unwrap_or_else(|| store.snapshot());
        tracing::info!(
            dir = %config_dir.display(),
            connectors = snapshot.connectors.len(),
            classes = snapshot.classes.len(),
            secrets = snapshot.secrets.len(),
            problems = problems.len(),
            "manifests loaded"
        );
        let (changes, _) = channel::channel(snapshot.generation);
        let catalog = Arc::new(LocalCatalog {
            config_dir: config_dir.to_path_buf(),
            loader: Mutex::new(loader),
            state: Mutex::new(State { store, problems }),
            snapshot: ArcSwap::from_pointee(snapshot),
            changes,
            issuer,
            policy: LocalPolicy,
            watcher: Mutex::new(None),
        });
        let watcher = watch::start(
            &runtime,
            Arc::downgrade(&catalog),
            config_dir,
            opts.rescan_interval,
            opts.debounce,
        );
        *lock(&catalog.watcher) = watcher;
        Ok(catalog)
    }

    /// The token issuer of this installation.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// The current manifest problems (files or documents that are not
    /// loaded), in path order; empty when every file is good.
    pub fn problems(&self) -> Vec<LoadProblem> {
        lock(&self.state).problems.clone()
    }

    /// The manifest directory.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// Re-reads changed files now and publishes a new snapshot if anything
    /// changed. Blocking file I/O; the watcher does this on its own, call it
    /// only to force a reload (tests, signal handlers) from a thread that
    /// may block.
    pub fn reload(&self) {
        self.reload_settled(Duration::ZERO);
    }

    /// [`reload`](Self::reload), leaving files changed less than `settle`
    /// ago for later (they may be half written). Returns whether such a
    /// file is waiting.
    pub(crate) fn reload_settled(&self, settle: Duration) -> bool {
        let mut loader = lock(&self.loader);
        let changed = loader.scan(settle);
        let pending = loader.pending();
        if !changed {
            return pending;
        }
        let (desired, problems) = loader.desired();
        let mut st = lock(&self.state);
        let problems_changed = st.problems != problems;
        st.problems = problems;
        match st.store.set_desired(desired) {
            Some(snap) => self.publish(snap),
            // A file turned bad (or good again) without changing objects:
            // still a new generation, so watchers notice.
            None if problems_changed => {
                let snap = st.store.bump();
                self.publish(snap);
            }
            None => {}
        }
        pending
    }

    /// Stores a new snapshot and tells subscribers; called with `state`
    /// locked so snapshots are published in generation order.
    fn publish(&self, snap: Snapshot) {
        let generation = snap.generation;
        tracing::debug!(
            generation,
            connectors = snap.connectors.len(),
            classes = snap.classes.len(),
            secrets = snap.secrets.len(),
            "catalog updated"
        );
        self.snapshot.store(Arc::new(snap));
        self.changes.send_replace(generation);
    }
}

/// Locks a mutex, carrying on after a panic of another holder: serving the
/// state as it was beats taking every request down, and the next reload
/// rebuilds it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl Catalog for LocalCatalog {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    fn subscribe(&self) -> channel::Receiver<u64> {
        self.changes.subscribe()
    }

    async fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        self.issuer.verify(token)
    }

    async fn authorize(
        &self,
        identity: &Identity,
        check: &AccessCheck,
    ) -> Result<Decision, AuthError> {
        Ok(self.policy.decide(identity, check))
    }

    async fn write_connector_status(
        &self,
        namespace: &str,
        name: &str,
        status: ConnectorStatus,
    ) -> Result<(), CatalogError> {
        let key = ObjectRef::new(namespace, name);
        let mut st = lock(&self.state);
        match st.store.set_connector_status(key.clone(), status) {
            Ok(Some(snap)) => {
                self.publish(snap);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(()) => Err(CatalogError::NotFound {
                kind: "connector",
                key: key.to_string(),
            }),
        }
    }

    async fn write_class_status(
        &self,
        name: &str,
        status: ConnectorClassStatus,
    ) -> Result<(), CatalogError> {
        let mut st = lock(&self.state);
        match st.store.set_class_status(name, status) {
            Ok(Some(snap)) => {
                self.publish(snap);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(()) => Err(CatalogError::NotFound {
                kind: "connectorclass",
                key: name.to_string(),
            }),
        }
    }
}
