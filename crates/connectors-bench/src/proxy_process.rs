//! The proxy under test: `connectors standalone` from the release build,
//! with manifests written for the scenario.

use anyhow::{bail, Context, Result};
use connectors_testkit::{Standalone, StandaloneOptions};
use std::path::{Path, PathBuf};

/// Namespace of every Connector the benchmarks create.
pub const NAMESPACE: &str = "bench";

/// The `connectors` binary: `explicit`, or `connectors` next to this
/// program.
pub fn find_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    let bin = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .context("locating this program")?
            .with_file_name("connectors"),
    };
    if !bin.is_file() {
        bail!(
            "{} does not exist: build the proxy with `cargo build --release -p connectors` \
             or pass --connectors-bin",
            bin.display()
        );
    }
    warn_if_stale(&bin);
    if bin.components().any(|c| c.as_os_str() == "debug") {
        eprintln!(
            "warning: {} looks like a debug build; figures of a debug proxy mean little",
            bin.display()
        );
    }
    Ok(bin)
}

/// Warns when a source file of the proxy's crates is newer than `bin`
/// (a benchmark of yesterday's build).
fn warn_if_stale(bin: &Path) {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return;
    };
    let mut stack: Vec<PathBuf> = [
        "connectors",
        "connectors-proxy",
        "connectors-catalog",
        "connectors-core",
    ]
    .iter()
    .map(|c| crates.join(c).join("src"))
    .collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t > built)
            {
                eprintln!(
                    "warning: {} is newer than {}; rebuild with `cargo build --release -p connectors`",
                    path.display(),
                    bin.display()
                );
                return;
            }
        }
    }
}

/// A Secret of type basic-auth.
pub fn basic_auth_secret(name: &str, user: &str, password: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: {NAMESPACE}
type: kubernetes.io/basic-auth
stringData:
  username: {user}
  password: {password}
"#
    )
}

/// A Secret holding a CA certificate under `ca.crt`.
pub fn ca_secret(name: &str, ca_pem: &str) -> String {
    let indented: String = ca_pem.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: {NAMESPACE}
type: Opaque
stringData:
  ca.crt: |
{indented}"#
    )
}

/// A Connector of class `git` with Basic auth from `secret`.
pub fn git_connector(name: &str, address: &str, secret: &str, ca_secret: Option<&str>) -> String {
    let ca = ca_secret
        .map(|s| format!("  caCertSecretRef:\n    name: {s}\n"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata:
  name: {name}
  namespace: {NAMESPACE}
spec:
  connectorClassName: git
  address: {address}
{ca}  auth:
    name: basicAuth
    secretRef:
      name: {secret}
    params:
      - name: repository
        value: bench.git
"#
    )
}

/// A started proxy with a token of namespace `bench`.
pub struct Proxy {
    pub standalone: Standalone,
    pub token: String,
}

impl Proxy {
    /// Writes `manifests` into `config_dir` and starts `bin standalone`
    /// with `--log-level log_level`, `--proxy-workers workers` (0: one
    /// per CPU) and the `extra` flags.
    pub fn start(
        bin: &Path,
        config_dir: &Path,
        manifests: &[String],
        log_level: &str,
        workers: usize,
        extra: &[String],
    ) -> Result<Proxy> {
        std::fs::create_dir_all(config_dir)?;
        std::fs::write(config_dir.join("bench.yaml"), manifests.join("---\n"))?;
        let standalone = Standalone::start_with(
            bin,
            config_dir,
            StandaloneOptions {
                log_level: log_level.to_string(),
                extra_args: [
                    vec!["--proxy-workers".into(), workers.to_string()],
                    extra.to_vec(),
                ]
                .concat(),
                ..StandaloneOptions::default()
            },
        )?;
        let token = standalone
            .cli_ok(&["token", "issue", "--namespace", NAMESPACE, "--ttl", "12h"])?
            .trim()
            .to_string();
        if token.is_empty() {
            bail!("connectors token issue printed no token");
        }
        Ok(Proxy { standalone, token })
    }

    /// The proxy CA certificate (PEM) that CONNECT leaves are signed by.
    pub fn ca_pem(&self) -> Result<Vec<u8>> {
        let path = self.standalone.data_dir().join("proxy-ca.crt");
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// `127.0.0.1:PORT` of the proxy listener.
    pub fn addr(&self) -> Result<std::net::SocketAddr> {
        let url = self.standalone.proxy_url();
        Ok(url.trim_start_matches("http://").parse()?)
    }

    /// Current VmRSS in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        connectors_testkit::rss::current_rss_kib(self.standalone.pid())
    }

    /// VmHWM (peak RSS) in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64> {
        connectors_testkit::rss::peak_rss_kib(self.standalone.pid())
    }
}

/// Whose AES-GCM the proxy's TLS took, from the line its log writes at
/// start: `AES-GCM of ring (timed at start: ring 8.0 GB/s, aws-lc 4.2 GB/s)`,
/// or the name alone when `--tls-aes` named it.
pub fn aes_choice(log: &str) -> Option<String> {
    let line = log.lines().rev().find(|l| l.contains("aes_gcm="))?;
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(|v| v.trim_matches(|c| c == '"' || c == ',').to_string())
    };
    let chosen = field("aes_gcm=")?;
    Some(match (field("ring_gb_per_s="), field("aws_lc_gb_per_s=")) {
        (Some(ring), Some(aws_lc)) => {
            format!("AES-GCM of {chosen} (timed at start: ring {ring} GB/s, aws-lc {aws_lc} GB/s)")
        }
        _ => format!("AES-GCM of {chosen} (named by --tls-aes)"),
    })
}

#[cfg(test)]
mod tests {
    use super::aes_choice;

    #[test]
    fn the_aes_choice_is_read_from_the_proxy_log() {
        let timed = "2026-12-03T14:04:24Z  INFO TLS uses the faster AES-GCM of this machine \
                     (AES-128-GCM, 16 KiB records) aes_gcm=ring ring_gb_per_s=\"8.0\" aws_lc_gb_per_s=\"4.2\"";
        assert_eq!(
            aes_choice(&format!("INFO starting\n{timed}\nINFO ready")).as_deref(),
            Some("AES-GCM of ring (timed at start: ring 8.0 GB/s, aws-lc 4.2 GB/s)")
        );
        let named = "INFO TLS uses the AES-GCM named by --tls-aes aes_gcm=aws-lc";
        assert_eq!(
            aes_choice(named).as_deref(),
            Some("AES-GCM of aws-lc (named by --tls-aes)")
        );
        assert_eq!(aes_choice("INFO ready\n"), None);
    }
}
