//! A real npm registry: verdaccio on 127.0.0.1 with an htpasswd file,
//! offline (no uplinks), authentication required to read and publish. Put
//! [`tls::Site::tls_reverse_proxy`](crate::tls::Site) in front of it for
//! HTTPS (verdaccio honours `X-Forwarded-Proto` in the tarball URLs).
//!
//! verdaccio comes from the directory scripts/test prepares
//! (`CONNECTORS_TEST_VERDACCIO`, its `node_modules/.bin/verdaccio`).

use crate::http::{self, basic_auth};
use crate::interrupt::ScratchDir;
use crate::ports::{free_port, start_on_free_ports, Attempt};
use crate::process::{find_program, output_with_timeout, ProcessGuard};
use crate::tls::{htpasswd, peer_from_env, read_lossy};
use anyhow::{anyhow, bail, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Environment variable naming verdaccio's bin script.
pub const VERDACCIO_ENV: &str = "CONNECTORS_TEST_VERDACCIO";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const NPM_TIMEOUT: Duration = Duration::from_secs(120);

/// verdaccio's bin script prepared by scripts/test.
pub fn verdaccio_bin() -> Result<PathBuf> {
    peer_from_env(
        VERDACCIO_ENV,
        "verdaccio/node_modules/.bin/verdaccio",
        "verdaccio (npm install verdaccio@6.8.0)",
    )
}

/// A running verdaccio; stopped on drop.
pub struct Verdaccio {
    dir: ScratchDir,
    port: u16,
    process: Option<ProcessGuard>,
}

impl Verdaccio {
    /// Starts verdaccio with one user and waits until `/-/ping` answers.
    pub fn start(user: &str, password: &str) -> Result<Verdaccio> {
        let bin = verdaccio_bin()?;
        let node = find_program("node")?;
        let dir = crate::interrupt::scratch_dir("verdaccio-")?;
        std::fs::create_dir_all(dir.path().join("storage"))?;
        let passwd = dir.path().join("htpasswd");
        htpasswd(&find_program("htpasswd")?, &passwd, user, password, "-B")?;
        let log_path = dir.path().join("verdaccio.log");
        let (port, process) = start_on_free_ports(
            || {
                let port = free_port();
                let config = dir.path().join("config.yaml");
                std::fs::write(&config, config_yaml(dir.path(), port))?;
                let log = std::fs::File::create(&log_path)?;
                let mut cmd = Command::new(&node);
                cmd.arg(&bin)
                    .arg("--config")
                    .arg(&config)
                    .env_remove("NODE_EXTRA_CA_CERTS")
                    .env("HOME", dir.path())
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log);
                let mut process = ProcessGuard::spawn("verdaccio", &mut cmd)?;
                let url = format!("http://127.0.0.1:{port}/-/ping");
                let ready = process.wait_ready(START_TIMEOUT, Duration::from_millis(50), || {
                    http::get(&url, &[]).is_ok_and(|r| r.status == 200)
                });
                if ready {
                    return Ok(Attempt::Ready((port, process)));
                }
                drop(process);
                let log = read_lossy(&log_path);
                let port_taken = log.contains("EADDRINUSE");
                Ok(Attempt::not_ready(log, port_taken))
            },
            |log| anyhow!("verdaccio did not start: {log}"),
        )?;
        Ok(Verdaccio {
            dir,
            port,
            process: Some(process),
        })
    }

    /// Port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// verdaccio's output so far.
    pub fn log_text(&self) -> String {
        read_lossy(&self.dir.path().join("verdaccio.log"))
    }

    /// Publishes `NAME@VERSION` (an `index.js` exporting `value`) directly
    /// to verdaccio over plain HTTP with `user`'s credentials.
    pub fn publish(
        &self,
        user: &str,
        password: &str,
        name: &str,
        version: &str,
        value: &str,
    ) -> Result<()> {
        let work = crate::interrupt::scratch_dir("npm-publish-")?;
        let pkg = work.path().join("pkg");
        write_package(&pkg, name, version, value)?;
        let auth = basic_auth(user, password);
        let auth = auth.trim_start_matches("Basic ");
        let registry = format!("{}/", self.url());
        let userconfig = work.path().join("npmrc");
        std::fs::write(
            &userconfig,
            format!(
                "registry={registry}\n//127.0.0.1:{}/:_auth={auth}\naudit=false\nfund=false\n",
                self.port
            ),
        )?;
        let mut cmd = npm_command(work.path())?;
        cmd.current_dir(&pkg)
            .arg("publish")
            .arg("--userconfig")
            .arg(&userconfig)
            .arg("--registry")
            .arg(&registry);
        let out = output_with_timeout(&mut cmd, NPM_TIMEOUT)?;
        check(&out, &format!("npm publish {name}@{version}"))
    }

    /// Stops verdaccio (also done on drop).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

impl Drop for Verdaccio {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Verdaccio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verdaccio")
            .field("url", &self.url())
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// `npm` with an isolated environment under `home`: only `PATH` kept, `HOME`
/// and the cache in `home`, no global config, no update notifier.
pub fn npm_command(home: &Path) -> Result<Command> {
    let npm = find_program("npm")?;
    let mut cmd = Command::new(npm);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("npm_config_cache", home.join(".npm-cache"))
        .env("npm_config_globalconfig", home.join("no-global-npmrc"))
        .env("npm_config_update_notifier", "false")
        .env("npm_config_loglevel", "http");
    Ok(cmd)
}

/// Writes a package directory: `package.json` and an `index.js` exporting
/// `value`.
pub fn write_package(dir: &Path, name: &str, version: &str, value: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let manifest = serde_json::json!({
        "name": name,
        "version": version,
        "description": "test package",
        "main": "index.js",
        "license": "MIT",
    });
    std::fs::write(
        dir.join("package.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    std::fs::write(
        dir.join("index.js"),
        format!("module.exports = {};\n", serde_json::Value::from(value)),
    )?;
    Ok(())
}

fn config_yaml(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"storage: {d}/storage
auth:
  htpasswd:
    file: {d}/htpasswd
    max_users: -1
uplinks: {{}}
packages:
  '**':
    access: $authenticated
    publish: $authenticated
    unpublish: $authenticated
listen: 127.0.0.1:{port}
web:
  enable: true
log:
  type: stdout
  format: pretty
  level: http
"#
    )
}

fn check(out: &Output, what: &str) -> Result<()> {
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
