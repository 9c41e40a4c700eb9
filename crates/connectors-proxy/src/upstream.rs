//! The connection to the tools: keep-alive pools (HTTP/1.1 and HTTP/2 by
//! ALPN), TLS verified against the system roots (`SSL_CERT_FILE` honoured)
//! plus the Connector's CA certificates, connect (TCP and TLS) and
//! response-header timeouts, and the hop-by-hop header rules of RFC 9110 §7.6.1.
//!
//! One pair of clients (ALPN h2 + http/1.1, and http/1.1 only for protocol
//! upgrades) exists per distinct CA set, built on first use and kept.

use crate::body::{Progress, UpstreamBody};
use crate::bounded_connect::BoundedConnect;
use crate::error::RequestError;
use crate::loopback::TunedConnector;
use crate::tls::upstream::{CaSet, UpstreamTls};
use http::header::{
    HeaderName, CONNECTION, CONTENT_LENGTH, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, Request, Response};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Settings of the upstream client.
#[derive(Clone, Debug)]
pub(crate) struct UpstreamSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) header_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_idle_per_host: usize,
    pub(crate) loopback_congestion: Option<String>,
}

type HttpClient = Client<BoundedConnect<HttpsConnector<TunedConnector>>, UpstreamBody>;

/// The clients for one trust set.
struct Clients {
    /// ALPN h2 and http/1.1.
    any: HttpClient,
    /// ALPN http/1.1 only: requests that ask for a protocol upgrade.
    http1: HttpClient,
}

/// Most distinct CA sets with their own clients.
const MAX_CA_SETS: usize = 256;

/// The shared upstream clients.
pub(crate) struct Upstream {
    settings: UpstreamSettings,
    tls: UpstreamTls,
    default: Arc<Clients>,
    by_ca: RwLock<HashMap<[u8; 32], Arc<Clients>>>,
    /// HTTP/1.1-only TLS settings of the fast path, per CA set.
    tls_http1: RwLock<HashMap<Option<[u8; 32]>, Arc<rustls::ClientConfig>>>,
}

impl Upstream {
    pub(crate) fn new(settings: UpstreamSettings) -> Upstream {
        let tls = UpstreamTls::load();
        let default = Arc::new(clients(&tls, None, &settings));
        Upstream {
            settings,
            tls,
            default,
            by_ca: RwLock::new(HashMap::new()),
            tls_http1: RwLock::new(HashMap::new()),
        }
    }

    /// TLS settings offering only HTTP/1.1, trusting the system roots plus
    /// `ca`; built once per CA set.
    pub(crate) fn tls_http1(&self, ca: Option<&CaSet>) -> Arc<rustls::ClientConfig> {
        let key = ca.map(|c| c.fingerprint);
        if let Some(c) = self
            .tls_http1
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return c.clone();
        }
        let mut map = self.tls_http1.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_CA_SETS {
            map.clear();
        }
        map.entry(key)
            .or_insert_with(|| {
                let mut config = self.tls.client_config(ca);
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Arc::new(config)
            })
            .clone()
    }

    fn clients(&self, ca: Option<&CaSet>) -> Arc<Clients> {
        let Some(ca) = ca else {
            return self.default.clone();
        };
        if let Some(c) = self
            .by_ca
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ca.fingerprint)
        {
            return c.clone();
        }
        let mut map = self.by_ca.write().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(&ca.fingerprint) {
            return c.clone();
        }
        if map.len() >= MAX_CA_SETS {
            map.clear();
        }
        let c = Arc::new(clients(&self.tls, Some(ca), &self.settings));
        map.insert(ca.fingerprint, c.clone());
        c
    }

    /// Sends the request and waits for the response head. TLS trusts the
    /// system roots plus `ca`; `upgrade` requests go over HTTP/1.1. The
    /// wait is bounded by the header timeout counted from the last
    /// request-body progress (so uploads are not cut off while moving).
    pub(crate) async fn send(
        &self,
        req: Request<UpstreamBody>,
        progress: Arc<Progress>,
        host: &str,
        ca: Option<&CaSet>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, RequestError> {
        let timeout = self.settings.header_timeout;
        let clients = self.clients(ca);
        let client = if upgrade {
            &clients.http1
        } else {
            &clients.any
        };
        let fut = client.request(req);
        tokio::pin!(fut);
        loop {
            let deadline = tokio::time::Instant::from_std(progress.last() + timeout);
            tokio::select! {
                r = &mut fut => return r.map_err(|e| classify_error(&e, host, &self.settings)),
                _ = tokio::time::sleep_until(deadline) => {
                    if progress.last() + timeout <= std::time::Instant::now() {
                        return Err(RequestError::UpstreamTimeout {
                            host: host.to_string(),
                            what: "answer",
                            after: timeout,
                        });
                    }
                }
            }
        }
    }
}

fn clients(tls: &UpstreamTls, ca: Option<&CaSet>, settings: &UpstreamSettings) -> Clients {
    Clients {
        any: client(tls, ca, settings, true),
        http1: client(tls, ca, settings, false),
    }
}

fn client(
    tls: &UpstreamTls,
    ca: Option<&CaSet>,
    settings: &UpstreamSettings,
    h2: bool,
) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(settings.connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let http = TunedConnector::new(http, settings.loopback_congestion.as_deref());
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.client_config(ca))
        .https_or_http()
        .enable_http1();
    let https = if h2 {
        builder.enable_http2().wrap_connector(http)
    } else {
        builder.wrap_connector(http)
    };
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(settings.idle_timeout)
        .pool_max_idle_per_host(settings.max_idle_per_host)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        // `Host` (HTTP/1.1) or `:authority` (HTTP/2) from the request URI;
        // callers remove the client's `Host`.
        .set_host(true)
        .build(BoundedConnect::new(https, settings.connect_timeout))
}

/// Maps a client error to 502/504 with a short reason (no URLs with
/// queries, no credentials: these come from sockets, DNS and TLS).
fn classify_error(
    e: &hyper_util::client::legacy::Error,
    host: &str,
    settings: &UpstreamSettings,
) -> RequestError {
    let causes = Causes::of(e);
    if e.is_connect() {
        return connect_error(causes, host, settings);
    }
    if causes.user_body {
        return RequestError::BadRequest("the request body could not be read from the client");
    }
    let reason = causes
        .last
        .map(short)
        .unwrap_or_else(|| "connection closed before a response".into());
    RequestError::upstream_failed(host, reason)
}

/// What the chain of sources of a client error tells.
#[derive(Default)]
struct Causes {
    /// The first I/O error kind other than `Other`.
    io_kind: Option<std::io::ErrorKind>,
    /// The last TLS error.
    tls: Option<rustls::Error>,
    /// A name did not resolve.
    dns: bool,
    /// The request body failed (hyper's user error or an aborted write).
    user_body: bool,
    /// The text of the innermost source.
    last: Option<String>,
}

impl Causes {
    /// Walks the sources of `e`, outermost first.
    fn of(e: &hyper_util::client::legacy::Error) -> Causes {
        let mut causes = Causes::default();
        let mut source: Option<&(dyn StdError + 'static)> = e.source();
        while let Some(s) = source {
            causes.look_inside_io(s);
            if let Some(t) = s.downcast_ref::<rustls::Error>() {
                causes.tls = Some(t.clone());
            }
            if let Some(h) = s.downcast_ref::<hyper::Error>() {
                if h.is_user() || h.is_body_write_aborted() {
                    causes.user_body = true;
                }
            }
            let text = s.to_string();
            if text == "dns error" {
                causes.dns = true;
            }
            causes.last = Some(text);
            source = s.source();
        }
        causes
    }

    /// Notes the kinds and TLS errors of the `io::Error`s nested in `s`:
    /// io::Error hides what it wraps from `source()`.
    fn look_inside_io(&mut self, s: &(dyn StdError + 'static)) {
        let mut io_err = s.downcast_ref::<std::io::Error>();
        while let Some(io) = io_err {
            if io.kind() != std::io::ErrorKind::Other {
                self.io_kind.get_or_insert(io.kind());
            }
            let inner = io.get_ref();
            if let Some(t) = inner.and_then(|i| i.downcast_ref::<rustls::Error>()) {
                self.tls = Some(t.clone());
            }
            io_err = inner.and_then(|i| i.downcast_ref::<std::io::Error>());
        }
    }
}

/// A failed connection: a timeout (TCP only), a TLS failure, or an
/// unreachable tool.
fn connect_error(causes: Causes, host: &str, settings: &UpstreamSettings) -> RequestError {
    let Causes {
        io_kind,
        tls,
        dns,
        last,
        ..
    } = causes;
    if io_kind == Some(std::io::ErrorKind::TimedOut) && tls.is_none() && !dns {
        return RequestError::UpstreamTimeout {
            host: host.to_string(),
            what: "accept a connection",
            after: settings.connect_timeout,
        };
    }
    if let Some(t) = tls {
        return RequestError::upstream_tls(host, Some(&t), t.to_string());
    }
    let reason = if dns {
        "its name does not resolve".to_string()
    } else {
        match io_kind {
            Some(std::io::ErrorKind::ConnectionRefused) => "connection refused".to_string(),
            Some(k) => format!("{k}"),
            None => last
                .map(short)
                .unwrap_or_else(|| "connection failed".into()),
        }
    };
    RequestError::UpstreamUnreachable {
        host: host.to_string(),
        reason: short(reason),
    }
}

/// At most the first 200 characters of `s`.
fn short(s: String) -> String {
    s.chars().take(200).collect()
}

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Removes hop-by-hop headers: `Connection` and every header it names,
/// `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`.
/// A `Content-Length` beside a `Transfer-Encoding` goes too: the coding
/// decided where the body ended, and the length would tell the next hop
/// otherwise (RFC 9112 §6.3: an intermediary removes it before forwarding).
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(TRANSFER_ENCODING) {
        headers.remove(CONTENT_LENGTH);
    }
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        headers.remove(n);
    }
    for n in [
        &CONNECTION,
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &TE,
        &TRAILER,
        &TRANSFER_ENCODING,
        &UPGRADE,
    ] {
        headers.remove(n);
    }
    if headers.keys().any(|k| k.as_str().starts_with("proxy-")) {
        let proxy: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("proxy-"))
            .cloned()
            .collect();
        for n in proxy {
            headers.remove(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn hop_by_hop() {
        let mut h = HeaderMap::new();
        h.insert(
            CONNECTION,
            HeaderValue::from_static("keep-alive, X-Custom-Hop"),
        );
        h.insert("x-custom-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert(TE, HeaderValue::from_static("trailers"));
        h.insert(TRAILER, HeaderValue::from_static("x"));
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("private-token", HeaderValue::from_static("keep"));
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, vec!["private-token"]);
    }

    #[test]
    fn a_length_goes_with_a_transfer_coding_and_stays_without_one() {
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("5"));
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        strip_hop_by_hop(&mut h);
        assert!(h.is_empty(), "{h:?}");
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("5"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.get("content-length").unwrap(), "5");
    }
}
