//! The HTTP/1.1 fast path inside intercepted CONNECT tunnels (ALPN
//! http/1.1), on the wire: a raw client writes exact bytes through the
//! tunnel's TLS, and a raw TLS tool behind the proxy — trusted through the
//! Connector's `caCertSecretRef` — records exactly what it receives, field
//! names as written (which tells which server relayed a request, see
//! [`via`]).

mod support;

use connectors_proxy::ProxyConfig;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::raw_tool::{intercepted_tunnel, request_to};
use support::wire::{find, via, Message, Via, Wire, PROBE};
use support::{
    basic, bearer_token_secret, ca_secret, k8s_connector, pki, proxy_auth, serve_loopback,
    start_proxy, test_config, with_ca_secret, MemCatalog, Pki, RunningProxy,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The Connector's credential for the tool.
const BEARER: &str = "tunnel-bearer-4b7e";
/// The workload's token, given in the CONNECT request.
const TOKEN: &str = "tok-tunnel-a-81f3";
/// A token of another namespace, which may not use the Connector.
const TOKEN_B: &str = "tok-tunnel-b-0d52";
/// The Connector listed in the CONNECT request.
const CONNECTOR: &str = "team-a/k8s";
/// The path of the Connector's address: requests under it are covered.
const PREFIX: &str = "/api";

// ---------------------------------------------------------------- tool

/// One request as the tool received it, with the number of its connection.
#[derive(Clone, Debug)]
struct Received {
    conn: usize,
    req: Message,
}

/// A raw HTTP/1.1 tool over TLS (certificate of the test PKI, ALPN
/// http/1.1): records each request and answers with [`answer`].
struct Tool {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
}

impl Tool {
    async fn start(p: &Pki) -> Tool {
        let mut config = p.server_config();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (s, c) = (seen.clone(), connections.clone());
        let addr = serve_loopback(move |tcp| {
            let conn = c.fetch_add(1, Ordering::SeqCst);
            let (acceptor, s) = (acceptor.clone(), s.clone());
            async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    serve_tool(Wire::new(tls), conn, s).await;
                }
            }
        })
        .await;
        Tool {
            addr,
            seen,
            connections,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// The last request received.
    fn last(&self) -> Message {
        self.received()
            .pop()
            .expect("the tool received no request")
            .req
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve_tool<S: AsyncRead + AsyncWrite + Unpin>(
    mut wire: Wire<S>,
    conn: usize,
    seen: Arc<Mutex<Vec<Received>>>,
) {
    while let Some(req) = wire.request().await {
        if req.head.target().ends_with("/trickle") {
            seen.lock().unwrap().push(Received { conn, req });
            if trickle(&mut wire.io).await.is_err() {
                return;
            }
            continue;
        }
        let reply = answer(&req);
        seen.lock().unwrap().push(Received { conn, req });
        if wire.io.write_all(&reply).await.is_err() || wire.io.flush().await.is_err() {
            return;
        }
    }
}

/// The size of the body of `…/trickle`: more than two of the relay's
/// 256 KiB reads, and a tail.
const TRICKLE: usize = 2 * 256 * 1024 + 4321;

/// `…/trickle`: `200` with [`TRICKLE`] bytes sent in flushed pieces a few
/// milliseconds apart, the connection kept open after it.
async fn trickle<S: AsyncWrite + Unpin>(io: &mut S) -> std::io::Result<()> {
    io.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {TRICKLE}\r\n\r\n").as_bytes())
        .await?;
    let body: Vec<u8> = (0..TRICKLE).map(big_byte).collect();
    for piece in body.chunks(40_000) {
        io.write_all(piece).await?;
        io.flush().await?;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    Ok(())
}

/// The size of the body of `…/big`.
const BIG: usize = 8 << 20;

/// Byte `i` of the body of `…/big`.
fn big_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// `HEAD`: `200` announcing 42 bytes it does not send; `…/cached`: `304`;
/// `…/big`: `200` with [`BIG`] bytes; anything else: `200` with
/// `"<method> <target> [<body>]"`.
fn answer(req: &Message) -> Vec<u8> {
    if req.head.target().ends_with("/big") {
        let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n").into_bytes();
        out.extend((0..BIG).map(big_byte));
        return out;
    }
    if req.head.method() == "HEAD" {
        return b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n".to_vec();
    }
    if req.head.target().ends_with("/cached") {
        return b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n".to_vec();
    }
    let body = format!(
        "{} {} [{}]",
        req.head.method(),
        req.head.target(),
        req.text()
    );
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

// ---------------------------------------------------------------- setup

/// A proxy with Connector `team-a/k8s` (class `k8s`, Bearer credential,
/// address `https://127.0.0.1:<port>/api`, the tool's CA through
/// `caCertSecretRef`) in front of a raw TLS tool.
struct Env {
    tool: Tool,
    proxy: RunningProxy,
    /// `127.0.0.1:<tool port>`: the CONNECT authority.
    authority: String,
}

impl Env {
    async fn start() -> Env {
        Env::with_fast_path(true).await
    }

    async fn with_fast_path(fast: bool) -> Env {
        let p = pki();
        let tool = Tool::start(&p).await;
        let authority = format!("127.0.0.1:{}", tool.addr.port());
        let catalog = MemCatalog::with_classes(&["k8s"]);
        catalog.put_secret(bearer_token_secret("team-a", "kube", BEARER));
        catalog.put_secret(ca_secret("team-a", "tool-ca", &p.ca_pem));
        let address = format!("https://{authority}{PREFIX}");
        let k8s = k8s_connector("team-a", "k8s", &address, Some("kube"));
        catalog.put_connector(with_ca_secret(k8s, "tool-ca"));
        catalog.add_token(TOKEN, "team-a", "builder");
        catalog.add_token(TOKEN_B, "team-b", "other");
        let config = ProxyConfig {
            http1_fast_path: fast,
            ..test_config()
        };
        let proxy = start_proxy(catalog, config).await;
        Env {
            tool,
            proxy,
            authority,
        }
    }

    /// A tunnel opened with [`TOKEN`].
    async fn open(&self) -> Wire<TlsStream<TcpStream>> {
        self.open_as(TOKEN).await
    }

    /// `CONNECT` to the tool listing [`CONNECTOR`] with `token`, then TLS
    /// with ALPN http/1.1, trusting only the proxy's CA.
    async fn open_as(&self, token: &str) -> Wire<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.proxy.addr).await.unwrap();
        self.open_over(tcp, token).await
    }

    /// A tunnel whose client socket has a small fixed receive buffer, so
    /// that a slow reader soon fills the proxy's side.
    async fn open_small_window(&self) -> Wire<TlsStream<TcpStream>> {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(32 * 1024).unwrap();
        let tcp = socket.connect(self.proxy.addr).await.unwrap();
        self.open_over(tcp, TOKEN).await
    }

    async fn open_over(&self, tcp: TcpStream, token: &str) -> Wire<TlsStream<TcpStream>> {
        intercepted_tunnel(&self.proxy, tcp, &self.authority, CONNECTOR, token).await
    }
}

/// A `GET` of `target` for `host` with the probe.
fn get(target: &str, host: &str) -> Vec<u8> {
    request_to(host, "GET", target, &[PROBE], b"")
}

/// The forms of the workload token the tests send: bare, as a Git-style
/// Basic password, and as the CONNECT request's `Proxy-Authorization`.
fn token_forms() -> [String; 3] {
    [
        TOKEN.to_string(),
        basic("", TOKEN),
        proxy_auth(CONNECTOR, TOKEN),
    ]
}

/// A `GET` of `target` carrying every kind of client credential — its own
/// `Authorization` and `Private-Token` as given, a `Proxy-Authorization` —
/// and the workload token in other fields.
fn get_with_credentials(
    target: &str,
    authority: &str,
    authorization: &str,
    private_token: &str,
) -> Vec<u8> {
    let [bare, git, pa] = token_forms();
    request_to(
        authority,
        "GET",
        target,
        &[
            ("Authorization", authorization),
            ("Private-Token", private_token),
            ("Proxy-Authorization", &pa),
            ("X-Token", &bare),
            ("X-Git", &git),
            ("Accept", "application/json"),
            PROBE,
        ],
        b"",
    )
}

/// A covered `GET` with client credentials (see [`get_with_credentials`]).
fn covered_get(authority: &str) -> Vec<u8> {
    let target = format!("{PREFIX}/v1/pods?watch=0");
    get_with_credentials(&target, authority, "Bearer fake-token", "glpat-client")
}

/// The client's own `Authorization` for a path outside the Connector's
/// address.
fn own_authorization() -> String {
    basic("me", "my-own-pass")
}

/// An uncovered `GET` (same host, outside the address path) with the
/// client's own credentials (see [`get_with_credentials`]).
fn uncovered_get(authority: &str) -> Vec<u8> {
    get_with_credentials("/other/thing", authority, &own_authorization(), "glpat-own")
}

/// A covered `HEAD` (the tool announces a body it does not send).
fn head_request(authority: &str) -> Vec<u8> {
    request_to(authority, "HEAD", "/api/h", &[PROBE], b"")
}

/// A covered conditional `GET` (the tool answers `304`).
fn conditional_get(authority: &str) -> Vec<u8> {
    let fields = [("If-None-Match", "\"v1\""), PROBE];
    request_to(authority, "GET", "/api/cached", &fields, b"")
}

/// A covered `POST` with a body and hop-by-hop fields.
fn post_with_hop_fields(authority: &str) -> Vec<u8> {
    let fields = [
        ("Content-Length", "3"),
        ("Content-Type", "text/plain"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "1"),
        ("TE", "trailers"),
        PROBE,
    ];
    request_to(authority, "POST", "/api/p", &fields, b"abc")
}

/// No form of the workload token and no `Proxy-*` field reached the tool.
fn assert_no_workload_token(req: &Message) {
    let raw = [req.head.raw.as_bytes(), &req.body].concat();
    for leak in token_forms() {
        assert!(
            find(&raw, leak.as_bytes()).is_none(),
            "{leak} reached the tool:\n{}",
            req.head.raw
        );
    }
    for (n, _) in &req.head.fields {
        assert!(
            !n.to_ascii_lowercase().starts_with("proxy-"),
            "{n} reached the tool"
        );
    }
}

/// The tool got the Connector's credential, once, and none of the
/// client's.
fn assert_credential_swapped(req: &Message) {
    assert_eq!(
        req.head.all("authorization"),
        [format!("Bearer {BEARER}")],
        "{}",
        req.head.raw
    );
    assert!(req.head.get("private-token").is_none(), "{}", req.head.raw);
    assert_no_workload_token(req);
}

fn assert_ok(r: &Message, body: &str) {
    assert_eq!(r.head.status(), 200, "{}\n{}", r.head.raw, r.text());
    assert_eq!(r.text(), body);
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn covered_request_gets_the_connectors_credential_on_the_fast_path() {
    let env = Env::start().await;
    let mut t = env.open().await;
    let r = t.exchange(&covered_get(&env.authority)).await;
    assert_ok(&r, "GET /api/v1/pods?watch=0 []");

    let seen = env.tool.last();
    assert_eq!(via(&seen), Via::Fast);
    assert_eq!(seen.head.target(), "/api/v1/pods?watch=0");
    assert_eq!(seen.head.all("host"), [env.authority.as_str()]);
    assert_eq!(seen.head.get("Accept"), Some("application/json"));
    assert_credential_swapped(&seen);
    for gone in ["x-token", "x-git"] {
        assert!(seen.head.get(gone).is_none(), "{gone} carried the token");
    }
}

/// Sends `GET what` for the authority `a` and reads its answer, which
/// must be a `200` whose body is `len` bytes of [`big_byte`] (within 30 s,
/// pausing `pause_ms` before each read when given), with nothing after it.
async fn long_answer(
    t: &mut Wire<TlsStream<TcpStream>>,
    a: &str,
    what: &str,
    len: usize,
    pause_ms: Option<u64>,
    round: usize,
) {
    t.send(&get(what, a)).await;
    let whole = async {
        loop {
            if let Some(end) = find(&t.buf, b"\r\n\r\n") {
                if t.buf.len() >= end + 4 + len {
                    return end + 4;
                }
            }
            if let Some(ms) = pause_ms {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            assert!(
                t.fill().await,
                "the tunnel closed during {what} in round {round}"
            );
        }
    };
    let start = tokio::time::timeout(std::time::Duration::from_secs(30), whole)
        .await
        .unwrap_or_else(|_| panic!("the end of {what} never came in round {round}"));
    let head = String::from_utf8_lossy(&t.buf[..start]).to_string();
    let body: Vec<u8> = t.buf.drain(..start + len).skip(start).collect();
    assert!(
        body.iter().enumerate().all(|(i, b)| *b == big_byte(i)),
        "the body of {what} was altered in round {round}"
    );
    assert!(t.buf.is_empty(), "bytes after {what} in round {round}");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

/// The relay's last write into the client's TLS stream can find the
/// socket full; what the stream keeps back must still be sent before the
/// proxy waits for the next request (else the client waits for the end of
/// the body until the idle timeout cuts the tunnel).
#[tokio::test]
async fn the_end_of_a_long_answer_reaches_a_slow_reader() {
    let env = Env::start().await;
    let mut t = env.open_small_window().await;
    let a = &env.authority;
    for round in 0..3 {
        // A slow reader keeps the proxy's socket full.
        long_answer(&mut t, a, "/api/big", BIG, Some(1), round).await;
        assert_eq!(via(&env.tool.last()), Via::Fast);
    }
    assert_ok(
        &t.exchange(&get("/api/after", a)).await,
        "GET /api/after []",
    );
}

/// Long answers from the TLS tool, read ahead under the proxy's TLS on
/// both paths, arrive whole, and the kept connection then answers a short
/// request.
#[tokio::test]
async fn long_answers_arrive_whole_on_both_paths() {
    for (fast, path) in [(false, Via::General), (true, Via::Fast)] {
        let env = Env::with_fast_path(fast).await;
        let mut t = env.open().await;
        let a = &env.authority;
        for round in 0..2 {
            long_answer(&mut t, a, "/api/big", BIG, None, round).await;
            assert_eq!(via(&env.tool.last()), path);
        }
        assert_ok(
            &t.exchange(&get("/api/after", a)).await,
            "GET /api/after []",
        );
        assert_eq!(env.tool.connections(), 1, "one connection to the tool");
    }
}

/// The size of the uploads of [`a_long_request_body_reaches_the_tool_whole`].
const UPLOAD: usize = 3 << 20;

/// An upload through the tunnel (streamed by the general server, as every
/// body not read along with its head): the proxy reads the client's TLS
/// in large calls once the body streams, the tool gets every byte with the
/// Connector's credential, and the next short request on the same tunnel
/// is answered.
#[tokio::test]
async fn a_long_request_body_reaches_the_tool_whole() {
    let env = Env::start().await;
    let mut t = env.open().await;
    let a = &env.authority;
    let body: Vec<u8> = (0..UPLOAD).map(big_byte).collect();
    let length = UPLOAD.to_string();
    for round in 0..2 {
        let fields = [PROBE, ("Content-Length", length.as_str())];
        let req = request_to(a, "PUT", "/api/upload", &fields, &body);
        let reply = t.exchange(&req).await;
        assert_eq!(
            reply.head.status(),
            200,
            "round {round}: {}",
            reply.head.raw
        );
        assert!(
            reply.body.starts_with(b"PUT /api/upload ["),
            "round {round}"
        );
        let seen = env.tool.last();
        assert_eq!(via(&seen), Via::General);
        assert_credential_swapped(&seen);
        assert_eq!(seen.body.len(), UPLOAD, "round {round}");
        assert!(seen.body == body, "the upload was altered in round {round}");
    }
    assert_ok(
        &t.exchange(&get("/api/after", a)).await,
        "GET /api/after []",
    );
    assert_eq!(env.tool.connections(), 1, "one connection to the tool");
}

/// A long body that arrives in pieces over a TLS connection the tool keeps
/// open: its last bytes never wait for more, and the next, short answer on
/// the same connections comes at once.
#[tokio::test]
async fn a_trickling_answer_on_a_kept_connection_ends_and_the_next_follows() {
    let env = Env::start().await;
    let mut t = env.open().await;
    let a = &env.authority;
    for round in 0..2 {
        long_answer(&mut t, a, "/api/trickle", TRICKLE, None, round).await;
        assert_eq!(via(&env.tool.last()), Via::Fast);
    }
    let after = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        t.exchange(&get("/api/after", a)),
    )
    .await
    .expect("the short answer after the long ones waited");
    assert_ok(&after, "GET /api/after []");
    assert_eq!(env.tool.connections(), 1, "one connection to the tool");
}

/// Why the fast path flushes after every response: a TLS stream whose
/// transport is full accepts the last bytes into its own buffer and
/// reports them written; they leave only on a later write or a flush.
#[tokio::test]
async fn a_tls_stream_keeps_back_what_its_transport_cannot_take_until_flushed() {
    let p = pki();
    let mut config = p.server_config();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let client = support::client_tls(&p.ca_der, &[b"http/1.1"]);
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let (a, b) = tokio::io::duplex(4096);
    let (server, client) = tokio::join!(
        acceptor.accept(a),
        tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, b)
    );
    let (mut server, mut client) = (server.unwrap(), client.unwrap());
    let reader = tokio::spawn(async move {
        let (mut got, mut buf) = (0usize, vec![0u8; 8192]);
        let wait = std::time::Duration::from_millis(500);
        while let Ok(Ok(n)) = tokio::time::timeout(wait, client.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            got += n;
        }
        (got, client)
    });
    let data = vec![7u8; 1 << 20];
    server.write_all(&data).await.unwrap();
    let (got, mut client) = reader.await.unwrap();
    assert!(got < data.len(), "all {got} bytes arrived without a flush");
    let mut rest = vec![0u8; data.len() - got];
    let (flushed, read) = tokio::join!(server.flush(), client.read_exact(&mut rest));
    flushed.unwrap();
    read.unwrap();
}

#[tokio::test]
async fn uncovered_path_gets_no_credential_and_keeps_the_clients_own() {
    let env = Env::start().await;
    let mut t = env.open().await;
    let r = t.exchange(&uncovered_get(&env.authority)).await;
    assert_ok(&r, "GET /other/thing []");

    let seen = env.tool.last();
    assert_eq!(via(&seen), Via::Fast);
    assert_eq!(seen.head.all("authorization"), [own_authorization()]);
    assert_eq!(seen.head.all("private-token"), ["glpat-own"]);
    assert!(
        !seen.head.raw.contains(BEARER),
        "the Connector's credential reached an uncovered path:\n{}",
        seen.head.raw
    );
    for gone in ["x-token", "x-git"] {
        assert!(seen.head.get(gone).is_none(), "{gone} carried the token");
    }
    assert_no_workload_token(&seen);
}

#[tokio::test]
async fn requests_on_one_tunnel_share_one_tool_connection() {
    let env = Env::start().await;
    let mut t = env.open().await;
    let a = &env.authority;
    assert_ok(&t.exchange(&get("/api/one", a)).await, "GET /api/one []");
    let post = request_to(
        a,
        "POST",
        "/api/two",
        &[("Content-Length", "5"), PROBE],
        b"hello",
    );
    assert_ok(&t.exchange(&post).await, "POST /api/two [hello]");
    assert_ok(
        &t.exchange(&get("/api/three", a)).await,
        "GET /api/three []",
    );

    let seen = env.tool.received();
    let targets: Vec<&str> = seen.iter().map(|s| s.req.head.target()).collect();
    assert_eq!(targets, ["/api/one", "/api/two", "/api/three"]);
    for s in &seen {
        assert_eq!(s.conn, 0, "{}", s.req.head.raw);
        assert_eq!(via(&s.req), Via::Fast);
        assert_credential_swapped(&s.req);
    }
    assert_eq!(env.tool.connections(), 1, "the tool connection is kept");
}

#[tokio::test]
async fn request_naming_another_authority_is_misdirected_and_the_tunnel_goes_on() {
    let env = Env::start().await;
    let a = env.authority.as_str();
    let port = env.tool.addr.port();
    let cases = [
        (
            "Host naming another name of the tool",
            get("/api/x", &format!("localhost:{port}")),
        ),
        ("Host naming another port", get("/api/x", "127.0.0.1:1")),
        (
            "a second Host naming another authority",
            request_to(a, "GET", "/api/x", &[("Host", "evil.example"), PROBE], b""),
        ),
        (
            "absolute form naming another authority",
            get("https://evil.example/api/x", a),
        ),
    ];
    for (what, bad) in &cases {
        let mut t = env.open().await;
        let r = t.exchange(bad).await;
        assert_eq!(r.head.status(), 421, "{what}: {}\n{}", r.head.raw, r.text());
        assert_ok(&t.exchange(&get("/api/ok", a)).await, "GET /api/ok []");
        assert_credential_swapped(&env.tool.last());
    }
    let targets: Vec<String> = env
        .tool
        .received()
        .iter()
        .map(|s| s.req.head.target().to_string())
        .collect();
    assert_eq!(
        targets,
        vec!["/api/ok"; cases.len()],
        "misdirected ones went out"
    );
}

#[tokio::test]
async fn handed_off_request_keeps_its_bytes_and_the_same_rules() {
    let env = Env::start().await;
    let mut t = env.open().await;
    let a = &env.authority;
    assert_ok(
        &t.exchange(&get("/api/first", a)).await,
        "GET /api/first []",
    );
    let [bare, ..] = token_forms();
    let chunked = request_to(
        a,
        "POST",
        "/api/up",
        &[
            ("Authorization", "Bearer fake-token"),
            ("X-Token", &bare),
            ("Transfer-Encoding", "chunked"),
            PROBE,
        ],
        b"5\r\nhello\r\n0\r\n\r\n",
    );
    assert_ok(&t.exchange(&chunked).await, "POST /api/up [hello]");
    assert_ok(&t.exchange(&get("/api/last", a)).await, "GET /api/last []");

    let seen = env.tool.received();
    let vias: Vec<Via> = seen.iter().map(|s| via(&s.req)).collect();
    assert_eq!(
        vias[..2],
        [Via::Fast, Via::General],
        "chunked is handed off"
    );
    for s in &seen {
        assert_credential_swapped(&s.req);
    }
}

/// A request built for a tunnel's authority.
type Build = fn(&str) -> Vec<u8>;

/// The status, field names (lower case) and body of an answer.
type Summary = (u16, BTreeSet<String>, String);

/// An answer's [`Summary`], for comparing paths; without the request id
/// the proxy's own answers carry, which differs every time.
fn summary(r: &Message) -> Summary {
    let mut names = r.head.names();
    names.remove("x-request-id");
    (r.head.status(), names, r.text())
}

/// What one request through a tunnel came to.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// What the client got (see [`summary`]).
    client: Summary,
    /// Target and field names (lower case) the tool received.
    target: String,
    tool_names: BTreeSet<String>,
}

/// `req` (built for the tunnel's authority) on a fresh proxy, with or
/// without the fast path; and which server relayed it.
async fn relay_once(fast: bool, req: Build) -> (Via, Outcome) {
    let env = Env::with_fast_path(fast).await;
    let mut t = env.open().await;
    let r = t.exchange(&req(&env.authority)).await;
    let seen = env.tool.last();
    let outcome = Outcome {
        client: summary(&r),
        target: seen.head.target().to_string(),
        tool_names: seen.head.names(),
    };
    (via(&seen), outcome)
}

#[tokio::test]
async fn fast_path_and_general_server_relay_the_same_tunnel_requests() {
    let requests: [(&str, u16, Build); 8] = [
        ("covered", 200, covered_get),
        ("uncovered", 200, uncovered_get),
        ("HEAD", 200, head_request),
        ("conditional", 304, conditional_get),
        ("POST with hop-by-hop fields", 200, post_with_hop_fields),
        ("dot segments", 200, |a| get("/api/../api/x/./y?q=1", a)),
        ("encoded dot segments", 200, |a| get("/api/%2e%2e/other", a)),
        ("Host with a trailing dot", 200, |a| {
            get("/api/x", &a.replace("127.0.0.1", "127.0.0.1."))
        }),
    ];
    for (what, status, req) in requests {
        let (general_via, general) = relay_once(false, req).await;
        let (fast_via, fast) = relay_once(true, req).await;
        assert_eq!((general_via, fast_via), (Via::General, Via::Fast), "{what}");
        assert_eq!(general.client.0, status, "{what}: {:?}", general.client);
        assert_eq!(general, fast, "{what}");
    }
}

#[tokio::test]
async fn head_and_not_modified_answers_keep_the_tunnel_in_step() {
    let env = Env::start().await;
    let mut t = env.open().await;
    let a = &env.authority;
    let r = t.exchange(&head_request(a)).await;
    assert_eq!(r.head.status(), 200, "{}", r.head.raw);
    assert_eq!(r.head.get("content-length"), Some("42"));
    let r = t.exchange(&conditional_get(a)).await;
    assert_eq!(r.head.status(), 304, "{}", r.head.raw);
    assert_eq!(r.head.get("etag"), Some("\"v1\""));
    assert_ok(
        &t.exchange(&get("/api/after", a)).await,
        "GET /api/after []",
    );
    assert!(t.buf.is_empty(), "stray bytes after the last answer");

    let seen = env.tool.received();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.conn == 0 && via(&s.req) == Via::Fast));
    assert_eq!(env.tool.connections(), 1);
}

#[tokio::test]
async fn caller_not_allowed_to_use_the_connector_is_refused_alike_on_both_paths() {
    let mut refusals = Vec::new();
    for (fast, path) in [(false, Via::General), (true, Via::Fast)] {
        let env = Env::with_fast_path(fast).await;
        let mut t = env.open_as(TOKEN_B).await;
        let a = &env.authority;
        let refused = t.exchange(&covered_get(a)).await;
        assert_eq!(refused.head.status(), 403, "{}", refused.text());
        // The tunnel goes on, on the same path; a path no Connector covers
        // needs no permission.
        assert_ok(
            &t.exchange(&get("/other/open", a)).await,
            "GET /other/open []",
        );
        let seen = env.tool.received();
        assert_eq!(seen.len(), 1, "the refused request went out");
        assert_eq!(via(&seen[0].req), path);
        assert!(seen[0].req.head.get("authorization").is_none());
        refusals.push(summary(&refused));
    }
    assert_eq!(refusals[0], refusals[1]);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_across_a_hand_off() {
    let env = Env::start().await;
    let mut t = env.open().await;
    let a = &env.authority;
    let misdirected = get("/api/two", "evil.example");
    t.send(&[get("/api/one", a), misdirected, get("/api/three", a)].concat())
        .await;
    assert_ok(&t.response().await, "GET /api/one []");
    assert_eq!(t.response().await.head.status(), 421);
    assert_ok(&t.response().await, "GET /api/three []");

    let seen = env.tool.received();
    let targets: Vec<&str> = seen.iter().map(|s| s.req.head.target()).collect();
    assert_eq!(targets, ["/api/one", "/api/three"]);
    for s in &seen {
        assert_credential_swapped(&s.req);
    }
}
