//! Noticing manifest changes: filesystem events plus a periodic rescan.

use super::LocalCatalog;
use notify::{RecursiveMode, Watcher};
use std::path::Path;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::mpsc;

/// Starts watching `dir`; the returned watcher must be kept alive. Falls
/// back to the periodic rescan alone when events are unavailable.
pub fn start(
    catalog: Weak<LocalCatalog>,
    dir: &Path,
    rescan: Duration,
    debounce: Duration,
) -> Option<notify::RecommendedWatcher> {
    let (tx, rx) = mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok() {
            let _ = tx.send(());
        }
    })
    .and_then(|mut w| w.watch(dir, RecursiveMode::Recursive).map(|_| w));
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "file events unavailable; changes are noticed by rescanning every {}", humantime::format_duration(rescan));
            None
        }
    };
    tokio::spawn(run(catalog, rx, rescan, debounce));
    watcher
}

async fn run(
    catalog: Weak<LocalCatalog>,
    mut events: mpsc::UnboundedReceiver<()>,
    rescan: Duration,
    debounce: Duration,
) {
    let mut tick = tokio::time::interval(rescan);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            e = events.recv() => {
                if e.is_none() {
                    // The watcher is gone; keep rescanning.
                    loop {
                        tick.tick().await;
                        let Some(c) = catalog.upgrade() else { return };
                        c.reload();
                    }
                }
                // Let a burst of events (an editor's save) settle.
                tokio::time::sleep(debounce).await;
                while events.try_recv().is_ok() {}
            }
            _ = tick.tick() => {}
        }
        let Some(c) = catalog.upgrade() else { return };
        c.reload();
    }
}
