//! The nginx instances of the `proxy` scenario: the upstream (static files
//! behind Basic auth, plain and TLS) and the anchor (an nginx reverse
//! proxy that adds a static `Authorization`).

use crate::listeners::{self, Listener};
use anyhow::{anyhow, bail, Context, Result};
use connectors_testkit::process::{find_program, nginx_command, output_with_timeout};
use connectors_testkit::ProcessGuard;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Body of `/small`: 100 bytes (checked on every run).
pub const SMALL_BODY: &str =
    "connectors-bench small response: a short, fixed body of exactly one hundred bytes of ASCII text....\n";

/// A running nginx; stopped on drop.
pub struct Nginx {
    /// Plain HTTP port.
    pub port: u16,
    /// TLS port.
    pub tls_port: u16,
    /// Stops nginx when dropped.
    _guard: ProcessGuard,
    dir: PathBuf,
}

impl Nginx {
    /// PID of the master process.
    pub fn pid(&self) -> u32 {
        self._guard.pid()
    }

    /// The error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

/// What the upstream serves.
pub struct UpstreamFiles {
    /// Directory of `small`, `big.bin` and the probe file.
    pub root: PathBuf,
    /// `htpasswd` file with {SHA} entries.
    pub htpasswd: PathBuf,
    /// Certificate chain and key for the TLS port.
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes the upstream's files into `dir`: `small` (100 bytes), a sparse
/// `big.bin` of `body_bytes`, the probe answer `bench.git/info/refs`, and
/// an htpasswd file for `user:password` made by `htpasswd -b -s`.
pub fn write_upstream_files(
    dir: &Path,
    body_bytes: u64,
    user: &str,
    password: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<UpstreamFiles> {
    let htpasswd_bin = find_program("htpasswd").context(
        "htpasswd (package apache2-utils) is needed; scripts/test --deps-only installs it",
    )?;
    let root = dir.join("www");
    std::fs::create_dir_all(root.join("bench.git/info"))?;
    std::fs::write(root.join("small"), SMALL_BODY)?;
    std::fs::write(root.join("bench.git/info/refs"), "ok\n")?;
    let big = std::fs::File::create(root.join("big.bin"))?;
    big.set_len(body_bytes)
        .context("creating the sparse body file")?;
    // Read it once so every mode is served from the page cache.
    std::io::copy(
        &mut std::fs::File::open(root.join("big.bin"))?,
        &mut std::io::sink(),
    )?;
    let htpasswd = dir.join("htpasswd");
    let mut cmd = Command::new(htpasswd_bin);
    cmd.args(["-c", "-b", "-s"])
        .arg(&htpasswd)
        .arg(user)
        .arg(password);
    let out = output_with_timeout(&mut cmd, Duration::from_secs(30))?;
    if !out.status.success() {
        bail!(
            "htpasswd failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let cert = dir.join("upstream.crt");
    let key = dir.join("upstream.key");
    std::fs::write(&cert, cert_pem)?;
    std::fs::write(&key, key_pem)?;
    Ok(UpstreamFiles {
        root,
        htpasswd,
        cert,
        key,
    })
}

/// Starts the upstream nginx with `workers` worker processes; its
/// connections use the congestion control `congestion` (`None`: the
/// host's default).
pub fn start_upstream(
    dir: &Path,
    files: &UpstreamFiles,
    workers: usize,
    congestion: Option<&str>,
) -> Result<Nginx> {
    start(dir, "upstream", congestion, |port, tls_port| {
        upstream_conf(dir, files, workers, port, tls_port)
    })
}

/// Starts the anchor: an nginx reverse proxy to `upstream_port` that sets
/// `Authorization: <authorization>`; its connections to clients use the
/// congestion control `congestion`.
pub fn start_anchor(
    dir: &Path,
    upstream: &Nginx,
    files: &UpstreamFiles,
    authorization: &str,
    workers: usize,
    congestion: Option<&str>,
) -> Result<Nginx> {
    start(dir, "anchor", congestion, |port, tls_port| {
        anchor_conf(
            dir,
            workers,
            AnchorPorts {
                plain: port,
                tls: tls_port,
                upstream: upstream.port,
                upstream_tls: upstream.tls_port,
            },
            files,
            authorization,
        )
    })
}

/// Ports of the anchor and of what it proxies to.
struct AnchorPorts {
    plain: u16,
    tls: u16,
    upstream: u16,
    upstream_tls: u16,
}

fn start(
    parent: &Path,
    name: &str,
    congestion: Option<&str>,
    conf: impl Fn(u16, u16) -> String,
) -> Result<Nginx> {
    let bin =
        find_program("nginx").context("nginx is needed; scripts/test --deps-only installs it")?;
    let dir = parent.join(name);
    std::fs::create_dir_all(dir.join("tmp"))?;
    let plain = Listener::bind(congestion)?;
    let tls = Listener::bind(congestion)?;
    let (port, tls_port) = (plain.port, tls.port);
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf(port, tls_port))?;
    let error_log = dir.join("error.log");
    let mut cmd = nginx_command(&bin, &dir, &conf_path, &error_log, &dir.join("stderr.log"))?;
    cmd.env("NGINX", listeners::nginx_env(&[&plain, &tls]));
    listeners::pass(&mut cmd, &[&plain, &tls]);
    let mut guard = ProcessGuard::spawn(format!("nginx ({name})"), &mut cmd)?;
    drop((plain, tls));
    let url = format!("http://127.0.0.1:{port}/");
    let ready = guard.wait_ready(Duration::from_secs(20), Duration::from_millis(20), || {
        connectors_testkit::http::get(&url, &[]).is_ok_and(|r| r.status == 200)
    });
    if !ready {
        return Err(anyhow!(
            "nginx ({name}) did not start: {}{}",
            std::fs::read_to_string(&error_log).unwrap_or_default(),
            std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
        ));
    }
    Ok(Nginx {
        port,
        tls_port,
        _guard: guard,
        dir,
    })
}

/// `user root;` when running as root: the workers must read files in a
/// private temporary directory.
fn user_line() -> &'static str {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        "user root;"
    } else {
        ""
    }
}

fn common_http(d: &Path) -> String {
    let d = d.display();
    format!(
        r#"  access_log off;
  client_body_temp_path {d}/tmp/client_body;
  fastcgi_temp_path {d}/tmp/fastcgi;
  proxy_temp_path {d}/tmp/proxy;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  default_type application/octet-stream;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  ssl_protocols TLSv1.2 TLSv1.3;"#
    )
}

fn upstream_conf(
    parent: &Path,
    files: &UpstreamFiles,
    workers: usize,
    port: u16,
    tls_port: u16,
) -> String {
    let d = parent.join("upstream");
    let http = common_http(&d);
    let user = user_line();
    let dd = d.display();
    let root = files.root.display();
    let htpasswd = files.htpasswd.display();
    let cert = files.cert.display();
    let key = files.key.display();
    format!(
        r#"{user}
worker_processes {workers};
daemon off;
pid {dd}/nginx.pid;
error_log {dd}/error.log warn;
events {{ worker_connections 4096; }}
http {{
{http}
  sendfile on;
  tcp_nopush on;
  server {{
    listen 127.0.0.1:{port};
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    root {root};
    location = / {{
      default_type text/plain;
      return 200 "upstream\n";
    }}
    location / {{
      auth_basic "bench";
      auth_basic_user_file {htpasswd};
      default_type text/plain;
    }}
  }}
}}
"#
    )
}

/// The anchor: on `plain`, HTTP to the upstream's plain port (the
/// baseline of our reverse proxy); on `tls`, TLS from the client and TLS to
/// the upstream's TLS port (the baseline of our CONNECT-intercepting forward
/// proxy, which also terminates and originates TLS). Both add a static
/// `Authorization` and keep upstream connections alive.
fn anchor_conf(
    parent: &Path,
    workers: usize,
    ports: AnchorPorts,
    files: &UpstreamFiles,
    authorization: &str,
) -> String {
    let d = parent.join("anchor");
    let http = common_http(&d);
    let user = user_line();
    let dd = d.display();
    let AnchorPorts {
        plain,
        tls,
        upstream,
        upstream_tls,
    } = ports;
    let (cert, key) = (files.cert.display(), files.key.display());
    format!(
        r#"{user}
worker_processes {workers};
daemon off;
pid {dd}/nginx.pid;
error_log {dd}/error.log warn;
events {{ worker_connections 4096; }}
http {{
{http}
  upstream up {{
    server 127.0.0.1:{upstream};
    keepalive 64;
    keepalive_requests 10000000;
  }}
  upstream up_tls {{
    server 127.0.0.1:{upstream_tls};
    keepalive 64;
    keepalive_requests 10000000;
  }}
  server {{
    listen 127.0.0.1:{plain};
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "{authorization}";
      proxy_max_temp_file_size 0;
    }}
  }}
  server {{
    listen 127.0.0.1:{tls} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{
      proxy_pass https://up_tls;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "{authorization}";
      proxy_ssl_session_reuse on;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_max_temp_file_size 0;
    }}
  }}
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_body_is_one_hundred_bytes() {
        assert_eq!(SMALL_BODY.len(), 100);
    }

    #[test]
    fn anchor_adds_credentials_and_keeps_upstream_connections() {
        let files = UpstreamFiles {
            root: "/x/root".into(),
            htpasswd: "/x/htpasswd".into(),
            cert: "/x/cert.pem".into(),
            key: "/x/key.pem".into(),
        };
        let ports = AnchorPorts {
            plain: 8080,
            tls: 8443,
            upstream: 9090,
            upstream_tls: 9443,
        };
        let conf = anchor_conf(Path::new("/x"), 1, ports, &files, "Basic abc");
        for needle in [
            "server 127.0.0.1:9090;",
            "keepalive 64;",
            "proxy_http_version 1.1;",
            "proxy_set_header Connection \"\";",
            "proxy_set_header Authorization \"Basic abc\";",
            "listen 127.0.0.1:8080;",
            "proxy_ssl_protocols TLSv1.2 TLSv1.3;",
            "listen 127.0.0.1:8443 ssl;",
            "server 127.0.0.1:9443;",
            "proxy_pass https://up_tls;",
            "ssl_certificate /x/cert.pem;",
            "worker_processes 1;",
        ] {
            assert!(conf.contains(needle), "{needle} missing from\n{conf}");
        }
    }
}
