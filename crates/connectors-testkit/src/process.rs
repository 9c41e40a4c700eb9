//! Child processes that cannot outlive their test, and commands with a
//! deadline.

use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a process gets to exit after SIGTERM before SIGKILL.
const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// A child process started in its own process group. Dropping the guard
/// sends SIGTERM to the whole group, then SIGKILL to what is left after a
/// grace period, and reaps the child.
pub struct ProcessGuard {
    name: String,
    child: Option<Child>,
    grace: Duration,
}

impl ProcessGuard {
    /// Spawns `cmd` as the leader of a new process group.
    pub fn spawn(name: impl Into<String>, cmd: &mut Command) -> Result<ProcessGuard> {
        let name = name.into();
        cmd.process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        crate::interrupt::track_group(child.id());
        Ok(ProcessGuard {
            name,
            child: Some(child),
            grace: DEFAULT_GRACE,
        })
    }

    /// Changes how long the process gets between SIGTERM and SIGKILL.
    pub fn set_grace(&mut self, grace: Duration) {
        self.grace = grace;
    }

    /// Name given at spawn time.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Process id (also the process group id).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The exit status when the process has exited, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?),
            None => bail!("{} was already stopped", self.name),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Polls `ready` every `every` until it holds (`true`), the process
    /// exits or `timeout` passes (`false`).
    pub fn wait_ready(
        &mut self,
        timeout: Duration,
        every: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return true;
            }
            if !self.is_running() || Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(every);
        }
    }

    /// Sends `signal` to the process group.
    pub fn signal_group(&self, signal: i32) {
        if let Some(c) = &self.child {
            kill_group(c.id(), signal);
        }
    }

    /// Mutable access to the child (e.g. to take its pipes).
    pub fn child_mut(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// Stops the process group (SIGTERM, then SIGKILL after the grace
    /// period) and returns the exit status of the leader.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        crate::interrupt::untrack_group(child.id());
        match child.try_wait() {
            Ok(Some(status)) => {
                // The leader is gone; stragglers of its group get SIGKILL.
                kill_group(child.id(), libc::SIGKILL);
                return Some(status);
            }
            // Reaped elsewhere (an interrupt's clean-up): nothing to wait for.
            Err(_) => return None,
            Ok(None) => {}
        }
        kill_group(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_group(child.id(), libc::SIGKILL);
        child.wait().ok()
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for ProcessGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessGuard")
            .field("name", &self.name)
            .field("pid", &self.pid())
            .finish()
    }
}

pub(crate) fn kill_group(pgid: u32, signal: i32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals a process group; it has no
    // memory-safety preconditions.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// The direct children of `pid` (of all its threads), from
/// `/proc/PID/task/TID/children`; none when it is gone.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let text = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            out.extend(
                text.split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// Whether a process with this pid exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
        Err(_) => false,
    }
}

/// Finds an executable on PATH or in the sbin directories (which are not on
/// every user's PATH; Debian puts nginx and fcgiwrap there).
pub fn find_program(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for d in [
        "/usr/local/sbin",
        "/usr/sbin",
        "/sbin",
        "/usr/local/bin",
        "/usr/bin",
        "/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    for dir in dirs {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(anyhow!(
        "{name} not found on PATH or in /usr/sbin; run scripts/test (it installs the test peers) \
         or apt-get install the package that provides it"
    ))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs `cmd` to completion with piped stdout and stderr, killing its
/// process group when it runs longer than `timeout` (an error then, with
/// what it printed so far). Standard input is empty.
pub fn output_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut guard = ProcessGuard::spawn(program.clone(), cmd)?;
    let child = guard.child_mut().expect("fresh guard has a child");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = guard.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let status = match status {
        Some(s) => {
            // Let the group's leftovers go; the pipes close when they do.
            guard.stop();
            s
        }
        None => {
            guard.set_grace(Duration::from_millis(200));
            guard.stop();
            let stdout = out_reader.join().unwrap_or_default();
            let stderr = err_reader.join().unwrap_or_default();
            bail!(
                "{program} did not finish within {timeout:?} and was killed\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// `nginx -p PREFIX -c CONF -e ERROR_LOG` in the foreground of its own
/// configuration (which says `daemon off`), stdin and stdout closed,
/// stderr to `stderr_log`.
pub fn nginx_command(
    nginx_bin: &Path,
    prefix: &Path,
    conf: &Path,
    error_log: &Path,
    stderr_log: &Path,
) -> std::io::Result<Command> {
    let mut cmd = Command::new(nginx_bin);
    cmd.arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(conf)
        .arg("-e")
        .arg(error_log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr_log)?);
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    fn wait_until_dead(pid: u32) -> bool {
        for _ in 0..500 {
            if !process_alive(pid) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn drop_kills_the_whole_process_group() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 300 & echo $!; wait"])
            .stdout(Stdio::piped());
        let mut guard = ProcessGuard::spawn("sh", &mut cmd).unwrap();
        let leader = guard.pid();
        let stdout = guard.child_mut().unwrap().stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let grandchild: u32 = line.trim().parse().unwrap();
        assert!(process_alive(leader));
        assert!(process_alive(grandchild));
        drop(guard);
        assert!(!process_alive(leader), "leader {leader} survived");
        assert!(
            wait_until_dead(grandchild),
            "grandchild {grandchild} survived"
        );
    }

    #[test]
    fn stop_escalates_to_sigkill() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap '' TERM; while :; do sleep 1; done"]);
        let mut guard = ProcessGuard::spawn("stubborn", &mut cmd).unwrap();
        // Give the shell a moment to install its trap so SIGTERM is ignored.
        std::thread::sleep(Duration::from_millis(200));
        guard.set_grace(Duration::from_millis(300));
        let pid = guard.pid();
        let status = guard.stop().expect("a status");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(!process_alive(pid));
    }

    #[test]
    fn output_with_timeout_collects_output_and_kills_on_timeout() {
        let out = output_with_timeout(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

        let err = output_with_timeout(
            Command::new("sh").args(["-c", "echo started; exec sleep 300"]),
            Duration::from_millis(300),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("did not finish"), "{msg}");
        assert!(msg.contains("started"), "{msg}");
    }

    #[test]
    fn find_program_finds_sh_and_reports_missing() {
        assert!(find_program("sh").unwrap().is_absolute());
        let err = find_program("no-such-program-connectors").unwrap_err();
        assert!(err.to_string().contains("scripts/test"));
    }
}
