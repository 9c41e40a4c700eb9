//! The Connectors data plane.
//!
//! A workload sends its request to the proxy with only its short-lived
//! identity token. The proxy finds the Connector (path
//! `/namespaces/NS/connectors/NAME/…` or host `c-NAME.NS.svc…`), checks the
//! token and the caller's right to use the Connector through the
//! [`Catalog`], removes the client's credentials, adds the Connector's, and
//! streams the request to the tool and the answer back.
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

mod access_log;
mod auth;
mod auth_cache;
mod body;
mod ca;
mod classify;
mod error;
mod identify;
mod inject;
mod location;
mod policy;
mod request_id;
mod reverse;
mod route;
mod server;
mod token;
mod upstream;

pub use auth_cache::CacheStats;
pub use ca::{ProxyCa, CA_CERT_FILE, CA_KEY_FILE};
pub use error::{ProxyError, RequestError, REQUEST_ID_HEADER};
pub use request_id::RequestId;

use auth::Authorizer;
use auth_cache::CacheLimits;
use connectors_catalog::Catalog;
use request_id::RequestIds;
use route::RouteTable;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use upstream::{Upstream, UpstreamSettings};

/// Settings of the proxy. Every field has a sane default.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Limit for opening a TCP connection to a tool (exceeded → 504).
    pub connect_timeout: Duration,
    /// Limit for the tool's response head, counted from the last progress
    /// of the request body (exceeded → 504).
    pub upstream_header_timeout: Duration,
    /// How long an idle client keep-alive connection (and an idle pooled
    /// upstream connection) is kept.
    pub idle_timeout: Duration,
    /// Largest accepted request head (request line plus headers), bytes.
    pub max_request_header_bytes: usize,
    /// Idle upstream connections kept per tool host.
    pub max_idle_upstream_per_host: usize,
    /// How long a verified identity is remembered (never past the token's
    /// expiry).
    pub identity_cache_ttl: Duration,
    /// How long an allow decision is remembered.
    pub allow_cache_ttl: Duration,
    /// How long a denial is remembered.
    pub deny_cache_ttl: Duration,
    /// Bound on remembered identities and decisions (each).
    pub auth_cache_max_entries: usize,
    /// Also require the method-derived verb on the `connectors/proxy`
    /// subresource (feature `enable-connector-proxy-permissions`).
    pub check_proxy_subresource: bool,
    /// Largest JSON request body read for a token extractor that inspects
    /// bodies.
    pub max_inspected_body_bytes: usize,
    /// How long in-flight requests may run after shutdown is asked for.
    pub shutdown_grace: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            connect_timeout: Duration::from_secs(10),
            upstream_header_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(90),
            max_request_header_bytes: 64 * 1024,
            max_idle_upstream_per_host: 32,
            identity_cache_ttl: Duration::from_secs(10),
            allow_cache_ttl: Duration::from_secs(10),
            deny_cache_ttl: Duration::from_secs(2),
            auth_cache_max_entries: 10_000,
            check_proxy_subresource: false,
            max_inspected_body_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
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
}

/// The proxy: cheap to clone, all clones share caches and connections.
#[derive(Clone)]
pub struct Proxy {
    shared: Arc<Shared>,
    ca: Arc<ProxyCa>,
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
    /// `SSL_CERT_FILE`) for verifying tools' TLS certificates.
    pub fn new(catalog: Arc<dyn Catalog>, ca: ProxyCa, config: ProxyConfig) -> Proxy {
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
        });
        let shared = Shared {
            auth: Authorizer::new(catalog.clone(), limits, config.check_proxy_subresource),
            catalog,
            routes: RouteTable::default(),
            upstream,
            ids: RequestIds::new(),
            config,
        };
        Proxy {
            shared: Arc::new(shared),
            ca: Arc::new(ca),
        }
    }

    /// Serves clients on `listener` until `shutdown` completes; then stops
    /// accepting, lets in-flight requests finish for at most
    /// [`ProxyConfig::shutdown_grace`], and returns.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ProxyError> {
        server::serve(self.shared, listener, shutdown).await
    }

    /// The proxy CA.
    pub fn ca(&self) -> &ProxyCa {
        &self.ca
    }

    /// Hit and miss counters of the authentication/authorisation caches.
    pub fn cache_stats(&self) -> CacheStats {
        self.shared.auth.stats()
    }
}
