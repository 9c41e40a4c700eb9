//! The reference relays of the `proxy` scenario: haproxy in TCP mode, which
//! reads no HTTP at all and only moves bytes between the client and the
//! upstream nginx. On the plain port it splices (the kernel moves the
//! bytes, as our reverse proxy does for long bodies); on the TLS port it
//! terminates the client's TLS and opens its own to the upstream's TLS
//! port (the same cryptographic work as our CONNECT interception). What
//! they reach against `direct` shows what a relay without any HTTP work
//! can reach on the machine the benchmark runs on.

use crate::listeners::{self, Listener};
use crate::nginx::Nginx;
use anyhow::{anyhow, Context, Result};
use connectors_testkit::process::find_program;
use connectors_testkit::ProcessGuard;
use std::os::fd::RawFd;
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

/// Starts haproxy with `threads` threads in front of `upstream`; its
/// connections to clients use the congestion control `congestion`.
pub fn start(
    parent: &Path,
    upstream: &Nginx,
    tls: &RelayTls,
    threads: usize,
    congestion: Option<&str>,
) -> Result<Haproxy> {
    let bin =
        find_program("haproxy").context("haproxy is not on PATH (apt-get install haproxy)")?;
    let dir = parent.join("haproxy");
    std::fs::create_dir_all(&dir)?;
    let crt = dir.join("relay.pem");
    std::fs::write(&crt, format!("{}{}", tls.cert_pem, tls.key_pem))?;
    let ca = dir.join("upstream-ca.pem");
    std::fs::write(&ca, tls.upstream_ca_pem)?;
    let plain = Listener::bind(congestion)?;
    let tls_listener = Listener::bind(congestion)?;
    let (port, tls_port) = (plain.port, tls_listener.port);
    let conf_path = dir.join("haproxy.cfg");
    let binds = Binds {
        plain: plain.fd(),
        tls: tls_listener.fd(),
        upstream: upstream.port,
        upstream_tls: upstream.tls_port,
    };
    std::fs::write(&conf_path, conf(threads, binds, &crt, &ca))?;
    let log = std::fs::File::create(dir.join("haproxy.log"))?;
    let mut cmd = Command::new(&bin);
    // -db: stay in the foreground, so the guard owns the process.
    cmd.arg("-db")
        .arg("-f")
        .arg(&conf_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    listeners::pass(&mut cmd, &[&plain, &tls_listener]);
    let mut guard = ProcessGuard::spawn("haproxy", &mut cmd)?;
    drop((plain, tls_listener));
    // Through the plain relay the upstream answers 401 without
    // credentials: the relay is up and connected.
    let url = format!("http://127.0.0.1:{port}/small");
    let ready = guard.wait_ready(Duration::from_secs(20), Duration::from_millis(20), || {
        connectors_testkit::http::get(&url, &[]).is_ok_and(|r| r.status == 401)
    });
    if !ready {
        return Err(anyhow!(
            "haproxy did not start: {}",
            std::fs::read_to_string(dir.join("haproxy.log")).unwrap_or_default()
        ));
    }
    Ok(Haproxy {
        port,
        tls_port,
        _guard: guard,
        dir,
    })
}

/// The relay's listening sockets (inherited descriptors) and the ports
/// it relays to.
#[derive(Clone, Copy)]
struct Binds {
    plain: RawFd,
    tls: RawFd,
    upstream: u16,
    upstream_tls: u16,
}

fn conf(threads: usize, p: Binds, crt: &Path, ca: &Path) -> String {
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
  bind fd@{plain}
  default_backend upstream

backend upstream
  server nginx 127.0.0.1:{upstream}

frontend tls
  bind fd@{tls} ssl crt {crt} alpn http/1.1
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
            Binds {
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
        assert!(c.contains("bind fd@1\n"));
        assert!(c.contains("server nginx 127.0.0.1:3\n"));
        assert!(c.contains("bind fd@2 ssl crt /d/relay.pem"));
        assert!(c.contains("127.0.0.1:4 ssl verify required ca-file /d/ca.pem"));
    }
}
