//! TLS peers: a test certificate authority made in memory and an nginx that
//! serves (or terminates TLS in front of) test endpoints with certificates of
//! that CA.
//!
//! The nginx access log records, per request, the port, the request line,
//! the status and the `Authorization` and `Proxy-Authorization` headers it
//! received (`-` when absent), so a test can check which credential reached
//! the server:
//!
//! ```text
//! 40123 "GET /api/x HTTP/1.1" 200 auth="Basic YWxpY2U6…" proxy_auth="-" user="alice"
//! ```

use crate::interrupt::ScratchDir;
use crate::ports::{free_port, start_on_free_ports, Attempt};
use crate::process::{find_program, nginx_command, output_with_timeout, ProcessGuard};
use anyhow::{anyhow, bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::{IpAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long nginx may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A certificate authority that exists only for one test.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    cert_pem: String,
}

impl TestCa {
    /// A fresh CA named `name` (its subject common name).
    pub fn new(name: &str) -> Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(TestCa {
            cert_pem: cert.pem(),
            params,
            key,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate (PEM) and its private key (PEM) for `names`: IP
    /// literals become IP SANs, everything else DNS SANs.
    pub fn issue_server_cert(&self, names: &[&str]) -> Result<(String, String)> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let common = names.first().copied().unwrap_or("server");
        params.distinguished_name.push(DnType::CommonName, common);
        for n in names {
            let san = match n.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*n).try_into()?),
            };
            params.subject_alt_names.push(san);
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// One `server {}` of an [`NginxTls`].
#[derive(Clone, Debug)]
pub struct Site {
    /// Serve TLS (with a certificate of the CA for `127.0.0.1` and
    /// `localhost`) or plain HTTP.
    pub tls: bool,
    /// The `server {}` body after `listen`: locations and directives.
    /// `@DIR@` is replaced with nginx's private directory (it holds
    /// `htpasswd`, see [`NginxTls::add_user`]).
    pub body: String,
}

impl Site {
    /// A TLS site.
    pub fn tls(body: impl Into<String>) -> Site {
        Site {
            tls: true,
            body: body.into(),
        }
    }

    /// A plain HTTP site.
    pub fn plain(body: impl Into<String>) -> Site {
        Site {
            tls: false,
            body: body.into(),
        }
    }

    /// A TLS site that passes every request to `http://127.0.0.1:PORT`
    /// with the client's `Host` and `X-Forwarded-Proto: https` (so the
    /// backend writes `https://` links for the front's address).
    pub fn tls_reverse_proxy(backend_port: u16) -> Site {
        Site::tls(format!(
            r#"client_max_body_size 0;
    location / {{
      proxy_pass http://127.0.0.1:{backend_port};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_buffering off;
    }}"#
        ))
    }
}

/// A running nginx with one listener per [`Site`]; stopped on drop.
pub struct NginxTls {
    dir: ScratchDir,
    ports: Vec<u16>,
    tls: Vec<bool>,
    nginx: Option<ProcessGuard>,
    htpasswd_bin: PathBuf,
}

impl NginxTls {
    /// Writes a certificate of `ca` for `127.0.0.1` and `localhost`, starts
    /// nginx with `sites` on free ports of 127.0.0.1 and waits until every
    /// port accepts connections.
    pub fn start(ca: &TestCa, sites: &[Site]) -> Result<NginxTls> {
        let nginx_bin = find_program("nginx")?;
        let htpasswd_bin = find_program("htpasswd")?;
        let dir = crate::interrupt::scratch_dir("nginx-tls-")?;
        for sub in ["logs", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub))?;
        }
        std::fs::write(dir.path().join("htpasswd"), "")?;
        let (cert, key) = ca.issue_server_cert(&["127.0.0.1", "localhost"])?;
        std::fs::write(dir.path().join("server.crt"), cert)?;
        std::fs::write(dir.path().join("server.key"), key)?;

        let (ports, nginx) = start_on_free_ports(
            || {
                let ports: Vec<u16> = sites.iter().map(|_| free_port()).collect();
                let conf_path = dir.path().join("nginx.conf");
                std::fs::write(&conf_path, nginx_conf(dir.path(), sites, &ports))?;
                let error_log = dir.path().join("logs/error.log");
                let _ = std::fs::remove_file(&error_log);
                let mut cmd = nginx_command(
                    &nginx_bin,
                    dir.path(),
                    &conf_path,
                    &error_log,
                    &dir.path().join("logs/nginx-stderr.log"),
                )?;
                let mut nginx = ProcessGuard::spawn("nginx", &mut cmd)?;
                let ready = nginx.wait_ready(START_TIMEOUT, Duration::from_millis(20), || {
                    ports
                        .iter()
                        .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
                });
                if ready {
                    return Ok(Attempt::Ready((ports, nginx)));
                }
                drop(nginx);
                let log = format!(
                    "{}{}",
                    read_lossy(&error_log),
                    read_lossy(&dir.path().join("logs/nginx-stderr.log"))
                );
                let port_taken = log.contains("Address already in use");
                Ok(Attempt::not_ready(log, port_taken))
            },
            |log| anyhow!("nginx did not start: {log}"),
        )?;
        Ok(NginxTls {
            dir,
            ports,
            tls: sites.iter().map(|s| s.tls).collect(),
            nginx: Some(nginx),
            htpasswd_bin,
        })
    }

    /// Port of site `i` (in the order given to [`start`](Self::start)).
    pub fn port(&self, i: usize) -> u16 {
        self.ports[i]
    }

    /// `https://127.0.0.1:PORT` (or `http://…` for a plain site) of site `i`.
    pub fn url(&self, i: usize) -> String {
        let scheme = if self.tls[i] { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.ports[i])
    }

    /// nginx's private directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a user to `@DIR@/htpasswd` (SHA1 entry: fast for nginx).
    pub fn add_user(&self, name: &str, password: &str) -> Result<()> {
        htpasswd(
            &self.htpasswd_bin,
            &self.dir.path().join("htpasswd"),
            name,
            password,
            "-s",
        )
    }

    /// The access log so far (format in the module documentation).
    pub fn access_log(&self) -> String {
        read_lossy(&self.dir.path().join("logs/access.log"))
    }

    /// Lines of the access log whose request line contains `path`.
    pub fn requests_for(&self, path: &str) -> Vec<String> {
        self.access_log()
            .lines()
            .filter(|l| {
                l.split('"')
                    .nth(1)
                    .is_some_and(|request| request.contains(path))
            })
            .map(str::to_string)
            .collect()
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        read_lossy(&self.dir.path().join("logs/error.log"))
    }

    /// Stops nginx (also done on drop).
    pub fn stop(&mut self) {
        if let Some(mut n) = self.nginx.take() {
            n.stop();
        }
    }
}

impl Drop for NginxTls {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for NginxTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NginxTls")
            .field("ports", &self.ports)
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// Adds `name` to an htpasswd file with `htpasswd -b FLAG` (`-s` SHA1,
/// `-B` bcrypt), creating the file when needed.
pub(crate) fn htpasswd(
    bin: &Path,
    file: &Path,
    name: &str,
    password: &str,
    flag: &str,
) -> Result<()> {
    if name.is_empty() || name.contains(':') {
        bail!("user name {name:?} cannot be used in htpasswd");
    }
    if !file.exists() {
        std::fs::write(file, "")?;
    }
    let mut cmd = Command::new(bin);
    cmd.arg("-b").arg(flag).arg(file).arg(name).arg(password);
    let out = output_with_timeout(&mut cmd, Duration::from_secs(30))
        .with_context(|| format!("running {}", bin.display()))?;
    if !out.status.success() {
        // htpasswd's messages never include the password.
        bail!(
            "htpasswd failed for user {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn nginx_conf(dir: &Path, sites: &[Site], ports: &[u16]) -> String {
    let d = dir.display();
    // SAFETY: geteuid(2) has no preconditions.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;"
    } else {
        ""
    };
    let mut servers = String::new();
    for (site, port) in sites.iter().zip(ports) {
        let listen = if site.tls {
            format!(
                "listen 127.0.0.1:{port} ssl;\n    ssl_certificate {d}/server.crt;\n    ssl_certificate_key {d}/server.key;"
            )
        } else {
            format!("listen 127.0.0.1:{port};")
        };
        let body = site.body.replace("@DIR@", &d.to_string());
        servers.push_str(&format!(
            "  server {{\n    {listen}\n    server_name _;\n    {body}\n  }}\n"
        ));
    }
    format!(
        r#"{user}
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  log_format peers '$server_port "$request" $status auth="$http_authorization" proxy_auth="$http_proxy_authorization" user="$remote_user"';
  access_log {d}/logs/access.log peers;
  client_body_temp_path {d}/tmp/client_body;
  fastcgi_temp_path {d}/tmp/fastcgi;
  proxy_temp_path {d}/tmp/proxy;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  default_type application/octet-stream;
{servers}}}
"#
    )
}

pub(crate) fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The program named by environment variable `var` (a peer prepared by
/// scripts/test in its cache directory), else `default` (relative to the
/// default cache directory, `target/test-peers`) when that exists, or an
/// error telling how to get it.
pub(crate) fn peer_from_env(var: &str, default: &str, what: &str) -> Result<PathBuf> {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(v);
        if p.is_file() {
            return Ok(p);
        }
        bail!(
            "{var}={} does not exist; run scripts/test (it prepares {what} in its cache \
             directory and sets {var})",
            p.display()
        );
    }
    let cached = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-peers")
        .join(default);
    if cached.is_file() {
        return Ok(cached);
    }
    bail!(
        "{what} is missing: {var} is not set and {} does not exist; run scripts/test (or \
         `scripts/test --deps-only`), which prepares {what} in its cache directory",
        cached.display()
    )
}
