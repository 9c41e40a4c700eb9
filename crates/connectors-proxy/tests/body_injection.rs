//! Credential generators that write into the request body (`position:
//! body`) and generators that read it (`input.request.body`), in reverse
//! and forward mode, against a tool that echoes the body it received.

mod support;

use http::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;
use support::*;

const SECRET: &str = "s3cr3t t&1";
const TOKEN_A: &str = "tok-body-a-7f21";

struct Env {
    up: TestUpstream,
    proxy: RunningProxy,
    _catalog: Arc<MemCatalog>,
}

impl Env {
    async fn start() -> Env {
        Env::with_config(test_config()).await
    }

    async fn with_config(config: connectors_proxy::ProxyConfig) -> Env {
        let catalog = MemCatalog::new();
        let up = TestUpstream::start().await;
        catalog.put_class(custom_class(
            "jsonbody",
            None,
            "package proxy\nauth := {\"position\": \"body\", \"contentType\": \"application/json\", \"auth\": {\"token\": input.data.token}}",
        ));
        catalog.put_class(custom_class("formbody", None, CLIENT_SECRET_BODY_GENERATOR));
        catalog.put_class(custom_class(
            "bodysig",
            None,
            "package proxy\nauth := {\"position\": \"header\", \"auth\": {\"X-Project\": input.request.body.project}}",
        ));
        catalog.put_secret(token_secret("team-a", "cred", SECRET));
        for (name, class) in [
            ("json", "jsonbody"),
            ("form", "formbody"),
            ("sig", "bodysig"),
        ] {
            catalog.put_connector(custom_connector("team-a", name, class, &up.base(), "cred"));
        }
        catalog.add_token(TOKEN_A, "team-a", "builder");
        let proxy = start_proxy(catalog.clone(), config).await;
        Env {
            up,
            proxy,
            _catalog: catalog,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.proxy.addr
    }

    /// A reverse-mode request to Connector `name` of team-a.
    async fn reverse(
        &self,
        method: &str,
        name: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> Got {
        let target = format!("/namespaces/team-a/connectors/{name}/api/echo");
        let auth = format!("Bearer {TOKEN_A}");
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        send(
            self.addr(),
            method,
            &target,
            &self.addr().to_string(),
            &headers,
            body,
        )
        .await
    }
}

async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Got {
    let req = request_with_body(method, target, host, headers, body.to_string());
    Conn::open(addr).await.send(req).await
}

#[tokio::test]
async fn json_body_gets_the_credential_field_in_place_of_the_clients() {
    let env = Env::start().await;
    let r = env
        .reverse(
            "POST",
            "json",
            Some("application/json; charset=utf-8"),
            r#"{"query":"x","token":"client-own","n":[1,2]}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let expected = format!(r#"{{"query":"x","token":"{SECRET}","n":[1,2]}}"#);
    assert_eq!(r.text(), expected);
    let seen = env.up.last();
    assert_eq!(seen.headers["content-length"], expected.len().to_string());
    assert_eq!(
        seen.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert!(seen.headers.get("authorization").is_none());
    assert!(seen.headers.get("transfer-encoding").is_none());
}

#[tokio::test]
async fn form_body_keeps_other_fields_byte_for_byte() {
    let env = Env::start().await;
    let r = env
        .reverse(
            "POST",
            "form",
            Some("application/x-www-form-urlencoded"),
            "a=1&client_secret=mine&b=%2F+x",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), "a=1&b=%2F+x&client_secret=s3cr3t+t%261");
}

#[tokio::test]
async fn a_request_without_body_gets_one_made_of_the_credential() {
    let env = Env::start().await;
    let r = env.reverse("GET", "json", None, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), format!(r#"{{"token":"{SECRET}"}}"#));
    let seen = env.up.last();
    assert_eq!(seen.headers["content-type"], "application/json");
    // An empty body said to be another type: it is JSON now, and says so.
    let r = env.reverse("POST", "json", Some("text/plain"), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), format!(r#"{{"token":"{SECRET}"}}"#));
    assert_eq!(env.up.last().headers["content-type"], "application/json");
}

#[tokio::test]
async fn bodies_that_cannot_take_the_credential_are_refused_and_nothing_is_sent() {
    let env = Env::start().await;
    let cases = [
        ("json", Some("text/plain"), "hello", "text/plain"),
        ("json", Some("application/json"), "[1,2]", "JSON array"),
        (
            "json",
            Some("application/json"),
            "{\"a\":",
            "not valid JSON",
        ),
        (
            "json",
            Some("application/x-www-form-urlencoded"),
            "a=1",
            "the request body is application/x-www-form-urlencoded",
        ),
        ("form", None, "", "names a media type"),
    ];
    for (name, ct, body, why) in cases {
        let r = env.reverse("POST", name, ct, body).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_GATEWAY,
            "{name} {ct:?}: {}",
            r.text()
        );
        let text = r.text();
        assert!(text.contains(why), "{name} {ct:?}: {text}");
        assert!(text.contains("class "), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
    assert_eq!(env.up.count(), 0);
}

#[tokio::test]
async fn a_body_over_the_inspection_limit_is_refused() {
    let config = connectors_proxy::ProxyConfig {
        max_inspected_body_bytes: 64,
        ..test_config()
    };
    let env = Env::with_config(config).await;
    let long = format!(r#"{{"pad":"{}"}}"#, "x".repeat(100));
    let r = env
        .reverse("POST", "json", Some("application/json"), &long)
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text());
    assert!(r.text().contains("longer than 64 bytes"), "{}", r.text());
    assert_eq!(env.up.count(), 0);
    // Within the limit it goes through.
    let r = env
        .reverse("POST", "json", Some("application/json"), "{}")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn a_generator_reads_the_json_body_which_reaches_the_tool_unchanged() {
    let env = Env::start().await;
    let body = "{ \"project\": \"p-7\",  \"x\": 1 }\n";
    let r = env
        .reverse("POST", "sig", Some("application/json"), body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), body);
    assert_eq!(env.up.last().headers["x-project"], "p-7");
    // Not JSON: the generator sees no body and injects nothing.
    let r = env.reverse("POST", "sig", Some("text/plain"), body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), body);
    assert!(env.up.last().headers.get("x-project").is_none());
}

#[tokio::test]
async fn forward_mode_merges_into_the_body_for_a_covered_target() {
    let env = Env::start().await;
    let target = format!("{}/api/echo", env.up.base());
    let auth = proxy_auth("team-a/json", TOKEN_A);
    let r = send(
        env.addr(),
        "POST",
        &target,
        &env.up.addr.to_string(),
        &[
            ("proxy-authorization", &auth),
            ("content-type", "application/json"),
        ],
        r#"{"q":1}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), format!(r#"{{"q":1,"token":"{SECRET}"}}"#));
    let seen = env.up.last();
    assert!(seen.headers.get("proxy-authorization").is_none());
}
