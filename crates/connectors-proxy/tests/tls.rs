//! Upstream TLS is verified against the system roots, which honour
//! `SSL_CERT_FILE` (a private CA here).

mod support;

use http::StatusCode;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use support::*;

async fn tls_upstream(p: &Pki) -> SocketAddr {
    let config = p.server_config();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    serve_loopback(move |tcp| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                let auth = req
                    .headers()
                    .get("authorization")
                    .map(|v| v.to_str().unwrap_or("").to_string())
                    .unwrap_or_default();
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from(format!("tls {} {auth}", req.uri().path())),
                )))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        }
    })
    .await
}

#[tokio::test]
async fn verified_with_ssl_cert_file_and_refused_otherwise() {
    let trusted = pki();
    let untrusted = pki();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &trusted.ca_pem).unwrap();
    std::env::set_var("SSL_CERT_FILE", &bundle);

    let good = tls_upstream(&trusted).await;
    let bad = tls_upstream(&untrusted).await;
    let plain = plain_upstream().await;
    let catalog = MemCatalog::with_classes(&["git"]);
    catalog.put_secret(basic_auth_secret("team-a", "cred", "u", "p4ssw0rd"));
    for (name, address) in [
        ("good", format!("https://localhost:{}/scm", good.port())),
        ("bad", format!("https://localhost:{}", bad.port())),
        ("plain", format!("https://localhost:{}", plain.port())),
    ] {
        catalog.put_connector(git_connector("team-a", name, &address, Some("cred")));
    }
    catalog.add_token("tok-tls-1", "team-a", "sa");
    for fast in [true, false] {
        let config = connectors_proxy::ProxyConfig {
            http1_fast_path: fast,
            ..test_config()
        };
        let proxy = start_proxy(catalog.clone(), config).await;
        check_upstreams(&proxy).await;
    }
}

/// A server that answers anything with plain HTTP, not TLS.
async fn plain_upstream() -> SocketAddr {
    serve_loopback(|mut tcp| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = [0u8; 1024];
        let _ = tcp.read(&mut buf).await;
        let _ = tcp
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
    })
    .await
}

/// `good` answers through TLS; `bad` has a certificate from another CA and
/// `plain` does not speak TLS: both are 502s whose text says what to do.
async fn check_upstreams(proxy: &RunningProxy) {
    let auth = "Bearer tok-tls-1";
    let r = get(
        proxy.addr,
        "/namespaces/team-a/connectors/good/x",
        &[("authorization", auth)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.text(), format!("tls /scm/x Basic {}", b64("u:p4ssw0rd")));

    let r = get(
        proxy.addr,
        "/namespaces/team-a/connectors/bad/x",
        &[("authorization", auth)],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let text = r.text();
    assert!(
        text.contains("unreachable") && text.contains("TLS"),
        "{text}"
    );
    assert!(text.contains("spec.caCertSecretRef"), "{text}");
    assert!(!text.contains("p4ssw0rd"));

    let r = get(
        proxy.addr,
        "/namespaces/team-a/connectors/plain/x",
        &[("authorization", auth)],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let text = r.text();
    assert!(text.contains("did not answer in TLS"), "{text}");
    assert!(!text.contains("caCertSecretRef"), "{text}");
}
