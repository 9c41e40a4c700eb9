//! CONNECT to a host none of the listed Connectors covers. There is no
//! blind tunnel: the proxy intercepts as for a covered host (the tool is
//! verified against the system roots, here a private CA through
//! `SSL_CERT_FILE`), and forwards each request without any Connector
//! credential and without headers carrying the client's token (spec 02
//! §6.4). A request inside such a tunnel naming a covered host is refused
//! with 421, so it cannot borrow that host's credential.

mod support;

use http::StatusCode;
use support::*;

const BEARER: &str = "uncovered-bearer-51c3";
const TOKEN: &str = "tok-uncovered-a-3e8b";

#[tokio::test]
async fn uncovered_host_is_intercepted_and_gets_no_credential() {
    let trusted = pki();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &trusted.ca_pem).unwrap();
    std::env::set_var("SSL_CERT_FILE", &bundle);

    let covered = TlsUpstream::start(&trusted).await;
    let uncovered = TlsUpstream::start(&trusted).await;
    let catalog = MemCatalog::with_classes(&["k8s"]);
    catalog.put_secret(bearer_token_secret("team-a", "kube", BEARER));
    let address = format!("https://127.0.0.1:{}", covered.addr.port());
    catalog.put_connector(k8s_connector("team-a", "k8s", &address, Some("kube")));
    catalog.add_token(TOKEN, "team-a", "builder");
    let proxy = start_proxy(catalog, test_config()).await;
    let elsewhere = format!("127.0.0.1:{}", uncovered.addr.port());
    let covered_authority = format!("127.0.0.1:{}", covered.addr.port());

    for alpn in [&[&b"http/1.1"[..]][..], &[&b"h2"[..], &b"http/1.1"[..]][..]] {
        let mut t = open_tunnel_as(&proxy, &elsewhere, "team-a/k8s", TOKEN, alpn).await;
        let git_style = format!("Basic {}", b64(&format!(":{TOKEN}")));
        let r = t
            .get(
                &elsewhere,
                "/api?x=1",
                &[("authorization", &git_style), ("x-keep", "1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let seen = uncovered.last();
        assert_eq!(seen.target, "/api?x=1");
        assert!(seen.headers.get("authorization").is_none());
        assert!(seen.headers.get("proxy-authorization").is_none());
        assert_eq!(seen.headers["x-keep"], "1");
        for (k, v) in &seen.headers {
            let v = String::from_utf8_lossy(v.as_bytes());
            assert!(!v.contains(BEARER) && !v.contains(TOKEN), "{k}");
        }
        // The client's own placeholder towards a host it chose is kept.
        let r = t
            .get(&elsewhere, "/own", &[("authorization", "Bearer own-key")])
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(uncovered.last().headers["authorization"], "Bearer own-key");
        // Naming the covered host inside this tunnel does not reach it.
        let r = t
            .get(
                &covered_authority,
                "/api",
                &[("authorization", "Bearer fake")],
            )
            .await;
        assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST, "{}", r.text());
    }
    assert_eq!(covered.count(), 0, "the covered tool was never contacted");
    assert_eq!(uncovered.count(), 4);
}
