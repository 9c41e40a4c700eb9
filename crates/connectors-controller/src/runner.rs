//! The reconcile loop: reacts to catalog changes and re-probes periodically.

use crate::addressing::ProxyAddressing;
use crate::class_status::class_status;
use crate::connector_status::observe_connector;
use crate::fingerprint::Fingerprint;
use crate::probe::ProbeClient;
use connectors_catalog::{Catalog, ObjectRef, Snapshot};
use connectors_core::status::same_conditions;
use connectors_types::common::find_condition;
use connectors_types::condition;
use connectors_types::connector::ConnectorStatus;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Settings of the reconciler.
#[derive(Clone, Debug)]
pub struct ReconcilerConfig {
    /// How often every Connector is probed again even without changes.
    pub probe_interval: Duration,
    /// Deadline of one probe request.
    pub probe_timeout: Duration,
    /// How proxy addresses are formed.
    pub addressing: ProxyAddressing,
    /// Connectors reconciled at the same time at most.
    pub max_concurrent: usize,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        ReconcilerConfig {
            probe_interval: Duration::from_secs(300),
            probe_timeout: Duration::from_secs(10),
            addressing: ProxyAddressing::Standalone {
                base: "http://127.0.0.1:7480".into(),
            },
            max_concurrent: 8,
        }
    }
}

/// Uid and generation of each class as of its last status write.
type ClassSeen = HashMap<String, (Option<String>, Option<i64>)>;

/// What the reconcile loop keeps between passes.
struct LoopState {
    /// Fingerprint of each Connector as of its last started reconcile.
    seen: HashMap<ObjectRef, Fingerprint>,
    class_seen: ClassSeen,
    /// Connectors whose reconcile task is running.
    running: HashSet<ObjectRef>,
    /// Running Connectors that changed again meanwhile.
    dirty: HashSet<ObjectRef>,
    tasks: JoinSet<ObjectRef>,
    /// Bounds how many reconciles run at the same time.
    limit: Arc<Semaphore>,
}

impl LoopState {
    fn new(max_concurrent: usize) -> LoopState {
        LoopState {
            seen: HashMap::new(),
            class_seen: HashMap::new(),
            running: HashSet::new(),
            dirty: HashSet::new(),
            tasks: JoinSet::new(),
            limit: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    /// Records that the task of `key` ended; a dirty Connector is forgotten
    /// so that the next pass reconciles it again.
    fn finished(&mut self, key: &ObjectRef) {
        self.running.remove(key);
        if self.dirty.remove(key) {
            self.seen.remove(key);
        }
    }
}

/// Computes and writes the status of every Connector and class.
pub struct Reconciler {
    catalog: Arc<dyn Catalog>,
    config: ReconcilerConfig,
    client: ProbeClient,
}

impl Reconciler {
    /// Builds a reconciler; fails only when the system CA store is unusable.
    pub fn new(catalog: Arc<dyn Catalog>, config: ReconcilerConfig) -> Result<Reconciler, String> {
        let client = ProbeClient::new(config.probe_timeout)?;
        Ok(Reconciler {
            catalog,
            config,
            client,
        })
    }

    /// Runs until `shutdown` completes. Probes run in their own tasks, so a
    /// slow tool never delays the others (nor the proxy).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let this = Arc::new(self);
        let mut changes = this.catalog.subscribe();
        let mut state = LoopState::new(this.config.max_concurrent);
        let mut next_full = Instant::now();

        loop {
            let full = Instant::now() >= next_full;
            if full {
                next_full = Instant::now() + this.config.probe_interval;
            }
            let snap = this.catalog.snapshot();
            this.write_class_statuses(&snap, &mut state.class_seen)
                .await;
            this.start_reconciles(&snap, full, &mut state);

            tokio::select! {
                _ = &mut shutdown => break,
                r = changes.changed() => {
                    if r.is_err() {
                        break;
                    }
                }
                _ = tokio::time::sleep_until(next_full) => {}
                Some(done) = state.tasks.join_next(), if !state.tasks.is_empty() => {
                    if let Ok(key) = done {
                        state.finished(&key);
                    }
                }
            }
        }
        state.tasks.abort_all();
    }

    /// Writes the status of every class that is new, changed or has none,
    /// unless it equals the current one; forgets classes that are gone.
    async fn write_class_statuses(&self, snap: &Snapshot, class_seen: &mut ClassSeen) {
        for (name, class) in &snap.classes {
            let fp = (class.metadata.uid.clone(), class.metadata.generation);
            if class_seen.get(name) != Some(&fp) || class.status.is_none() {
                class_seen.insert(name.clone(), fp);
                let st = class_status(class, &self.config.addressing, &now());
                let unchanged = class
                    .status
                    .as_ref()
                    .map(|s| same_conditions(&s.conditions, &st.conditions) && s.proxy == st.proxy)
                    .unwrap_or(false);
                if !unchanged {
                    if let Err(e) = self.catalog.write_class_status(name, st).await {
                        tracing::debug!(class = %name, error = %e, "class status not written");
                    }
                }
            }
        }
        class_seen.retain(|n, _| snap.classes.contains_key(n));
    }

    /// Starts a reconcile task for every Connector that changed, has no
    /// status or is due (`full`); a Connector whose task is still running
    /// is marked dirty instead. Forgets Connectors that are gone.
    fn start_reconciles(self: &Arc<Self>, snap: &Snapshot, full: bool, state: &mut LoopState) {
        for (key, connector) in &snap.connectors {
            let fp = Fingerprint::of(snap, connector);
            let changed = state.seen.get(key) != Some(&fp);
            if !(changed || full || connector.status.is_none()) {
                continue;
            }
            state.seen.insert(key.clone(), fp);
            if state.running.contains(key) {
                state.dirty.insert(key.clone());
                continue;
            }
            state.running.insert(key.clone());
            let this2 = self.clone();
            let key2 = key.clone();
            let limit2 = state.limit.clone();
            let quick_first = changed;
            state.tasks.spawn(async move {
                let _permit = limit2.acquire_owned().await;
                this2.reconcile(&key2, quick_first).await;
                key2
            });
        }
        state.seen.retain(|k, _| snap.connectors.contains_key(k));
    }

    /// Reconciles one Connector: with `quick_first`, a status without probe
    /// results is written at once, then the probed one.
    async fn reconcile(&self, key: &ObjectRef, quick_first: bool) {
        if quick_first {
            self.observe_and_write(key, false).await;
        }
        self.observe_and_write(key, true).await;
    }

    async fn observe_and_write(&self, key: &ObjectRef, probes: bool) {
        let snap = self.catalog.snapshot();
        let Some(connector) = snap.connector(&key.namespace, &key.name).cloned() else {
            return;
        };
        if !probes {
            // A quick pass must not replace finished probe results of the
            // same generation with "in progress".
            if let Some(s) = &connector.status {
                if s.observed_generation == connector.metadata.generation
                    && !s.conditions.is_empty()
                {
                    return;
                }
            }
        }
        let status = observe_connector(
            &snap,
            &connector,
            &self.config.addressing,
            &self.client,
            probes,
            &now(),
        )
        .await;
        if unchanged(connector.status.as_ref(), &status) {
            return;
        }
        log_readiness(key, connector.status.as_ref(), &status);
        if let Err(e) = self
            .catalog
            .write_connector_status(&key.namespace, &key.name, status)
            .await
        {
            tracing::debug!(connector = %key, error = %e, "status not written");
        }
    }
}

fn unchanged(old: Option<&ConnectorStatus>, new: &ConnectorStatus) -> bool {
    match old {
        None => false,
        Some(o) => {
            same_conditions(&o.conditions, &new.conditions)
                && o.proxy == new.proxy
                && o.api == new.api
                && o.observed_generation == new.observed_generation
        }
    }
}

fn log_readiness(key: &ObjectRef, old: Option<&ConnectorStatus>, new: &ConnectorStatus) {
    let ready = |s: Option<&ConnectorStatus>| {
        s.and_then(|s| find_condition(&s.conditions, condition::READY))
            .map(|c| (c.status, c.reason.clone(), c.message.clone()))
    };
    let before = ready(old);
    let after = ready(Some(new));
    if before == after {
        return;
    }
    if let Some((status, reason, message)) = after {
        match status {
            connectors_types::ConditionStatus::True => {
                tracing::info!(connector = %key, "connector is ready")
            }
            connectors_types::ConditionStatus::False => tracing::warn!(
                connector = %key,
                reason = reason.as_deref().unwrap_or(""),
                detail = message.as_deref().unwrap_or(""),
                "connector is not ready"
            ),
            connectors_types::ConditionStatus::Unknown => tracing::debug!(
                connector = %key,
                reason = reason.as_deref().unwrap_or(""),
                "connector readiness unknown"
            ),
        }
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
