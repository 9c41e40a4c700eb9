//! A real Git smart-HTTP server: nginx + fcgiwrap + `git http-backend` on
//! 127.0.0.1, Basic auth from an htpasswd file, plus a fake GitLab
//! `GET /git/api/v4/user` endpoint that checks a `Private-Token` header.
//!
//! Layout of the private directory: `nginx.conf`, `gitlab.conf` (included),
//! `htpasswd`, `repos/` (GIT_PROJECT_ROOT), `logs/`, `tmp/`, `fcgiwrap.sock`,
//! `nginx.pid`.

use crate::git::GitEnv;
use crate::http;
use crate::interrupt::ScratchDir;
use crate::ports::{free_port, start_on_free_ports, Attempt};
use crate::process::{find_program, nginx_command, output_with_timeout, ProcessGuard};
use anyhow::{anyhow, bail, Context, Result};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long start-up and configuration reloads may take.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Size of one random file of [`GitServer::create_repo_with_size`].
const RANDOM_FILE_SIZE: u64 = 4 << 20;

/// What the server should offer.
#[derive(Clone, Debug)]
pub struct GitServerOptions {
    /// Token the fake GitLab API accepts in `Private-Token`; `None` answers
    /// 401 to every request.
    pub gitlab_token: Option<String>,
    /// nginx worker processes.
    pub nginx_workers: usize,
    /// fcgiwrap processes (concurrent git http-backend requests).
    pub fcgi_children: usize,
}

impl Default for GitServerOptions {
    fn default() -> Self {
        GitServerOptions {
            gitlab_token: None,
            nginx_workers: 1,
            fcgi_children: 4,
        }
    }
}

/// A running Git server; stopped on drop.
pub struct GitServer {
    dir: ScratchDir,
    port: u16,
    nginx: Option<ProcessGuard>,
    fcgiwrap: Option<ProcessGuard>,
    htpasswd_bin: PathBuf,
    git: GitEnv,
    htpasswd_lock: Mutex<()>,
    gitlab_token: Mutex<Option<String>>,
}

impl GitServer {
    /// Starts fcgiwrap and nginx and waits until `GET /` answers 200.
    pub fn start(opts: GitServerOptions) -> Result<GitServer> {
        let nginx_bin = find_program("nginx")?;
        let fcgiwrap_bin = find_program("fcgiwrap")?;
        let htpasswd_bin = find_program("htpasswd")?;
        let backend = http_backend()?;
        if let Some(t) = &opts.gitlab_token {
            check_token_chars(t)?;
        }

        let dir = prepare_dir(opts.gitlab_token.as_deref())?;
        let fcgiwrap = start_fcgiwrap(&fcgiwrap_bin, dir.path(), opts.fcgi_children)?;
        let (port, nginx) = start_nginx(&nginx_bin, dir.path(), &backend, opts.nginx_workers)?;
        Ok(GitServer {
            dir,
            port,
            nginx: Some(nginx),
            fcgiwrap: Some(fcgiwrap),
            htpasswd_bin,
            git: GitEnv::new()?,
            htpasswd_lock: Mutex::new(()),
            gitlab_token: Mutex::new(opts.gitlab_token),
        })
    }

    /// Base URL of the Git repositories, e.g. `http://127.0.0.1:PORT/git`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/git", self.port)
    }

    /// Server root, e.g. `http://127.0.0.1:PORT` (what `/` and liveness
    /// probes hit).
    pub fn root_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Clone URL of a repository: `url()/name`.
    pub fn repo_url(&self, name: &str) -> String {
        format!("{}/{name}", self.url())
    }

    /// Clone URL with `user:password@` in it.
    pub fn repo_url_with_credentials(&self, name: &str, user: &str, password: &str) -> String {
        format!(
            "http://{user}:{password}@127.0.0.1:{}/git/{name}",
            self.port
        )
    }

    /// URL of the fake GitLab `GET /api/v4/user`.
    pub fn gitlab_user_url(&self) -> String {
        format!("{}/api/v4/user", self.url())
    }

    /// TCP port nginx listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// PID of the nginx master process.
    pub fn nginx_pid(&self) -> u32 {
        self.nginx.as_ref().map(ProcessGuard::pid).unwrap_or(0)
    }

    /// PID of the fcgiwrap process.
    pub fn fcgiwrap_pid(&self) -> u32 {
        self.fcgiwrap.as_ref().map(ProcessGuard::pid).unwrap_or(0)
    }

    /// The server's private directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// nginx's access log so far.
    pub fn access_log(&self) -> String {
        read_lossy(&self.dir.path().join("logs/access.log"))
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        read_lossy(&self.dir.path().join("logs/error.log"))
    }

    /// Adds a user (or changes the password of an existing one).
    pub fn add_user(&self, name: &str, password: &str) -> Result<()> {
        if name.is_empty() || name.contains(':') {
            bail!("user name {name:?} cannot be used in htpasswd");
        }
        let _lock = self.htpasswd_lock.lock().unwrap_or_else(|e| e.into_inner());
        let file = self.dir.path().join("htpasswd");
        let staged = self.dir.path().join("htpasswd.new");
        std::fs::copy(&file, &staged)?;
        // SHA1 entries: bcrypt would make every request slow (nginx hashes on
        // each request).
        let mut cmd = Command::new(&self.htpasswd_bin);
        cmd.arg("-b").arg("-s").arg(&staged).arg(name).arg(password);
        let out = output_with_timeout(&mut cmd, Duration::from_secs(30))?;
        if !out.status.success() {
            // htpasswd's messages never include the password.
            bail!(
                "htpasswd failed for user {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // nginx re-reads the file on every request; the rename makes the
        // change atomic.
        std::fs::rename(&staged, &file)?;
        Ok(())
    }

    /// Changes a user's password (takes effect with the next request).
    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let text = std::fs::read_to_string(self.dir.path().join("htpasswd"))?;
        if !text.lines().any(|l| l.split(':').next() == Some(name)) {
            bail!("no user {name} on this git server; add_user first");
        }
        self.add_user(name, password)
    }

    /// Changes the token the fake GitLab API accepts (reloads nginx and waits
    /// until the new token is accepted).
    pub fn set_gitlab_token(&self, token: &str) -> Result<()> {
        check_token_chars(token)?;
        let mut current = self.gitlab_token.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::write(
            self.dir.path().join("gitlab.conf"),
            gitlab_conf(Some(token)),
        )?;
        if let Some(n) = &self.nginx {
            let old_workers = crate::process::children(n.pid());
            // SAFETY: kill(2) sends SIGHUP to the nginx master only.
            unsafe {
                libc::kill(n.pid() as libc::pid_t, libc::SIGHUP);
            }
            // The old workers keep accepting until they exit: wait for that.
            let deadline = std::time::Instant::now() + START_TIMEOUT;
            while old_workers
                .iter()
                .any(|&w| crate::process::process_alive(w))
            {
                if std::time::Instant::now() > deadline {
                    bail!("nginx's old workers did not exit after the reload");
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        // Then the change counts when several answers in a row show it.
        let url = self.gitlab_user_url();
        let old = current.clone().filter(|o| o != token);
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        let mut in_a_row = 0;
        while in_a_row < 5 {
            let new_ok =
                http::get(&url, &[("Private-Token", token)]).is_ok_and(|r| r.status == 200);
            let old_refused = old.as_deref().is_none_or(|o| {
                http::get(&url, &[("Private-Token", o)]).is_ok_and(|r| r.status == 401)
            });
            if new_ok && old_refused {
                in_a_row += 1;
            } else {
                in_a_row = 0;
                if std::time::Instant::now() > deadline {
                    bail!("nginx did not pick up the new GitLab token");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        *current = Some(token.to_string());
        Ok(())
    }

    /// The token the fake GitLab API accepts.
    pub fn gitlab_token(&self) -> Option<String> {
        self.gitlab_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Path of a repository on disk.
    pub fn repo_path(&self, name: &str) -> PathBuf {
        self.dir.path().join("repos").join(name)
    }

    /// Creates bare repository `name` (e.g. `demo.git`) that accepts pushes,
    /// with HEAD on `main` and one initial commit (a README). Returns the id
    /// of that commit.
    pub fn create_repo(&self, name: &str) -> Result<String> {
        self.create_repo_with_files(name, |work| {
            std::fs::write(
                work.join("README.md"),
                format!("# {name}\n\nA test repository.\n"),
            )?;
            Ok(())
        })
    }

    /// Like [`create_repo`](Self::create_repo), with at least `bytes` of
    /// incompressible content (random files of up to 4 MiB), so a clone
    /// transfers a pack at least that large.
    pub fn create_repo_with_size(&self, name: &str, bytes: u64) -> Result<String> {
        self.create_repo_with_files(name, |work| {
            std::fs::write(
                work.join("README.md"),
                format!("# {name}\n\n{bytes} random bytes.\n"),
            )?;
            let mut urandom = std::fs::File::open("/dev/urandom")?;
            let mut left = bytes;
            let mut i = 0;
            while left > 0 {
                let n = left.min(RANDOM_FILE_SIZE);
                let mut buf = vec![0u8; n as usize];
                urandom.read_exact(&mut buf)?;
                std::fs::write(work.join(format!("data-{i:04}.bin")), &buf)?;
                left -= n;
                i += 1;
            }
            Ok(())
        })
    }

    fn create_repo_with_files(
        &self,
        name: &str,
        fill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<String> {
        if name.is_empty() || name.contains("..") || name.starts_with('/') {
            bail!("bad repository name {name:?}");
        }
        let bare = self.repo_path(name);
        if bare.exists() {
            bail!("repository {name} already exists");
        }
        let bare_s = bare.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?;
        let g = &self.git;
        g.run(&["init", "-q", "--bare", "-b", "main", bare_s])?
            .ok("git init --bare")?;
        g.run(&["--git-dir", bare_s, "config", "http.receivepack", "true"])?
            .ok("git config http.receivepack")?;
        g.run(&[
            "--git-dir",
            bare_s,
            "symbolic-ref",
            "HEAD",
            "refs/heads/main",
        ])?
        .ok("git symbolic-ref")?;

        let work = tempfile::Builder::new()
            .prefix("seed-")
            .tempdir_in(self.dir.path().join("work"))?;
        let work_s = work
            .path()
            .to_str()
            .ok_or_else(|| anyhow!("non-UTF-8 path"))?;
        g.run(&["init", "-q", "-b", "main", work_s])?
            .ok("git init")?;
        fill(work.path())?;
        g.run_in(work.path(), &["add", "-A"])?.ok("git add")?;
        g.run_in(work.path(), &["commit", "-q", "-m", "initial commit"])?
            .ok("git commit")?;
        g.run_in(work.path(), &["push", "-q", bare_s, "main"])?
            .ok("git push (seed)")?;
        self.branch_commit(name, "main")?
            .ok_or_else(|| anyhow!("seed push to {name} left no main branch"))
    }

    /// Commit id of `branch` in repository `name`, read on the server side.
    pub fn branch_commit(&self, name: &str, branch: &str) -> Result<Option<String>> {
        let bare = self.repo_path(name);
        let bare_s = bare.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?;
        let out = self.git.run(&[
            "--git-dir",
            bare_s,
            "rev-parse",
            "--verify",
            "-q",
            &format!("refs/heads/{branch}"),
        ])?;
        Ok(out.success().then(|| out.stdout.trim().to_string()))
    }

    /// Whether repository `name` holds commit `id`.
    pub fn has_commit(&self, name: &str, id: &str) -> Result<bool> {
        let bare = self.repo_path(name);
        let bare_s = bare.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?;
        let out = self.git.run(&[
            "--git-dir",
            bare_s,
            "cat-file",
            "-e",
            &format!("{id}^{{commit}}"),
        ])?;
        Ok(out.success())
    }

    /// Stops nginx and fcgiwrap (also done on drop).
    pub fn stop(&mut self) {
        if let Some(mut n) = self.nginx.take() {
            n.stop();
        }
        if let Some(mut f) = self.fcgiwrap.take() {
            f.stop();
        }
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for GitServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitServer")
            .field("url", &self.url())
            .field("dir", &self.dir.path())
            .field("nginx_pid", &self.nginx_pid())
            .finish()
    }
}

/// `git --exec-path`.
pub fn git_exec_path() -> Result<PathBuf> {
    let out = Command::new("git")
        .arg("--exec-path")
        .output()
        .context("running git --exec-path (is git installed?)")?;
    if !out.status.success() {
        bail!("git --exec-path failed");
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `git-http-backend` of the installed git.
fn http_backend() -> Result<PathBuf> {
    let backend = git_exec_path()?.join("git-http-backend");
    if !backend.exists() {
        bail!(
            "{} does not exist; is git installed completely?",
            backend.display()
        );
    }
    Ok(backend)
}

/// Creates the private directory with its sub-directories, an empty
/// `htpasswd` and the fake GitLab's `gitlab.conf`.
fn prepare_dir(gitlab_token: Option<&str>) -> Result<ScratchDir> {
    let dir = crate::interrupt::scratch_dir("gitserver-")?;
    for sub in ["logs", "tmp", "repos", "home", "work"] {
        std::fs::create_dir_all(dir.path().join(sub))?;
    }
    std::fs::write(dir.path().join("htpasswd"), "")?;
    std::fs::write(dir.path().join("gitlab.conf"), gitlab_conf(gitlab_token))?;
    Ok(dir)
}

/// Starts fcgiwrap on `dir/fcgiwrap.sock` and waits until the socket exists.
fn start_fcgiwrap(fcgiwrap_bin: &Path, dir: &Path, children: usize) -> Result<ProcessGuard> {
    let socket = dir.join("fcgiwrap.sock");
    let fcgi_log = std::fs::File::create(dir.join("logs/fcgiwrap.log"))?;
    let mut cmd = Command::new(fcgiwrap_bin);
    cmd.arg("-c")
        .arg(children.max(1).to_string())
        .arg("-s")
        .arg(format!("unix:{}", socket.display()))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.join("home"))
        .stdin(Stdio::null())
        .stdout(fcgi_log.try_clone()?)
        .stderr(fcgi_log);
    let mut fcgiwrap = ProcessGuard::spawn("fcgiwrap", &mut cmd)?;
    let deadline = Instant::now() + START_TIMEOUT;
    while !socket.exists() {
        if !fcgiwrap.is_running() {
            bail!(
                "fcgiwrap exited at start: {}",
                read_lossy(&dir.join("logs/fcgiwrap.log"))
            );
        }
        if Instant::now() > deadline {
            bail!("fcgiwrap did not create {}", socket.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(fcgiwrap)
}

/// Starts nginx on a free port, trying up to 5 ports while the one picked
/// turns out to be taken; the port and the running nginx.
fn start_nginx(
    nginx_bin: &Path,
    dir: &Path,
    backend: &Path,
    workers: usize,
) -> Result<(u16, ProcessGuard)> {
    start_on_free_ports(
        || {
            let port = free_port();
            if let Some(nginx) = spawn_nginx(nginx_bin, dir, port, backend, workers)? {
                return Ok(Attempt::Ready((port, nginx)));
            }
            let log = format!(
                "{}{}",
                read_lossy(&dir.join("logs/error.log")),
                read_lossy(&dir.join("logs/nginx-stderr.log"))
            );
            let port_taken = log.contains("Address already in use");
            Ok(Attempt::not_ready(log, port_taken))
        },
        |log| anyhow!("nginx did not start: {log}"),
    )
}

/// Writes `nginx.conf` for `port` and runs nginx until `GET /` answers 200;
/// `None`, with nginx stopped again, when it does not.
fn spawn_nginx(
    nginx_bin: &Path,
    dir: &Path,
    port: u16,
    backend: &Path,
    workers: usize,
) -> Result<Option<ProcessGuard>> {
    let conf = nginx_conf(dir, port, backend, workers.max(1));
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let error_log = dir.join("logs/error.log");
    let _ = std::fs::remove_file(&error_log);
    let mut cmd = nginx_command(
        nginx_bin,
        dir,
        &conf_path,
        &error_log,
        &dir.join("logs/nginx-stderr.log"),
    )?;
    let mut nginx = ProcessGuard::spawn("nginx", &mut cmd)?;
    let url = format!("http://127.0.0.1:{port}/");
    let ready = nginx.wait_ready(START_TIMEOUT, Duration::from_millis(20), || {
        http::get(&url, &[]).is_ok_and(|r| r.status == 200)
    });
    if !ready {
        drop(nginx);
        return Ok(None);
    }
    Ok(Some(nginx))
}

fn check_token_chars(token: &str) -> Result<()> {
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        bail!("the fake GitLab token must be non-empty and use only A-Z a-z 0-9 - _ .");
    }
    Ok(())
}

fn gitlab_conf(token: Option<&str>) -> String {
    let mut s = String::from("default_type application/json;\n");
    if let Some(t) = token {
        let _ = writeln!(
            s,
            "if ($http_private_token = \"{t}\") {{ return 200 '{{\"id\":1,\"username\":\"demo\"}}'; }}"
        );
    }
    s.push_str("return 401 '{\"message\":\"401 Unauthorized\"}';\n");
    s
}

fn nginx_conf(dir: &Path, port: u16, backend: &Path, workers: usize) -> String {
    let d = dir.display();
    // nginx drops privileges to `nobody` when started as root, and nobody
    // cannot use fcgiwrap's socket: stay root then.
    // SAFETY: geteuid(2) has no preconditions.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;"
    } else {
        ""
    };
    format!(
        r#"{user}
worker_processes {workers};
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {d}/logs/access.log;
  client_body_temp_path {d}/tmp/client_body;
  fastcgi_temp_path {d}/tmp/fastcgi;
  proxy_temp_path {d}/tmp/proxy;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    location = / {{
      default_type text/plain;
      return 200 "git server\n";
    }}
    location = /git/api/v4/user {{
      include {d}/gitlab.conf;
    }}
    location /git/ {{
      auth_basic "git";
      auth_basic_user_file {d}/htpasswd;
      fastcgi_split_path_info ^(/git)(/.*)$;
      fastcgi_param SCRIPT_FILENAME {backend};
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_param GIT_PROJECT_ROOT {d}/repos;
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param GIT_CONFIG_NOSYSTEM 1;
      fastcgi_param HOME {d}/home;
      fastcgi_param REMOTE_USER $remote_user;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param REQUEST_URI $request_uri;
      fastcgi_param DOCUMENT_URI $document_uri;
      fastcgi_param SERVER_PROTOCOL $server_protocol;
      fastcgi_param GATEWAY_INTERFACE CGI/1.1;
      fastcgi_param REMOTE_ADDR $remote_addr;
      fastcgi_param REMOTE_PORT $remote_port;
      fastcgi_param SERVER_ADDR $server_addr;
      fastcgi_param SERVER_PORT $server_port;
      fastcgi_param SERVER_NAME $server_name;
      fastcgi_read_timeout 300s;
      fastcgi_pass unix:{d}/fcgiwrap.sock;
    }}
  }}
}}
"#,
        backend = backend.display(),
    )
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
