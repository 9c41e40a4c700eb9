//! The reference relays of the `proxy` scenario: haproxy in TCP mode, which
//! reads no HTTP at all and only moves bytes between the client and the
//! upstream nginx. On the plain port it splices (the kernel moves the
//! bytes, as our reverse proxy does for long bodies); on the TLS port it
//! terminates the client's TLS and opens its own to the upstream's TLS
//! port (the same cryptographic work as our CONNECT interception). What
//! they reach against `direct` shows what a relay without any HTTP work
//! can reach on the machine the benchmark runs on.

use crate::nginx::Nginx;
use anyhow::{anyhow, Context, Result};
use connectors_testkit::process::find_program;
use connectors_testkit::{free_port, ProcessGuard};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Pipe capacity haproxy splices through: the one our proxy asks for.
const PIPE_SIZE: usize = 1 << 20;

/// A running haproxy; stopped on drop.
pub struct Haproxy {
    /// Plain TCP port (relays to the upstream's plain port).
    pub port: u16,
    /// TLS port (relays to the upstream's TLS port over TLS).
    pub tls_port: u16,
    _guard: ProcessGuard,
    dir: PathBuf,
}

impl Haproxy {
    /// PID of the haproxy process.
    pub fn pid(&self) -> u32 {
        self._guard.pid()
    }

    /// What haproxy printed so far (alerts and warnings).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default()
    }
}

/// Whether haproxy can be run.
pub fn available() -> bool {
    find_program("haproxy").is_ok()
}

/// TLS material of the relay's TLS port and of its upstream leg.
pub struct RelayTls<'a> {
    /// The certificate chain and key shown to clients (PEM).
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
    /// The CA that signed the upstream's certificate (PEM).
    pub upstream_ca_pem: &'a str,
}

/// Starts haproxy with `threads` threads in front of `upstream`.
pub fn start(parent: &Path, upstream: &Nginx, tls: &RelayTls, threads: usize) -> Result<Haproxy> {
    let bin =
        find_program("haproxy").context("haproxy is not on PATH (apt-get install haproxy)")?;
    let upstream_tls = upstream.tls_port.context("the upstream has no TLS port")?;
    let dir = parent.join("haproxy");
    std::fs::create_dir_all(&dir)?;
    let crt = dir.join("relay.pem");
    std::fs::write(&crt, format!("{}{}", tls.cert_pem, tls.key_pem))?;
    let ca = dir.join("upstream-ca.pem");
    std::fs::write(&ca, tls.upstream_ca_pem)?;
    let mut last_error = String::new();
    for _attempt in 0..5 {
        let (port, tls_port) = (free_port(), free_port());
        let conf_path = dir.join("haproxy.cfg");
        let ports = Ports {
            plain: port,
            tls: tls_port,
            upstream: upstream.port,
            upstream_tls,
        };
        std::fs::write(&conf_path, conf(threads, ports, &crt, &ca))?;
        let log = std::fs::File::create(dir.join("haproxy.log"))?;
        let mut cmd = Command::new(&bin);
        // -db: stay in the foreground, so the guard owns the process.
        cmd.arg("-db")
            .arg("-f")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut guard = ProcessGuard::spawn("haproxy", &mut cmd)?;
        // Through the plain relay the upstream answers 401 without
        // credentials: the relay is up and connected.
        let url = format!("http://127.0.0.1:{port}/small");
        let ready = guard.wait_ready(Duration::from_secs(20), Duration::from_millis(20), || {
            connectors_testkit::http::get(&url, &[]).is_ok_and(|r| r.status == 401)
        });
        if ready {
            return Ok(Haproxy {
                port,
                tls_port,
                _guard: guard,
                dir,
            });
        }
        drop(guard);
        last_error = std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default();
        if !last_error.contains("cannot bind") && !last_error.contains("Address already in use") {
            break;
        }
    }
    Err(anyhow!("haproxy did not start: {last_error}"))
}

/// Ports of the relay and of what it relays to.
#[derive(Clone, Copy)]
struct Ports {
    plain: u16,
    tls: u16,
    upstream: u16,
    upstream_tls: u16,
}

fn conf(threads: usize, p: Ports, crt: &Path, ca: &Path) -> String {
    let threads = threads.max(1);
    let (crt, ca) = (crt.display(), ca.display());
    format!(
        r#"global
  nbthread {threads}
  tune.pipesize {PIPE_SIZE}
  maxconn 4096

defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  option splice-request
  option splice-response

frontend plain
  bind 127.0.0.1:{plain}
  default_backend upstream

backend upstream
  server nginx 127.0.0.1:{upstream}

frontend tls
  bind 127.0.0.1:{tls} ssl crt {crt} alpn http/1.1
  default_backend upstream_tls

backend upstream_tls
  server nginx 127.0.0.1:{upstream_tls} ssl verify required ca-file {ca} alpn http/1.1
"#,
        plain = p.plain,
        upstream = p.upstream,
        tls = p.tls,
        upstream_tls = p.upstream_tls,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_splices_plain_bytes_and_verifies_the_upstream() {
        let c = conf(
            2,
            Ports {
                plain: 1,
                tls: 2,
                upstream: 3,
                upstream_tls: 4,
            },
            Path::new("/d/relay.pem"),
            Path::new("/d/ca.pem"),
        );
        assert!(c.contains("nbthread 2"));
        assert!(c.contains("tune.pipesize 1048576"));
        assert!(c.contains("option splice-response"));
        assert!(c.contains("bind 127.0.0.1:1\n"));
        assert!(c.contains("server nginx 127.0.0.1:3\n"));
        assert!(c.contains("bind 127.0.0.1:2 ssl crt /d/relay.pem"));
        assert!(c.contains("127.0.0.1:4 ssl verify required ca-file /d/ca.pem"));
    }
}
