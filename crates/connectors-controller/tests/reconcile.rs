//! Connector conditions computed against real HTTP(S) tools and a real local
//! catalog.

use connectors_catalog::local::{LocalCatalog, LocalOptions};
use connectors_catalog::Catalog;
use connectors_controller::{
    observe_connector, ProbeClient, ProxyAddressing, Reconciler, ReconcilerConfig,
};
use connectors_types::connector::ConnectorStatus;
use connectors_types::{Condition, ConditionStatus};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const PAT: &str = "glpat-good-token";

/// A tiny GitLab-like tool: `/` answers 200, `/api/v4/user` answers 200 with
/// the right `Private-Token` and 401 otherwise.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(stream: S) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.is_err() {
        return;
    }
    let mut token = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("private-token") {
                token = Some(v.trim().to_string());
            }
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let status = match path {
        "/" => "200 OK",
        "/api/v4/user" if token.as_deref() == Some(PAT) => "200 OK",
        "/api/v4/user" => "401 Unauthorized",
        _ => "404 Not Found",
    };
    let resp = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    let _ = reader.get_mut().write_all(resp.as_bytes()).await;
    let _ = reader.get_mut().shutdown().await;
}

async fn http_tool() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(answer(s));
        }
    });
    addr
}

/// The same tool over TLS with a certificate from a private CA; returns the
/// address and the CA PEM.
async fn https_tool() -> (SocketAddr, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    answer(tls).await;
                }
            });
        }
    });
    (addr, ca.pem())
}

fn write(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

fn gitlab(address: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {{name: gl, namespace: team-a}}\nspec:\n  connectorClassName: gitlab\n  address: {address}\n  auth: {{name: patAuth, secretRef: {{name: pat}}}}\n{extra_spec}"
    )
}

fn pat_secret(token: &str) -> String {
    format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: pat, namespace: team-a}}\ntype: connectors.cpaas.io/gitlab-pat-auth\nstringData: {{token: {token}}}\n")
}

struct Env {
    tmp: tempfile::TempDir,
    catalog: Arc<LocalCatalog>,
}

impl Env {
    fn config(&self) -> std::path::PathBuf {
        self.tmp.path().join("config")
    }
}

async fn env(files: &[(&str, String)]) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    for (name, text) in files {
        write(&config, name, text);
    }
    let catalog = LocalCatalog::start(
        &config,
        &tmp.path().join("data"),
        LocalOptions {
            rescan_interval: Duration::from_millis(200),
            debounce: Duration::from_millis(50),
        },
    )
    .unwrap();
    Env { tmp, catalog }
}

fn addressing() -> ProxyAddressing {
    ProxyAddressing::Standalone {
        base: "http://127.0.0.1:7480".into(),
    }
}

async fn observe(e: &Env) -> ConnectorStatus {
    let snap = e.catalog.snapshot();
    let c = snap.connector("team-a", "gl").unwrap();
    let client = ProbeClient::new(Duration::from_secs(5)).unwrap();
    observe_connector(
        &snap,
        c,
        &addressing(),
        &client,
        true,
        "2026-01-01T00:00:00Z",
    )
    .await
}

fn cond<'a>(s: &'a ConnectorStatus, t: &str) -> &'a Condition {
    s.conditions
        .iter()
        .find(|c| c.type_ == t)
        .unwrap_or_else(|| panic!("no {t} in {:#?}", s.conditions))
}

#[tokio::test]
async fn a_healthy_connector_is_ready_with_a_path_form_proxy_address() {
    let tool = http_tool().await;
    let e = env(&[
        ("s.yaml", pat_secret(PAT)),
        ("c.yaml", gitlab(&format!("http://{tool}"), "")),
    ])
    .await;
    let s = observe(&e).await;
    for t in [
        "ConnectorClassReady",
        "SecretReady",
        "LivenessReady",
        "AuthReady",
        "ProxyServiceReady",
        "Ready",
    ] {
        assert_eq!(
            cond(&s, t).status,
            ConditionStatus::True,
            "{t}: {:#?}",
            s.conditions
        );
    }
    assert_eq!(
        s.proxy.unwrap().http_address.unwrap().url.unwrap(),
        "http://127.0.0.1:7480/namespaces/team-a/connectors/gl"
    );
    assert_eq!(s.observed_generation, Some(1));
}

#[tokio::test]
async fn a_refused_credential_fails_auth_with_the_status_code() {
    let tool = http_tool().await;
    let e = env(&[
        ("s.yaml", pat_secret("glpat-wrong")),
        ("c.yaml", gitlab(&format!("http://{tool}"), "")),
    ])
    .await;
    let s = observe(&e).await;
    let auth = cond(&s, "AuthReady");
    assert_eq!(auth.status, ConditionStatus::False);
    assert_eq!(auth.reason.as_deref(), Some("AuthenticationFailed"));
    assert_eq!(
        auth.message.as_deref(),
        Some("Authentication failed: status code 401")
    );
    let ready = cond(&s, "Ready");
    assert_eq!(ready.reason.as_deref(), Some("AuthenticationFailed"));
    assert!(
        !format!("{s:?}").contains("glpat-wrong"),
        "no secret in status"
    );
}

#[tokio::test]
async fn missing_secret_skips_the_auth_probe_and_missing_class_is_reported() {
    let tool = http_tool().await;
    let e = env(&[("c.yaml", gitlab(&format!("http://{tool}"), ""))]).await;
    let s = observe(&e).await;
    let secret = cond(&s, "SecretReady");
    assert_eq!(secret.reason.as_deref(), Some("SecretNotFound"));
    assert!(secret
        .message
        .as_deref()
        .unwrap()
        .contains("secrets \"pat\" not found"));
    assert_eq!(cond(&s, "AuthReady").status, ConditionStatus::Unknown);
    assert_eq!(cond(&s, "LivenessReady").status, ConditionStatus::True);

    let e = env(&[(
        "c.yaml",
        gitlab("http://127.0.0.1:1", "").replace("gitlab\n", "nexus\n"),
    )])
    .await;
    let s = observe(&e).await;
    assert_eq!(
        cond(&s, "Ready").reason.as_deref(),
        Some("ConnectorClassNotFound")
    );
}

#[tokio::test]
async fn an_unreachable_tool_fails_liveness() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = env(&[
        ("s.yaml", pat_secret(PAT)),
        ("c.yaml", gitlab(&format!("http://{closed}"), "")),
    ])
    .await;
    let s = observe(&e).await;
    let live = cond(&s, "LivenessReady");
    assert_eq!(live.status, ConditionStatus::False);
    assert_eq!(live.reason.as_deref(), Some("ConnectionFailed"));
    assert!(live
        .message
        .as_deref()
        .unwrap()
        .contains(&closed.to_string()));
}

#[tokio::test]
async fn a_private_ca_from_the_connector_secret_is_trusted_for_probes() {
    let (tool, ca_pem) = https_tool().await;
    let ca_secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: tool-ca, namespace: team-a}}\ntype: Opaque\nstringData:\n  ca.crt: |\n{}",
        ca_pem.lines().map(|l| format!("    {l}\n")).collect::<String>()
    );
    let without = env(&[
        ("s.yaml", pat_secret(PAT)),
        ("c.yaml", gitlab(&format!("https://{tool}"), "")),
    ])
    .await;
    let s = observe(&without).await;
    assert_eq!(cond(&s, "LivenessReady").status, ConditionStatus::False);

    let with = env(&[
        ("s.yaml", pat_secret(PAT)),
        ("ca.yaml", ca_secret),
        (
            "c.yaml",
            gitlab(
                &format!("https://{tool}"),
                "  caCertSecretRef: {name: tool-ca}\n",
            ),
        ),
    ])
    .await;
    let s = observe(&with).await;
    assert_eq!(
        cond(&s, "Ready").status,
        ConditionStatus::True,
        "{:#?}",
        s.conditions
    );
    let ca = cond(&s, "CACertReady");
    assert_eq!(ca.reason.as_deref(), Some("Valid"));
    assert_eq!(ca.severity.as_deref(), Some("Info"));
}

#[tokio::test]
async fn the_loop_writes_status_and_reprobes_when_the_secret_changes() {
    let tool = http_tool().await;
    let e = env(&[
        ("s.yaml", pat_secret("glpat-wrong")),
        ("c.yaml", gitlab(&format!("http://{tool}"), "")),
    ])
    .await;
    let catalog: Arc<dyn Catalog> = e.catalog.clone();
    let reconciler = Reconciler::new(
        catalog.clone(),
        ReconcilerConfig {
            addressing: addressing(),
            probe_timeout: Duration::from_secs(5),
            ..ReconcilerConfig::default()
        },
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(reconciler.run(async {
        let _ = stopped.await;
    }));

    let ready_reason = |c: &Arc<dyn Catalog>| {
        c.snapshot()
            .connector("team-a", "gl")
            .and_then(|c| c.ready_condition().cloned())
            .map(|r| (r.status, r.reason))
    };
    let wait_for = |want: (ConditionStatus, Option<String>)| {
        let c = catalog.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if ready_reason(&c) == Some(want.clone()) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "waited for {want:?}, have {:?}",
                    ready_reason(&c)
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for((ConditionStatus::False, Some("AuthenticationFailed".into()))).await;
    write(&e.config(), "s.yaml", &pat_secret(PAT));
    wait_for((ConditionStatus::True, None)).await;
    let class = catalog.snapshot().class("gitlab").unwrap().clone();
    assert!(class.ready_condition().is_some(), "class status written");
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("reconciler stops on shutdown")
        .unwrap();
}
