//! Picking up a rotated proxy CA without a restart.
//!
//! The CA files under the data directory are looked at on a fixed period
//! (their size, modification time, mode and inode, following symbolic links,
//! so a Kubernetes Secret volume's swap of its `..data` link counts too).
//! When they changed and hold a usable CA other than the one in use (another
//! certificate, or the same with other certificates after it), the proxy
//! signs new intercepted connections with it and the caller is told
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
    /// The files of `dir`; the first look compares what they hold with the
    /// CA in use (they may have changed since it was loaded).
    pub(crate) fn new(dir: &Path) -> CaFiles {
        CaFiles {
            dir: dir.to_path_buf(),
            handled: [None, None],
            failing: None,
        }
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
                if ca.ca_pem() == current.ca_pem() {
                    return Outcome::Same;
                }
                tracing::info!(
                    previous = %current.fingerprint(),
                    fingerprint = %ca.fingerprint(),
                    valid_until = %ca.valid_until(),
                    chain = ca.chain().len(),
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

/// How long before the CA's end of validity warnings start.
const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often the warning is repeated.
const EXPIRY_REPEAT: Duration = Duration::from_secs(24 * 3600);

/// Warns, at most once per [`EXPIRY_REPEAT`], while the CA in use ends
/// within [`EXPIRY_WARNING`].
struct ExpiryWarning {
    last: Option<SystemTime>,
}

impl ExpiryWarning {
    fn check(&mut self, ca: &ProxyCa, now: SystemTime) -> bool {
        let left = ca.seconds_left(now);
        if left > EXPIRY_WARNING.as_secs() as i64 {
            return false;
        }
        if let Some(last) = self.last {
            if now.duration_since(last).unwrap_or_default() < EXPIRY_REPEAT {
                return false;
            }
        }
        self.last = Some(now);
        tracing::warn!(
            fingerprint = %ca.fingerprint(),
            valid_until = %ca.valid_until(),
            days_left = left.max(0) / 86_400,
            "the proxy CA expires soon: clients will reject intercepted connections then; rotate it (connectors ca rotate, or replace proxy-ca.crt and proxy-ca.key)"
        );
        true
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
    let mut expiry = ExpiryWarning { last: None };
    expiry.check(&proxy.ca(), SystemTime::now());
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
        let Ok((f, outcome)) = checked else {
            tracing::error!(
                "looking at the proxy CA files failed; a rotated CA is not taken until a restart"
            );
            return;
        };
        files = f;
        if outcome == Outcome::Replaced {
            replaced(&proxy.ca());
            expiry.last = None;
        }
        expiry.check(&proxy.ca(), SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_warned_within_thirty_days_once_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ProxyCa::load_or_create(dir.path()).unwrap();
        let end = std::time::UNIX_EPOCH + Duration::from_secs(ca.not_after_unix() as u64);
        let mut w = ExpiryWarning { last: None };
        assert!(!w.check(&ca, end - EXPIRY_WARNING - Duration::from_secs(60)));
        assert!(w.check(&ca, end - Duration::from_secs(3600)));
        assert!(
            !w.check(&ca, end - Duration::from_secs(60)),
            "repeated within a day"
        );
        let a_day_later = end - Duration::from_secs(3600) + EXPIRY_REPEAT;
        assert!(w.check(&ca, a_day_later), "a day later, and past the end");
    }
}
