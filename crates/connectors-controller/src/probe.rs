//! Sending probe requests to tools.

use bytes::Bytes;
use connectors_core::render::ProbeRequest;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use std::sync::Arc;
use std::time::Duration;

/// The largest response body a probe reads (for response checks).
const MAX_BODY: usize = 1 << 20;
/// Redirects followed at most.
const MAX_REDIRECTS: usize = 10;

type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// What a probe got back.
#[derive(Clone, Debug)]
pub struct ProbeResult {
    /// Final HTTP status.
    pub status: u16,
    /// Response body (at most 1 MiB).
    pub body: Bytes,
}

/// An HTTP client for probes: TLS verified against the system roots (plus
/// a Connector's own CA certificates when it names some), a deadline per
/// probe, redirects followed when the probe allows it.
#[derive(Clone)]
pub struct ProbeClient {
    roots: Arc<RootCertStore>,
    client: HttpsClient,
    timeout: Duration,
}

impl ProbeClient {
    /// Builds a client whose probes give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<ProbeClient, String> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            tracing::warn!("no system CA certificates found; HTTPS probes will fail unless Connectors name their CA");
        }
        let roots = Arc::new(roots);
        let client = build_client(&roots, timeout)?;
        Ok(ProbeClient {
            roots,
            client,
            timeout,
        })
    }

    /// Sends a probe, trusting `extra_roots` (DER) besides the system roots.
    /// The error is a one-line description of the transport failure (never
    /// containing header values).
    pub async fn send(
        &self,
        req: &ProbeRequest,
        extra_roots: &[Vec<u8>],
    ) -> Result<ProbeResult, String> {
        let client = if extra_roots.is_empty() {
            self.client.clone()
        } else {
            let mut roots = (*self.roots).clone();
            for der in extra_roots {
                roots
                    .add(CertificateDer::from(der.clone()))
                    .map_err(|e| format!("the Connector's CA certificate is unusable: {e}"))?;
            }
            build_client(&Arc::new(roots), self.timeout)?
        };
        match tokio::time::timeout(self.timeout, send_inner(&client, req)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{} {}: no answer within {}",
                req.method,
                req.url,
                humantime::format_duration(self.timeout)
            )),
        }
    }
}

fn build_client(roots: &Arc<RootCertStore>, timeout: Duration) -> Result<HttpsClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(https))
}

/// `User-Agent` of probe requests (unless the class sets its own), so that
/// tool logs tell probes from workloads.
pub const PROBE_USER_AGENT: &str = concat!("connectors-probe/", env!("CARGO_PKG_VERSION"));

async fn send_inner(client: &HttpsClient, req: &ProbeRequest) -> Result<ProbeResult, String> {
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("invalid method {:?}", req.method))?;
    let mut url = req.url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let mut builder = Request::builder().method(method.clone()).uri(url.as_str());
        for (name, value) in &req.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid probe header name {name:?}"))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| format!("probe header {name} has an invalid value"))?;
            value.set_sensitive(true);
            builder = builder.header(name, value);
        }
        if !req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("user-agent"))
        {
            builder = builder.header(http::header::USER_AGENT, PROBE_USER_AGENT);
        }
        let request = builder
            .body(Empty::new())
            .map_err(|e| format!("{} {url}: {e}", req.method))?;
        let resp = client
            .request(request)
            .await
            .map_err(|e| format!("{} {url}: {}", req.method, describe(&e)))?;
        let status = resp.status();
        if req.follow_redirects && status.is_redirection() {
            if let Some(next) = resp
                .headers()
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url::Url::parse(&url).ok()?.join(l).ok())
            {
                url = next.to_string();
                continue;
            }
        }
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Ok(ProbeResult {
            status: status.as_u16(),
            body,
        });
    }
    Err(format!(
        "{} {}: more than {MAX_REDIRECTS} redirects",
        req.method, req.url
    ))
}

/// A short reason from a client error chain (connection refused, DNS, TLS).
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}
