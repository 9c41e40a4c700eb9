//! The `local` backend: manifests from a directory, re-read when they
//! change; tokens signed by a local key; a namespace-scoped policy.

mod files;
mod identity;
mod loader;
mod policy;
mod store;
mod watch;

pub use files::{check_private_mode, ensure_private_dir, write_private};
pub use identity::{IssuedToken, TokenIssuer, AUDIENCE, ISSUER, SIGNING_KEY_FILE};
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
    /// Full rescan interval (a fallback for missed file events).
    pub rescan_interval: Duration,
    /// How long a burst of file events may settle before reloading.
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

/// A manifest document that could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadProblem {
    /// The file.
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
    #[error("{path}: {source}")]
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

struct State {
    loader: Loader,
    store: Store,
    problems: Vec<LoadProblem>,
}

/// The local backend.
pub struct LocalCatalog {
    config_dir: PathBuf,
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
            .finish()
    }
}

impl LocalCatalog {
    /// Loads every manifest under `config_dir` and starts watching it. The
    /// token signing key lives in `data_dir` (created on first start). Must
    /// run inside a tokio runtime.
    pub fn start(
        config_dir: &Path,
        data_dir: &Path,
        opts: LocalOptions,
    ) -> Result<Arc<LocalCatalog>, LocalError> {
        if !config_dir.is_dir() {
            return Err(LocalError::Invalid(format!(
                "{} is not a directory of manifests",
                config_dir.display()
            )));
        }
        let issuer = TokenIssuer::load_or_create(data_dir)?;
        let mut loader = Loader::new(config_dir);
        loader.scan();
        let (desired, problems) = loader.desired();
        let mut store = Store::default();
        let snapshot = store
            .set_desired(desired)
            .unwrap_or_else(|| store.snapshot());
        let (changes, _) = channel::channel(snapshot.generation);
        let catalog = Arc::new(LocalCatalog {
            config_dir: config_dir.to_path_buf(),
            state: Mutex::new(State {
                loader,
                store,
                problems,
            }),
            snapshot: ArcSwap::from_pointee(snapshot),
            changes,
            issuer,
            policy: LocalPolicy,
            watcher: Mutex::new(None),
        });
        let watcher = watch::start(
            Arc::downgrade(&catalog),
            config_dir,
            opts.rescan_interval,
            opts.debounce,
        );
        *catalog.watcher.lock().unwrap_or_else(|e| e.into_inner()) = watcher;
        Ok(catalog)
    }

    /// The token issuer of this installation.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// Current manifest load problems.
    pub fn problems(&self) -> Vec<LoadProblem> {
        self.lock().problems.clone()
    }

    /// The manifest directory.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// Re-reads changed files now and publishes a new snapshot if anything
    /// changed. Called by the watcher; callable by tests and signal handlers.
    pub fn reload(&self) {
        let mut st = self.lock();
        if !st.loader.scan() {
            return;
        }
        let (desired, problems) = st.loader.desired();
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
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

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
        let mut st = self.lock();
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
        let mut st = self.lock();
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
