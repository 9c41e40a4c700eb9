//! Deadlines: an idle keep-alive connection and a connection that never
//! finishes its request head are closed; a connection waiting for a slow
//! tool is not; a tool that never finishes opening its connection (TCP or
//! TLS) is a 504 after the connect timeout.

mod support;

use http::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "tok-timeouts-51f9";

/// A catalog with Connector `team-a/git` (no credential) at `address`,
/// which [`TOKEN`] may use.
fn catalog(address: &str) -> Arc<MemCatalog> {
    let catalog = MemCatalog::with_classes(&["git"]);
    catalog.put_connector(git_connector("team-a", "git", address, None));
    catalog.add_token(TOKEN, "team-a", "builder");
    catalog
}

async fn env(config: connectors_proxy::ProxyConfig) -> (TestUpstream, RunningProxy) {
    let up = TestUpstream::start().await;
    let proxy = start_proxy(catalog(&up.base()), config).await;
    (up, proxy)
}

/// Reads until the peer closes; `None` when it did not within 10 s.
async fn closed_by_peer(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    done.ok().map(|_| all)
}

/// Short idle and header timeouts, yet long enough that a test held up on a
/// busy machine between connecting and writing its head is not cut.
fn short() -> connectors_proxy::ProxyConfig {
    connectors_proxy::ProxyConfig {
        idle_timeout: Duration::from_millis(1000),
        header_timeout: Duration::from_millis(1000),
        ..test_config()
    }
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed() {
    let (up, proxy) = env(short()).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let head = format!(
        "GET http://{}/x HTTP/1.1\r\nHost: {}\r\nProxy-Authorization: {}\r\n\r\n",
        up.addr,
        up.addr,
        proxy_auth("team-a/git", TOKEN)
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let got = closed_by_peer(&mut s)
        .await
        .expect("the idle connection must be closed");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.ends_with("ok /x"),
        "the response came whole first: {text}"
    );
}

#[tokio::test]
async fn unfinished_request_head_is_closed() {
    let (up, proxy) = env(short()).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET /namespaces/team-a/connectors/git/x HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(closed_by_peer(&mut s).await.is_some());
    let mut silent = TcpStream::connect(proxy.addr).await.unwrap();
    assert!(closed_by_peer(&mut silent).await.is_some());
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn a_request_in_flight_is_not_cut_by_the_idle_timeout() {
    let config = connectors_proxy::ProxyConfig {
        upstream_header_timeout: Duration::from_millis(2500),
        ..short()
    };
    let (_up, proxy) = env(config).await;
    let r = get(
        proxy.addr,
        "/namespaces/team-a/connectors/git/hang",
        &[("authorization", &format!("Bearer {TOKEN}"))],
    )
    .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.text());
}

#[tokio::test]
async fn tool_that_never_finishes_tls_is_504_within_the_connect_timeout() {
    // Accepts TCP, then stays silent: the TLS handshake never completes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let catalog = catalog(&format!("https://127.0.0.1:{port}"));
    let config = connectors_proxy::ProxyConfig {
        connect_timeout: Duration::from_millis(300),
        upstream_header_timeout: Duration::from_secs(30),
        ..test_config()
    };
    let proxy = start_proxy(catalog, config).await;
    let started = std::time::Instant::now();
    let r = get(
        proxy.addr,
        "/namespaces/team-a/connectors/git/x",
        &[("authorization", &format!("Bearer {TOKEN}"))],
    )
    .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.text());
    assert!(r.text().contains("accept a connection"), "{}", r.text());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}
