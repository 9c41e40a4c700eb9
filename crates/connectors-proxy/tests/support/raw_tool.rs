//! A raw HTTP/1.1 tool behind the proxy (it records exactly the requests
//! it receives and answers with scripted bytes), the proxy in front of it
//! with one Connector, and the requests a raw client writes.

#![allow(dead_code)]

use super::wire::{find, Head, Message, NextRequest, Wire, PROBE};
use super::{
    basic, basic_auth_secret, bearer, ca_secret, client_tls, git_connector, pki, proxy_auth,
    serve_loopback, start_proxy, test_config, with_ca_secret, MemCatalog, Pki, RunningProxy,
};
use connectors_proxy::ProxyConfig;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
pub const PASSWORD: &str = "s3cret-pass-9f2c";
pub const TOKEN_A: &str = "tok-team-a-7d1e";
pub const TOKEN_B: &str = "tok-team-b-21aa";
/// The Connector's path-format prefix; the tool's address path is `/base`.
pub const BASE: &str = "/namespaces/team-a/connectors/git";

// ---------------------------------------------------------------- tool

/// What a scripted tool writes for one request.
pub struct Reply {
    /// Written in turn, a short pause between them.
    pub parts: Vec<Vec<u8>>,
    /// Close the connection afterwards (without saying so in the head).
    pub close: bool,
}

impl Reply {
    pub fn raw(parts: &[&[u8]]) -> Reply {
        Reply {
            parts: parts.iter().map(|p| p.to_vec()).collect(),
            close: false,
        }
    }

    /// `200` with a `Content-Length`.
    pub fn ok(body: &str) -> Reply {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        Reply::raw(&[head.as_bytes(), body.as_bytes()])
    }

    pub fn then_close(mut self) -> Reply {
        self.close = true;
        self
    }
}

/// A script answering every request with `200` naming it:
/// `"<method> <target> [<body>]"`.
pub fn echo(_: usize, req: &Message) -> Reply {
    Reply::ok(&format!(
        "{} {} [{}]",
        req.method(),
        req.target(),
        req.text()
    ))
}

/// One request as a tool received it, with the number of its connection.
#[derive(Clone, Debug)]
pub struct Received {
    pub conn: usize,
    pub req: Message,
}

pub type Script = dyn Fn(usize, &Message) -> Reply + Send + Sync;

/// A raw HTTP/1.1 tool: records each request and answers with the bytes
/// its script returns for (request number, request).
pub struct RawTool {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    connections: Arc<AtomicUsize>,
}

/// What a raw tool has read.
#[derive(Default)]
struct Log {
    seen: Vec<Received>,
    /// Requests whose body the proxy broke off by closing, with the
    /// number of their connection.
    cut: Vec<(usize, Head)>,
}

impl RawTool {
    pub async fn start(
        script: impl Fn(usize, &Message) -> Reply + Send + Sync + 'static,
    ) -> RawTool {
        RawTool::serve(None, script).await
    }

    /// The same tool behind TLS (certificate of `p`, ALPN http/1.1).
    pub async fn start_tls(
        p: &Pki,
        script: impl Fn(usize, &Message) -> Reply + Send + Sync + 'static,
    ) -> RawTool {
        let mut config = p.server_config();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        RawTool::serve(Some(acceptor), script).await
    }

    async fn serve(
        tls: Option<tokio_rustls::TlsAcceptor>,
        script: impl Fn(usize, &Message) -> Reply + Send + Sync + 'static,
    ) -> RawTool {
        let log = Arc::new(Mutex::new(Log::default()));
        let connections = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(script);
        let (l, c) = (log.clone(), connections.clone());
        let addr = serve_loopback(move |stream| {
            let conn = c.fetch_add(1, Ordering::SeqCst);
            let (l, script, tls) = (l.clone(), script.clone(), tls.clone());
            async move {
                match tls {
                    None => serve_tool(Wire::new(stream), conn, l, script).await,
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            serve_tool(Wire::new(tls), conn, l, script).await;
                        }
                    }
                }
            }
        })
        .await;
        RawTool {
            addr,
            log,
            connections,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().seen.clone()
    }

    /// The connections closed in the middle of a request's body, with
    /// that request's head.
    pub fn cut(&self) -> Vec<(usize, Head)> {
        self.log.lock().unwrap().cut.clone()
    }

    /// The only request received.
    pub fn only(&self) -> Message {
        let seen = self.received();
        assert_eq!(seen.len(), 1, "the tool should have received one request");
        seen[0].req.clone()
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve_tool<S: AsyncRead + AsyncWrite + Unpin>(
    mut wire: Wire<S>,
    conn: usize,
    log: Arc<Mutex<Log>>,
    script: Arc<Script>,
) {
    loop {
        let req = match wire.next_request().await {
            NextRequest::Request(req) => req,
            NextRequest::Closed => return,
            NextRequest::Cut(head) => {
                log.lock().unwrap().cut.push((conn, head));
                return;
            }
        };
        let n = {
            let seen = &mut log.lock().unwrap().seen;
            seen.push(Received {
                conn,
                req: req.clone(),
            });
            seen.len() - 1
        };
        let reply = script(n, &req);
        for (i, part) in reply.parts.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if wire.io.write_all(part).await.is_err() {
                return;
            }
        }
        if reply.close {
            let _ = wire.io.shutdown().await;
            return;
        }
    }
}

// ---------------------------------------------------------------- setup

/// A proxy with Connector `team-a/git` (class `git`, Basic credential)
/// in front of a raw tool.
pub struct Env {
    pub catalog: Arc<MemCatalog>,
    pub tool: RawTool,
    pub proxy: RunningProxy,
}

impl Env {
    pub async fn start(script: impl Fn(usize, &Message) -> Reply + Send + Sync + 'static) -> Env {
        Env::with_fast_path(true, script).await
    }

    pub async fn with_fast_path(
        fast: bool,
        script: impl Fn(usize, &Message) -> Reply + Send + Sync + 'static,
    ) -> Env {
        let config = ProxyConfig {
            http1_fast_path: fast,
            ..test_config()
        };
        Env::with_config(config, script).await
    }

    pub async fn with_config(
        config: ProxyConfig,
        script: impl Fn(usize, &Message) -> Reply + Send + Sync + 'static,
    ) -> Env {
        let tool = RawTool::start(script).await;
        let address = format!("http://{}/base", tool.addr);
        Env::build(config, tool, &address, None).await
    }

    /// The tool behind TLS, trusted through the Connector's CA secret, for
    /// clients that reach it through an intercepted `CONNECT` tunnel
    /// ([`Env::tunnel`]).
    pub async fn tunnelled(
        fast: bool,
        script: impl Fn(usize, &Message) -> Reply + Send + Sync + 'static,
    ) -> Env {
        let config = ProxyConfig {
            http1_fast_path: fast,
            ..test_config()
        };
        Env::tunnelled_with(config, script).await
    }

    /// [`Env::tunnelled`] with this configuration.
    pub async fn tunnelled_with(
        config: ProxyConfig,
        script: impl Fn(usize, &Message) -> Reply + Send + Sync + 'static,
    ) -> Env {
        let p = pki();
        let tool = RawTool::start_tls(&p, script).await;
        let address = format!("https://{}/base", tool.addr);
        Env::build(config, tool, &address, Some(&p)).await
    }

    async fn build(config: ProxyConfig, tool: RawTool, address: &str, ca: Option<&Pki>) -> Env {
        let catalog = MemCatalog::with_classes(&["git"]);
        catalog.put_secret(basic_auth_secret("team-a", "git-cred", "bot", PASSWORD));
        let mut git = git_connector("team-a", "git", address, Some("git-cred"));
        if let Some(p) = ca {
            catalog.put_secret(ca_secret("team-a", "tool-ca", &p.ca_pem));
            git = with_ca_secret(git, "tool-ca");
        }
        catalog.put_connector(git);
        catalog.add_token(TOKEN_A, "team-a", "builder");
        catalog.add_token(TOKEN_B, "team-b", "other");
        let proxy = start_proxy(catalog.clone(), config).await;
        Env {
            catalog,
            tool,
            proxy,
        }
    }

    /// `CONNECT` to the tool listing `team-a/git` with [`TOKEN_A`], then
    /// TLS with ALPN http/1.1 trusting only the proxy's CA.
    pub async fn tunnel(&self) -> Wire<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.proxy.addr).await.unwrap();
        let authority = self.tool.addr.to_string();
        intercepted_tunnel(&self.proxy, tcp, &authority, "team-a/git", TOKEN_A).await
    }

    pub async fn client(&self) -> Wire<TcpStream> {
        Wire::connect(self.proxy.addr).await
    }
}

/// A request for the proxy: the request line, `Host`, `fields` as given,
/// then `body` as is.
pub fn request(method: &str, target: &str, fields: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    request_to("proxy.test", method, target, fields, body)
}

/// The same with `Host: host`.
pub fn request_to(
    host: &str,
    method: &str,
    target: &str,
    fields: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (n, v) in fields {
        let _ = write!(head, "{n}: {v}\r\n");
    }
    head.push_str("\r\n");
    [head.as_bytes(), body].concat()
}

/// `GET` of `path` under the Connector with `token` as Bearer, and the probe.
pub fn get_with(token: &str, path: &str) -> Vec<u8> {
    let auth = bearer(token);
    request(
        "GET",
        &format!("{BASE}{path}"),
        &[("Authorization", &auth), PROBE],
        b"",
    )
}

pub fn get(path: &str) -> Vec<u8> {
    get_with(TOKEN_A, path)
}

/// The tool got the Connector's credential, once, and no trace of the
/// client's token.
pub fn assert_credential_swapped(req: &Message) {
    assert_eq!(req.all("authorization"), [basic("bot", PASSWORD)]);
    let raw = [req.head.raw.as_bytes(), &req.body].concat();
    assert!(
        find(&raw, TOKEN_A.as_bytes()).is_none(),
        "the client's token reached the tool:\n{}",
        req.head.raw
    );
}

pub fn assert_ok(r: &Message, body: &str) {
    assert_eq!(r.status(), 200, "{}\n{}", r.head.raw, r.text());
    assert_eq!(r.text(), body);
}

/// Over `tcp` to the proxy: `CONNECT` to `authority` listing `connector`
/// with `token`, then TLS with ALPN http/1.1 trusting only the proxy's CA
/// (the tool's name is its IP address).
pub async fn intercepted_tunnel(
    proxy: &RunningProxy,
    tcp: TcpStream,
    authority: &str,
    connector: &str,
    token: &str,
) -> Wire<TlsStream<TcpStream>> {
    let mut tcp = Wire::new(tcp);
    let pa = proxy_auth(connector, token);
    tcp.send(
        format!(
            "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nProxy-Authorization: {pa}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    let head = tcp.next_head().await;
    assert_eq!(head.status(), 200, "{}", head.raw);
    assert!(tcp.buf.is_empty(), "bytes after the CONNECT answer");
    let config = client_tls(proxy.proxy.ca().ca_der(), &[b"http/1.1"]);
    let ip: SocketAddr = authority.parse().expect("the tool's authority is IP:port");
    let name = rustls::pki_types::ServerName::from(ip.ip());
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp.io)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    Wire::new(tls)
}
