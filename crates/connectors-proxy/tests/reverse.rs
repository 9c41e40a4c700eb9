//! The reverse proxy end to end over loopback: a real proxy, a real
//! upstream HTTP server, an in-memory catalog.

mod support;

use bytes::Bytes;
use connectors_types::secret::GITLAB_PAT_AUTH;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Either};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use support::*;

const PASSWORD: &str = "s3cret-pass-9f2c";
const TOKEN_A: &str = "tok-team-a-7d1e";
const TOKEN_B: &str = "tok-team-b-21aa";

struct Env {
    catalog: Arc<MemCatalog>,
    up: TestUpstream,
    proxy: RunningProxy,
}

impl Env {
    async fn start() -> Env {
        Env::with_config(test_config()).await
    }

    async fn with_config(config: connectors_proxy::ProxyConfig) -> Env {
        let catalog = MemCatalog::with_classes(&["git", "gitlab", "k8s"]);
        let up = TestUpstream::start().await;
        catalog.put_secret(basic_auth_secret("team-a", "git-cred", "bot", PASSWORD));
        let address = format!("{}/base", up.base());
        catalog.put_connector(git_connector("team-a", "git", &address, Some("git-cred")));
        catalog.add_token(TOKEN_A, "team-a", "builder");
        catalog.add_token(TOKEN_B, "team-b", "other");
        let proxy = start_proxy(catalog.clone(), config).await;
        Env { catalog, up, proxy }
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.proxy.addr
    }

    /// `GET target` on a fresh connection with `auth` as `Authorization`.
    async fn get(&self, target: &str, auth: &str) -> Got {
        get(self.addr(), target, &[("authorization", auth)]).await
    }

    /// The same with `Host: host`.
    async fn get_host(&self, target: &str, host: &str, auth: &str) -> Got {
        get_host(self.addr(), target, host, &[("authorization", auth)]).await
    }

    /// A `GET` of `target` with the proxy's address as `Host`.
    fn get_request(&self, target: &str, headers: &[(&str, &str)]) -> Request<ClientBody> {
        request("GET", target, &self.addr().to_string(), headers)
    }

    /// Connector `team-a/<name>` at the upstream, of a [`custom_class`]
    /// `class` with `generator`, with Secret `secret` holding `token`.
    fn put_custom_connector(
        &self,
        name: &str,
        class: &str,
        generator: &str,
        secret: &str,
        token: &str,
    ) {
        let base = self.up.base();
        self.catalog.put_class(custom_class(class, None, generator));
        self.catalog
            .put_secret(token_secret("team-a", secret, token));
        self.catalog
            .put_connector(custom_connector("team-a", name, class, &base, secret));
    }
}

/// `s` encoded for a query parameter.
fn query_encoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn expected_basic() -> String {
    basic("bot", PASSWORD)
}

fn assert_no_client_token(seen: &Seen, token: &str) {
    for (k, v) in &seen.headers {
        let v = String::from_utf8_lossy(v.as_bytes());
        assert!(!v.contains(token), "upstream saw the client token in {k}");
        if let Some(enc) = v.strip_prefix("Basic ") {
            use base64::Engine;
            let dec = base64::engine::general_purpose::STANDARD
                .decode(enc)
                .unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&dec).contains(token),
                "client token hidden in Basic of {k}"
            );
        }
    }
}

#[tokio::test]
async fn path_format_strips_prefix_and_joins_address_path() {
    let env = Env::start().await;
    let auth = basic("", TOKEN_A);
    let r = env
        .get(
            "/namespaces/team-a/connectors/git/org/repo.git/info/refs?service=git-upload-pack",
            &auth,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.up.last();
    assert_eq!(
        seen.target,
        "/base/org/repo.git/info/refs?service=git-upload-pack"
    );
    assert_eq!(seen.headers["host"], env.up.addr.to_string());
    assert_eq!(seen.headers["authorization"], expected_basic().as_str());
    assert_no_client_token(&seen, TOKEN_A);

    // %2F stays encoded, the query is passed verbatim.
    let r = env
        .get(
            "/namespaces/team-a/connectors/git/api/v4/projects/devops%2Fdemo?ref=a%2Fb&x=1+2",
            &auth,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        env.up.last().target,
        "/base/api/v4/projects/devops%2Fdemo?ref=a%2Fb&x=1+2"
    );

    // The bare prefix maps to the address path.
    let r = env.get("/namespaces/team-a/connectors/git", &auth).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(env.up.last().target, "/base");
    let r = env
        .get("/namespaces/team-a/connectors/git?x=1", &auth)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(env.up.last().target, "/base?x=1");
}

#[tokio::test]
async fn host_format_with_and_without_cluster_domain() {
    let env = Env::start().await;
    let auth = bearer(TOKEN_A);
    for host in [
        "c-git.team-a.svc",
        "c-git.team-a.svc.cluster.local",
        "c-git.team-a.svc.cluster.local:8080",
    ] {
        let r = env
            .get_host(
                "/org/repo.git/info/refs?service=git-upload-pack",
                host,
                &auth,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{host}: {}", r.text());
        let seen = env.up.last();
        assert_eq!(
            seen.target,
            "/base/org/repo.git/info/refs?service=git-upload-pack"
        );
        assert_eq!(seen.headers["host"], env.up.addr.to_string());
        assert_eq!(seen.headers["authorization"], expected_basic().as_str());
    }
    // The path format wins over the host.
    let r = env
        .get_host(
            "/namespaces/team-a/connectors/git/x",
            "c-other.team-b.svc",
            &auth,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(env.up.last().target, "/base/x");
}

#[tokio::test]
async fn client_tokens_basic_any_user_and_bearer() {
    let env = Env::start().await;
    for auth in [
        basic("", TOKEN_A),
        basic("any-user", TOKEN_A),
        bearer(TOKEN_A),
        format!("bearer {TOKEN_A}"),
    ] {
        let r = env.get("/namespaces/team-a/connectors/git/x", &auth).await;
        assert_eq!(r.status, StatusCode::OK, "{auth}: {}", r.text());
        let seen = env.up.last();
        assert_eq!(seen.headers.get_all("authorization").iter().count(), 1);
        assert_eq!(seen.headers["authorization"], expected_basic().as_str());
        assert_no_client_token(&seen, TOKEN_A);
    }
}

#[tokio::test]
async fn bearer_secret_is_injected_as_bearer() {
    let env = Env::start().await;
    let kube_cred = bearer_token_secret("team-a", "kube-cred", "cluster-token-123");
    let kube = k8s_connector("team-a", "kube", &env.up.base(), Some("kube-cred"));
    env.catalog.put_secret(kube_cred);
    env.catalog.put_connector(kube);
    let r = env
        .get(
            "/namespaces/team-a/connectors/kube/api/v1/pods",
            &bearer(TOKEN_A),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.up.last();
    assert_eq!(seen.target, "/api/v1/pods");
    assert_eq!(seen.headers["authorization"], "Bearer cluster-token-123");
}

#[tokio::test]
async fn connector_without_secret_forwards_without_credentials() {
    let env = Env::start().await;
    env.catalog
        .put_connector(git_connector("team-a", "public", &env.up.base(), None));
    let r = env
        .get("/namespaces/team-a/connectors/public/x", &bearer(TOKEN_A))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(env.up.last().headers.get("authorization").is_none());
}

#[tokio::test]
async fn gitlab_generator_and_extractor() {
    let env = Env::start().await;
    env.catalog.put_secret(secret(
        "team-a",
        "gl-cred",
        GITLAB_PAT_AUTH,
        &[("token", "glpat-abcdef123")],
    ));
    env.catalog.put_connector(connector(
        "team-a",
        "gl",
        "gitlab",
        &env.up.base(),
        "patAuth",
        Some("gl-cred"),
    ));

    // git over HTTP: Basic oauth2:<token>.
    let r = env
        .get(
            "/namespaces/team-a/connectors/gl/group/repo.git/info/refs?service=git-upload-pack",
            &basic("", TOKEN_A),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.up.last();
    assert_eq!(
        seen.headers["authorization"],
        basic("oauth2", "glpat-abcdef123").as_str()
    );
    assert!(seen.headers.get("private-token").is_none());

    // The API: Private-Token, token taken from the client's Private-Token.
    let r = get(
        env.addr(),
        "/namespaces/team-a/connectors/gl/api/v4/user",
        &[("private-token", TOKEN_A)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.up.last();
    assert_eq!(seen.target, "/api/v4/user");
    assert_eq!(seen.headers.get_all("private-token").iter().count(), 1);
    assert_eq!(seen.headers["private-token"], "glpat-abcdef123");
    assert!(seen.headers.get("authorization").is_none());
    assert_no_client_token(&seen, TOKEN_A);

    // A Private-Token that is not a valid token is refused.
    let r = get(
        env.addr(),
        "/namespaces/team-a/connectors/gl/api/v4/user",
        &[("private-token", "nope")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn missing_token_is_401_with_challenge() {
    let env = Env::start().await;
    let r = get(env.addr(), "/namespaces/team-a/connectors/git/x", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers["www-authenticate"],
        "Basic realm=\"connectors-proxy\""
    );
    assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
    assert!(r.headers.contains_key("x-request-id"));
    assert!(r.text().contains("no token"), "{}", r.text());
    // Malformed headers are 401 too.
    for auth in ["Basic !!!", "Bearer", &basic("u", "")] {
        let r = env.get("/namespaces/team-a/connectors/git/x", auth).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth}");
        assert!(r.headers.contains_key("www-authenticate"));
    }
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn unknown_and_expired_tokens_are_401() {
    let env = Env::start().await;
    env.catalog
        .add_expired_token("old-token-1234", "team-a", "builder");
    for t in ["unknown-token-xyz", "old-token-1234"] {
        let r = env
            .get("/namespaces/team-a/connectors/git/x", &bearer(t))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{t}");
        assert!(r.text().contains("token rejected"), "{}", r.text());
        assert!(!r.text().contains(t));
    }
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn foreign_namespace_is_403_before_existence() {
    let env = Env::start().await;
    let r = env
        .get("/namespaces/team-a/connectors/git/x", &bearer(TOKEN_B))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let text = r.text();
    assert!(
        text.contains("serviceaccount team-b/other may not use connector team-a/git"),
        "{text}"
    );
    // An unknown Connector with a foreign token is 403 as well: names cannot be probed.
    let r = env
        .get("/namespaces/team-a/connectors/nope/x", &bearer(TOKEN_B))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env
        .get_host("/x", "c-nope.team-a.svc", &bearer(TOKEN_B))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn unknown_connector_and_unspecified_connector_are_404() {
    let env = Env::start().await;
    let r = env
        .get("/namespaces/team-a/connectors/nope/x", &bearer(TOKEN_A))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.text().contains("connector team-a/nope not found"),
        "{}",
        r.text()
    );
    let r = env.get("/some/path", &bearer(TOKEN_A)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("connector not specified"), "{}", r.text());
    assert!(r.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn closed_upstream_port_is_502() {
    let env = Env::start().await;
    let closed = closed_port();
    let address = format!("http://{closed}");
    env.catalog
        .put_connector(git_connector("team-a", "down", &address, Some("git-cred")));
    let r = env
        .get("/namespaces/team-a/connectors/down/x", &bearer(TOKEN_A))
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let text = r.text();
    assert!(
        text.contains(&format!("upstream {closed} unreachable")),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    assert!(!text.contains(PASSWORD));
}

#[tokio::test]
async fn silent_upstream_is_504() {
    let config = connectors_proxy::ProxyConfig {
        upstream_header_timeout: Duration::from_millis(300),
        ..test_config()
    };
    let env = Env::with_config(config).await;
    let started = std::time::Instant::now();
    let r = env
        .get("/namespaces/team-a/connectors/git/hang", &bearer(TOKEN_A))
        .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(r.text().contains("did not answer"), "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn missing_secret_and_missing_class_are_502() {
    let env = Env::start().await;
    env.catalog.remove_secret("team-a", "git-cred");
    let r = env
        .get("/namespaces/team-a/connectors/git/x", &bearer(TOKEN_A))
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(
        r.text().contains("connector credential unavailable"),
        "{}",
        r.text()
    );

    env.catalog.put_connector(connector(
        "team-a",
        "orphan",
        "no-such-class",
        &env.up.base(),
        "basicAuth",
        None,
    ));
    let r = env
        .get("/namespaces/team-a/connectors/orphan/x", &bearer(TOKEN_A))
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.text().contains("no-such-class"), "{}", r.text());
    // Unauthorised callers still get 403, not the 502.
    let r = env
        .get("/namespaces/team-a/connectors/orphan/x", &bearer(TOKEN_B))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn forward_and_connect_without_proxy_credentials_get_the_challenge() {
    let env = Env::start().await;
    let mut c = Conn::open(env.addr()).await;
    let r = c
        .send(request("GET", "http://example.com/x", "example.com", &[]))
        .await;
    assert_eq!(r.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert_eq!(
        r.headers["proxy-authenticate"],
        "Basic realm=\"connectors-proxy\""
    );
    let r = c
        .send(request(
            "CONNECT",
            "example.com:443",
            "example.com:443",
            &[],
        ))
        .await;
    assert_eq!(r.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert!(r.headers.contains_key("x-request-id"));
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn secret_rotation_is_used_by_the_next_request() {
    let env = Env::start().await;
    let auth = bearer(TOKEN_A);
    let r = env.get("/namespaces/team-a/connectors/git/x", &auth).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        env.up.last().headers["authorization"],
        expected_basic().as_str()
    );
    let rotated = basic_auth_secret("team-a", "git-cred", "bot", "rotated-pass-2");
    env.catalog.put_secret(rotated);
    let r = env.get("/namespaces/team-a/connectors/git/x", &auth).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        env.up.last().headers["authorization"],
        basic("bot", "rotated-pass-2").as_str()
    );
}

#[tokio::test]
async fn connector_address_change_is_used_by_the_next_request() {
    let env = Env::start().await;
    let other = TestUpstream::start().await;
    let auth = bearer(TOKEN_A);
    env.get("/namespaces/team-a/connectors/git/x", &auth).await;
    assert_eq!(env.up.count(), 1);
    let moved = format!("{}/moved", other.base());
    env.catalog
        .put_connector(git_connector("team-a", "git", &moved, Some("git-cred")));
    let r = env.get("/namespaces/team-a/connectors/git/x", &auth).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(env.up.count(), 1);
    assert_eq!(other.last().target, "/moved/x");
}

#[tokio::test]
async fn auth_answers_are_cached() {
    let env = Env::start().await;
    let auth = bearer(TOKEN_A);
    for _ in 0..5 {
        let r = env.get("/namespaces/team-a/connectors/git/x", &auth).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(env.catalog.authenticate_calls.load(Ordering::SeqCst), 1);
    assert_eq!(env.catalog.authorize_calls.load(Ordering::SeqCst), 1);
    let stats = env.proxy.proxy.cache_stats();
    assert_eq!((stats.identity_hits, stats.identity_misses), (4, 1));
    assert_eq!((stats.decision_hits, stats.decision_misses), (4, 1));
}

#[tokio::test]
async fn keep_alive_reuses_client_and_upstream_connections() {
    let env = Env::start().await;
    let auth = bearer(TOKEN_A);
    let mut c = Conn::open(env.addr()).await;
    for i in 0..5 {
        let r = c
            .send(env.get_request(
                &format!("/namespaces/team-a/connectors/git/r{i}"),
                &[("authorization", &auth)],
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), format!("ok /base/r{i}"));
    }
    assert_eq!(
        env.up.connections.load(Ordering::SeqCst),
        1,
        "one upstream connection for all requests"
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_both_ways() {
    let env = Env::start().await;
    let auth = bearer(TOKEN_A);
    let mut c = Conn::open(env.addr()).await;
    let r = c
        .send(env.get_request(
            "/namespaces/team-a/connectors/git/hop",
            &[
                ("authorization", &auth),
                ("connection", "keep-alive, x-hop-request"),
                ("x-hop-request", "1"),
                ("keep-alive", "timeout=5"),
                ("proxy-authorization", "Basic eDp5"),
                ("te", "trailers"),
                ("x-end-to-end", "yes"),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let seen = env.up.last();
    for h in ["x-hop-request", "keep-alive", "proxy-authorization", "te"] {
        assert!(seen.headers.get(h).is_none(), "{h} reached the upstream");
    }
    assert_eq!(seen.headers["x-end-to-end"], "yes");
    for h in ["x-hop-response", "keep-alive", "proxy-authenticate"] {
        assert!(r.headers.get(h).is_none(), "{h} reached the client");
    }
    assert_eq!(r.headers["x-end-to-end"], "kept");
}

#[tokio::test]
async fn location_under_the_address_is_rewritten_to_the_proxy_address() {
    let env = Env::start().await;
    let published = format!("{}/namespaces/team-a/connectors/pub", env.proxy.url());
    env.catalog.put_connector(connector_with_status(
        "team-a",
        "pub",
        "git",
        &format!("{}/base", env.up.base()),
        "basicAuth",
        Some("git-cred"),
        Some(&published),
    ));
    let auth = bearer(TOKEN_A);
    let to = format!("{}/base/users/sign_in?next=%2Fx", env.up.base());
    let target = format!(
        "/namespaces/team-a/connectors/pub/redirect?to={}",
        query_encoded(&to)
    );
    let r = env.get(&target, &auth).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.headers["location"],
        format!("{published}/users/sign_in?next=%2Fx").as_str()
    );

    // Elsewhere: unchanged.
    let to = "https://elsewhere.example.com/base/x";
    let target = format!(
        "/namespaces/team-a/connectors/pub/redirect?to={}",
        query_encoded(to)
    );
    let r = env.get(&target, &auth).await;
    assert_eq!(r.headers["location"], to);

    // Without a published address: the address the client used.
    let to = format!("{}/base/landing", env.up.base());
    let target = format!("/redirect?to={}", query_encoded(&to));
    let r = env.get_host(&target, "c-git.team-a.svc", &auth).await;
    assert_eq!(r.headers["location"], "http://c-git.team-a.svc/landing");
}

const BIG: usize = 50 * 1024 * 1024;

#[tokio::test]
async fn large_request_body_streams_to_upstream() {
    let env = Env::start().await;
    let auth = bearer(TOKEN_A);
    let mut c = Conn::open(env.addr()).await;
    let (tx, body) = ChannelBody::new();
    let req = http::Request::builder()
        .method("POST")
        .uri("/namespaces/team-a/connectors/git/repo.git/upload")
        .header("host", env.addr().to_string())
        .header("authorization", &auth)
        .header("content-length", BIG.to_string())
        .body(Either::Right(body))
        .unwrap();
    // Send the first MiB, then wait for the response head: an upstream that
    // answers early is only seen if the proxy does not buffer the body.
    let first = pattern(0, 1 << 20);
    tx.send(first).await.unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(10), c.send_raw(req))
        .await
        .expect("response head arrived before the body was complete");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut sent = 1 << 20;
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    hasher.update(&pattern(0, sent));
    let feeder = tokio::spawn(async move {
        while sent < BIG {
            let n = (BIG - sent).min(256 * 1024);
            let chunk = pattern(sent, n);
            hasher.update(&chunk);
            tx.send(chunk).await.unwrap();
            sent += n;
        }
        hex(hasher.finish().as_ref())
    });
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let want = feeder.await.unwrap();
    assert_eq!(String::from_utf8_lossy(&body), format!("{BIG} {want}"));
}

#[tokio::test]
async fn large_response_body_streams_to_client() {
    let env = Env::start().await;
    let auth = bearer(TOKEN_A);
    let gate = env.up.arm_gate();
    let mut c = Conn::open(env.addr()).await;
    let resp = c
        .send_raw(env.get_request(
            &format!("/namespaces/team-a/connectors/git/pack/download?size={BIG}"),
            &[("authorization", &auth)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], BIG.to_string().as_str());
    let mut body = resp.into_body();
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    let mut got = 0usize;
    // The upstream holds back everything after the first MiB until we have
    // received the first MiB: a buffering proxy would never deliver it.
    while got < 1 << 20 {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("first MiB arrives while the upstream is still sending")
            .unwrap()
            .unwrap();
        if let Ok(d) = frame.into_data() {
            got += d.len();
            hasher.update(&d);
        }
    }
    gate.send(()).unwrap();
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.unwrap().into_data() {
            got += d.len();
            hasher.update(&d);
        }
    }
    assert_eq!(got, BIG);
    let mut want = ring::digest::Context::new(&ring::digest::SHA256);
    let mut off = 0;
    while off < BIG {
        let n = (BIG - off).min(1 << 20);
        want.update(&pattern(off, n));
        off += n;
    }
    assert_eq!(hex(hasher.finish().as_ref()), hex(want.finish().as_ref()));
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let env = Env::start().await;
    let auth = bearer(TOKEN_A);
    let gate = env.up.arm_gate();
    let mut c = Conn::open(env.addr()).await;
    let size = 4 << 20;
    let resp = c
        .send_raw(env.get_request(
            &format!("/namespaces/team-a/connectors/git/download?size={size}"),
            &[("authorization", &auth)],
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let Env { proxy, up, .. } = env;
    let addr = proxy.addr;
    let stopping = tokio::spawn(proxy.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused once shutdown started.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    gate.send(()).unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), size);
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    drop(up);
}

#[tokio::test]
async fn request_body_with_known_length_keeps_it() {
    let env = Env::start().await;
    let auth = bearer(TOKEN_A);
    let mut c = Conn::open(env.addr()).await;
    let req = request_with_body(
        "POST",
        "/namespaces/team-a/connectors/git/repo.git/git-upload-pack",
        &env.addr().to_string(),
        &[
            ("authorization", &auth),
            ("content-type", "application/x-git-upload-pack-request"),
        ],
        Bytes::from_static(b"0032want abc\n"),
    );
    let r = c.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    let seen = env.up.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.headers["content-length"], "13");
    assert_eq!(
        seen.headers["content-type"],
        "application/x-git-upload-pack-request"
    );
}

#[tokio::test]
async fn generator_query_injection_replaces_client_parameter() {
    let env = Env::start().await;
    env.put_custom_connector(
        "sq",
        "sonar",
        "package proxy\nauth := {\"position\": \"query\", \"auth\": {\"token\": input.data.token}}",
        "sonar-cred",
        "sq t&1",
    );
    let r = env
        .get(
            "/namespaces/team-a/connectors/sq/api/x?token=client&keep=a%2Fb",
            &bearer(TOKEN_A),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(env.up.last().target, "/api/x?keep=a%2Fb&token=sq%20t%261");
}

#[tokio::test]
async fn broken_generator_is_502_naming_the_class() {
    let env = Env::start().await;
    env.put_custom_connector(
        "b",
        "broken",
        "package proxy\nauth := {",
        "b-cred",
        "x-value-1",
    );
    let r = env
        .get("/namespaces/team-a/connectors/b/x", &bearer(TOKEN_A))
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.text().contains("class broken"), "{}", r.text());
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn proxy_subresource_check_when_enabled() {
    let config = connectors_proxy::ProxyConfig {
        check_proxy_subresource: true,
        ..test_config()
    };
    let env = Env::with_config(config).await;
    let r = env
        .get("/namespaces/team-a/connectors/git/x", &bearer(TOKEN_A))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // get on the Connector plus the proxy subresource.
    assert_eq!(env.catalog.authorize_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn every_client_auth_header_is_removed_and_replaced_not_merged() {
    let env = Env::start().await;
    let r = get(
        env.addr(),
        "/namespaces/team-a/connectors/git/repo.git/info/refs",
        &[
            ("authorization", &bearer(TOKEN_A)),
            ("private-token", "glpat-clients-own"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("x-copied-token", TOKEN_A),
            ("x-keep", "1"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.up.last();
    let auth: Vec<_> = seen.headers.get_all("authorization").iter().collect();
    assert_eq!(auth, [expected_basic().as_str()]);
    for h in ["private-token", "proxy-authorization", "x-copied-token"] {
        assert!(seen.headers.get(h).is_none(), "{h} reached the tool");
    }
    assert_eq!(seen.headers["x-keep"], "1");
    assert_no_client_token(&seen, TOKEN_A);
}

#[tokio::test]
async fn host_header_of_another_connector_does_not_switch_in_path_format() {
    let env = Env::start().await;
    let other = TestUpstream::start().await;
    let other_git = git_connector("team-a", "other", &other.base(), Some("git-cred"));
    env.catalog.put_connector(other_git);
    // The path names team-a/git; a Host naming c-other.team-a.svc changes
    // nothing: the path format is checked first.
    let r = env
        .get_host(
            "/namespaces/team-a/connectors/git/x",
            "c-other.team-a.svc",
            &bearer(TOKEN_A),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(env.up.last().target, "/base/x");
    assert_eq!(
        env.up.last().headers["host"],
        env.up.addr.to_string().as_str()
    );
    assert_eq!(other.count(), 0);
}
