//! Running `git` in an isolated environment: its own empty home, no system
//! configuration, no credential helper, no prompts.

use crate::interrupt::ScratchDir;
use crate::process::output_with_timeout;
use anyhow::{bail, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// How long one git command may run before it is killed.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(300);

/// Result of one git command.
#[derive(Debug)]
pub struct GitOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl GitOutput {
    /// Whether git exited with 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// `Ok(self)` on success, else an error carrying stdout and stderr.
    pub fn ok(self, what: &str) -> Result<GitOutput> {
        if self.success() {
            Ok(self)
        } else {
            bail!(
                "{what} failed ({})\nstdout:\n{}\nstderr:\n{}",
                self.status,
                self.stdout,
                self.stderr
            )
        }
    }
}

/// A git environment: `HOME` is a fresh temporary directory,
/// `GIT_CONFIG_NOSYSTEM=1`, `GIT_TERMINAL_PROMPT=0`, `GIT_CONFIG_GLOBAL` is
/// the given file (or `/dev/null`), and `credential.helper` is empty. The
/// process environment is cleared except `PATH`; nothing of the caller's
/// own git set-up leaks in.
#[derive(Debug)]
pub struct GitEnv {
    /// The home directory git sees.
    pub home: ScratchDir,
    global_config: PathBuf,
    extra_env: Vec<(String, String)>,
}

impl GitEnv {
    /// An environment whose global configuration is `/dev/null`.
    pub fn new() -> Result<GitEnv> {
        Ok(GitEnv {
            home: crate::interrupt::scratch_dir("git-home-")?,
            global_config: PathBuf::from("/dev/null"),
            extra_env: Vec::new(),
        })
    }

    /// An environment whose global configuration is `config` (e.g. a
    /// mounted `.gitconfig`).
    pub fn with_global_config(config: impl Into<PathBuf>) -> Result<GitEnv> {
        let mut env = GitEnv::new()?;
        env.global_config = config.into();
        Ok(env)
    }

    /// The file git reads as its global configuration.
    pub fn global_config(&self) -> &Path {
        &self.global_config
    }

    /// Adds a variable to every command (e.g. `GIT_TRACE_CURL=1`).
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.extra_env.retain(|(n, _)| n != name);
        self.extra_env.push((name.to_string(), value.to_string()));
    }

    /// Exactly the environment given to git.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            (
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
            ),
            ("HOME".to_string(), self.home.path().display().to_string()),
            ("GIT_CONFIG_NOSYSTEM".to_string(), "1".to_string()),
            ("GIT_TERMINAL_PROMPT".to_string(), "0".to_string()),
            (
                "GIT_CONFIG_GLOBAL".to_string(),
                self.global_config.display().to_string(),
            ),
            ("GIT_ASKPASS".to_string(), String::new()),
            ("LC_ALL".to_string(), "C".to_string()),
            ("GIT_AUTHOR_NAME".to_string(), "Test Author".to_string()),
            (
                "GIT_AUTHOR_EMAIL".to_string(),
                "author@example.com".to_string(),
            ),
            (
                "GIT_COMMITTER_NAME".to_string(),
                "Test Committer".to_string(),
            ),
            (
                "GIT_COMMITTER_EMAIL".to_string(),
                "committer@example.com".to_string(),
            ),
        ];
        vars.extend(self.extra_env.iter().cloned());
        vars
    }

    /// A `git` command with this environment and `-c credential.helper=`
    /// already set; add arguments and run it.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("git");
        cmd.env_clear();
        for (k, v) in self.env_vars() {
            cmd.env(k, v);
        }
        cmd.current_dir(self.home.path());
        cmd.args(["-c", "credential.helper="]);
        cmd
    }

    /// Runs `git ARGS` in the home directory.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Result<GitOutput> {
        let mut cmd = self.command();
        cmd.args(args);
        run(cmd)
    }

    /// Runs `git ARGS` in `dir`.
    pub fn run_in<S: AsRef<std::ffi::OsStr>>(&self, dir: &Path, args: &[S]) -> Result<GitOutput> {
        let mut cmd = self.command();
        cmd.current_dir(dir).args(args);
        run(cmd)
    }

    /// Runs `git ARGS` with extra environment variables for this command only.
    pub fn run_with_env<S: AsRef<std::ffi::OsStr>>(
        &self,
        dir: Option<&Path>,
        env: &[(&str, &str)],
        args: &[S],
    ) -> Result<GitOutput> {
        let mut cmd = self.command();
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args);
        run(cmd)
    }

    /// Clones `url` into `<home>/<dir>` and returns the clone's path.
    pub fn clone_repo(&self, url: &str, dir: &str) -> Result<PathBuf> {
        let target = self.home.path().join(dir);
        let mut args: Vec<OsString> = vec!["clone".into(), "-q".into(), url.into()];
        args.push(target.clone().into_os_string());
        self.run(&args)?.ok(&format!("git clone {url}"))?;
        Ok(target)
    }

    /// Writes `file` in `repo`, commits it on the current branch and
    /// returns the new commit id.
    pub fn commit_file(
        &self,
        repo: &Path,
        file: &str,
        content: &str,
        message: &str,
    ) -> Result<String> {
        std::fs::write(repo.join(file), content)?;
        self.run_in(repo, &["add", file])?.ok("git add")?;
        self.run_in(repo, &["commit", "-q", "-m", message])?
            .ok("git commit")?;
        let out = self
            .run_in(repo, &["rev-parse", "HEAD"])?
            .ok("git rev-parse")?;
        Ok(out.stdout.trim().to_string())
    }
}

fn run(mut cmd: Command) -> Result<GitOutput> {
    let out = output_with_timeout(&mut cmd, GIT_TIMEOUT)?;
    Ok(GitOutput {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_is_isolated() {
        let env = GitEnv::new().unwrap();
        // No configuration at all: no credential helper, no user, nothing global.
        let out = env.run(&["config", "--get", "credential.helper"]).unwrap();
        assert!(out.stdout.trim().is_empty(), "{out:?}");
        let out = env.run(&["config", "--global", "--list"]).unwrap();
        assert!(out.stdout.trim().is_empty(), "{out:?}");
        let vars = env.env_vars();
        assert!(vars
            .iter()
            .any(|(k, v)| k == "GIT_CONFIG_GLOBAL" && v == "/dev/null"));
        assert!(vars
            .iter()
            .any(|(k, v)| k == "GIT_TERMINAL_PROMPT" && v == "0"));
        assert!(!vars.iter().any(|(k, _)| k == "GIT_CONFIG_PARAMETERS"));
    }

    #[test]
    fn global_config_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("gitconfig");
        std::fs::write(
            &cfg,
            "[url \"http://proxy.invalid/x\"]\n    insteadOf = http://origin.invalid\n",
        )
        .unwrap();
        let env = GitEnv::with_global_config(&cfg).unwrap();
        let out = env
            .run(&["config", "--get-regexp", r"url\..*\.insteadof"])
            .unwrap()
            .ok("git config")
            .unwrap();
        assert_eq!(
            out.stdout.trim(),
            "url.http://proxy.invalid/x.insteadof http://origin.invalid"
        );
    }

    #[test]
    fn local_commit_works_without_user_config() {
        let env = GitEnv::new().unwrap();
        let repo = env.home.path().join("r");
        env.run(&["init", "-q", "-b", "main", repo.to_str().unwrap()])
            .unwrap()
            .ok("git init")
            .unwrap();
        let id = env.commit_file(&repo, "a.txt", "a\n", "first").unwrap();
        assert_eq!(id.len(), 40, "{id}");
    }
}
