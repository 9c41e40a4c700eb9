//! Request smuggling: requests whose body a server could end in two places
//! (a length and a chunked encoding together, two lengths, look-alike
//! encodings, odd chunk sizes, folded or broken fields). Whatever the
//! proxy makes of such a request, in reverse mode, inside an intercepted
//! `CONNECT` tunnel and in forward mode, on the fast path and on the
//! general server alike, the tool gets exactly the requests the client got
//! answers for, in order, each framed one way and carrying the
//! Connector's credential, and both servers answer the client the same.
//! The other way round, a response hidden after a tool's answer never
//! answers the client's next request.

mod support;

use std::time::Duration;
use support::raw_tool::*;
use support::wire::{body_framing, Body, Head, Message, Wire, PROBE};
use support::{bearer, proxy_auth};
use tokio::io::{AsyncRead, AsyncWrite};

/// How the client reaches the tool.
#[derive(Clone, Copy, Debug)]
enum Front {
    /// Reverse mode: `/namespaces/team-a/connectors/git/…` with a token.
    Reverse,
    /// Through a `CONNECT` tunnel to the tool, intercepted; the token is
    /// in the `CONNECT`, and the client's own `Authorization` is replaced.
    Tunnel,
    /// Forward mode: absolute-form targets with the token in
    /// `Proxy-Authorization`.
    Forward,
}

/// A client's side of one proxy: how it reaches the tool and the `Host`
/// it writes.
struct Side {
    front: Front,
    host: String,
}

impl Side {
    async fn of(
        front: Front,
        fast: bool,
        script: impl Fn(usize, &Message) -> Reply + Send + Sync + 'static,
    ) -> (Env, Side) {
        let env = match front {
            Front::Reverse | Front::Forward => Env::with_fast_path(fast, script).await,
            Front::Tunnel => Env::tunnelled(fast, script).await,
        };
        let host = match front {
            Front::Reverse => "proxy.test".to_string(),
            Front::Tunnel | Front::Forward => env.tool.addr.to_string(),
        };
        (env, Side { front, host })
    }

    /// `path` under the Connector, as the client writes it.
    fn target(&self, path: &str) -> String {
        match self.front {
            Front::Reverse => format!("{BASE}{path}"),
            Front::Tunnel => format!("/base{path}"),
            Front::Forward => format!("http://{}/base{path}", self.host),
        }
    }

    /// The `Proxy-Authorization` line of forward mode, ending with `eol`.
    fn proxy_line(&self, eol: &str) -> String {
        match self.front {
            Front::Forward => {
                format!(
                    "Proxy-Authorization: {}{eol}",
                    proxy_auth("team-a/git", TOKEN_A)
                )
            }
            Front::Reverse | Front::Tunnel => String::new(),
        }
    }

    /// A request without a token, hidden in a body: the tool sees it as
    /// a request of its own only if the proxy and the tool disagree on
    /// where a body ends, or if the proxy read it as the client's next
    /// request (then the client gets its answer).
    fn hidden(&self) -> String {
        let (target, host) = (self.target("/smuggled"), &self.host);
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n")
    }

    /// What the client gets for the hidden request when the proxy reads it
    /// as the client's next one: refused without a token in reverse and
    /// forward mode, relayed in a tunnel (the `CONNECT` carried the token).
    fn hidden_as_next(&self) -> String {
        match self.front {
            Front::Reverse => "401".to_string(),
            Front::Forward => "407".to_string(),
            Front::Tunnel => "200 GET /base/smuggled []".to_string(),
        }
    }

    /// A `POST` with the client's token as its own `Authorization`, `fields`
    /// as written (each line with its CRLF) and `body` as is.
    fn post(&self, fields: &str, body: &str) -> Vec<u8> {
        let (target, host) = (self.target("/x"), &self.host);
        let proxy = self.proxy_line("\r\n");
        format!(
            "POST {target} HTTP/1.1\r\nHost: {host}\r\n{proxy}Authorization: Bearer {TOKEN_A}\r\n\
             X-Probe: 1\r\n{fields}\r\n{body}"
        )
        .into_bytes()
    }

    /// A `GET` of `path` with the token, closing the connection after it
    /// when `close`.
    fn get(&self, path: &str, close: bool) -> Vec<u8> {
        let (auth, proxy) = (bearer(TOKEN_A), proxy_auth("team-a/git", TOKEN_A));
        let mut fields = Vec::new();
        if matches!(self.front, Front::Forward) {
            fields.push(("Proxy-Authorization", proxy.as_str()));
        }
        fields.extend([("Authorization", auth.as_str()), PROBE]);
        if close {
            fields.push(("Connection", "close"));
        }
        request_to(&self.host, "GET", &self.target(path), &fields, b"")
    }

    /// Writes `bytes` on a new connection and reads every answer.
    async fn talk(&self, env: &Env, bytes: &[u8]) -> Vec<String> {
        match self.front {
            Front::Reverse | Front::Forward => talk(env.client().await, bytes).await,
            Front::Tunnel => talk(env.tunnel().await, bytes).await,
        }
    }
}

async fn talk<S: AsyncRead + AsyncWrite + Unpin>(mut c: Wire<S>, bytes: &[u8]) -> Vec<String> {
    c.send(bytes).await;
    answers(&mut c).await
}

/// What the client must get for a case followed by `GET /next`.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// `400`, and the connection closes.
    Refused,
    /// The body ends where the chunked encoding says, the request is
    /// relayed, and the connection closes (RFC 9112 §6.1: a request that
    /// also had a length).
    RelayedThenClosed,
    /// The body ends where the chunked encoding says, and the hidden
    /// request is the client's next one (refused: it has no token).
    HiddenIsNext,
    /// The hidden request is the body.
    HiddenIsBody,
}

impl Outcome {
    fn answers(self, side: &Side) -> Vec<String> {
        let post = "200 POST /base/x []".to_string();
        let next = "200 GET /base/next []".to_string();
        match self {
            Outcome::Refused => vec!["400".to_string()],
            Outcome::RelayedThenClosed => vec![post],
            Outcome::HiddenIsNext => vec![post, side.hidden_as_next(), next],
            Outcome::HiddenIsBody => {
                vec![format!("200 POST /base/x [{}]", side.hidden()), next]
            }
        }
    }
}

/// The requests of the matrix, by name, with what the client must get.
fn cases(s: &Side) -> Vec<(&'static str, Vec<u8>, Outcome)> {
    use Outcome::*;
    let h = s.hidden();
    let n = h.len();
    let end_then_hidden = format!("0\r\n\r\n{h}");
    vec![
        (
            "a length (control)",
            s.post(&format!("Content-Length: {n}\r\n"), &h),
            HiddenIsBody,
        ),
        (
            "chunked (control)",
            s.post("Transfer-Encoding: chunked\r\n", &end_then_hidden),
            HiddenIsNext,
        ),
        (
            "chunked in capitals",
            s.post("Transfer-Encoding: CHUNKED\r\n", &end_then_hidden),
            HiddenIsNext,
        ),
        (
            "length, then chunked",
            s.post(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                &end_then_hidden,
            ),
            RelayedThenClosed,
        ),
        (
            "chunked, then length",
            s.post(
                "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                &end_then_hidden,
            ),
            RelayedThenClosed,
        ),
        (
            "two lengths",
            s.post(&format!("Content-Length: 0\r\nContent-Length: {n}\r\n"), &h),
            Refused,
        ),
        (
            "a list of lengths",
            s.post(&format!("Content-Length: 0, {n}\r\n"), &h),
            Refused,
        ),
        (
            "a signed length",
            s.post(&format!("Content-Length: +{n}\r\n"), &h),
            Refused,
        ),
        (
            "a hexadecimal length",
            s.post(&format!("Content-Length: 0x{n:x}\r\n"), &h),
            Refused,
        ),
        (
            "a space before the colon",
            s.post(&format!("Content-Length : {n}\r\n"), &h),
            Refused,
        ),
        (
            "chunked, then identity",
            s.post("Transfer-Encoding: chunked, identity\r\n", &end_then_hidden),
            Refused,
        ),
        (
            "identity, then chunked",
            s.post("Transfer-Encoding: identity, chunked\r\n", &end_then_hidden),
            HiddenIsNext,
        ),
        (
            "chunked twice",
            s.post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                &end_then_hidden,
            ),
            HiddenIsNext,
        ),
        (
            "a look-alike encoding and a length",
            s.post(
                &format!("Transfer-Encoding: xchunked\r\nContent-Length: {n}\r\n"),
                &h,
            ),
            Refused,
        ),
        (
            "a vertical tab before chunked",
            s.post("Transfer-Encoding:\x0bchunked\r\n", &end_then_hidden),
            Refused,
        ),
        (
            "chunked on a folded line",
            s.post(
                "Transfer-Encoding: identity\r\n chunked\r\n",
                &end_then_hidden,
            ),
            Refused,
        ),
        (
            "a chunk size past 64 bits",
            s.post(
                "Transfer-Encoding: chunked\r\n",
                &format!("10000000000000005\r\nhello\r\n{end_then_hidden}"),
            ),
            Refused,
        ),
        (
            "a chunk size with 0x",
            s.post(
                "Transfer-Encoding: chunked\r\n",
                &format!("0x5\r\nhello\r\n{end_then_hidden}"),
            ),
            Refused,
        ),
        (
            "chunk data longer than its size",
            s.post(
                "Transfer-Encoding: chunked\r\n",
                &format!("5\r\nhello, {end_then_hidden}"),
            ),
            Refused,
        ),
        (
            "chunk framing with bare LF",
            s.post(
                "Transfer-Encoding: chunked\r\n",
                &format!("5\nhello\n0\n\n{h}"),
            ),
            Refused,
        ),
        (
            "a NUL in a field value",
            s.post(&format!("X-A: a\0b\r\nContent-Length: {n}\r\n"), &h),
            Refused,
        ),
        (
            "a head with bare LF",
            format!(
                "POST {} HTTP/1.1\nHost: {}\n{}Authorization: Bearer {TOKEN_A}\n\
                 X-Probe: 1\nContent-Length: {n}\n\n{h}",
                s.target("/x"),
                s.host,
                s.proxy_line("\n"),
            )
            .into_bytes(),
            HiddenIsBody,
        ),
    ]
}

/// The statuses the client got, in order, with the bodies of `200`s,
/// until the proxy closed the connection or stayed silent for a while
/// (`"…"` marks the latter; `"<status> cut"` a body that broke off).
async fn answers<S: AsyncRead + AsyncWrite + Unpin>(c: &mut Wire<S>) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let head: Head = match tokio::time::timeout(Duration::from_secs(3), c.head()).await {
            Ok(Some(head)) => head,
            Ok(None) => return got,
            Err(_) => {
                got.push("…".to_string());
                return got;
            }
        };
        if head.status() < 200 {
            continue;
        }
        let body = tokio::time::timeout(
            Duration::from_secs(3),
            c.try_body(body_framing(&head, Body::ToEnd)),
        )
        .await
        .expect("a response body did not end");
        let Some((body, _)) = body else {
            got.push(format!("{} cut", head.status()));
            return got;
        };
        let body = String::from_utf8_lossy(&body);
        got.push(match head.status() {
            200 => format!("200 {body}"),
            s => s.to_string(),
        });
    }
}

/// What the tool must never see, whatever the proxy made of the case.
fn assert_well_framed(what: &str, req: &Message) {
    let what = format!("{what}:\n{}", req.head.raw);
    let length = req.head.get("content-length").is_some();
    let chunked = req.head.get("transfer-encoding").is_some();
    assert!(
        !(length && chunked),
        "two framings went to the tool: {what}"
    );
    assert!(req.head.all("content-length").len() <= 1, "{what}");
    assert!(req.head.all("transfer-encoding").len() <= 1, "{what}");
    assert_credential_swapped(req);
}

/// The tool's requests as the echo script answers them, in order.
fn echoed(env: &Env) -> Vec<String> {
    env.tool
        .received()
        .iter()
        .map(|r| {
            let req = &r.req;
            format!("200 {} {} [{}]", req.method(), req.target(), req.text())
        })
        .collect()
}

/// One case on one server: the client's answers, checked against what
/// the tool received; then a request on a new connection, which must
/// find the tool's side of the proxy in order.
async fn run(front: Front, fast: bool, i: usize) -> (String, Vec<String>, Vec<String>) {
    let (env, side) = Side::of(front, fast, echo).await;
    let (case, bytes, outcome) = cases(&side).swap_remove(i);
    let what = format!("{case} ({front:?}, fast path {fast})");
    let got = side
        .talk(&env, &[bytes, side.get("/next", true)].concat())
        .await;
    for r in env.tool.received() {
        assert_well_framed(&what, &r.req);
    }
    let relayed: Vec<String> = got
        .iter()
        .filter(|a| a.starts_with("200 "))
        .cloned()
        .collect();
    assert_eq!(
        relayed,
        echoed(&env),
        "{what}: the tool got exactly the requests the client got answers for"
    );
    for (_, head) in env.tool.cut() {
        assert_eq!(got, ["400"], "{what}: a body was cut:\n{}", head.raw);
    }
    let after = side.talk(&env, &side.get("/after", true)).await;
    assert_eq!(after, ["200 GET /base/after []"], "{what}: the next client");
    (what, got, outcome.answers(&side))
}

#[tokio::test]
async fn ambiguous_framing_never_reaches_the_tool_and_both_servers_agree() {
    let n = cases(&Side {
        front: Front::Reverse,
        host: String::new(),
    })
    .len();
    for front in [Front::Reverse, Front::Tunnel, Front::Forward] {
        for fast in [false, true] {
            for i in 0..n {
                let (what, got, expected) = run(front, fast, i).await;
                assert_eq!(got, expected, "{what}");
            }
        }
    }
}

// ---------------------------------------------------------------- responses

/// A response hidden after the end of a body: the client gets it only if
/// the proxy and the tool disagree on where a body ends.
const HIDDEN_RESPONSE: &str = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled";

/// What the client must get for the first request, the next one on its
/// connection, and one on a new connection.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// The tool's body, `hello`.
    Hello,
    /// An empty body: the chunked encoding ended it.
    Empty,
    /// Everything until the tool closed, the hidden response included.
    ToTheEnd,
    /// `502`: the proxy could not read the tool's answer.
    BadGateway,
    /// The answer breaks off (before or after its head) and the
    /// connection closes; the next request goes through on a new one.
    Broken,
}

impl Answer {
    fn answers(self) -> Vec<String> {
        let first = match self {
            Answer::Hello => "200 hello".to_string(),
            Answer::Empty => "200 ".to_string(),
            Answer::ToTheEnd => format!("200 0\r\n\r\n{HIDDEN_RESPONSE}"),
            Answer::BadGateway => "502".to_string(),
            Answer::Broken => "broken".to_string(),
        };
        let mut all = vec![first];
        if !matches!(self, Answer::Broken) {
            all.push("200 GET /base/next []".to_string());
        }
        all.push("200 GET /base/after []".to_string());
        all
    }
}

/// The tool's answers to the first request, by name, whether the tool
/// closes its connection after it, and what the client must get.
fn response_cases() -> Vec<(&'static str, String, bool, Answer)> {
    use Answer::*;
    let h = HIDDEN_RESPONSE;
    let n = h.len();
    let end_then_hidden = format!("0\r\n\r\n{h}");
    let ok = |fields: &str, body: &str| format!("HTTP/1.1 200 OK\r\n{fields}\r\n{body}");
    vec![
        (
            "a length (control)",
            ok("Content-Length: 5\r\n", "hello"),
            false,
            Hello,
        ),
        (
            "chunked (control)",
            ok("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"),
            false,
            Hello,
        ),
        (
            "length, then chunked",
            ok(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                &end_then_hidden,
            ),
            false,
            Empty,
        ),
        (
            "chunked, then length",
            ok(
                "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                &end_then_hidden,
            ),
            false,
            Empty,
        ),
        (
            "two lengths",
            ok(&format!("Content-Length: 0\r\nContent-Length: {n}\r\n"), h),
            false,
            BadGateway,
        ),
        (
            "a list of lengths",
            ok(&format!("Content-Length: 0, {n}\r\n"), h),
            false,
            BadGateway,
        ),
        (
            "a signed length",
            ok(&format!("Content-Length: +{n}\r\n"), h),
            false,
            BadGateway,
        ),
        (
            "a space before the colon",
            ok("Content-Length : 0\r\n", h),
            false,
            BadGateway,
        ),
        (
            "chunked, then identity, then the end",
            ok("Transfer-Encoding: chunked, identity\r\n", &end_then_hidden),
            true,
            ToTheEnd,
        ),
        (
            "a chunk size with 0x",
            ok(
                "Transfer-Encoding: chunked\r\n",
                &format!("0x5\r\nhello\r\n{end_then_hidden}"),
            ),
            false,
            Broken,
        ),
        (
            "chunk data longer than its size",
            ok(
                "Transfer-Encoding: chunked\r\n",
                &format!("5\r\nhello, {end_then_hidden}"),
            ),
            false,
            Broken,
        ),
        (
            "a length on a folded line",
            ok("X-A: a\r\n Content-Length: 0\r\n", h),
            false,
            BadGateway,
        ),
        (
            "a NUL in a field value",
            ok("X-A: a\0b\r\nContent-Length: 0\r\n", h),
            false,
            BadGateway,
        ),
        (
            "a head with bare LF",
            format!("HTTP/1.1 200 OK\nContent-Length: 0\n\n{h}"),
            false,
            Empty,
        ),
    ]
}

/// One response case on one server: the client's answers to the first
/// request and the next one on its connection (`"broken"` when the
/// first breaks off), then the answer to a request on a new connection.
async fn run_response(front: Front, fast: bool, i: usize) -> (String, Vec<String>, Answer) {
    let (case, answer, then_close, expected) = response_cases().swap_remove(i);
    let (env, side) = Side::of(front, fast, move |n, req| match n {
        0 if then_close => Reply::raw(&[answer.as_bytes()]).then_close(),
        0 => Reply::raw(&[answer.as_bytes()]),
        _ => echo(n, req),
    })
    .await;
    let what = format!("{case} ({front:?}, fast path {fast})");
    let first = [side.get("/first", false), side.get("/next", true)].concat();
    let mut got = side.talk(&env, &first).await;
    if got.is_empty() || got == ["200 cut"] {
        got = vec!["broken".to_string()];
    }
    got.extend(side.talk(&env, &side.get("/after", true)).await);
    assert!(
        !got.iter().any(|a| a == "200 smuggled"),
        "{what}: a hidden response reached the client: {got:?}"
    );
    (what, got, expected)
}

#[tokio::test]
async fn ambiguous_response_framing_never_answers_the_next_request() {
    for front in [Front::Reverse, Front::Tunnel, Front::Forward] {
        for fast in [false, true] {
            for i in 0..response_cases().len() {
                let (what, got, expected) = run_response(front, fast, i).await;
                assert_eq!(got, expected.answers(), "{what}");
            }
        }
    }
}
