//! Test support: an in-memory catalog, a recording upstream server, a
//! running proxy and a small client.

#![allow(dead_code)]

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use connectors_catalog::{
    AccessCheck, AuthError, Catalog, CatalogError, Decision, Identity, ObjectRef, Snapshot,
};
use connectors_proxy::{Proxy, ProxyCa, ProxyConfig};
use connectors_types::connector::ConnectorStatus;
use connectors_types::connector_class::ConnectorClassStatus;
use connectors_types::secret::{BASIC_AUTH, BEARER_TOKEN};
use connectors_types::{Connector, ConnectorClass};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
pub mod raw_tool;
pub mod wire;

// ---------------------------------------------------------------- catalog

/// A catalog held in memory: tokens are plain strings mapped to identities;
/// a ServiceAccount may use the Connectors of its own namespace only.
pub struct MemCatalog {
    snap: RwLock<Arc<Snapshot>>,
    tokens: Mutex<HashMap<String, Identity>>,
    tx: watch::Sender<u64>,
    pub authenticate_calls: AtomicU64,
    pub authorize_calls: AtomicU64,
}

impl MemCatalog {
    pub fn new() -> Arc<MemCatalog> {
        let (tx, _) = watch::channel(0);
        Arc::new(MemCatalog {
            snap: RwLock::new(Arc::new(Snapshot::default())),
            tokens: Mutex::new(HashMap::new()),
            tx,
            authenticate_calls: AtomicU64::new(0),
            authorize_calls: AtomicU64::new(0),
        })
    }

    /// A catalog holding the built-in classes `names`.
    pub fn with_classes(names: &[&str]) -> Arc<MemCatalog> {
        let catalog = MemCatalog::new();
        for name in names {
            catalog.put_class(builtin_class(name));
        }
        catalog
    }

    /// Registers a ServiceAccount token.
    pub fn add_token(&self, token: &str, namespace: &str, sa: &str) {
        self.add_token_expiring(token, namespace, sa, None);
    }

    /// Registers a ServiceAccount token that expired five seconds ago.
    pub fn add_expired_token(&self, token: &str, namespace: &str, sa: &str) {
        let exp = SystemTime::now() - Duration::from_secs(5);
        self.add_token_expiring(token, namespace, sa, Some(exp));
    }

    pub fn add_token_expiring(
        &self,
        token: &str,
        namespace: &str,
        sa: &str,
        exp: Option<SystemTime>,
    ) {
        self.tokens.lock().unwrap().insert(
            token.to_string(),
            Identity::service_account_identity(namespace, sa, format!("uid-{sa}"), exp),
        );
    }

    /// Applies a change to a copy of the snapshot and publishes it. Objects
    /// not touched keep their `Arc`s.
    pub fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        let mut guard = self.snap.write().unwrap();
        let mut next = (**guard).clone();
        next.generation += 1;
        f(&mut next);
        let generation = next.generation;
        *guard = Arc::new(next);
        drop(guard);
        let _ = self.tx.send(generation);
    }

    pub fn put_class(&self, class: ConnectorClass) {
        self.update(|s| {
            s.classes
                .insert(class.metadata.name.clone().unwrap(), Arc::new(class));
        });
    }

    pub fn put_connector(&self, c: Connector) {
        self.update(|s| {
            s.connectors.insert(object_ref(&c.metadata), Arc::new(c));
        });
    }

    pub fn put_secret(&self, secret: Secret) {
        self.update(|s| {
            s.secrets
                .insert(object_ref(&secret.metadata), Arc::new(secret));
        });
    }

    pub fn remove_secret(&self, ns: &str, name: &str) {
        self.update(|s| {
            s.secrets.remove(&ObjectRef::new(ns, name));
        });
    }
}

/// The namespace and name of a namespaced object.
fn object_ref(meta: &ObjectMeta) -> ObjectRef {
    ObjectRef::new(meta.namespace.clone().unwrap(), meta.name.clone().unwrap())
}

#[async_trait]
impl Catalog for MemCatalog {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snap.read().unwrap().clone()
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    async fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        self.authenticate_calls.fetch_add(1, Ordering::SeqCst);
        let id = self.tokens.lock().unwrap().get(token).cloned();
        match id {
            None => Err(AuthError::Unauthenticated("unknown token".into())),
            Some(id) => {
                if id.expires_at.is_some_and(|e| e <= SystemTime::now()) {
                    Err(AuthError::Unauthenticated("token expired".into()))
                } else {
                    Ok(id)
                }
            }
        }
    }

    async fn authorize(
        &self,
        identity: &Identity,
        check: &AccessCheck,
    ) -> Result<Decision, AuthError> {
        self.authorize_calls.fetch_add(1, Ordering::SeqCst);
        match identity.service_account() {
            Some((ns, _)) if ns == check.namespace => Ok(Decision::Allow),
            _ => Ok(Decision::Deny(format!(
                "only serviceaccounts of namespace {} may use its connectors",
                check.namespace
            ))),
        }
    }

    async fn write_connector_status(
        &self,
        _: &str,
        _: &str,
        _: ConnectorStatus,
    ) -> Result<(), CatalogError> {
        Ok(())
    }

    async fn write_class_status(
        &self,
        _: &str,
        _: ConnectorClassStatus,
    ) -> Result<(), CatalogError> {
        Ok(())
    }
}

// ---------------------------------------------------------------- objects

/// A built-in class from `classes/<name>.yaml`.
pub fn builtin_class(name: &str) -> ConnectorClass {
    let path = format!("{}/../../classes/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn connector(
    ns: &str,
    name: &str,
    class: &str,
    address: &str,
    auth: &str,
    secret: Option<&str>,
) -> Connector {
    connector_with_status(ns, name, class, address, auth, secret, None)
}

/// A Connector of the built-in class `git` (auth `basicAuth`).
pub fn git_connector(ns: &str, name: &str, address: &str, secret: Option<&str>) -> Connector {
    connector(ns, name, "git", address, "basicAuth", secret)
}

/// A Connector of the built-in class `k8s` (auth `bearerTokenAuth`).
pub fn k8s_connector(ns: &str, name: &str, address: &str, secret: Option<&str>) -> Connector {
    connector(ns, name, "k8s", address, "bearerTokenAuth", secret)
}

pub fn connector_with_status(
    ns: &str,
    name: &str,
    class: &str,
    address: &str,
    auth: &str,
    secret: Option<&str>,
    proxy_address: Option<&str>,
) -> Connector {
    let mut v = serde_json::json!({
        "apiVersion": "connectors.alauda.io/v1alpha1",
        "kind": "Connector",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "connectorClassName": class,
            "address": address,
            "auth": {"name": auth},
        }
    });
    if let Some(s) = secret {
        v["spec"]["auth"]["secretRef"] = serde_json::json!({"name": s});
    }
    if let Some(p) = proxy_address {
        v["status"] = serde_json::json!({"proxy": {"httpAddress": {"url": p}}});
    }
    serde_json::from_value(v).unwrap()
}

pub fn secret(ns: &str, name: &str, type_: &str, data: &[(&str, &str)]) -> Secret {
    let mut s = Secret::default();
    s.metadata.namespace = Some(ns.into());
    s.metadata.name = Some(name.into());
    s.type_ = Some(type_.into());
    s.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect::<BTreeMap<_, _>>(),
    );
    s
}

/// A Secret of type [`BASIC_AUTH`] with `username` and `password`.
pub fn basic_auth_secret(ns: &str, name: &str, username: &str, password: &str) -> Secret {
    secret(
        ns,
        name,
        BASIC_AUTH,
        &[("username", username), ("password", password)],
    )
}

/// A Secret of type [`BEARER_TOKEN`] holding `token`.
pub fn bearer_token_secret(ns: &str, name: &str, token: &str) -> Secret {
    secret(ns, name, BEARER_TOKEN, &[("token", token)])
}

/// An Opaque Secret holding `token` under the key `token`, as the
/// generators of [`custom_class`] read it.
pub fn token_secret(ns: &str, name: &str, token: &str) -> Secret {
    secret(ns, name, "Opaque", &[("token", token)])
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

// ---------------------------------------------------------------- upstream

/// One request as the upstream saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query exactly as received.
    pub target: String,
    pub headers: HeaderMap,
}

/// A recording HTTP/1.1 server standing in for a tool.
///
/// Paths (matched on the suffix of the path):
/// * `…/hang`: never answers;
/// * `…/upload`: answers at once, then streams back `"<len> <sha256>"` of the
///   request body once it has all arrived;
/// * `…/download?size=N`: streams N bytes; after the first MiB waits until
///   the test opens the gate;
/// * `…/redirect?to=URL`: 302 to URL;
/// * `…/hop`: answers with hop-by-hop headers;
/// * `…/echo`: answers with the request body;
/// * anything else: 200 with body `ok <target>`.
pub struct TestUpstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub connections: Arc<AtomicUsize>,
    gate: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
}

impl TestUpstream {
    pub async fn start() -> TestUpstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(Mutex::new(None));
        let (s, c, g) = (seen.clone(), connections.clone(), gate.clone());
        let addr = serve_loopback(move |stream| {
            c.fetch_add(1, Ordering::SeqCst);
            let (s, g) = (s.clone(), g.clone());
            async move {
                let svc = service_fn(move |req| upstream_handle(req, s.clone(), g.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            }
        })
        .await;
        TestUpstream {
            addr,
            seen,
            connections,
            gate,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Arms the gate of the next `/download`; send on the result to open it.
    pub fn arm_gate(&self) -> oneshot::Sender<()> {
        let (tx, rx) = oneshot::channel();
        *self.gate.lock().unwrap() = Some(rx);
        tx
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("upstream saw no request")
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

type Gate = Arc<Mutex<Option<oneshot::Receiver<()>>>>;

/// The path and query of `req`'s target exactly as received.
fn path_and_query<B>(req: &Request<B>) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default()
}

async fn upstream_handle(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    gate: Gate,
) -> Result<Response<ChannelBody>, Infallible> {
    let target = path_and_query(&req);
    seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        target: target.clone(),
        headers: req.headers().clone(),
    });
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if path.ends_with("/hang") {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if path.ends_with("/upload") {
        let (tx, body) = ChannelBody::new();
        let mut incoming = req.into_body();
        tokio::spawn(async move {
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            let mut len = 0usize;
            while let Some(Ok(frame)) = incoming.frame().await {
                if let Ok(d) = frame.into_data() {
                    len += d.len();
                    ctx.update(&d);
                }
            }
            let _ = tx
                .send(Bytes::from(format!("{len} {}", hex(ctx.finish().as_ref()))))
                .await;
        });
        return Ok(Response::new(body));
    }
    if path.ends_with("/download") {
        let size: usize = param("size").and_then(|s| s.parse().ok()).unwrap_or(0);
        let gate = gate.lock().unwrap().take();
        let (tx, body) = ChannelBody::new();
        tokio::spawn(async move {
            let mut sent = 0usize;
            let mut gate = gate;
            while sent < size {
                if sent >= 1 << 20 {
                    if let Some(g) = gate.take() {
                        let _ = g.await;
                    }
                }
                let n = (size - sent).min(64 * 1024);
                if tx.send(pattern(sent, n)).await.is_err() {
                    return;
                }
                sent += n;
            }
        });
        let mut resp = Response::new(body);
        resp.headers_mut()
            .insert("content-length", size.to_string().parse().unwrap());
        return Ok(resp);
    }
    if path.ends_with("/redirect") {
        let mut resp = Response::new(ChannelBody::full("moved"));
        *resp.status_mut() = StatusCode::FOUND;
        resp.headers_mut()
            .insert("location", param("to").unwrap_or_default().parse().unwrap());
        return Ok(resp);
    }
    if path.ends_with("/echo") {
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::from_static(b"<body failed>"),
        };
        return Ok(Response::new(ChannelBody::full(body)));
    }
    if path.ends_with("/hop") {
        let mut resp = Response::new(ChannelBody::full("hop"));
        let h = resp.headers_mut();
        h.insert("connection", "x-hop-response".parse().unwrap());
        h.insert("x-hop-response", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("proxy-authenticate", "Basic realm=\"x\"".parse().unwrap());
        h.insert("x-end-to-end", "kept".parse().unwrap());
        return Ok(resp);
    }
    Ok(Response::new(ChannelBody::full(format!("ok {target}"))))
}

/// Deterministic content: byte i of the stream is `(i * 31 + 7) % 251`.
pub fn pattern(offset: usize, len: usize) -> Bytes {
    Bytes::from(
        (offset..offset + len)
            .map(|i| ((i * 31 + 7) % 251) as u8)
            .collect::<Vec<u8>>(),
    )
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Listens on a free loopback port and runs the future `serve` makes of
/// each accepted connection on its own task; returns the port's address.
pub async fn serve_loopback<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    addr
}

/// An address nothing listens on.
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A body fed through a channel (or a single full chunk).
pub struct ChannelBody {
    rx: Option<mpsc::Receiver<Bytes>>,
    full: Option<Bytes>,
}

impl ChannelBody {
    pub fn new() -> (mpsc::Sender<Bytes>, ChannelBody) {
        let (tx, rx) = mpsc::channel(4);
        (
            tx,
            ChannelBody {
                rx: Some(rx),
                full: None,
            },
        )
    }

    pub fn full(b: impl Into<Bytes>) -> ChannelBody {
        ChannelBody {
            rx: None,
            full: Some(b.into()),
        }
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(b) = this.full.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        match this.rx.as_mut() {
            None => Poll::Ready(None),
            Some(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.full.is_none() && self.rx.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.full, &self.rx) {
            (Some(b), _) => SizeHint::with_exact(b.len() as u64),
            (None, None) => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

// ---------------------------------------------------------------- proxy

/// A proxy running on 127.0.0.1 until dropped.
pub struct RunningProxy {
    pub addr: SocketAddr,
    pub proxy: Proxy,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<Result<(), connectors_proxy::ProxyError>>>,
    _dir: tempfile::TempDir,
}

impl RunningProxy {
    /// The data directory holding the proxy CA files.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Asks for shutdown and waits for `serve` to return.
    pub async fn shutdown(mut self) -> Result<(), connectors_proxy::ProxyError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn test_config() -> ProxyConfig {
    ProxyConfig {
        connect_timeout: Duration::from_secs(2),
        upstream_header_timeout: Duration::from_secs(10),
        shutdown_grace: Duration::from_secs(2),
        ..ProxyConfig::default()
    }
}

pub async fn start_proxy(catalog: Arc<MemCatalog>, config: ProxyConfig) -> RunningProxy {
    let dir = tempfile::tempdir().unwrap();
    let ca = ProxyCa::load_or_create(dir.path()).unwrap();
    let proxy = Proxy::new(catalog, ca, config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(proxy.clone().serve(listener, async move {
        let _ = rx.await;
    }));
    RunningProxy {
        addr,
        proxy,
        stop: Some(tx),
        task: Some(task),
        _dir: dir,
    }
}

// ---------------------------------------------------------------- client

/// A response with its body read whole.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 connection to the proxy.
pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<ClientBody>,
}

pub type ClientBody = http_body_util::Either<Full<Bytes>, ChannelBody>;

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn { sender }
    }

    pub async fn send_raw(&mut self, req: Request<ClientBody>) -> Response<Incoming> {
        self.sender.ready().await.unwrap();
        self.sender.send_request(req).await.unwrap()
    }

    pub async fn send(&mut self, req: Request<ClientBody>) -> Got {
        let resp = self.send_raw(req).await;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Got {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

/// Builds a request to the proxy with a `Host` header.
pub fn request(
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> Request<ClientBody> {
    request_with_body(method, target, host, headers, Bytes::new())
}

/// The same with `body`.
pub fn request_with_body(
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Request<ClientBody> {
    let mut b = Request::builder()
        .method(method)
        .uri(target)
        .header("host", host);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(http_body_util::Either::Left(Full::new(body.into())))
        .unwrap()
}

/// One request on a fresh connection.
pub async fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Got {
    let mut c = Conn::open(addr).await;
    c.send(request("GET", target, &addr.to_string(), headers))
        .await
}

/// One request with a given Host on a fresh connection.
pub async fn get_host(addr: SocketAddr, target: &str, host: &str, headers: &[(&str, &str)]) -> Got {
    let mut c = Conn::open(addr).await;
    c.send(request("GET", target, host, headers)).await
}

// ---------------------------------------------------------------- forward

/// `Basic` credentials of `user` and `password`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", b64(&format!("{user}:{password}")))
}

/// `Bearer` credentials of `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A `Proxy-Authorization` value: the Connectors as user name, the
/// workload's token as password.
pub fn proxy_auth(connectors: &str, token: &str) -> String {
    basic(connectors, token)
}

/// Adds address extensions to a Connector.
pub fn with_extensions(mut c: Connector, extensions: &[(&str, &str)]) -> Connector {
    c.spec.address_extensions = extensions
        .iter()
        .map(|(n, v)| connectors_types::common::Param::string(*n, *v))
        .collect();
    c
}

/// Makes a Connector trust the CA certificates of Secret `name`.
pub fn with_ca_secret(mut c: Connector, name: &str) -> Connector {
    c.spec.ca_cert_secret_ref = Some(connectors_types::common::LocalObjectReference {
        name: name.to_string(),
    });
    c
}

/// A class served by the built-in proxy with one auth type `tokenAuth`
/// (Secret type Opaque), the given generator and optional extractor.
pub fn custom_class(
    name: &str,
    extractor: Option<&str>,
    generator: &str,
) -> connectors_types::ConnectorClass {
    let indent = |s: &str, n: usize| {
        s.lines()
            .map(|l| format!("{}{l}", " ".repeat(n)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let extractor = match extractor {
        Some(e) => format!("    authExtractor:\n      rego: |\n{}\n", indent(e, 8)),
        None => String::new(),
    };
    let yaml = format!(
        r#"
apiVersion: connectors.alauda.io/v1alpha1
kind: ConnectorClass
metadata:
  name: {name}
spec:
  address:
    type: string
  auth:
    types:
      - name: tokenAuth
        secretType: Opaque
        generator:
          rego: |
{}
  proxy:
    ref:
      kind: Service
      name: connectors-proxy-service
      namespace: connectors-system
{extractor}"#,
        indent(generator, 12)
    );
    serde_norway::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// A [`custom_class`] generator: the Secret's token in header `X-Api-Key`.
pub const X_API_KEY_HEADER_GENERATOR: &str =
    "package proxy\nauth := {\"position\": \"header\", \"auth\": {\"X-Api-Key\": input.data.token}}";

/// A [`custom_class`] generator: the Secret's token in query parameter
/// `api_key`.
pub const API_KEY_QUERY_GENERATOR: &str =
    "package proxy\nauth := {\"position\": \"query\", \"auth\": {\"api_key\": input.data.token}}";

/// A [`custom_class`] generator: the Secret's token in body field
/// `client_secret`.
pub const CLIENT_SECRET_BODY_GENERATOR: &str =
    "package proxy\nauth := {\"position\": \"body\", \"auth\": {\"client_secret\": input.data.token}}";

/// A Connector of a class made by [`custom_class`] (auth `tokenAuth`).
pub fn custom_connector(
    ns: &str,
    name: &str,
    class: &str,
    address: &str,
    secret: &str,
) -> Connector {
    connector(ns, name, class, address, "tokenAuth", Some(secret))
}

// ---------------------------------------------------------------- TLS

/// A test CA and a server certificate for `localhost` and `127.0.0.1`.
pub struct Pki {
    pub ca_pem: String,
    pub ca_der: Vec<u8>,
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
}

impl Pki {
    /// A TLS server configuration with this certificate (no ALPN set).
    pub fn server_config(&self) -> rustls::ServerConfig {
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(
                self.cert_der.clone(),
            )],
            rustls::pki_types::PrivateKeyDer::Pkcs8(self.key_der.clone().into()),
        )
        .unwrap()
    }
}

pub fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().to_vec(),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    }
}

/// A Secret holding a CA certificate under `ca.crt`.
pub fn ca_secret(ns: &str, name: &str, pem: &str) -> Secret {
    secret(ns, name, "Opaque", &[("ca.crt", pem)])
}

/// One request as a TLS upstream saw it.
#[derive(Clone, Debug)]
pub struct SeenTls {
    pub method: String,
    pub target: String,
    pub version: http::Version,
    pub headers: HeaderMap,
}

/// A recording HTTPS server (HTTP/1.1 and HTTP/2 by ALPN). Answers
/// `…/redirect?to=URL` with a 302, `…/echo` with the request body,
/// everything else with `ok <target>`.
pub struct TlsUpstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<SeenTls>>>,
}

impl TlsUpstream {
    pub async fn start(p: &Pki) -> TlsUpstream {
        let mut config = p.server_config();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let addr = serve_loopback(move |tcp| {
            let acceptor = acceptor.clone();
            let s = s.clone();
            async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(move |req: Request<Incoming>| {
                    let s = s.clone();
                    async move {
                        let target = path_and_query(&req);
                        s.lock().unwrap().push(SeenTls {
                            method: req.method().to_string(),
                            target: target.clone(),
                            version: req.version(),
                            headers: req.headers().clone(),
                        });
                        if req.uri().path().ends_with("/echo") {
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_else(|_| Bytes::from_static(b"<body failed>"));
                            return Ok::<_, Infallible>(Response::new(Full::new(body)));
                        }
                        let mut resp =
                            Response::new(Full::new(Bytes::from(format!("ok {target}"))));
                        if req.uri().path().ends_with("/redirect") {
                            let to = req
                                .uri()
                                .query()
                                .and_then(|q| {
                                    url::form_urlencoded::parse(q.as_bytes())
                                        .find(|(k, _)| k == "to")
                                        .map(|(_, v)| v.into_owned())
                                })
                                .unwrap_or_default();
                            *resp.status_mut() = StatusCode::FOUND;
                            resp.headers_mut().insert("location", to.parse().unwrap());
                        }
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(TokioIo::new(tls), svc)
                .await;
            }
        })
        .await;
        TlsUpstream { addr, seen }
    }

    pub fn last(&self) -> SeenTls {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("TLS upstream saw no request")
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

// ---------------------------------------------------------------- tunnel

/// How opening a tunnel through the proxy ended.
pub enum Opened {
    /// The proxy answered the CONNECT with something else than 200.
    Refused(Got),
    /// TLS is up inside the tunnel.
    Tunnel(Tunnel),
}

impl Opened {
    pub fn tunnel(self) -> Tunnel {
        match self {
            Opened::Tunnel(t) => t,
            Opened::Refused(g) => panic!("CONNECT refused: {} {}", g.status, g.text()),
        }
    }

    pub fn refused(self) -> Got {
        match self {
            Opened::Refused(g) => g,
            Opened::Tunnel(_) => panic!("CONNECT was accepted"),
        }
    }
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<ClientBody>),
    H2(hyper::client::conn::http2::SendRequest<ClientBody>),
}

/// An HTTPS session with the proxy's leaf certificate, inside a CONNECT
/// tunnel.
pub struct Tunnel {
    sender: Sender,
    /// ALPN protocol the proxy chose.
    pub alpn: Option<Vec<u8>>,
    /// The certificate the proxy presented.
    pub leaf: Vec<u8>,
}

/// Options of [`open_tunnel`].
pub struct TunnelOptions<'a> {
    /// `Proxy-Authorization` value, if any.
    pub proxy_auth: Option<&'a str>,
    /// DER of the only CA the client trusts.
    pub trust: &'a [u8],
    /// ALPN offered to the proxy.
    pub alpn: &'a [&'a [u8]],
    /// Server name for SNI and verification (default: the CONNECT host).
    pub server_name: Option<&'a str>,
}

/// `CONNECT authority` through the proxy, then TLS trusting only `trust`.
pub async fn open_tunnel(
    proxy: SocketAddr,
    authority: &str,
    opts: TunnelOptions<'_>,
) -> std::io::Result<Opened> {
    let stream = TcpStream::connect(proxy).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut b = Request::builder()
        .method("CONNECT")
        .uri(authority)
        .header("host", authority);
    if let Some(a) = opts.proxy_auth {
        b = b.header("proxy-authorization", a);
    }
    let req: Request<ClientBody> = b
        .body(http_body_util::Either::Left(Full::new(Bytes::new())))
        .unwrap();
    let resp = sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)?;
    if resp.status() != StatusCode::OK {
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Ok(Opened::Refused(Got {
            status: parts.status,
            headers: parts.headers,
            body,
        }));
    }
    let upgraded = hyper::upgrade::on(resp)
        .await
        .map_err(std::io::Error::other)?;
    let config = client_tls(opts.trust, opts.alpn);
    let host = match opts.server_name {
        Some(n) => n.to_string(),
        None => {
            let a: http::uri::Authority = authority.parse().unwrap();
            a.host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        }
    };
    let name = rustls::pki_types::ServerName::try_from(host).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, TokioIo::new(upgraded))
        .await?;
    let (_, session) = tls.get_ref();
    let alpn = session.alpn_protocol().map(|p| p.to_vec());
    let leaf = session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default();
    let sender = if alpn.as_deref() == Some(b"h2") {
        let (sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            TokioIo::new(tls),
        )
        .await
        .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        Sender::H2(sender)
    } else {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Sender::H1(sender)
    };
    Ok(Opened::Tunnel(Tunnel { sender, alpn, leaf }))
}

/// [`open_tunnel`] listing `connectors` with `token`, trusting only the
/// proxy's CA, offering `alpn`; panics unless the tunnel is up.
pub async fn open_tunnel_as(
    proxy: &RunningProxy,
    authority: &str,
    connectors: &str,
    token: &str,
    alpn: &[&[u8]],
) -> Tunnel {
    let pa = proxy_auth(connectors, token);
    open_tunnel(
        proxy.addr,
        authority,
        TunnelOptions {
            proxy_auth: Some(&pa),
            trust: proxy.proxy.ca().ca_der(),
            alpn,
            server_name: None,
        },
    )
    .await
    .unwrap()
    .tunnel()
}

impl Tunnel {
    pub fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }

    pub async fn send_raw(
        &mut self,
        req: Request<ClientBody>,
    ) -> Result<Response<Incoming>, hyper::Error> {
        match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
        }
    }

    pub async fn send(&mut self, req: Request<ClientBody>) -> Got {
        let resp = self.send_raw(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Got {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET` of `path` for `authority`: origin-form with `Host` over
    /// HTTP/1.1, absolute URI (`:authority`) over HTTP/2.
    pub async fn get(&mut self, authority: &str, path: &str, headers: &[(&str, &str)]) -> Got {
        let req = if self.is_h2() {
            let mut b = Request::builder().uri(format!("https://{authority}{path}"));
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(http_body_util::Either::Left(Full::new(Bytes::new())))
                .unwrap()
        } else {
            request("GET", path, authority, headers)
        };
        self.send(req).await
    }
}

// ---------------------------------------------------------------- upgrade

/// A client connection, plain or TLS.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// A server that answers requests asking for `Upgrade: websocket` with
/// `101` and then echoes every byte back; records request headers.
pub struct EchoUpgrade {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl EchoUpgrade {
    pub async fn start() -> EchoUpgrade {
        EchoUpgrade::start_with(None).await
    }

    /// The same over TLS (HTTP/1.1 only) with `p`'s certificate.
    pub async fn start_tls(p: &Pki) -> EchoUpgrade {
        let mut config = p.server_config();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        EchoUpgrade::start_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> EchoUpgrade {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let addr = serve_loopback(move |stream| {
            let s = s.clone();
            let tls = tls.clone();
            async move {
                let stream: Box<dyn Io> = match tls {
                    None => Box::new(stream),
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(t) => Box::new(t),
                        Err(_) => return,
                    },
                };
                let svc = service_fn(move |mut req: Request<Incoming>| {
                    let s = s.clone();
                    async move {
                        s.lock().unwrap().push(Seen {
                            method: req.method().to_string(),
                            target: path_and_query(&req),
                            headers: req.headers().clone(),
                        });
                        let wants = req
                            .headers()
                            .get("upgrade")
                            .is_some_and(|v| v == "websocket");
                        if !wants {
                            return Ok::<_, Infallible>(Response::new(Full::new(
                                Bytes::from_static(b"no upgrade"),
                            )));
                        }
                        let on = hyper::upgrade::on(&mut req);
                        tokio::spawn(async move {
                            let Ok(up) = on.await else { return };
                            let mut io = TokioIo::new(up);
                            let mut buf = [0u8; 1024];
                            use tokio::io::{AsyncReadExt, AsyncWriteExt};
                            loop {
                                match io.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => {
                                        if io.write_all(&buf[..n]).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                        });
                        let mut resp = Response::new(Full::new(Bytes::new()));
                        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                        resp.headers_mut()
                            .insert("connection", "upgrade".parse().unwrap());
                        resp.headers_mut()
                            .insert("upgrade", "websocket".parse().unwrap());
                        Ok(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            }
        })
        .await;
        EchoUpgrade { addr, seen }
    }
}

/// Sends `req` (which asks for an upgrade) on a fresh connection to
/// `addr`; on 101 writes `payload` and returns what came back.
pub async fn upgrade_roundtrip(
    addr: SocketAddr,
    req: Request<ClientBody>,
    payload: &[u8],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return (status, headers, Vec::new());
    }
    let up = hyper::upgrade::on(resp).await.unwrap();
    let mut io = TokioIo::new(up);
    io.write_all(payload).await.unwrap();
    let mut got = vec![0u8; payload.len()];
    tokio::time::timeout(Duration::from_secs(5), io.read_exact(&mut got))
        .await
        .expect("echo timed out")
        .unwrap();
    (status, headers, got)
}

/// Log output captured in memory: a `MakeWriter` for tracing subscribers.
#[derive(Clone, Default)]
pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

/// A TLS client configuration trusting only the CA `trust` (DER),
/// offering `alpn`.
pub fn client_tls(trust: &[u8], alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(trust.to_vec()))
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}
