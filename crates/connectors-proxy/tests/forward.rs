//! Forward mode over loopback with absolute-form requests: which targets
//! get the Connector's credential, the 407 challenge, authorisation, and
//! hostile inputs that must never make a credential leave towards a
//! destination the Connector does not cover.

mod support;

use http::StatusCode;
use std::sync::Arc;
use support::*;

const PASSWORD: &str = "fwd-pass-4c1d";
const BEARER: &str = "fwd-bearer-93e0";
const TOKEN_A: &str = "tok-fwd-a-1b7c";
const TOKEN_B: &str = "tok-fwd-b-55d2";

struct Env {
    catalog: Arc<MemCatalog>,
    /// The tool the Connectors point at.
    up: TestUpstream,
    /// A host no Connector covers.
    other: TestUpstream,
    proxy: RunningProxy,
}

impl Env {
    async fn start() -> Env {
        Env::with_config(test_config()).await
    }

    async fn with_config(config: connectors_proxy::ProxyConfig) -> Env {
        let catalog = MemCatalog::with_classes(&["git", "k8s", "gitlab"]);
        let up = TestUpstream::start().await;
        let other = TestUpstream::start().await;
        catalog.put_secret(basic_auth_secret("team-a", "git-cred", "bot", PASSWORD));
        catalog.put_secret(bearer_token_secret("team-a", "bearer-cred", BEARER));
        // Maven-style: one repository path plus a deploy path.
        let maven = format!("{}/repo/maven", up.base());
        let deploy = format!("{}/deploy", up.base());
        catalog.put_connector(with_extensions(
            git_connector("team-a", "maven", &maven, Some("git-cred")),
            &[("deploy", &deploy)],
        ));
        // A wider prefix on the same host with another credential.
        let repo = format!("{}/repo", up.base());
        let mirror = k8s_connector("team-a", "mirror", &repo, Some("bearer-cred"));
        catalog.put_connector(mirror);
        catalog.add_token(TOKEN_A, "team-a", "builder");
        catalog.add_token(TOKEN_B, "team-b", "other");
        let proxy = start_proxy(catalog.clone(), config).await;
        Env {
            catalog,
            up,
            other,
            proxy,
        }
    }

    async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Got {
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("");
        get_host(self.proxy.addr, url, host, headers).await
    }

    /// [`Env::get`] listing `connectors` with `token` in
    /// `Proxy-Authorization`, followed by `extra` headers.
    async fn get_as(
        &self,
        connectors: &str,
        token: &str,
        url: &str,
        extra: &[(&str, &str)],
    ) -> Got {
        let pa = proxy_auth(connectors, token);
        let mut headers = vec![("proxy-authorization", pa.as_str())];
        headers.extend_from_slice(extra);
        self.get(url, &headers).await
    }

    /// `CONNECT authority` with `headers` on a fresh connection.
    async fn connect(&self, authority: &str, headers: &[(&str, &str)]) -> Got {
        let mut c = Conn::open(self.proxy.addr).await;
        c.send(request("CONNECT", authority, authority, headers))
            .await
    }

    fn up_url(&self, path: &str) -> String {
        format!("{}{path}", self.up.base())
    }

    fn other_url(&self, path: &str) -> String {
        format!("{}{path}", self.other.base())
    }
}

fn maven_basic() -> String {
    format!("Basic {}", b64(&format!("bot:{PASSWORD}")))
}

/// No header of `seen` carries the client token, in clear or inside Basic.
fn assert_no_client_token(seen: &Seen) {
    for (k, v) in &seen.headers {
        let v = String::from_utf8_lossy(v.as_bytes());
        assert!(!v.contains(TOKEN_A), "upstream saw the client token in {k}");
        if let Some(enc) = v.strip_prefix("Basic ") {
            use base64::Engine;
            let dec = base64::engine::general_purpose::STANDARD
                .decode(enc)
                .unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&dec).contains(TOKEN_A),
                "client token hidden in Basic of {k}"
            );
        }
    }
    assert!(!seen.target.contains(TOKEN_A));
}

/// `seen` carries none of the Connectors' credentials.
fn assert_no_credentials(seen: &Seen) {
    for (k, v) in &seen.headers {
        let v = String::from_utf8_lossy(v.as_bytes());
        assert!(
            v != maven_basic() && !v.contains(BEARER) && !v.contains(PASSWORD),
            "a credential went to an uncovered host in {k}"
        );
    }
    assert!(seen.headers.get("proxy-authorization").is_none());
    assert_no_client_token(seen);
}

#[tokio::test]
async fn covered_target_gets_the_credential_and_none_of_the_clients() {
    let env = Env::start().await;
    let r = env
        .get_as(
            "team-a/maven",
            TOKEN_A,
            &env.up_url("/repo/maven/org/a.jar?x=1"),
            &[
                ("authorization", "Basic dXNlcjpwYXNzd29yZA=="),
                ("private-token", "client-private"),
                ("x-keep", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.up.last();
    assert_eq!(seen.target, "/repo/maven/org/a.jar?x=1");
    let auth: Vec<_> = seen.headers.get_all("authorization").iter().collect();
    assert_eq!(auth, [maven_basic().as_str()], "replaced, not merged");
    assert!(seen.headers.get("proxy-authorization").is_none());
    assert!(seen.headers.get("private-token").is_none());
    assert_eq!(seen.headers["x-keep"], "1");
    assert_eq!(seen.headers["host"], env.up.addr.to_string().as_str());
    assert_no_client_token(&seen);
}

#[tokio::test]
async fn address_extension_is_covered() {
    let env = Env::start().await;
    let r = env
        .get_as(
            "team-a/maven",
            TOKEN_A,
            &env.up_url("/deploy/org/a.pom"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        env.up.last().headers["authorization"],
        maven_basic().as_str()
    );
}

#[tokio::test]
async fn prefixes_match_on_segment_boundaries_only() {
    let env = Env::start().await;
    for path in [
        "/repo/maven-evil/a.jar",
        "/repo/mavenx",
        "/deploy2/x",
        "/repo/maven/../../other/x",
        "/repo/maven/..%2F..%2Fother/x",
        "/repo/maven/%2e%2e%2fx",
        "/repo/maven/%2e%2e/x",
    ] {
        let r = env
            .get_as("team-a/maven", TOKEN_A, &env.up_url(path), &[])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let seen = env.up.last();
        assert!(
            seen.headers.get("authorization").is_none(),
            "{path} got a credential"
        );
        assert_no_client_token(&seen);
    }
    // Dot segments are resolved before matching and before forwarding.
    assert_eq!(env.up.last().target, "/repo/x");
}

#[tokio::test]
async fn longest_prefix_wins_across_the_list() {
    let env = Env::start().await;
    for user in ["team-a/mirror,team-a/maven", "team-a/maven, team-a/mirror"] {
        let r = env
            .get_as(user, TOKEN_A, &env.up_url("/repo/maven/a.jar"), &[])
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            env.up.last().headers["authorization"],
            maven_basic().as_str(),
            "{user}"
        );
        let r = env
            .get_as(user, TOKEN_A, &env.up_url("/repo/npm/x"), &[])
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            env.up.last().headers["authorization"],
            format!("Bearer {BEARER}").as_str(),
            "{user}"
        );
    }
    // Listed Connectors that do not exist are skipped.
    let r = env
        .get_as(
            "team-a/nope,team-a/maven",
            TOKEN_A,
            &env.up_url("/repo/maven/a.jar"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        env.up.last().headers["authorization"],
        maven_basic().as_str()
    );
}

#[tokio::test]
async fn uncovered_target_is_forwarded_without_credentials() {
    let env = Env::start().await;
    let r = env
        .get_as(
            "team-a/maven",
            TOKEN_A,
            &env.other_url("/x?q=1"),
            &[("authorization", "Bearer the-clients-own")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.other.last();
    assert_eq!(seen.target, "/x?q=1");
    // The client's own header towards a host it chose is its business.
    assert_eq!(seen.headers["authorization"], "Bearer the-clients-own");
    assert_no_credentials(&seen);
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn percent_encoded_and_literal_usernames() {
    let env = Env::start().await;
    for user in [
        "team-a%2Fmaven",
        "team-a%2fmaven",
        "team-a%2Fmirror,team-a%2Fmaven",
    ] {
        let r = env
            .get_as(user, TOKEN_A, &env.up_url("/repo/maven/a"), &[])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{user}: {}", r.text());
        assert_eq!(
            env.up.last().headers["authorization"],
            maven_basic().as_str(),
            "{user}"
        );
    }
}

#[tokio::test]
async fn missing_and_malformed_proxy_authorization_get_the_challenge() {
    let env = Env::start().await;
    let url = env.up_url("/repo/maven/a");
    let cases: Vec<Option<String>> = vec![
        None,
        Some(format!("Bearer {TOKEN_A}")),
        Some("Basic".into()),
        Some("Basic %%%".into()),
        Some(format!("Basic {}", b64("team-a/maven"))),
        Some(proxy_auth("team-a/maven", "")),
        Some(proxy_auth("team-a", TOKEN_A)),
        Some(proxy_auth("team-a/", TOKEN_A)),
        Some(proxy_auth("/maven", TOKEN_A)),
        Some(proxy_auth("Team-A/maven", TOKEN_A)),
        Some(proxy_auth("team-a/maven,", TOKEN_A)),
        Some(proxy_auth("team-a/maven", "not-a-known-token")),
        Some(format!("Basic {}", {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b'/', b':', b'x'])
        })),
        Some(format!(
            "Digest {}",
            b64(&format!("team-a/maven:{TOKEN_A}"))
        )),
    ];
    for case in cases {
        let headers: Vec<(&str, &str)> = match &case {
            Some(v) => vec![("proxy-authorization", v.as_str())],
            None => vec![],
        };
        let r = env.get(&url, &headers).await;
        assert_eq!(
            r.status,
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            "{case:?}: {}",
            r.text()
        );
        assert_eq!(
            r.headers["proxy-authenticate"],
            "Basic realm=\"connectors-proxy\""
        );
        assert!(r.headers.contains_key("x-request-id"));
        assert!(!r.text().contains(TOKEN_A), "{}", r.text());
    }
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn connect_without_valid_credentials_gets_the_challenge() {
    let env = Env::start().await;
    let authority = env.up.addr.to_string();
    for pa in [
        None,
        Some(proxy_auth("team-a/maven", "bad-token")),
        Some(proxy_auth("x", TOKEN_A)),
    ] {
        let headers: Vec<(&str, &str)> = match &pa {
            Some(v) => vec![("proxy-authorization", v.as_str())],
            None => vec![],
        };
        let r = env.connect(&authority, &headers).await;
        assert_eq!(r.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        assert_eq!(
            r.headers["proxy-authenticate"],
            "Basic realm=\"connectors-proxy\""
        );
    }
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn denied_namespace_is_403_and_nothing_is_sent() {
    let env = Env::start().await;
    let r = env
        .get_as("team-a/maven", TOKEN_B, &env.up_url("/repo/maven/a"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("team-a/maven"), "{}", r.text());
    assert_eq!(env.up.count(), 0);
    // An uncovered target needs no right on the Connector.
    let r = env
        .get_as("team-a/maven", TOKEN_B, &env.other_url("/y"), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_no_credentials(&env.other.last());
}

#[tokio::test]
async fn host_header_naming_a_covered_host_does_not_redirect_credentials() {
    let env = Env::start().await;
    let covered_host = env.up.addr.to_string();
    let r = get_host(
        env.proxy.addr,
        &env.other_url("/repo/maven/a.jar"),
        &covered_host,
        &[("proxy-authorization", &proxy_auth("team-a/maven", TOKEN_A))],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let seen = env.other.last();
    assert_no_credentials(&seen);
    assert_eq!(seen.headers["host"], env.other.addr.to_string().as_str());
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn redirect_to_another_host_is_returned_and_never_followed() {
    let env = Env::start().await;
    let to = env.other_url("/steal");
    let r = env
        .get_as(
            "team-a/maven",
            TOKEN_A,
            &env.up_url(&format!("/repo/maven/redirect?to={to}")),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        r.headers["location"],
        to.as_str(),
        "Location is not rewritten"
    );
    assert_eq!(
        env.up.last().headers["authorization"],
        maven_basic().as_str()
    );
    assert_eq!(env.other.count(), 0, "the proxy did not follow");
    // The client follows through the proxy: the other host gets nothing
    // the client did not send itself.
    let r = env.get_as("team-a/maven", TOKEN_A, &to, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(env.other.count(), 1);
    let seen = env.other.last();
    assert_no_credentials(&seen);
    assert!(seen.headers.get("authorization").is_none());
}

#[tokio::test]
async fn oversized_and_too_many_headers_are_431() {
    let env = Env::start().await;
    let pa = proxy_auth("team-a/maven", TOKEN_A);
    let url = env.up_url("/repo/maven/a");
    // Over the 64 KiB limit, under the parser's own bound: a text answer.
    let big = "v".repeat(70 * 1024);
    let r = env
        .get(&url, &[("proxy-authorization", &pa), ("x-big", &big)])
        .await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(r.text().contains("too large"), "{}", r.text());
    assert!(r.headers.contains_key("x-request-id"));
    // Far over: refused while parsing.
    let huge = "v".repeat(200 * 1024);
    let r = env
        .get(&url, &[("proxy-authorization", &pa), ("x-big", &huge)])
        .await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // More than 100 fields.
    let names: Vec<String> = (0..150).map(|i| format!("x-h{i}")).collect();
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    headers.push(("proxy-authorization", &pa));
    let r = env.get(&url, &headers).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn header_count_limit_is_configurable() {
    let config = connectors_proxy::ProxyConfig {
        max_request_headers: 20,
        ..test_config()
    };
    let env = Env::with_config(config).await;
    let pa = proxy_auth("team-a/maven", TOKEN_A);
    let names: Vec<String> = (0..30).map(|i| format!("x-h{i}")).collect();
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    headers.push(("proxy-authorization", &pa));
    let r = env.get(&env.up_url("/repo/maven/a"), &headers).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(r.text().contains("at most 20"), "{}", r.text());
    assert_eq!(env.up.count(), 0);
}

const KEY_EXTRACTOR: &str = r#"package proxy
default auth := {"token": ""}
auth := {"token": t} if {
  t := input.request.headers["X-Client-Key"][0]
  t != ""
}"#;

#[tokio::test]
async fn generator_and_extractor_in_forward_mode() {
    let env = Env::start().await;
    env.catalog.put_class(custom_class(
        "apikey",
        Some(KEY_EXTRACTOR),
        X_API_KEY_HEADER_GENERATOR,
    ));
    env.catalog
        .put_class(custom_class("querykey", None, API_KEY_QUERY_GENERATOR));
    env.catalog
        .put_secret(token_secret("team-a", "key", "k3y-v4lue"));
    for (name, class) in [("hdr", "apikey"), ("qry", "querykey")] {
        let address = env.up_url(&format!("/{name}"));
        env.catalog
            .put_connector(custom_connector("team-a", name, class, &address, "key"));
    }
    let r = env
        .get_as(
            "team-a/hdr",
            TOKEN_A,
            &env.up_url("/hdr/x"),
            &[
                ("x-client-key", "clients-key-value"),
                ("x-api-key", "clients-placeholder"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.up.last();
    assert_eq!(seen.headers["x-api-key"], "k3y-v4lue");
    assert_eq!(seen.headers.get_all("x-api-key").iter().count(), 1);
    assert!(
        seen.headers.get("x-client-key").is_none(),
        "the header the extractor reads is removed"
    );
    let r = env
        .get_as(
            "team-a/qry",
            TOKEN_A,
            &env.up_url("/qry/x?api_key=client&keep=1"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(env.up.last().target, "/qry/x?keep=1&api_key=k3y-v4lue");
}

#[tokio::test]
async fn client_token_never_reaches_an_uncovered_host() {
    let env = Env::start().await;
    let git_style = format!("Basic {}", b64(&format!(":{TOKEN_A}")));
    let r = env
        .get_as(
            "team-a/maven",
            TOKEN_A,
            &env.other_url("/x"),
            &[
                ("authorization", &git_style),
                ("x-token", TOKEN_A),
                ("x-bearer", &format!("Bearer {TOKEN_A}")),
                ("x-keep", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.other.last();
    for h in ["authorization", "x-token", "x-bearer"] {
        assert!(seen.headers.get(h).is_none(), "{h} reached the other host");
    }
    assert_eq!(seen.headers["x-keep"], "1");
    assert_no_credentials(&seen);
}

#[tokio::test]
async fn expired_and_forged_tokens_are_407_and_nothing_is_sent() {
    let env = Env::start().await;
    env.catalog
        .add_expired_token("tok-fwd-expired-77", "team-a", "builder");
    for token in ["tok-fwd-expired-77", "forged.jwt.value"] {
        for url in [env.up_url("/repo/maven/a"), env.other_url("/a")] {
            let r = env
                .get_as(
                    "team-a/maven",
                    token,
                    &url,
                    &[("authorization", "Bearer fake-token")],
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                "{token} {url}"
            );
            assert!(r.text().contains("token rejected"), "{}", r.text());
            assert!(!r.text().contains(token));
            assert_eq!(
                r.headers["proxy-authenticate"],
                "Basic realm=\"connectors-proxy\""
            );
        }
    }
    assert_eq!(env.up.count() + env.other.count(), 0);
}

#[tokio::test]
async fn only_unknown_connectors_listed_is_a_clear_4xx_and_nothing_is_sent() {
    let env = Env::start().await;
    for url in [env.up_url("/repo/maven/a"), env.other_url("/a")] {
        // The caller may use the namespace: the names do not exist.
        let r = env
            .get_as("team-a/nope,team-a/gone", TOKEN_A, &url, &[])
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
        assert!(
            r.text().contains("team-a/nope, team-a/gone"),
            "{}",
            r.text()
        );
        // The caller may not: 403, whether the name exists or not.
        for user in ["team-a/nope", "team-a/maven"] {
            let r = env.get_as(user, TOKEN_B, &url, &[]).await;
            let want = if user == "team-a/maven" && url.contains(&env.other.addr.to_string()) {
                // An existing Connector that does not cover the target
                // needs no right: forwarded without credentials.
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(r.status, want, "{user} {url}: {}", r.text());
        }
    }
    assert_eq!(env.up.count(), 0);
    assert_eq!(env.other.count(), 1);
    assert_no_credentials(&env.other.last());
    // CONNECT naming only unknown Connectors is refused before any tunnel.
    let authority = env.up.addr.to_string();
    let pa = proxy_auth("team-a/nope", TOKEN_A);
    let r = env
        .connect(&authority, &[("proxy-authorization", &pa)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
}

#[tokio::test]
async fn connect_with_malformed_proxy_authorization_is_407() {
    let env = Env::start().await;
    let authority = env.up.addr.to_string();
    env.catalog
        .add_expired_token("tok-connect-expired", "team-a", "builder");
    for pa in [
        "Basic %%%".to_string(),
        format!("Basic {}", b64("team-a/maven")),
        proxy_auth("", TOKEN_A),
        proxy_auth("team-a/maven", ""),
        proxy_auth("team-a/maven", "tok-connect-expired"),
        format!("Bearer {TOKEN_A}"),
    ] {
        let r = env
            .connect(&authority, &[("proxy-authorization", &pa)])
            .await;
        assert_eq!(r.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED, "{pa}");
        assert_eq!(
            r.headers["proxy-authenticate"],
            "Basic realm=\"connectors-proxy\""
        );
        assert!(!r.text().contains(TOKEN_A));
    }
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_in_forward_mode() {
    let env = Env::start().await;
    let r = env
        .get_as(
            "team-a/maven",
            TOKEN_A,
            &env.up_url("/repo/maven/hop"),
            &[
                ("connection", "keep-alive, x-hop-request"),
                ("x-hop-request", "1"),
                ("keep-alive", "timeout=5"),
                ("proxy-connection", "keep-alive"),
                ("te", "trailers"),
                ("trailer", "x-sum"),
                ("x-end-to-end", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = env.up.last();
    for h in [
        "x-hop-request",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
    ] {
        assert!(seen.headers.get(h).is_none(), "{h} reached the upstream");
    }
    assert_eq!(seen.headers["x-end-to-end"], "yes");
    assert_eq!(seen.headers["authorization"], maven_basic().as_str());
    for h in ["x-hop-response", "keep-alive", "proxy-authenticate"] {
        assert!(r.headers.get(h).is_none(), "{h} reached the client");
    }
    assert_eq!(r.headers["x-end-to-end"], "kept");
}
