//! Nothing left behind when a long program built on the kit (the
//! benchmark) is interrupted.
//!
//! The peers of the kit run in process groups of their own, so a Ctrl-C on
//! the terminal does not reach them, and a program killed by a signal runs
//! no destructor: nginx, haproxy and the proxy would stay up, holding their
//! ports, and their temporary directories would stay on disk. The kit
//! therefore records every process group a [`ProcessGuard`] starts and
//! every directory made with [`scratch_dir`] while they live, and
//! [`install`] makes SIGINT, SIGTERM and SIGHUP stop those groups (SIGTERM,
//! then SIGKILL after a grace period), remove those directories and end
//! the program with status 128 + the signal's number.
//!
//! [`ProcessGuard`]: crate::process::ProcessGuard

use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long the stopped groups get after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// Process groups and directories alive right now.
struct Live {
    groups: Vec<u32>,
    dirs: Vec<PathBuf>,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    groups: Vec::new(),
    dirs: Vec::new(),
});

fn live() -> MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn track_group(pgid: u32) {
    live().groups.push(pgid);
}

pub(crate) fn untrack_group(pgid: u32) {
    live().groups.retain(|g| *g != pgid);
}

/// A temporary directory that is removed when dropped, and also when the
/// program is interrupted (see [`install`]).
#[derive(Debug)]
pub struct ScratchDir {
    dir: TempDir,
}

impl ScratchDir {
    /// Where the directory is.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let path = self.dir.path();
        live().dirs.retain(|d| d != path);
    }
}

/// Makes a temporary directory named `PREFIX…` in the system's temporary
/// directory.
pub fn scratch_dir(prefix: &str) -> Result<ScratchDir> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .with_context(|| format!("making a temporary directory {prefix}…"))?;
    live().dirs.push(dir.path().to_path_buf());
    Ok(ScratchDir { dir })
}

/// From now on, SIGINT, SIGTERM and SIGHUP stop every live process group
/// of the kit, remove every live scratch directory, say so on standard
/// error (prefixed with `program`) and end the process with 128 + the
/// signal's number. Call it once, early in `main`; not in tests, whose
/// harness owns the process.
pub fn install(program: &'static str) -> Result<()> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
    std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            let signal = rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let streams = (|| {
                    Ok::<_, std::io::Error>((
                        signal(SignalKind::interrupt())?,
                        signal(SignalKind::terminate())?,
                        signal(SignalKind::hangup())?,
                    ))
                })();
                let (mut int, mut term, mut hup) = match streams {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return None;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                tokio::select! {
                    _ = int.recv() => Some((libc::SIGINT, "SIGINT")),
                    _ = term.recv() => Some((libc::SIGTERM, "SIGTERM")),
                    _ = hup.recv() => Some((libc::SIGHUP, "SIGHUP")),
                }
            });
            if let Some((number, name)) = signal {
                // Held until the process ends: a guard dropped meanwhile on
                // another thread waits here instead of racing the clean-up.
                let mut live = live();
                eprintln!(
                    "{program}: interrupted by {name}; stopping {} process group(s) and removing {} temporary director{}",
                    live.groups.len(),
                    live.dirs.len(),
                    if live.dirs.len() == 1 { "y" } else { "ies" }
                );
                clean_up(&mut live, GRACE);
                std::process::exit(128 + number);
            }
        })
        .context("starting the signal thread")?;
    ready_rx
        .recv()
        .map_err(|_| anyhow!("the signal thread ended before it was ready"))?
        .context("listening for SIGINT, SIGTERM and SIGHUP")
}

/// Stops `live`'s groups (SIGTERM, SIGKILL to what is left after `grace`),
/// reaps their leaders and removes its directories. Returns the groups
/// that needed SIGKILL.
fn clean_up(live: &mut Live, grace: Duration) -> Vec<u32> {
    for g in &live.groups {
        crate::process::kill_group(*g, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    let mut left = std::mem::take(&mut live.groups);
    loop {
        left.retain(|g| !reaped(*g, libc::WNOHANG));
        if left.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for g in &left {
        crate::process::kill_group(*g, libc::SIGKILL);
        reaped(*g, 0);
    }
    for d in std::mem::take(&mut live.dirs) {
        let _ = std::fs::remove_dir_all(d);
    }
    left
}

/// Whether the leader `pid` has exited (and is now reaped), or is not a
/// child of this process to wait for. `options`: `WNOHANG` to only look,
/// 0 to wait for it.
fn reaped(pid: u32, options: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    let mut status = 0;
    // SAFETY: waitpid(2) with a valid pointer to an int.
    let r = unsafe { libc::waitpid(pid, &mut status, options) };
    r != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{process_alive, ProcessGuard};
    use std::process::Command;

    #[test]
    fn scratch_dirs_are_recorded_while_they_live() {
        let dir = scratch_dir("interrupt-test-").unwrap();
        let path = dir.path().to_path_buf();
        assert!(path.is_dir());
        assert!(live().dirs.contains(&path));
        drop(dir);
        assert!(!path.exists());
        assert!(!live().dirs.contains(&path));
    }

    #[test]
    fn guarded_groups_are_recorded_until_stopped() {
        let mut guard = ProcessGuard::spawn("sleep", Command::new("sleep").arg("100")).unwrap();
        let pid = guard.pid();
        assert!(live().groups.contains(&pid));
        guard.stop();
        assert!(!live().groups.contains(&pid));
    }

    #[test]
    fn clean_up_stops_the_groups_and_removes_the_dirs() {
        // A registry of its own: the global one holds other tests' peers.
        let mut polite = ProcessGuard::spawn("sleep", Command::new("sleep").arg("100")).unwrap();
        // A shell that ignores SIGTERM, with children in its group.
        let mut stubborn = ProcessGuard::spawn(
            "stubborn",
            Command::new("sh").args(["-c", "trap '' TERM; while :; do sleep 0.1; done"]),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let dir = tempfile::tempdir().unwrap().keep();
        let mut own = Live {
            groups: vec![polite.pid(), stubborn.pid()],
            dirs: vec![dir.clone()],
        };
        let killed = clean_up(&mut own, Duration::from_millis(500));
        assert_eq!(killed, vec![stubborn.pid()]);
        assert!(!process_alive(polite.pid()));
        assert!(!process_alive(stubborn.pid()));
        assert!(!dir.exists());
        assert!(own.groups.is_empty() && own.dirs.is_empty());
        // The guards find their processes already gone.
        polite.set_grace(Duration::from_millis(10));
        stubborn.set_grace(Duration::from_millis(10));
        drop((polite, stubborn));
    }
}
