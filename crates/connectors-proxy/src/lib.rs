//! The Connectors data plane.
//!
//! A workload sends its request to the proxy with only its short-lived
//! identity token. The proxy finds the Connector, checks the token and the
//! caller's right to use the Connector through the [`Catalog`], removes the
//! client's credentials, adds the Connector's, and streams the request to
//! the tool and the answer back. One listener serves three modes:
//!
//! * reverse (`GET /path`): the Connector is named by the path
//!   `/namespaces/NS/connectors/NAME/…` or the host `c-NAME.NS.svc…`;
//! * forward (`GET http://host/path`): the Connectors are listed in
//!   `Proxy-Authorization` and the credential goes only to a target under
//!   one of their addresses; other targets are forwarded without any
//!   credential and without the client's token;
//! * CONNECT: TLS is terminated with a leaf certificate from the proxy CA,
//!   and every decrypted request is handled as in forward mode against the
//!   CONNECT authority (a request naming another host is refused with 421).
//!   A host no listed Connector covers is intercepted the same way and gets
//!   no credential; there is no blind tunnel. The CA may be an
//!   organisation's own and is replaced while running
//!   ([`Proxy::watch_ca_files`], [`Proxy::replace_ca`]).
//!
//! Metrics are served on a separate listener
//! ([`Proxy::serve_metrics`]); one audit record per request is emitted as a
//! tracing event with target [`AUDIT_TARGET`].
//!
//! ```no_run
//! # async fn run(catalog: std::sync::Arc<dyn connectors_catalog::Catalog>) -> Result<(), Box<dyn std::error::Error>> {
//! use connectors_proxy::{Proxy, ProxyCa, ProxyConfig};
//! let ca = ProxyCa::load_or_create("/var/lib/connectors")?;
//! let proxy = Proxy::new(catalog, ca, ProxyConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! proxy.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod audit;
mod auth;
mod auth_cache;
mod body;
mod body_merge;
mod bounded_connect;
mod ca;
mod ca_reload;
mod classify;
mod clock;
mod conn;
mod connect;
mod deadline;
mod error;
mod fast;
mod forward;
mod identify;
mod inject;
mod limits;
mod location;
mod loopback;
mod metrics;
mod metrics_server;
mod pairs;
mod policy;
mod proxy_auth;
mod read_ahead;
mod relay;
mod request_id;
mod reverse;
mod route;
mod server;
mod target;
mod tls;
mod token;
mod unreadable;
mod upgrade;
mod upstream;
mod write_through;

pub use audit::AUDIT_TARGET;
pub use auth_cache::CacheStats;
pub use ca::{ProxyCa, CA_CERT_FILE, CA_KEY_FILE};
pub use error::{ProxyError, RequestError, REQUEST_ID_HEADER};
pub use loopback::{check_congestion, DEFAULT_LOOPBACK_CONGESTION};
pub use request_id::RequestId;
pub use tls::{AesGcm, AesLib};

use audit::Telemetry;
use auth::Authorizer;
use auth_cache::CacheLimits;
use connectors_catalog::Catalog;
use limits::HeadLimits;
use request_id::RequestIds;
use route::RouteTable;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tls::leaf::LeafCache;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use upstream::{Upstream, UpstreamSettings};

/// Settings of the proxy. Every field has a sane default.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Limit for opening a connection to a tool, TCP and TLS (exceeded →
    /// 504).
    pub connect_timeout: Duration,
    /// Limit for the tool's response head, counted from the last progress
    /// of the request body (exceeded → 504).
    pub upstream_header_timeout: Duration,
    /// Limit for reading a client's request head, counted from its first
    /// byte (from accept for a new connection), and for a CONNECT client's
    /// TLS handshake. Exceeded → the connection is closed.
    pub header_timeout: Duration,
    /// How long an idle client keep-alive connection (and an idle pooled
    /// upstream connection) is kept.
    pub idle_timeout: Duration,
    /// Largest accepted request head (request line plus headers), bytes
    /// (over → 431).
    pub max_request_header_bytes: usize,
    /// Most header fields in a request (over → 431).
    pub max_request_headers: usize,
    /// Idle upstream connections kept per tool host.
    pub max_idle_upstream_per_host: usize,
    /// How long a verified identity is remembered (never past the token's
    /// expiry).
    pub identity_cache_ttl: Duration,
    /// How long an allow decision is remembered.
    pub allow_cache_ttl: Duration,
    /// How long a denial, or a rejected token, is remembered.
    pub deny_cache_ttl: Duration,
    /// Bound on remembered identities and decisions (each).
    pub auth_cache_max_entries: usize,
    /// Bound on cached leaf certificates of intercepted hosts.
    pub max_leaf_certificates: usize,
    /// Also require the method-derived verb on the `connectors/proxy`
    /// subresource (feature `enable-connector-proxy-permissions`).
    pub check_proxy_subresource: bool,
    /// Largest JSON request body read for a token extractor that inspects
    /// bodies.
    pub max_inspected_body_bytes: usize,
    /// How long in-flight requests may run after shutdown is asked for.
    pub shutdown_grace: Duration,
    /// Also append each audit record as a JSON line to this file (created
    /// with mode 0600).
    pub audit_file: Option<PathBuf>,
    /// Serve plain reverse-mode HTTP/1.1 requests on the listener's fast
    /// path (see the `fast` module); when off, every request goes through
    /// the general server. Both give the same answers.
    pub http1_fast_path: bool,
    /// TCP congestion control of connections whose peer is a loopback
    /// address (see the `loopback` module); `None` keeps the host's
    /// default.
    pub loopback_congestion: Option<String>,
    /// Whose AES-GCM encrypts the proxy's TLS sessions (see
    /// [`AesGcm`]); the first proxy of a process decides for all.
    pub tls_aes: AesGcm,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            connect_timeout: Duration::from_secs(10),
            upstream_header_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            max_request_header_bytes: 64 * 1024,
            max_request_headers: 100,
            max_idle_upstream_per_host: 32,
            identity_cache_ttl: Duration::from_secs(10),
            allow_cache_ttl: Duration::from_secs(10),
            deny_cache_ttl: Duration::from_secs(2),
            auth_cache_max_entries: 10_000,
            max_leaf_certificates: 1024,
            check_proxy_subresource: false,
            max_inspected_body_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            audit_file: None,
            http1_fast_path: true,
            loopback_congestion: Some(loopback::DEFAULT_LOOPBACK_CONGESTION.to_string()),
            tls_aes: AesGcm::Auto,
        }
    }
}

/// What every request handler shares.
pub(crate) struct Shared {
    pub(crate) catalog: Arc<dyn Catalog>,
    pub(crate) config: ProxyConfig,
    pub(crate) routes: RouteTable,
    pub(crate) auth: Authorizer,
    pub(crate) upstream: Upstream,
    pub(crate) ids: RequestIds,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) leaves: LeafCache,
    pub(crate) limits: HeadLimits,
    pub(crate) h1: hyper::server::conn::http1::Builder,
    /// Tunnels and upgraded connections, waited for at shutdown.
    pub(crate) tasks: TaskTracker,
    /// Set to `true` when shutdown starts.
    pub(crate) stop: watch::Sender<bool>,
}

/// Counters of the leaf certificate cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeafStats {
    /// Leaves currently cached.
    pub cached: u64,
    /// Leaves minted since start.
    pub minted: u64,
}

/// The proxy: cheap to clone, all clones share caches and connections.
#[derive(Clone)]
pub struct Proxy {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Proxy {
    /// Builds a proxy over a catalog. Loads the system CA roots (honouring
    /// `SSL_CERT_FILE`) for verifying tools' TLS certificates. When the
    /// audit file cannot be opened, this is logged and the proxy runs
    /// without it; use [`try_new`](Self::try_new) to fail instead.
    pub fn new(catalog: Arc<dyn Catalog>, ca: ProxyCa, config: ProxyConfig) -> Proxy {
        let telemetry = match Telemetry::new(config.audit_file.as_deref()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "audit records are not written to a file");
                Telemetry::without_file()
            }
        };
        Proxy::build(catalog, ca, config, telemetry)
    }

    /// Like [`new`](Self::new), but fails when the audit file cannot be
    /// opened.
    pub fn try_new(
        catalog: Arc<dyn Catalog>,
        ca: ProxyCa,
        config: ProxyConfig,
    ) -> Result<Proxy, ProxyError> {
        let telemetry = Telemetry::new(config.audit_file.as_deref())?;
        Ok(Proxy::build(catalog, ca, config, telemetry))
    }

    fn build(
        catalog: Arc<dyn Catalog>,
        ca: ProxyCa,
        config: ProxyConfig,
        telemetry: Telemetry,
    ) -> Proxy {
        tls::choose_aes(config.tls_aes);
        let limits = CacheLimits {
            identity_ttl: config.identity_cache_ttl,
            allow_ttl: config.allow_cache_ttl,
            deny_ttl: config.deny_cache_ttl,
            max_entries: config.auth_cache_max_entries.max(1),
        };
        let upstream = Upstream::new(UpstreamSettings {
            connect_timeout: config.connect_timeout,
            header_timeout: config.upstream_header_timeout,
            idle_timeout: config.idle_timeout,
            max_idle_per_host: config.max_idle_upstream_per_host,
            loopback_congestion: config.loopback_congestion.clone(),
        });
        let ca = Arc::new(ca);
        let (stop, _) = watch::channel(false);
        let shared = Shared {
            auth: Authorizer::new(
                catalog.clone(),
                limits,
                telemetry.metrics.cache.clone(),
                config.check_proxy_subresource,
            ),
            catalog,
            routes: RouteTable::default(),
            upstream,
            ids: RequestIds::new(),
            telemetry: Arc::new(telemetry),
            leaves: LeafCache::new(ca, config.max_leaf_certificates),
            limits: HeadLimits {
                max_bytes: config.max_request_header_bytes,
                max_fields: config.max_request_headers,
            },
            h1: server::http1_builder(&config),
            tasks: TaskTracker::new(),
            stop,
            config,
        };
        Proxy {
            shared: Arc::new(shared),
        }
    }

    /// Serves clients on `listener` until `shutdown` completes; then stops
    /// accepting, lets in-flight requests and tunnels finish for at most
    /// [`ProxyConfig::shutdown_grace`], and returns.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ProxyError> {
        server::serve(self.shared, listener, shutdown).await
    }

    /// Like [`serve`](Self::serve), on `workers` threads of their own
    /// (0: one per CPU), each running its own event loop and accepting
    /// from the same listener; a connection stays on the thread that
    /// accepted it. This keeps the proxy's traffic off the caller's
    /// runtime and spares it the hand-over of work between threads.
    pub async fn serve_on_workers(
        self,
        listener: tokio::net::TcpListener,
        workers: usize,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ProxyError> {
        server::serve_on_workers(self.shared, listener, workers, shutdown).await
    }

    /// Serves `GET /metrics` (Prometheus text format) and `GET /healthz`
    /// on `listener` until `shutdown` completes.
    pub async fn serve_metrics(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ProxyError> {
        metrics_server::serve(self, listener, shutdown).await
    }

    /// The metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.shared
            .telemetry
            .metrics
            .encode(self.shared.leaves.len(), self.ca().not_after_unix())
    }

    /// The proxy CA that signs intercepted hosts' certificates now.
    pub fn ca(&self) -> Arc<ProxyCa> {
        self.shared.leaves.ca()
    }

    /// Signs intercepted hosts' certificates with `ca` from now on (a
    /// rotated CA): cached leaf certificates are dropped, tunnels already
    /// open keep the certificate they were given.
    pub fn replace_ca(&self, ca: ProxyCa) {
        self.shared.leaves.replace_ca(Arc::new(ca));
    }

    /// Picks up a rotated CA without a restart: looks at the CA files of
    /// `data_dir` every `every` until `shutdown`, and signs with the CA
    /// they hold once they changed and hold a usable one (then `replaced`
    /// gets it). Files that stay unusable are reported and the CA in use is
    /// kept; nothing is ever written.
    pub async fn watch_ca_files(
        self,
        data_dir: PathBuf,
        every: Duration,
        replaced: impl FnMut(&ProxyCa) + Send,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        ca_reload::watch(self, data_dir, every, replaced, shutdown).await
    }

    /// Hit and miss counters of the authentication/authorisation caches.
    pub fn cache_stats(&self) -> CacheStats {
        self.shared.auth.stats()
    }

    /// Counters of the leaf certificate cache.
    pub fn leaf_stats(&self) -> LeafStats {
        LeafStats {
            cached: self.shared.leaves.len() as u64,
            minted: self.shared.leaves.minted(),
        }
    }
}
