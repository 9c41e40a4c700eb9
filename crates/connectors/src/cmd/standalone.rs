//! `connectors standalone`: proxy, reconciler and local API in one process.

use crate::cli::StandaloneArgs;
use crate::datadir::{self, Discovery};
use anyhow::{anyhow, Context, Result};
use axum::Router;
use connectors_api::local::{router, LocalApiState};
use connectors_catalog::local::{LocalCatalog, LocalOptions};
use connectors_catalog::Catalog;
use connectors_controller::{ProxyAddressing, Reconciler, ReconcilerConfig};
use connectors_proxy::{Proxy, ProxyCa, ProxyConfig};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub fn run(args: StandaloneArgs) -> Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("connectors")
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: StandaloneArgs) -> Result<ExitCode> {
    let data = args.data.data.clone();
    datadir::ensure(&data)?;
    check_config_dir(&args.config)?;
    let (proxy_listener, api_listener) = bind_listeners(&args).await?;
    let proxy_addr = proxy_listener.local_addr()?;
    let api_addr = api_listener.local_addr()?;
    let proxy_url = proxy_url(args.proxy_url.as_deref(), proxy_addr);
    let api_url = format!("http://{api_addr}");

    let catalog = LocalCatalog::start(&args.config, &data, LocalOptions::default())
        .with_context(|| format!("loading manifests from {}", args.config.display()))?;
    let ca = ProxyCa::load_or_create(&data).context("preparing the proxy CA")?;
    log_ca(&ca);
    let (ca_pem_tx, ca_pem) = watch::channel(Arc::new(ca.ca_pem().to_string()));
    let admin_token = datadir::admin_token_or_create(&data)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let dyn_catalog: Arc<dyn Catalog> = catalog.clone();
    let proxy = Proxy::try_new(dyn_catalog.clone(), ca, proxy_config(&args)?)
        .context("preparing the proxy")?;
    let metrics_addr = serve_metrics(&proxy, args.metrics_listen, stopped(stop_rx.clone())).await;
    tokio::spawn(proxy.clone().watch_ca_files(
        data.clone(),
        args.ca_reload_interval,
        move |ca| {
            ca_pem_tx.send_replace(Arc::new(ca.ca_pem().to_string()));
        },
        stopped(stop_rx.clone()),
    ));
    let proxy_task = tokio::spawn(proxy.serve_on_workers(
        proxy_listener,
        args.proxy_workers,
        stopped(stop_rx.clone()),
    ));
    let reconciler_task = start_reconciler(
        dyn_catalog.clone(),
        &args,
        &proxy_url,
        stopped(stop_rx.clone()),
    )?;

    let app = local_api(&catalog, ca_pem, &proxy_url, admin_token);
    // Written before the API answers, so that a client that saw
    // /healthz answer always finds the discovery file.
    write_discovery(&data, &api_url, &proxy_url)?;
    let api_task = serve_local_api(api_listener, app, stopped(stop_rx.clone()));
    log_ready(&args, &data, &proxy_url, &api_url, metrics_addr, &catalog);

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    drain(proxy_task, api_task, reconciler_task).await;
    datadir::remove_discovery(&data);
    Ok(ExitCode::SUCCESS)
}

/// Resolves once `true` is sent on the stop channel (or its sender is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Refuses a `--config` that is not a directory.
fn check_config_dir(config: &Path) -> Result<()> {
    if !config.is_dir() {
        return Err(anyhow!(
            "--config {} is not a directory; point it at a folder of manifests (see examples/standalone)",
            config.display()
        ));
    }
    Ok(())
}

/// Binds the proxy's listener, then the local API's.
async fn bind_listeners(args: &StandaloneArgs) -> Result<(TcpListener, TcpListener)> {
    let proxy_listener = TcpListener::bind(args.proxy_listen)
        .await
        .with_context(|| format!("proxy cannot listen on {} (is another process using it? pick another with --proxy-listen)", args.proxy_listen))?;
    let api_listener = TcpListener::bind(args.api_listen).await.with_context(|| {
        format!(
            "local API cannot listen on {} (pick another with --api-listen)",
            args.api_listen
        )
    })?;
    Ok((proxy_listener, api_listener))
}

/// The URL clients reach the proxy at: `--proxy-url`, else the listener's
/// address (with 127.0.0.1 for an unspecified one).
fn proxy_url(arg: Option<&str>, listening: SocketAddr) -> String {
    match arg {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let mut a = listening;
            if a.ip().is_unspecified() {
                a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{a}")
        }
    }
}

/// The proxy's settings from the command line.
fn proxy_config(args: &StandaloneArgs) -> Result<ProxyConfig> {
    Ok(ProxyConfig {
        connect_timeout: args.connect_timeout,
        upstream_header_timeout: args.upstream_timeout,
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        max_request_header_bytes: args.max_header_bytes,
        max_request_headers: args.max_headers,
        max_inspected_body_bytes: args.max_inspected_body,
        audit_file: args.audit_file.clone(),
        loopback_congestion: loopback_congestion(&args.loopback_congestion)?,
        tls_aes: args.tls_aes,
        ..ProxyConfig::default()
    })
}

/// Serves the proxy's metrics on `addr` until `shutdown`; the address
/// bound, or `None` (logged) when it cannot be bound: the proxy runs on
/// without metrics.
async fn serve_metrics(
    proxy: &Proxy,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Option<SocketAddr> {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(
                addr = %addr,
                error = %e,
                "metrics are not served: the metrics listener cannot bind (pick another address with --metrics-listen)"
            );
            return None;
        }
    };
    let bound = listener.local_addr().ok();
    let metrics = proxy.clone();
    tokio::spawn(async move {
        if let Err(e) = metrics.serve_metrics(listener, shutdown).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    bound
}

/// Starts the reconciler, run until `shutdown`, with Connector addresses
/// under `proxy_url`.
fn start_reconciler(
    catalog: Arc<dyn Catalog>,
    args: &StandaloneArgs,
    proxy_url: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<JoinHandle<()>> {
    let reconciler = Reconciler::new(
        catalog,
        ReconcilerConfig {
            probe_interval: args.probe_interval,
            probe_timeout: args.probe_timeout,
            addressing: ProxyAddressing::Standalone {
                base: proxy_url.to_string(),
            },
            ..ReconcilerConfig::default()
        },
    )
    .map_err(|e| anyhow!(e))?;
    Ok(tokio::spawn(reconciler.run(shutdown)))
}

/// The local API's routes over the catalog.
fn local_api(
    catalog: &Arc<LocalCatalog>,
    ca_pem: watch::Receiver<Arc<String>>,
    proxy_url: &str,
    admin_token: String,
) -> Router {
    router(LocalApiState {
        catalog: catalog.clone(),
        proxy_ca_pem: ca_pem,
        proxy_url: proxy_url.to_string(),
        admin_token: Arc::new(admin_token),
    })
}

/// Writes where this process listens into the data directory.
fn write_discovery(data: &Path, api_url: &str, proxy_url: &str) -> Result<()> {
    datadir::write_discovery(
        data,
        &Discovery {
            api: api_url.to_string(),
            proxy: proxy_url.to_string(),
            pid: std::process::id(),
        },
    )?;
    Ok(())
}

/// Serves the local API on `listener` until `shutdown`.
fn serve_local_api(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    })
}

/// Logs the addresses served, the directories used and what the catalog
/// holds.
fn log_ready(
    args: &StandaloneArgs,
    data: &Path,
    proxy_url: &str,
    api_url: &str,
    metrics_addr: Option<SocketAddr>,
    catalog: &LocalCatalog,
) {
    let snap = catalog.snapshot();
    let metrics_url = metrics_addr
        .map(|a| format!("http://{a}/metrics"))
        .unwrap_or_else(|| "-".to_string());
    tracing::info!(
        proxy = %proxy_url,
        api = %api_url,
        metrics = %metrics_url,
        config = %args.config.display(),
        data = %data.display(),
        connectors = snap.connectors.len(),
        classes = snap.classes.len(),
        "connectors standalone is ready"
    );
}

/// Names the proxy CA in use (the proxy warns when it expires soon).
fn log_ca(ca: &ProxyCa) {
    tracing::info!(fingerprint = %ca.fingerprint(), valid_until = %ca.valid_until(), file = %ca.cert_path().display(), "proxy CA");
}

/// Waits up to 10s for the proxy, the local API and the reconciler to
/// finish; warns of the requests cut off after that.
async fn drain<P, A, R>(proxy: JoinHandle<P>, api: JoinHandle<A>, reconciler: JoinHandle<R>) {
    let drain = async {
        let _ = proxy.await;
        let _ = api.await;
        let _ = reconciler.await;
    };
    if tokio::time::timeout(Duration::from_secs(10), drain)
        .await
        .is_err()
    {
        tracing::warn!("some requests were still running after 10s and were cut off");
    }
}

/// The proxy's congestion control for loopback connections from
/// `--loopback-congestion`: `host` keeps the host's default; a name this
/// process may not use is refused here, at start.
fn loopback_congestion(arg: &str) -> Result<Option<String>> {
    if arg == "host" {
        return Ok(None);
    }
    connectors_proxy::check_congestion(arg).map_err(|e| {
        anyhow!(
            "--loopback-congestion {arg}: the kernel refused it ({e}); the algorithms this process may use are listed in /proc/sys/net/ipv4/tcp_allowed_congestion_control (`host` keeps the host's default)"
        )
    })?;
    Ok(Some(arg.to_string()))
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_congestion_host_default_a_name_or_an_error() {
        assert_eq!(loopback_congestion("host").unwrap(), None);
        assert_eq!(
            loopback_congestion(connectors_proxy::DEFAULT_LOOPBACK_CONGESTION).unwrap(),
            Some("reno".to_string())
        );
        let e = loopback_congestion("no-such-algorithm")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--loopback-congestion no-such-algorithm"), "{e}");
        assert!(e.contains("tcp_allowed_congestion_control"), "{e}");
    }
}
