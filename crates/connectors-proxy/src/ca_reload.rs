//! Picking up a rotated proxy CA without a restart.
//!
//! The CA files under the data directory are looked at on a fixed period
//! (their size, modification time, mode and inode, following symbolic links,
//! so a Kubernetes Secret volume's swap of its `..data` link counts too).
//! When they changed and hold a usable CA with another fingerprint, the
//! proxy signs new intercepted connections with it and the caller is told
//! (to publish the new PEM to renderers). Files that changed but cannot be
//! used are looked at once more on the next period, since a rotation that
//! writes the key and the certificate one after the other passes through
//! a state where they do not match; when they are still unusable, a
//! warning names the problem and the proxy keeps the CA it has. The files
//! are never written here: a missing CA is not replaced by a new one, which
//! every client would reject.

use crate::ca::{ProxyCa, CA_CERT_FILE, CA_KEY_FILE};
use crate::Proxy;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What identifies the content of one file without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    mode: u32,
    inode: u64,
}

/// The stamps of the key and the certificate (`None`: not readable).
type Stamps = [Option<Stamp>; 2];

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (mode, inode) = {
        use std::os::unix::fs::MetadataExt;
        (meta.mode(), meta.ino())
    };
    #[cfg(not(unix))]
    let (mode, inode) = (0, 0);
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        mode,
        inode,
    })
}

/// What one look at the files led to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The files did not change.
    Unchanged,
    /// They changed and hold the CA in use.
    Same,
    /// The proxy now signs with the CA they hold.
    Replaced,
    /// They changed but hold no usable CA; looked at again next time.
    Waiting,
    /// They still hold no usable CA; the CA in use is kept.
    Kept,
}

/// The CA files of one data directory, and what was last made of them.
pub(crate) struct CaFiles {
    dir: PathBuf,
    handled: Stamps,
    failing: Option<Stamps>,
}

impl CaFiles {
    /// The files of `dir`, taken as the source of the CA in use now.
    pub(crate) fn new(dir: &Path) -> CaFiles {
        let mut files = CaFiles {
            dir: dir.to_path_buf(),
            handled: [None, None],
            failing: None,
        };
        files.handled = files.stamps();
        files
    }

    fn stamps(&self) -> Stamps {
        [
            stamp(&self.dir.join(CA_KEY_FILE)),
            stamp(&self.dir.join(CA_CERT_FILE)),
        ]
    }

    /// Looks at the files once; replaces the proxy's CA when they hold
    /// another usable one.
    pub(crate) fn check(&mut self, proxy: &Proxy) -> Outcome {
        let now = self.stamps();
        if now == self.handled {
            return Outcome::Unchanged;
        }
        let current = proxy.ca();
        match ProxyCa::load(&self.dir) {
            Ok(ca) => {
                self.handled = now;
                self.failing = None;
                if ca.fingerprint() == current.fingerprint() {
                    return Outcome::Same;
                }
                tracing::info!(
                    previous = %current.fingerprint(),
                    fingerprint = %ca.fingerprint(),
                    valid_until = %ca.valid_until(),
                    "the proxy CA changed on disk: new intercepted connections get certificates it signs; clients need its certificate (mount again)"
                );
                proxy.replace_ca(ca);
                Outcome::Replaced
            }
            Err(e) if self.failing.as_ref() == Some(&now) => {
                self.handled = now;
                self.failing = None;
                tracing::warn!(
                    dir = %self.dir.display(),
                    fingerprint = %current.fingerprint(),
                    error = %e,
                    "the proxy CA files changed but hold no usable CA; the proxy keeps signing with the CA it has"
                );
                Outcome::Kept
            }
            Err(e) => {
                tracing::debug!(error = %e, "the proxy CA files changed and are not usable yet");
                self.failing = Some(now);
                Outcome::Waiting
            }
        }
    }
}

/// See [`Proxy::watch_ca_files`].
pub(crate) async fn watch(
    proxy: Proxy,
    dir: PathBuf,
    every: Duration,
    mut replaced: impl FnMut(&ProxyCa) + Send,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut files = CaFiles::new(&dir);
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        let checked = {
            let proxy = proxy.clone();
            let mut f = files;
            tokio::task::spawn_blocking(move || {
                let outcome = f.check(&proxy);
                (f, outcome)
            })
            .await
        };
        let Ok((f, outcome)) = checked else { return };
        files = f;
        if outcome == Outcome::Replaced {
            replaced(&proxy.ca());
        }
    }
}
