//! Noticing manifest changes: file system events (debounced) plus a
//! periodic rescan for file systems and cases that give no events.

use super::LocalCatalog;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use std::path::Path;
use std::sync::Weak;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Starts watching `dir` and spawns the reload task on `runtime`. The
/// returned watcher must be kept alive for events to arrive; without it
/// (events unavailable) changes are still noticed by the rescan.
pub fn start(
    runtime: &Handle,
    catalog: Weak<LocalCatalog>,
    dir: &Path,
    rescan: Duration,
    debounce: Duration,
) -> Option<notify::RecommendedWatcher> {
    let (tx, rx) = mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // An error (e.g. an event queue overflow) may hide changes: reload.
        if res.map(|e| is_relevant(&e.kind)).unwrap_or(true) {
            let _ = tx.send(());
        }
    })
    .and_then(|mut w| w.watch(dir, RecursiveMode::Recursive).map(|_| w));
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                dir = %dir.display(),
                error = %e,
                "file events unavailable; changes are noticed by rescanning every {}",
                humantime::format_duration(rescan)
            );
            None
        }
    };
    runtime.spawn(run(
        catalog,
        rx,
        rescan.max(Duration::from_millis(10)),
        debounce,
    ));
    watcher
}

/// Whether an event can mean changed content. Opening or reading a file
/// (the loader's own reads among them) cannot; closing a file written to
/// can.
fn is_relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// How long after its last change a file is left alone by the watcher, so
/// that a file being rewritten in place (truncated, then filled) is not
/// read half written.
const SETTLE: Duration = Duration::from_millis(50);

async fn run(
    catalog: Weak<LocalCatalog>,
    mut events: mpsc::UnboundedReceiver<()>,
    rescan: Duration,
    debounce: Duration,
) {
    let mut tick = tokio::time::interval_at(Instant::now() + rescan, rescan);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut events_open = true;
    // When a file still being written is to be looked at again.
    let mut retry: Option<Instant> = None;
    loop {
        tokio::select! {
            e = events.recv(), if events_open => {
                if e.is_none() {
                    // The watcher is gone; the rescan carries on alone.
                    events_open = false;
                    continue;
                }
                // Let a burst of events (an editor's save) settle.
                tokio::time::sleep(debounce).await;
                while events.try_recv().is_ok() {}
            }
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(retry.unwrap_or_else(Instant::now)), if retry.is_some() => {}
        }
        let Some(c) = catalog.upgrade() else { return };
        match tokio::task::spawn_blocking(move || c.reload_settled(SETTLE)).await {
            Ok(pending) => retry = pending.then(|| Instant::now() + SETTLE),
            // The runtime is shutting down.
            Err(e) if !e.is_panic() => return,
            Err(e) => {
                retry = None;
                tracing::error!(error = %e, "reloading the manifests failed; retrying at the next change or rescan");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind};

    #[test]
    fn own_reads_do_not_trigger_reloads() {
        assert!(!is_relevant(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_relevant(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(is_relevant(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_relevant(&EventKind::Modify(ModifyKind::Any)));
        assert!(is_relevant(&EventKind::Create(CreateKind::File)));
        assert!(is_relevant(&EventKind::Remove(
            notify::event::RemoveKind::Any
        )));
    }
}
