//! The processes the `proxy` scenario measures: the upstream nginx, the
//! anchor nginx in front of it, haproxy when it runs, and our proxy.

use crate::certs::{self, UpstreamCerts};
use crate::cli::ProxyArgs;
use crate::haproxy::{self, Haproxy};
use crate::listeners;
use crate::nginx::{self, Nginx, UpstreamFiles};
use crate::proxy_process::{self, Proxy};
use anyhow::Result;
use base64::Engine;
use std::path::Path;

const USER: &str = "bench";
const PASSWORD: &str = "bench-password-0123";
/// Names of our connectors to the upstream's plain and TLS ports.
pub(super) const PLAIN: &str = "plain";
pub(super) const TLS: &str = "tls";

/// The running peers. Each stops when dropped, in the order of the fields:
/// the relay, our proxy and the anchor before the upstream behind them.
pub(super) struct Peers {
    pub(super) relay: Option<Haproxy>,
    pub(super) proxy: Proxy,
    pub(super) anchor: Nginx,
    pub(super) upstream: Nginx,
    /// The CA that signed the upstream's certificate (PEM).
    pub(super) upstream_ca_pem: String,
    /// The `Authorization` value the upstream accepts.
    pub(super) basic: String,
}

impl Peers {
    /// Starts the upstream, the anchor, haproxy (unless `--no-haproxy` or
    /// it is not on PATH) and our proxy `bin` logging at `log_level`, with
    /// their files in `dir`, and says where each one listens.
    pub(super) fn start(
        dir: &Path,
        bin: &Path,
        args: &ProxyArgs,
        log_level: &str,
        body_bytes: u64,
    ) -> Result<Peers> {
        let certs = certs::make()?;
        let files = nginx::write_upstream_files(
            dir,
            body_bytes,
            USER,
            PASSWORD,
            &certs.leaf_pem,
            &certs.leaf_key_pem,
        )?;
        let upstream = start_upstream(dir, args, &files)?;
        let basic = basic_auth(&format!("{USER}:{PASSWORD}"));
        let anchor = start_anchor(dir, args, &files, &upstream, &basic)?;
        let relay = start_relay(dir, args, &certs, &upstream)?;
        let proxy = start_proxy(dir, bin, args, log_level, &certs, &upstream)?;
        Ok(Peers {
            relay,
            proxy,
            anchor,
            upstream,
            upstream_ca_pem: certs.ca_pem,
            basic,
        })
    }

    /// Prints the nginx logs if they hold errors, and haproxy's if it
    /// holds alerts.
    pub(super) fn print_log_errors(&self) {
        let log = self.upstream.error_log() + &self.anchor.error_log();
        if log.contains("[error]") || log.contains("[crit]") {
            eprintln!("[proxy] nginx logged errors:\n{log}");
        }
        if let Some(log) = self.relay.as_ref().map(Haproxy::log) {
            if log.contains("[ALERT]") {
                eprintln!("[proxy] haproxy logged alerts:\n{log}");
            }
        }
    }
}

/// `Basic` and the base64 of `credentials` (`user:password`): the value of
/// an `Authorization` or `Proxy-Authorization` header.
pub(super) fn basic_auth(credentials: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// Starts the upstream nginx serving `files`.
fn start_upstream(dir: &Path, args: &ProxyArgs, files: &UpstreamFiles) -> Result<Nginx> {
    let congestion = listeners::algorithm(&args.loopback_congestion);
    let upstream = nginx::start_upstream(dir, files, args.upstream_workers, congestion)?;
    eprintln!(
        "[proxy] upstream nginx on 127.0.0.1:{} (TLS :{}), {} worker(s)",
        upstream.port, upstream.tls_port, args.upstream_workers
    );
    Ok(upstream)
}

/// Starts the anchor nginx in front of `upstream`, sending `basic` to it.
fn start_anchor(
    dir: &Path,
    args: &ProxyArgs,
    files: &UpstreamFiles,
    upstream: &Nginx,
    basic: &str,
) -> Result<Nginx> {
    let congestion = listeners::algorithm(&args.loopback_congestion);
    let anchor = nginx::start_anchor(dir, upstream, files, basic, args.anchor_workers, congestion)?;
    eprintln!(
        "[proxy] anchor nginx on 127.0.0.1:{} (TLS to TLS :{}), {} worker(s)",
        anchor.port, anchor.tls_port, args.anchor_workers
    );
    Ok(anchor)
}

/// Starts haproxy in front of `upstream`, unless `--no-haproxy` or it is
/// not on PATH (which is said).
fn start_relay(
    dir: &Path,
    args: &ProxyArgs,
    certs: &UpstreamCerts,
    upstream: &Nginx,
) -> Result<Option<Haproxy>> {
    let use_haproxy = !args.no_haproxy && haproxy::available();
    if !args.no_haproxy && !use_haproxy {
        eprintln!("[proxy] haproxy is not on PATH: no reference relays (apt-get install haproxy)");
    }
    if !use_haproxy {
        return Ok(None);
    }
    let tls = haproxy::RelayTls {
        cert_pem: &certs.leaf_pem,
        key_pem: &certs.leaf_key_pem,
        upstream_ca_pem: &certs.ca_pem,
    };
    let congestion = listeners::algorithm(&args.loopback_congestion);
    let relay = haproxy::start(dir, upstream, &tls, args.anchor_workers, congestion)?;
    eprintln!(
        "[proxy] haproxy (TCP mode) on 127.0.0.1:{} (TLS to TLS :{}), {} thread(s)",
        relay.port, relay.tls_port, args.anchor_workers
    );
    Ok(Some(relay))
}

/// Starts our proxy `bin` with a connector to each of `upstream`'s ports.
fn start_proxy(
    dir: &Path,
    bin: &Path,
    args: &ProxyArgs,
    log_level: &str,
    certs: &UpstreamCerts,
    upstream: &Nginx,
) -> Result<Proxy> {
    let manifests = vec![
        proxy_process::basic_auth_secret("bench-creds", USER, PASSWORD),
        proxy_process::ca_secret("bench-upstream-ca", &certs.ca_pem),
        proxy_process::git_connector(
            PLAIN,
            &format!("http://127.0.0.1:{}", upstream.port),
            "bench-creds",
            None,
        ),
        proxy_process::git_connector(
            TLS,
            &format!("https://127.0.0.1:{}", upstream.tls_port),
            "bench-creds",
            Some("bench-upstream-ca"),
        ),
    ];
    let proxy = Proxy::start(
        bin,
        &dir.join("manifests"),
        &manifests,
        log_level,
        // Like for like: as many proxy threads as anchor worker processes.
        args.anchor_workers,
        &[
            "--loopback-congestion".into(),
            args.loopback_congestion.clone(),
        ],
    )?;
    eprintln!(
        "[proxy] connectors standalone (pid {}, {} proxy worker(s)) on {} from {}",
        proxy.standalone.pid(),
        args.anchor_workers,
        proxy.standalone.proxy_url(),
        bin.display()
    );
    Ok(proxy)
}
