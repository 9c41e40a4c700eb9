//! Request smuggling: requests whose body a server could end in two places
//! (a length and a chunked encoding together, two lengths, look-alike
//! encodings, odd chunk sizes, folded or broken fields). Whatever the
//! proxy makes of such a request, on the fast path and on the general
//! server alike, the tool gets only requests the proxy itself read, each
//! framed one way and carrying the Connector's credential; a request
//! hidden in a body never reaches the tool as a request of its own, and
//! both servers answer the client the same. The same holds the other
//! way: a response hidden after a tool's answer never answers the
//! client's next request.

mod support;

use std::time::Duration;
use support::raw_tool::*;
use support::wire::{body_framing, Body, Head, Message, Wire, PROBE};
use tokio::net::TcpStream;

/// A request without a token, hidden in a body: the tool sees it as a
/// request only if the proxy and the tool disagree on where a body ends.
fn hidden() -> String {
    format!("GET {BASE}/smuggled HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 0\r\n\r\n")
}

/// A `POST` with the client's token, `fields` as written (each line with
/// its CRLF) and `body` as is.
fn post(fields: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {BASE}/x HTTP/1.1\r\nHost: proxy.test\r\nAuthorization: Bearer {TOKEN_A}\r\n\
         X-Probe: 1\r\n{fields}\r\n{body}"
    )
    .into_bytes()
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
    fn answers(self) -> Vec<String> {
        let post = "200 POST /base/x []".to_string();
        let next = "200 GET /base/next []".to_string();
        match self {
            Outcome::Refused => vec!["400".to_string()],
            Outcome::RelayedThenClosed => vec![post],
            Outcome::HiddenIsNext => vec![post, "401".to_string(), next],
            Outcome::HiddenIsBody => vec![format!("200 POST /base/x [{}]", hidden()), next],
        }
    }
}

/// The requests of the matrix, by name, with what the client must get.
fn cases() -> Vec<(&'static str, Vec<u8>, Outcome)> {
    use Outcome::*;
    let h = hidden();
    let n = h.len();
    let end_then_hidden = format!("0\r\n\r\n{h}");
    vec![
        (
            "a length (control)",
            post(&format!("Content-Length: {n}\r\n"), &h),
            HiddenIsBody,
        ),
        (
            "chunked (control)",
            post("Transfer-Encoding: chunked\r\n", &end_then_hidden),
            HiddenIsNext,
        ),
        (
            "chunked in capitals",
            post("Transfer-Encoding: CHUNKED\r\n", &end_then_hidden),
            HiddenIsNext,
        ),
        (
            "length, then chunked",
            post(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                &end_then_hidden,
            ),
            RelayedThenClosed,
        ),
        (
            "chunked, then length",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                &end_then_hidden,
            ),
            RelayedThenClosed,
        ),
        (
            "two lengths",
            post(&format!("Content-Length: 0\r\nContent-Length: {n}\r\n"), &h),
            Refused,
        ),
        (
            "a list of lengths",
            post(&format!("Content-Length: 0, {n}\r\n"), &h),
            Refused,
        ),
        (
            "a signed length",
            post(&format!("Content-Length: +{n}\r\n"), &h),
            Refused,
        ),
        (
            "a hexadecimal length",
            post(&format!("Content-Length: 0x{n:x}\r\n"), &h),
            Refused,
        ),
        (
            "a space before the colon",
            post(&format!("Content-Length : {n}\r\n"), &h),
            Refused,
        ),
        (
            "chunked, then identity",
            post("Transfer-Encoding: chunked, identity\r\n", &end_then_hidden),
            Refused,
        ),
        (
            "identity, then chunked",
            post("Transfer-Encoding: identity, chunked\r\n", &end_then_hidden),
            HiddenIsNext,
        ),
        (
            "chunked twice",
            post(
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                &end_then_hidden,
            ),
            HiddenIsNext,
        ),
        (
            "a look-alike encoding and a length",
            post(
                &format!("Transfer-Encoding: xchunked\r\nContent-Length: {n}\r\n"),
                &h,
            ),
            Refused,
        ),
        (
            "a vertical tab before chunked",
            post("Transfer-Encoding:\x0bchunked\r\n", &end_then_hidden),
            Refused,
        ),
        (
            "chunked on a folded line",
            post(
                "Transfer-Encoding: identity\r\n chunked\r\n",
                &end_then_hidden,
            ),
            Refused,
        ),
        (
            "a chunk size past 64 bits",
            post(
                "Transfer-Encoding: chunked\r\n",
                &format!("10000000000000005\r\nhello\r\n{end_then_hidden}"),
            ),
            Refused,
        ),
        (
            "a chunk size with 0x",
            post(
                "Transfer-Encoding: chunked\r\n",
                &format!("0x5\r\nhello\r\n{end_then_hidden}"),
            ),
            Refused,
        ),
        (
            "chunk data longer than its size",
            post(
                "Transfer-Encoding: chunked\r\n",
                &format!("5\r\nhello, {end_then_hidden}"),
            ),
            Refused,
        ),
        (
            "chunk framing with bare LF",
            post(
                "Transfer-Encoding: chunked\r\n",
                &format!("5\nhello\n0\n\n{h}"),
            ),
            Refused,
        ),
        (
            "a NUL in a field value",
            post(&format!("X-A: a\0b\r\nContent-Length: {n}\r\n"), &h),
            Refused,
        ),
        (
            "a head with bare LF",
            format!(
                "POST {BASE}/x HTTP/1.1\nHost: proxy.test\nAuthorization: Bearer {TOKEN_A}\n\
                 X-Probe: 1\nContent-Length: {n}\n\n{h}"
            )
            .into_bytes(),
            HiddenIsBody,
        ),
    ]
}

/// The statuses the client got, in order, until the proxy closed the
/// connection or stayed silent for a while (`"…"` marks the latter).
async fn answers(c: &mut Wire<TcpStream>) -> Vec<String> {
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
fn assert_well_framed(case: &str, fast: bool, req: &Message) {
    let what = format!("{case} (fast path {fast}):\n{}", req.head.raw);
    assert!(
        !req.head.start.contains("smuggled"),
        "hidden request reached the tool: {what}"
    );
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

/// One case on one server: the client's answers, checked against what
/// the tool received; then a request on a new connection, which must
/// find the tool's side of the proxy in order.
async fn run(case: &str, bytes: &[u8], fast: bool) -> Vec<String> {
    let env = Env::with_fast_path(fast, echo).await;
    let auth = bearer(TOKEN_A);
    let last = |path: &str| {
        request(
            "GET",
            &format!("{BASE}{path}"),
            &[("Authorization", &auth), ("Connection", "close")],
            b"",
        )
    };
    let mut c = env.client().await;
    c.send(&[bytes, &last("/next")].concat()).await;
    let got = answers(&mut c).await;
    let seen = env.tool.received();
    for r in &seen {
        assert_well_framed(case, fast, &r.req);
    }
    let relayed = got.iter().filter(|a| a.starts_with("200 ")).count();
    assert_eq!(
        relayed,
        seen.len(),
        "{case} (fast path {fast}): every request the tool got is answered once: {got:?}"
    );
    for (_, head) in env.tool.cut() {
        assert_eq!(
            got,
            ["400"],
            "{case} (fast path {fast}): a body was cut:\n{}",
            head.raw
        );
    }

    let mut after = env.client().await;
    after.send(&last("/after")).await;
    assert_eq!(
        answers(&mut after).await,
        ["200 GET /base/after []"],
        "{case} (fast path {fast}): the next client"
    );
    got
}

#[tokio::test]
async fn ambiguous_framing_never_reaches_the_tool_and_both_servers_agree() {
    for (case, bytes, outcome) in cases() {
        for fast in [false, true] {
            let got = run(case, &bytes, fast).await;
            assert_eq!(got, outcome.answers(), "{case} (fast path {fast})");
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
async fn run_response(case: &str, answer: &str, then_close: bool, fast: bool) -> Vec<String> {
    let answer = answer.to_string();
    let env = Env::with_fast_path(fast, move |n, req| match n {
        0 if then_close => Reply::raw(&[answer.as_bytes()]).then_close(),
        0 => Reply::raw(&[answer.as_bytes()]),
        _ => echo(n, req),
    })
    .await;
    let auth = bearer(TOKEN_A);
    let get = |path: &str, close: bool| {
        let mut fields = vec![("Authorization", auth.as_str()), PROBE];
        if close {
            fields.push(("Connection", "close"));
        }
        request("GET", &format!("{BASE}{path}"), &fields, b"")
    };
    let mut c = env.client().await;
    c.send(&[get("/first", false), get("/next", true)].concat())
        .await;
    let mut got = answers(&mut c).await;
    if got.is_empty() || got == ["200 cut"] {
        got = vec!["broken".to_string()];
    }
    let mut after = env.client().await;
    after.send(&get("/after", true)).await;
    got.extend(answers(&mut after).await);
    assert!(
        !got.iter().any(|a| a == "200 smuggled"),
        "{case} (fast path {fast}): a hidden response reached the client: {got:?}"
    );
    got
}

#[tokio::test]
async fn ambiguous_response_framing_never_answers_the_next_request() {
    for (case, answer, then_close, expected) in response_cases() {
        for fast in [false, true] {
            let got = run_response(case, &answer, then_close, fast).await;
            assert_eq!(got, expected.answers(), "{case} (fast path {fast})");
        }
    }
}
