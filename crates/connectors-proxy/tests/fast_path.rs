//! The listener's HTTP/1.1 fast path on the wire: raw client sockets
//! writing exact bytes to the proxy, and raw scripted tools behind it that
//! record exactly what they receive (`support::raw_tool`).

mod support;

use connectors_proxy::ProxyConfig;
use std::time::Duration;
use support::raw_tool::*;
use support::wire::{contains_ignore_case, via, Message, Via, PROBE};
use support::{basic, bearer, closed_port, git_connector, test_config};

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_over_one_tool_connection() {
    let env = Env::start(echo).await;
    let mut c = env.client().await;
    c.send(&[get("/one"), get("/two")].concat()).await;
    assert_ok(&c.response().await, "GET /base/one []");
    assert_ok(&c.response().await, "GET /base/two []");

    let seen = env.tool.received();
    let targets: Vec<&str> = seen.iter().map(|s| s.req.target()).collect();
    assert_eq!(targets, ["/base/one", "/base/two"]);
    assert!(seen.iter().all(|s| s.conn == 0), "{seen:?}");
    assert_eq!(env.tool.connections(), 1, "the tool connection is kept");
    for s in &seen {
        assert_eq!(via(&s.req), Via::Fast);
        assert_credential_swapped(&s.req);
    }
}

#[tokio::test]
async fn buffered_request_body_is_relayed_with_its_length() {
    let env = Env::start(echo).await;
    let mut c = env.client().await;
    let auth = bearer(TOKEN_A);
    let fields = [
        ("Authorization", auth.as_str()),
        ("Content-Length", "11"),
        PROBE,
    ];
    c.send(&request(
        "POST",
        &format!("{BASE}/up"),
        &fields,
        b"hello world",
    ))
    .await;
    assert_ok(&c.response().await, "POST /base/up [hello world]");
    let seen = env.tool.only();
    assert_eq!(via(&seen), Via::Fast);
    assert_eq!(seen.all("content-length"), ["11"]);
    assert_eq!(seen.body, b"hello world");
    assert_credential_swapped(&seen);
}

#[tokio::test]
async fn chunked_response_is_relayed_without_its_trailers() {
    let env = Env::start(|n, r| match n {
        0 => Reply::raw(&[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Secret-Trailer\r\n\r\n5\r\nhello\r\n",
            b"7;ext=1\r\n, world\r\n0\r\nX-Secret-Tra",
            b"iler: trailer-secret-value\r\n\r\n",
        ]),
        _ => echo(n, r),
    })
    .await;
    let mut c = env.client().await;
    c.send(&get("/stream")).await;
    let r = c.response().await;
    assert_ok(&r, "hello, world");
    assert_eq!(r.get("transfer-encoding"), Some("chunked"));
    assert_eq!(r.get("content-length"), None);
    let raw = r.raw();
    for leak in ["x-secret-trailer", "trailer-secret-value"] {
        assert!(
            !contains_ignore_case(&raw, leak),
            "{leak} reached the client:\n{}",
            String::from_utf8_lossy(&raw)
        );
    }
    // The body ended where the tool's did: the next answer is intact, over
    // the same tool connection.
    c.send(&get("/next")).await;
    assert_ok(&c.response().await, "GET /base/next []");
    assert_eq!(env.tool.connections(), 1);
}

#[tokio::test]
async fn close_delimited_response_is_rechunked_and_the_client_stays() {
    let big: String = (0..40_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let body = big.clone();
    let env = Env::start(move |n, r| match n {
        0 => Reply::raw(&[
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
            body.as_bytes(),
        ])
        .then_close(),
        _ => echo(n, r),
    })
    .await;
    let mut c = env.client().await;
    c.send(&get("/dump")).await;
    let r = c.response().await;
    assert_ok(&r, &big);
    assert_eq!(r.get("transfer-encoding"), Some("chunked"));
    assert_eq!(r.get("content-length"), None);
    assert_eq!(r.get("connection"), None);
    assert_eq!(r.get("content-type"), Some("text/plain"));

    c.send(&get("/after")).await;
    assert_ok(&c.response().await, "GET /base/after []");
    assert_eq!(
        env.tool.connections(),
        2,
        "a close-delimited response ends its tool connection"
    );
}

#[tokio::test]
async fn informational_response_before_the_final_one_is_skipped() {
    let env = Env::start(|_, _| {
        Reply::raw(&[
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Len",
            b"gth: 5\r\n\r\nhel",
            b"lo",
        ])
    })
    .await;
    let mut c = env.client().await;
    for path in ["/hints", "/again"] {
        c.send(&get(path)).await;
        let r = c.response().await;
        assert_ok(&r, "hello");
        assert_eq!(r.get("link"), None, "the 103's fields are not the 200's");
    }
    assert_eq!(env.tool.connections(), 1);
}

#[tokio::test]
async fn kept_tool_connection_closed_by_the_tool_is_reopened() {
    let env = Env::start(|n, r| echo(n, r).then_close()).await;
    let mut c = env.client().await;
    c.send(&get("/one")).await;
    assert_ok(&c.response().await, "GET /base/one []");
    // Let the tool's close arrive before the next request.
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.send(&get("/two")).await;
    assert_ok(&c.response().await, "GET /base/two []");
    let seen = env.tool.received();
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[0].conn, seen[1].conn), (0, 1));
    assert_eq!(via(&seen[1].req), Via::Fast);
}

/// What a `POST` with a body gets after the tool closed the kept
/// connection the previous request used.
async fn post_after_tool_close(fast: bool) -> (Message, usize) {
    let env = Env::with_fast_path(fast, |n, r| echo(n, r).then_close()).await;
    let mut c = env.client().await;
    c.send(&get("/info/refs")).await;
    assert_ok(&c.response().await, "GET /base/info/refs []");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let auth = bearer(TOKEN_A);
    let fields = [("Authorization", auth.as_str()), ("Content-Length", "4")];
    c.send(&request(
        "POST",
        &format!("{BASE}/git-upload-pack"),
        &fields,
        b"want",
    ))
    .await;
    (c.response().await, env.tool.received().len())
}

#[tokio::test]
async fn request_with_body_after_the_tool_closed_the_kept_connection() {
    let (general, _) = post_after_tool_close(false).await;
    assert_ok(&general, "POST /base/git-upload-pack [want]");
    let (fast, received) = post_after_tool_close(true).await;
    assert_ok(&fast, "POST /base/git-upload-pack [want]");
    assert_eq!(received, 2);
}

#[tokio::test]
async fn hop_by_hop_fields_are_dropped_both_ways() {
    let env = Env::start(|_, _| {
        Reply::raw(&[b"HTTP/1.1 200 OK\r\nConnection: X-Hop-Response\r\nX-Hop-Response: 1\r\nKeep-Alive: timeout=5\r\nX-End-To-End: kept\r\nContent-Length: 3\r\n\r\nhop"])
    })
    .await;
    let mut c = env.client().await;
    let auth = bearer(TOKEN_A);
    let fields = [
        ("Authorization", auth.as_str()),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Proxy-Authorization", "Basic eDp5"),
        ("Private-Token", "pt-private-9c1"),
        ("X-End-To-End", "yes"),
        PROBE,
    ];
    c.send(&request("GET", &format!("{BASE}/hop"), &fields, b""))
        .await;
    let r = c.response().await;
    assert_ok(&r, "hop");

    let seen = env.tool.only();
    assert_eq!(via(&seen), Via::Fast);
    for name in [
        "x-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "private-token",
        "connection",
    ] {
        assert_eq!(seen.get(name), None, "{name} reached the tool");
    }
    assert!(!seen.head.raw.contains("pt-private-9c1"));
    assert_eq!(seen.get("x-end-to-end"), Some("yes"));
    assert_credential_swapped(&seen);

    for name in ["x-hop-response", "keep-alive", "connection"] {
        assert_eq!(r.get(name), None, "{name} reached the client");
    }
    assert_eq!(r.get("x-end-to-end"), Some("kept"));
}

#[tokio::test]
async fn expect_continue_is_handed_off_and_answered() {
    let env = Env::start(echo).await;
    let mut c = env.client().await;
    let auth = bearer(TOKEN_A);
    let fields = [
        ("Authorization", auth.as_str()),
        ("Expect", "100-continue"),
        ("Content-Length", "11"),
        PROBE,
    ];
    c.send(&request("PUT", &format!("{BASE}/up"), &fields, b""))
        .await;
    assert_eq!(c.next_head().await.status(), 100);
    c.send(b"hello world").await;
    assert_ok(&c.response().await, "PUT /base/up [hello world]");
    let seen = env.tool.only();
    assert_eq!(via(&seen), Via::General);
    assert_eq!(seen.body, b"hello world");
    assert_credential_swapped(&seen);
}

#[tokio::test]
async fn chunked_request_after_a_fast_one_is_handed_off_with_its_bytes() {
    let env = Env::start(echo).await;
    let mut c = env.client().await;
    let auth = bearer(TOKEN_A);
    let fields = [
        ("Authorization", auth.as_str()),
        ("Transfer-Encoding", "chunked"),
        PROBE,
    ];
    let chunked = request(
        "POST",
        &format!("{BASE}/up"),
        &fields,
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    // Both in one write: the second is read by the fast path, then handed
    // over with the bytes already read.
    c.send(&[get("/first"), chunked].concat()).await;
    assert_ok(&c.response().await, "GET /base/first []");
    assert_ok(&c.response().await, "POST /base/up [hello world]");
    let seen = env.tool.received();
    assert_eq!(seen.len(), 2);
    assert_eq!(via(&seen[0].req), Via::Fast);
    assert_eq!(via(&seen[1].req), Via::General);
    assert_eq!(seen[1].req.body, b"hello world");
    assert_credential_swapped(&seen[1].req);
}

#[tokio::test]
async fn refusals_answer_on_the_fast_path_and_keep_the_connection() {
    let env = Env::start(echo).await;
    let mut c = env.client().await;

    let no_token = request("GET", &format!("{BASE}/x"), &[PROBE], b"");
    c.send(&no_token).await;
    let r = c.response().await;
    assert_eq!(r.status(), 401, "{}", r.text());
    assert_eq!(
        r.get("www-authenticate"),
        Some("Basic realm=\"connectors-proxy\"")
    );
    assert_eq!(r.get("connection"), None);

    c.send(&get_with(TOKEN_B, "/x")).await;
    let r = c.response().await;
    assert_eq!(r.status(), 403, "{}", r.text());
    assert_eq!(r.get("connection"), None);

    c.send(&get("/x")).await;
    assert_ok(&c.response().await, "GET /base/x []");
    assert_eq!(env.tool.only().target(), "/base/x");
}

#[tokio::test]
async fn refused_tool_connection_is_502_and_the_client_stays() {
    let env = Env::start(echo).await;
    let closed = closed_port();
    let address = format!("http://{closed}");
    env.catalog
        .put_connector(git_connector("team-a", "down", &address, Some("git-cred")));
    let mut c = env.client().await;
    let auth = bearer(TOKEN_A);
    c.send(&request(
        "GET",
        "/namespaces/team-a/connectors/down/x",
        &[("Authorization", &auth)],
        b"",
    ))
    .await;
    let r = c.response().await;
    assert_eq!(r.status(), 502, "{}", r.text());
    assert!(r.text().contains("refused"), "{}", r.text());
    assert!(!r.text().contains(PASSWORD));

    c.send(&get("/x")).await;
    assert_ok(&c.response().await, "GET /base/x []");
}

#[tokio::test]
async fn client_close_is_honoured_after_the_response() {
    let env = Env::start(echo).await;
    let mut c = env.client().await;
    let auth = bearer(TOKEN_A);
    let fields = [("Authorization", auth.as_str()), ("Connection", "close")];
    c.send(&request("GET", &format!("{BASE}/bye"), &fields, b""))
        .await;
    let r = c.response().await;
    assert_ok(&r, "GET /base/bye []");
    assert_eq!(r.get("connection"), Some("close"));
    assert!(c.closes().await, "the proxy kept the connection open");
}

#[tokio::test]
async fn head_response_has_no_body_and_the_connection_goes_on() {
    let env = Env::start(|n, r| match n {
        0 => Reply::raw(&[b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"]),
        _ => echo(n, r),
    })
    .await;
    let mut c = env.client().await;
    let auth = bearer(TOKEN_A);
    c.send(&request(
        "HEAD",
        &format!("{BASE}/size"),
        &[("Authorization", &auth)],
        b"",
    ))
    .await;
    let r = c.head_response().await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.get("content-length"), Some("42"));
    c.send(&get("/next")).await;
    assert_ok(&c.response().await, "GET /base/next []");
    assert_eq!(env.tool.connections(), 1);
}

/// Answers without a body — to HEAD, a 204, the 200 that opens a tunnel
/// — are audited as complete on either path, like any other.
#[tokio::test]
async fn bodiless_answers_are_audited_as_complete_on_either_path() {
    let tool = |_: usize, r: &Message| match r.target() {
        "/base/no-content" => Reply::raw(&[b"HTTP/1.1 204 No Content\r\n\r\n"]),
        _ => Reply::raw(&[b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"]),
    };
    let auth = bearer(TOKEN_A);
    for fast in [true, false] {
        let (_dir, audit, config) = audited(fast);
        let env = Env::with_config(config.clone(), tool).await;
        let mut c = env.client().await;
        let head = request(
            "HEAD",
            &format!("{BASE}/size"),
            &[("Authorization", &auth)],
            b"",
        );
        c.send(&head).await;
        assert_eq!(c.head_response().await.status(), 200);
        c.send(&get("/no-content")).await;
        assert_eq!(c.head_response().await.status(), 204);
        let tunnelled = Env::tunnelled_with(config, tool).await;
        let _open = tunnelled.tunnel().await;
        for (method, path) in [("HEAD", "/size"), ("GET", "/no-content"), ("CONNECT", "")] {
            let case = format!("{method} {path}, fast path {fast}");
            let want = |r: &serde_json::Value| {
                r["method"] == method && r["path"].as_str().is_some_and(|p| p.ends_with(path))
            };
            let record = audit_record(&audit, want)
                .await
                .unwrap_or_else(|| panic!("{case}: no audit record"));
            assert_eq!(record["outcome"], "complete", "{case}: {record}");
            assert_eq!(record["bytes_out"], 0, "{case}: {record}");
        }
    }
}

/// What the tool received (if anything) and what the client got for one
/// request on a fresh proxy, with or without the fast path.
async fn relay_once(fast: bool, req: &[u8]) -> (Option<Message>, Message) {
    let env = Env::with_fast_path(fast, echo).await;
    let mut c = env.client().await;
    c.send(req).await;
    let r = c.response().await;
    (env.tool.received().pop().map(|s| s.req), r)
}

#[tokio::test]
async fn fast_path_and_general_server_relay_the_same_request() {
    let auth = basic("any-user", TOKEN_A);
    let common = [
        ("User-Agent", "git/2.45.1"),
        ("Accept", "*/*"),
        ("Accept-Encoding", "gzip"),
        ("Authorization", auth.as_str()),
        ("Connection", "keep-alive"),
        ("Git-Protocol", "version=2"),
        PROBE,
    ];
    let post_fields = [&common[..], &[("Content-Length", "9")]].concat();
    for req in [
        request(
            "GET",
            &format!("{BASE}/info/refs?service=git-upload-pack"),
            &common,
            b"",
        ),
        request(
            "POST",
            &format!("{BASE}/git-upload-pack"),
            &post_fields,
            b"0000want!",
        ),
    ] {
        let what = String::from_utf8_lossy(&req);
        let (general_tool, general) = relay_once(false, &req).await;
        let (fast_tool, fast) = relay_once(true, &req).await;
        let (general_tool, fast_tool) = (general_tool.unwrap(), fast_tool.unwrap());
        assert_eq!(
            (via(&general_tool), via(&fast_tool)),
            (Via::General, Via::Fast)
        );
        assert_eq!(general_tool.names(), fast_tool.names(), "{what}");
        assert_eq!(general_tool.body, fast_tool.body, "{what}");
        assert_eq!(general.status(), 200, "{what}");
        assert_eq!(
            (general.status(), &general.body),
            (fast.status(), &fast.body)
        );
    }
}

#[tokio::test]
async fn client_gets_the_same_fields_on_both_paths() {
    let relayed = get("/x");
    let refused = request("GET", &format!("{BASE}/x"), &[PROBE], b"");
    for req in [relayed, refused] {
        let (_, general) = relay_once(false, &req).await;
        let (_, fast) = relay_once(true, &req).await;
        assert_eq!(general.status(), fast.status());
        assert!(general.get("date").is_some());
        assert_eq!(
            general.names(),
            fast.names(),
            "\n{}\n{}",
            general.head.raw,
            fast.head.raw
        );
    }
}

#[tokio::test]
async fn refused_request_body_is_skipped_not_read_as_a_request() {
    let env = Env::start(echo).await;
    let mut c = env.client().await;
    let inner = get("/smuggled");
    let len = inner.len().to_string();
    let refused = request(
        "POST",
        &format!("{BASE}/x"),
        &[("Content-Length", &len)],
        &inner,
    );
    c.send(&[refused, get("/next")].concat()).await;
    assert_eq!(c.response().await.status(), 401);
    assert_ok(&c.response().await, "GET /base/next []");
    assert_eq!(env.tool.only().target(), "/base/next");
}

#[tokio::test]
async fn truncated_response_body_cuts_the_client_connection() {
    let env = Env::start(|_, _| {
        Reply::raw(&[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"]).then_close()
    })
    .await;
    let mut c = env.client().await;
    c.send(&get("/cut")).await;
    let head = c.next_head().await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.get("content-length"), Some("100"));
    assert_eq!(c.until_close().await, b"short");
}

/// A tool answer that breaks off after its head, or whose chunk framing a
/// client could read differently from the proxy, is cut on the client's
/// connection too, on either path, and its audit record says so: outcome
/// `body_error`, the tool's status, and only the bytes that did reach the
/// client.
#[tokio::test]
async fn a_broken_answer_is_audited_as_a_body_error_on_either_path() {
    // (name, answer, most body bytes that can reach the client)
    let answers: [(&str, &[u8], u64); 3] = [
        (
            "length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
            5,
        ),
        (
            "chunked",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nbro",
            3,
        ),
        // A size line a client could read as 5 or as 0x56: refused, not
        // passed on.
        (
            "ambiguous",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 6\r\nhello\r\n0\r\n\r\n",
            0,
        ),
    ];
    for fast in [true, false] {
        for (name, answer, most) in answers {
            let (_dir, audit, config) = audited(fast);
            let env =
                Env::with_config(config, move |_, _| Reply::raw(&[answer]).then_close()).await;
            let case = format!("{name}, fast path {fast}");
            let mut c = env.client().await;
            c.send(&get(&format!("/cut-{name}"))).await;
            // Everything the client receives, from the head on. The fast
            // path sends the head before the body; the general server sends
            // it with the first body bytes, so with none it cuts before any.
            let got = c.until_close().await;
            let head_end = got.windows(4).position(|w| w == b"\r\n\r\n");
            if fast || name != "ambiguous" {
                assert!(got.starts_with(b"HTTP/1.1 200 "), "{case}: {got:?}");
            }
            let got = match head_end {
                Some(i) => got[i + 4..].to_vec(),
                None => Vec::new(),
            };
            let record = audit_record(&audit, |r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(&format!("/cut-{name}")))
            })
            .await
            .unwrap_or_else(|| panic!("{case}: no audit record"));
            assert_eq!(record["outcome"], "body_error", "{case}: {record}");
            assert_eq!(record["status"], 200, "{case}: {record}");
            let bytes_out = record["bytes_out"].as_u64().unwrap();
            assert!(bytes_out <= most, "{case}: {record}");
            if name == "length" {
                // The fast path and the general server both pass the
                // bytes that came, then cut.
                assert_eq!(got, b"short", "{case}");
                assert_eq!(bytes_out, 5, "{case}: {record}");
            }
            if name == "ambiguous" {
                assert!(
                    !got.windows(5).any(|w| w == b"hello"),
                    "{case}: {:?}",
                    String::from_utf8_lossy(&got)
                );
            }
        }
    }
}

/// A configuration with or without the fast path that appends audit
/// records to a file in a new directory (kept while the first is alive).
fn audited(fast: bool) -> (tempfile::TempDir, std::path::PathBuf, ProxyConfig) {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let config = ProxyConfig {
        http1_fast_path: fast,
        audit_file: Some(audit.clone()),
        ..test_config()
    };
    (dir, audit, config)
}

/// The first record of the audit file that `pick` accepts, waited for.
async fn audit_record(
    audit: &std::path::Path,
    pick: impl Fn(&serde_json::Value) -> bool,
) -> Option<serde_json::Value> {
    for _ in 0..200 {
        let text = std::fs::read_to_string(audit).unwrap_or_default();
        let found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(&pick);
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// Request heads that cannot be read: a field name with a space in it,
/// more fields than the limit, a head with no end within the parser's
/// bound (twice the byte limit). On either path, on the listener and
/// inside an intercepted tunnel, each is answered 400 or 431, closes the
/// connection, reaches no tool and leaves one audit record, which never
/// has the query. The fast path's answer says what is wrong and carries
/// the record's request id; the general server's parser sends a bare
/// status line, and its record knows nothing of the request line.
#[tokio::test]
async fn unreadable_heads_are_answered_and_audited_on_either_path() {
    let secret_query = format!("access_token={TOKEN_A}");
    let bad_name = format!(
        "GET {BASE}/bad?{secret_query} HTTP/1.1\r\nHost: proxy.test\r\nBad Field: 1\r\n\r\n"
    )
    .into_bytes();
    let names: Vec<String> = (0..150).map(|i| format!("x-h{i}")).collect();
    let fields: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let many = request("GET", &format!("{BASE}/many"), &fields, b"");
    let mut endless = format!("GET {BASE}/endless HTTP/1.1\r\nX-Big: ").into_bytes();
    endless.resize(2 * 4096 + 100, b'v');
    // (case, head, status, error kind, what the fast path's answer says)
    let cases: [(&str, &[u8], u16, &str, &str); 3] = [
        (
            "bad",
            &bad_name,
            400,
            "malformed_request",
            "malformed request head: a header field name",
        ),
        (
            "many",
            &many,
            431,
            "headers_too_large",
            "151 header fields, at most 100 accepted",
        ),
        (
            "endless",
            &endless,
            431,
            "headers_too_large",
            "at most 4096 accepted",
        ),
    ];
    for tunnel in [false, true] {
        for fast in [true, false] {
            for (name, head, status, error, says) in cases {
                if tunnel && name != "bad" {
                    continue;
                }
                let case = format!("{name}, fast path {fast}, tunnel {tunnel}");
                let (_dir, audit, config) = audited(fast);
                let config = ProxyConfig {
                    max_request_header_bytes: 4096,
                    ..config
                };
                let (r, closed, tool) = if tunnel {
                    let env = Env::tunnelled_with(config, echo).await;
                    let mut c = env.tunnel().await;
                    c.send(head).await;
                    let r = c.response().await;
                    (r, c.closes().await, env.tool)
                } else {
                    let env = Env::with_config(config, echo).await;
                    let mut c = env.client().await;
                    c.send(head).await;
                    let r = c.response().await;
                    (r, c.closes().await, env.tool)
                };
                assert_eq!(r.status(), status, "{case}: {}", r.text());
                assert!(closed, "{case}: the connection must close");
                assert!(tool.received().is_empty(), "{case}: reached the tool");
                // A tunnel's own CONNECT has a record of its own.
                let inner = |r: &serde_json::Value| r["method"] != "CONNECT";
                let record = audit_record(&audit, inner)
                    .await
                    .unwrap_or_else(|| panic!("{case}: no audit record"));
                assert_eq!(record["status"], status, "{case}: {record}");
                assert_eq!(record["error"], error, "{case}: {record}");
                assert_eq!(record["outcome"], "complete", "{case}: {record}");
                let text = std::fs::read_to_string(&audit).unwrap();
                let records = text.lines().filter(|l| !l.contains("\"CONNECT\"")).count();
                assert_eq!(records, 1, "{case}: {text}");
                assert!(!text.contains(TOKEN_A), "{case}: {text}");
                if fast {
                    assert!(r.text().contains(says), "{case}: {}", r.text());
                    assert_eq!(
                        r.get("x-request-id"),
                        record["request_id"].as_str(),
                        "{case}: {record}"
                    );
                    let mode = if tunnel { "connect" } else { "reverse" };
                    assert_eq!(record["mode"], mode, "{case}: {record}");
                    assert_eq!(record["method"], "GET", "{case}: {record}");
                    assert_eq!(record["path"], format!("{BASE}/{name}"), "{case}: {record}");
                } else {
                    assert_eq!(record["method"], "-", "{case}: {record}");
                    let mode = if tunnel { "connect" } else { "unknown" };
                    assert_eq!(record["mode"], mode, "{case}: {record}");
                }
            }
        }
    }
}

#[tokio::test]
async fn http10_request_is_handed_off() {
    let env = Env::start(echo).await;
    let mut c = env.client().await;
    let req = String::from_utf8(get("/old")).unwrap();
    c.send(req.replacen(" HTTP/1.1\r\n", " HTTP/1.0\r\n", 1).as_bytes())
        .await;
    assert_ok(&c.response().await, "GET /base/old []");
    assert!(
        c.closes().await,
        "an HTTP/1.0 connection ends after its answer"
    );
    let seen = env.tool.only();
    assert_eq!(via(&seen), Via::General);
    assert_credential_swapped(&seen);
}

#[tokio::test]
async fn the_answer_deadline_counts_from_each_request() {
    let config = ProxyConfig {
        upstream_header_timeout: Duration::from_millis(800),
        ..test_config()
    };
    // The tool answers the first request and never the second.
    let env = Env::with_config(config, |n, req| {
        if n == 0 {
            echo(n, req)
        } else {
            Reply::raw(&[])
        }
    })
    .await;
    let mut c = env.client().await;
    assert_ok(&c.exchange(&get("/one")).await, "GET /base/one []");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = std::time::Instant::now();
    let r = c.exchange(&get("/two")).await;
    let waited = sent.elapsed();
    assert_eq!(r.status(), 504, "{}\n{}", r.head.raw, r.text());
    assert!(
        waited >= Duration::from_millis(700),
        "timed out {waited:?} after the second request: the first one's deadline was used"
    );
    let seen = env.tool.received();
    assert_eq!(seen.len(), 2);
    assert_eq!(via(&seen[1].req), Via::Fast);
}

#[tokio::test]
async fn the_idle_deadline_counts_from_the_last_response() {
    let config = ProxyConfig {
        idle_timeout: Duration::from_millis(1500),
        ..test_config()
    };
    let env = Env::with_config(config, echo).await;
    let mut c = env.client().await;
    for path in ["/one", "/two", "/three", "/four"] {
        // 2 s in all on one connection, never 1.5 s idle (a second of
        // slack for a busy machine).
        assert_ok(
            &c.exchange(&get(path)).await,
            &format!("GET /base{path} []"),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(env.tool.received().len(), 4);
    // Then idle for longer: the proxy closes the connection.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(c.closes().await, "the idle connection must be closed");
}
