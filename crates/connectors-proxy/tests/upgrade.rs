//! Protocol upgrades (WebSocket, SPDY) pass through: the `101` comes back
//! and the two connections are spliced, in reverse, forward and CONNECT
//! modes, with the Connector's credential on the upgrade request.

mod support;

use bytes::Bytes;

use http::{Request, StatusCode};
use http_body_util::{Either, Full};
use std::sync::Arc;
use support::*;

const PASSWORD: &str = "ws-pass-61b0";
const TOKEN: &str = "tok-ws-3e8a";

async fn env() -> (Arc<MemCatalog>, EchoUpgrade, RunningProxy) {
    let catalog = MemCatalog::with_classes(&["git"]);
    let echo = EchoUpgrade::start().await;
    catalog.put_secret(basic_auth_secret("team-a", "cred", "bot", PASSWORD));
    let address = format!("http://{}/base", echo.addr);
    catalog.put_connector(git_connector("team-a", "ws", &address, Some("cred")));
    catalog.add_token(TOKEN, "team-a", "builder");
    let proxy = start_proxy(catalog.clone(), test_config()).await;
    (catalog, echo, proxy)
}

fn upgrade_request(uri: &str, host: &str, auth: (&str, &str)) -> Request<ClientBody> {
    Request::builder()
        .uri(uri)
        .header("host", host)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header(auth.0, auth.1)
        .body(Either::Left(Full::new(Bytes::new())))
        .unwrap()
}

fn expected_basic() -> String {
    format!("Basic {}", b64(&format!("bot:{PASSWORD}")))
}

#[tokio::test]
async fn websocket_through_reverse_mode() {
    let (_c, echo, proxy) = env().await;
    let bearer = format!("Bearer {TOKEN}");
    let req = upgrade_request(
        "/namespaces/team-a/connectors/ws/socket",
        &proxy.addr.to_string(),
        ("authorization", &bearer),
    );
    let (status, headers, echoed) = upgrade_roundtrip(proxy.addr, req, b"hello over ws").await;
    assert_eq!(status, StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(headers["upgrade"], "websocket");
    assert_eq!(echoed, b"hello over ws");
    let seen = echo.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.target, "/base/socket");
    assert_eq!(seen.headers["upgrade"], "websocket");
    assert_eq!(seen.headers["authorization"], expected_basic().as_str());
    assert_eq!(seen.headers["sec-websocket-version"], "13");
}

#[tokio::test]
async fn websocket_through_forward_mode() {
    let (_c, echo, proxy) = env().await;
    let pa = proxy_auth("team-a/ws", TOKEN);
    let url = format!("http://{}/base/socket", echo.addr);
    let req = upgrade_request(&url, &echo.addr.to_string(), ("proxy-authorization", &pa));
    let (status, _, echoed) = upgrade_roundtrip(proxy.addr, req, b"ping-pong").await;
    assert_eq!(status, StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(echoed, b"ping-pong");
    let seen = echo.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.headers["authorization"], expected_basic().as_str());
    assert!(seen.headers.get("proxy-authorization").is_none());
}

#[tokio::test]
async fn plain_request_to_an_upgrade_server_is_not_upgraded() {
    let (_c, _echo, proxy) = env().await;
    let r = get(
        proxy.addr,
        "/namespaces/team-a/connectors/ws/socket",
        &[
            ("authorization", &format!("Bearer {TOKEN}")),
            ("upgrade", "websocket"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.text(),
        "no upgrade",
        "Upgrade without Connection: upgrade is hop-by-hop"
    );
}

#[tokio::test]
async fn websocket_inside_a_connect_tunnel() {
    let (catalog, _echo, proxy) = env().await;
    let p = pki();
    let echo = EchoUpgrade::start_tls(&p).await;
    catalog.put_class(builtin_class("k8s"));
    catalog.put_secret(bearer_token_secret("team-a", "kube", "kube-bearer-1"));
    catalog.put_secret(ca_secret("team-a", "ca", &p.ca_pem));
    let address = format!("https://127.0.0.1:{}", echo.addr.port());
    let cluster = k8s_connector("team-a", "cluster", &address, Some("kube"));
    catalog.put_connector(with_ca_secret(cluster, "ca"));
    let authority = format!("127.0.0.1:{}", echo.addr.port());
    let mut t = open_tunnel_as(&proxy, &authority, "team-a/cluster", TOKEN, &[b"http/1.1"]).await;
    let req = upgrade_request(
        "/api/v1/namespaces/x/pods/p/exec",
        &authority,
        ("authorization", "Bearer fake-token"),
    );
    let resp = t.send_raw(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    let up = hyper::upgrade::on(resp).await.unwrap();
    let mut io = hyper_util::rt::TokioIo::new(up);
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    io.write_all(b"exec stdin").await.unwrap();
    let mut got = [0u8; 10];
    tokio::time::timeout(std::time::Duration::from_secs(5), io.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"exec stdin");
    let seen = echo.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.headers["authorization"], "Bearer kube-bearer-1");
}
