//! CONNECT with TLS interception: a client trusting only the proxy CA opens
//! a tunnel, speaks HTTP/1.1 or HTTP/2 (ALPN) to the proxy's leaf
//! certificate, and the proxy talks TLS to an in-process tool whose private
//! CA the Connector names through `caCertSecretRef`.

mod support;

use http::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BEARER: &str = "cluster-bearer-7a1f";
const TOKEN_A: &str = "tok-connect-a-0c2e";
const TOKEN_B: &str = "tok-connect-b-9d41";
const H1: &[&[u8]] = &[b"http/1.1"];
const H2: &[&[u8]] = &[b"h2", b"http/1.1"];

struct Env {
    catalog: Arc<MemCatalog>,
    tls: TlsUpstream,
    untrusted: TlsUpstream,
    proxy: RunningProxy,
    ca_der: Vec<u8>,
}

impl Env {
    async fn start() -> Env {
        Env::with_config(test_config()).await
    }

    async fn with_config(config: connectors_proxy::ProxyConfig) -> Env {
        let trusted = pki();
        let other = pki();
        let tls = TlsUpstream::start(&trusted).await;
        let untrusted = TlsUpstream::start(&other).await;
        let catalog = MemCatalog::with_classes(&["k8s"]);
        catalog.put_secret(bearer_token_secret("team-a", "kube", BEARER));
        catalog.put_secret(ca_secret("team-a", "tool-ca", &trusted.ca_pem));
        let (port, untrusted_port) = (tls.addr.port(), untrusted.addr.port());
        let k8s = format!("https://127.0.0.1:{port}");
        let bad = format!("https://127.0.0.1:{untrusted_port}");
        let named = format!("https://localhost:{port}/kubernetes/global");
        for (name, address) in [("k8s", k8s), ("bad", bad), ("named", named)] {
            let c = k8s_connector("team-a", name, &address, Some("kube"));
            catalog.put_connector(with_ca_secret(c, "tool-ca"));
        }
        catalog.add_token(TOKEN_A, "team-a", "builder");
        catalog.add_token(TOKEN_B, "team-b", "other");
        let proxy = start_proxy(catalog.clone(), config).await;
        let ca_der = proxy.proxy.ca().ca_der().to_vec();
        Env {
            catalog,
            tls,
            untrusted,
            proxy,
            ca_der,
        }
    }

    async fn open(&self, authority: &str, user: &str, token: &str, alpn: &[&[u8]]) -> Tunnel {
        open_tunnel_as(&self.proxy, authority, user, token, alpn).await
    }

    fn tool(&self) -> String {
        format!("127.0.0.1:{}", self.tls.addr.port())
    }
}

fn assert_no_client_secrets(seen: &SeenTls) {
    for (k, v) in &seen.headers {
        let v = String::from_utf8_lossy(v.as_bytes());
        assert!(!v.contains(TOKEN_A), "client token reached the tool in {k}");
        assert!(
            !v.contains("fake-token"),
            "placeholder reached the tool in {k}"
        );
    }
    assert!(seen.headers.get("proxy-authorization").is_none());
}

#[tokio::test]
async fn http1_tunnel_replaces_the_placeholder_with_the_connectors_token() {
    let env = Env::start().await;
    let tool = env.tool();
    let mut t = env.open(&tool, "team-a/k8s", TOKEN_A, H1).await;
    assert_eq!(t.alpn.as_deref(), Some(&b"http/1.1"[..]));
    let r = t
        .get(
            &tool,
            "/api/v1/pods?watch=0",
            &[("authorization", "Bearer fake-token")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), "ok /api/v1/pods?watch=0");
    let seen = env.tls.last();
    let auth: Vec<_> = seen.headers.get_all("authorization").iter().collect();
    assert_eq!(auth, [format!("Bearer {BEARER}").as_str()]);
    assert_no_client_secrets(&seen);
    // Keep-alive inside the tunnel.
    let r = t.get(&tool, "/version", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(env.tls.count(), 2);
}

#[tokio::test]
async fn http2_on_both_sides_when_offered() {
    let env = Env::start().await;
    let tool = env.tool();
    let mut t = env.open(&tool, "team-a/k8s", TOKEN_A, H2).await;
    assert_eq!(t.alpn.as_deref(), Some(&b"h2"[..]));
    for _ in 0..3 {
        let r = t
            .get(&tool, "/api", &[("authorization", "Bearer fake-token")])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let seen = env.tls.last();
    assert_eq!(seen.version, http::Version::HTTP_2, "upstream ALPN h2");
    assert!(
        seen.headers.get("host").is_none(),
        "HTTP/2 carries the authority in :authority only"
    );
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {BEARER}").as_str()
    );
    assert_no_client_secrets(&seen);
}

#[tokio::test]
async fn dns_name_leaf_and_path_prefix_address() {
    let env = Env::start().await;
    let tool = format!("localhost:{}", env.tls.addr.port());
    let mut t = env.open(&tool, "team-a/named", TOKEN_A, H1).await;
    let r = t
        .get(
            &tool,
            "/kubernetes/global/api",
            &[("authorization", "Bearer fake-token")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        env.tls.last().headers["authorization"],
        format!("Bearer {BEARER}").as_str()
    );
    // Outside the address path: no credential, the client's header kept.
    let r = t
        .get(&tool, "/other", &[("authorization", "Bearer fake-token")])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(env.tls.last().headers["authorization"], "Bearer fake-token");
}

#[tokio::test]
async fn leaf_certificates_are_cached_per_host() {
    let env = Env::start().await;
    let tool = env.tool();
    let a = env.open(&tool, "team-a/k8s", TOKEN_A, H1).await;
    let b = env.open(&tool, "team-a/k8s", TOKEN_A, H2).await;
    assert!(!a.leaf.is_empty());
    assert_eq!(a.leaf, b.leaf, "the same leaf is presented again");
    assert_eq!(env.proxy.proxy.leaf_stats().minted, 1);
    let named = format!("localhost:{}", env.tls.addr.port());
    let c = env.open(&named, "team-a/named", TOKEN_A, H1).await;
    assert_ne!(a.leaf, c.leaf);
    let stats = env.proxy.proxy.leaf_stats();
    assert_eq!((stats.minted, stats.cached), (2, 2));
}

#[tokio::test]
async fn untrusted_tool_certificate_is_502_inside_the_tunnel() {
    let env = Env::start().await;
    let tool = format!("127.0.0.1:{}", env.untrusted.addr.port());
    let mut t = env.open(&tool, "team-a/bad", TOKEN_A, H1).await;
    let r = t
        .get(&tool, "/api", &[("authorization", "Bearer fake-token")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.text().contains("TLS"), "{}", r.text());
    assert!(!r.text().contains(BEARER));
    assert!(r.headers.contains_key("x-request-id"));
    assert_eq!(env.untrusted.count(), 0);
}

#[tokio::test]
async fn inner_request_for_another_authority_is_refused() {
    let env = Env::start().await;
    let tool = env.tool();
    let other = format!("localhost:{}", env.untrusted.addr.port());
    for alpn in [H1, H2] {
        let mut t = env.open(&tool, "team-a/k8s", TOKEN_A, alpn).await;
        // Host (HTTP/1.1) or :authority (HTTP/2) naming another host.
        let r = t
            .get(&other, "/api", &[("authorization", "Bearer fake-token")])
            .await;
        assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST, "{}", r.text());
        if !t.is_h2() {
            // Absolute-form naming another host.
            let req = request(
                "GET",
                &format!("https://{other}/api"),
                &tool,
                &[("authorization", "Bearer fake-token")],
            );
            let r = t.send(req).await;
            assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST);
        }
    }
    assert_eq!(env.tls.count(), 0);
    assert_eq!(env.untrusted.count(), 0);
}

#[tokio::test]
async fn sni_naming_another_host_is_refused() {
    let env = Env::start().await;
    let pa = proxy_auth("team-a/k8s", TOKEN_A);
    let r = open_tunnel(
        env.proxy.addr,
        &env.tool(),
        TunnelOptions {
            proxy_auth: Some(&pa),
            trust: &env.ca_der,
            alpn: H1,
            server_name: Some("localhost"),
        },
    )
    .await;
    assert!(r.is_err(), "the handshake must fail");
    assert_eq!(env.proxy.proxy.leaf_stats().minted, 0);
}

#[tokio::test]
async fn denied_namespace_is_403_inside_the_tunnel() {
    let env = Env::start().await;
    let tool = env.tool();
    let mut t = env.open(&tool, "team-a/k8s", TOKEN_B, H1).await;
    let r = t
        .get(&tool, "/api", &[("authorization", "Bearer fake-token")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(env.tls.count(), 0);
}

#[tokio::test]
async fn redirect_inside_the_tunnel_is_returned_as_is() {
    let env = Env::start().await;
    let tool = env.tool();
    let elsewhere = format!("https://localhost:{}/steal", env.untrusted.addr.port());
    let mut t = env.open(&tool, "team-a/k8s", TOKEN_A, H1).await;
    let r = t
        .get(&tool, &format!("/redirect?to={elsewhere}"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.headers["location"], elsewhere.as_str());
    assert_eq!(env.untrusted.count(), 0, "never followed");
}

#[tokio::test]
async fn generators_inject_headers_and_queries_through_connect() {
    let env = Env::start().await;
    env.catalog
        .put_class(custom_class("hdrgen", None, X_API_KEY_HEADER_GENERATOR));
    env.catalog
        .put_class(custom_class("qrygen", None, API_KEY_QUERY_GENERATOR));
    env.catalog
        .put_secret(token_secret("team-a", "key", "k3y-v4lue"));
    let base = format!("https://127.0.0.1:{}", env.tls.addr.port());
    for (name, class, path) in [("hdr", "hdrgen", "/hdr"), ("qry", "qrygen", "/qry")] {
        let c = custom_connector("team-a", name, class, &format!("{base}{path}"), "key");
        env.catalog.put_connector(with_ca_secret(c, "tool-ca"));
    }
    let tool = env.tool();
    let mut t = env.open(&tool, "team-a/hdr,team-a/qry", TOKEN_A, H2).await;
    let r = t
        .get(&tool, "/hdr/x", &[("x-api-key", "placeholder")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.tls.last();
    assert_eq!(seen.headers["x-api-key"], "k3y-v4lue");
    assert_eq!(seen.headers.get_all("x-api-key").iter().count(), 1);
    let r = t.get(&tool, "/qry/x?a=1", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(env.tls.last().target, "/qry/x?a=1&api_key=k3y-v4lue");
}

#[tokio::test]
async fn generators_merge_into_the_body_through_connect_over_http2() {
    let env = Env::start().await;
    env.catalog
        .put_class(custom_class("bodygen", None, CLIENT_SECRET_BODY_GENERATOR));
    env.catalog
        .put_secret(token_secret("team-a", "key", "k3y v4lue"));
    let base = format!("https://127.0.0.1:{}", env.tls.addr.port());
    let oauth = custom_connector("team-a", "oauth", "bodygen", &base, "key");
    env.catalog.put_connector(with_ca_secret(oauth, "tool-ca"));
    let tool = env.tool();
    let mut t = env.open(&tool, "team-a/oauth", TOKEN_A, H2).await;
    assert!(t.is_h2());
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("https://{tool}/token/echo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Either::Left(http_body_util::Full::new(
            bytes::Bytes::from_static(b"grant_type=client_credentials&client_secret=mine"),
        )))
        .unwrap();
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.text(),
        "grant_type=client_credentials&client_secret=k3y+v4lue"
    );
    let seen = env.tls.last();
    assert_eq!(seen.method, "POST");
    assert_no_client_secrets(&seen);
}

#[tokio::test]
async fn client_that_never_starts_tls_is_closed_within_the_header_timeout() {
    let config = connectors_proxy::ProxyConfig {
        // Long enough for the CONNECT head itself on a busy machine.
        header_timeout: Duration::from_millis(1000),
        ..test_config()
    };
    let env = Env::with_config(config).await;
    let mut s = tokio::net::TcpStream::connect(env.proxy.addr)
        .await
        .unwrap();
    let tool = env.tool();
    let head = format!(
        "CONNECT {tool} HTTP/1.1\r\nHost: {tool}\r\nProxy-Authorization: {}\r\n\r\n",
        proxy_auth("team-a/k8s", TOKEN_A)
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    // Say nothing: the proxy closes the connection.
    let rest = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("the proxy must close the silent tunnel");
    assert!(matches!(rest, Ok(0) | Err(_)), "{rest:?}");
    assert_eq!(env.tls.count(), 0);
}

#[tokio::test]
async fn client_auth_headers_inside_the_tunnel_are_replaced_not_merged() {
    let env = Env::start().await;
    let tool = env.tool();
    for alpn in [H1, H2] {
        let mut t = env.open(&tool, "team-a/k8s", TOKEN_A, alpn).await;
        let r = t
            .get(
                &tool,
                "/api/v1/pods",
                &[
                    ("authorization", "Bearer fake-token"),
                    ("private-token", "glpat-clients-own"),
                    ("x-copied-token", TOKEN_A),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let seen = env.tls.last();
        let auth: Vec<_> = seen.headers.get_all("authorization").iter().collect();
        assert_eq!(auth, [format!("Bearer {BEARER}").as_str()]);
        assert!(seen.headers.get("private-token").is_none());
        assert!(seen.headers.get("x-copied-token").is_none());
        assert_no_client_secrets(&seen);
    }
}

#[tokio::test]
async fn the_tunnel_keeps_the_connect_identity_and_drops_inner_proxy_authorization() {
    let env = Env::start().await;
    let tool = env.tool();
    let inner_pa = proxy_auth("team-a/k8s", TOKEN_A);
    // Opened by a caller without rights: an inner Proxy-Authorization of
    // an allowed caller changes nothing.
    let mut t = env.open(&tool, "team-a/k8s", TOKEN_B, H1).await;
    let r = t
        .get(&tool, "/api", &[("proxy-authorization", &inner_pa)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(env.tls.count(), 0);
    // Opened by an allowed caller: the inner header is not forwarded.
    let mut t = env.open(&tool, "team-a/k8s", TOKEN_A, H1).await;
    let r = t
        .get(
            &tool,
            "/api",
            &[("proxy-authorization", &proxy_auth("team-b/x", TOKEN_B))],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.tls.last();
    assert!(seen.headers.get("proxy-authorization").is_none());
    assert_no_client_secrets(&seen);
}

#[tokio::test]
async fn oversized_headers_inside_the_tunnel_are_431() {
    let env = Env::start().await;
    let tool = env.tool();
    let big = "v".repeat(70 * 1024);
    let names: Vec<String> = (0..150).map(|i| format!("x-h{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    for alpn in [H1, H2] {
        let mut t = env.open(&tool, "team-a/k8s", TOKEN_A, alpn).await;
        let r = t.get(&tool, "/api", &[("x-big", &big)]).await;
        assert_eq!(
            r.status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{}",
            r.text()
        );
        let r = t.get(&tool, "/api", &many).await;
        assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    assert_eq!(env.tls.count(), 0);
}

#[tokio::test]
async fn gitlab_extractor_and_generator_through_connect() {
    let env = Env::start().await;
    env.catalog.put_class(builtin_class("gitlab"));
    env.catalog.put_secret(secret(
        "team-a",
        "gl-cred",
        connectors_types::secret::GITLAB_PAT_AUTH,
        &[("token", "glpat-connect-123")],
    ));
    env.catalog.put_connector(with_ca_secret(
        connector(
            "team-a",
            "gl",
            "gitlab",
            &format!("https://localhost:{}", env.tls.addr.port()),
            "patAuth",
            Some("gl-cred"),
        ),
        "tool-ca",
    ));
    let tool = format!("localhost:{}", env.tls.addr.port());
    let mut t = env.open(&tool, "team-a/gl", TOKEN_A, H2).await;
    // glab: its Private-Token (the header the class extractor reads) is
    // replaced by the Connector's PAT.
    let r = t
        .get(
            &tool,
            "/api/v4/user",
            &[("private-token", "glab-placeholder")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.tls.last();
    let pt: Vec<_> = seen.headers.get_all("private-token").iter().collect();
    assert_eq!(pt, ["glpat-connect-123"]);
    assert!(seen.headers.get("authorization").is_none());
    // git smart HTTP: Basic oauth2:<PAT>, the client's Basic dropped.
    let r = t
        .get(
            &tool,
            "/group/repo.git/info/refs?service=git-upload-pack",
            &[("authorization", &format!("Basic {}", b64(":x")))],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.tls.last();
    let auth: Vec<_> = seen.headers.get_all("authorization").iter().collect();
    assert_eq!(
        auth,
        [format!("Basic {}", b64("oauth2:glpat-connect-123")).as_str()]
    );
    assert_no_client_secrets(&seen);
}
