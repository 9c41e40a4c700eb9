//! Metrics on their own listener and one audit record per request (tracing
//! event and JSON-lines file), never carrying tokens, secrets or queries.

mod support;

use http::StatusCode;
use std::sync::OnceLock;
use std::time::Duration;
use support::*;

const PASSWORD: &str = "obs-pass-2f7e";
const BEARER: &str = "obs-bearer-c41d";
const TOKEN: &str = "tok-obs-88a3";

fn logs() -> &'static Buffer {
    static LOGS: OnceLock<Buffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Buffer::default();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(buf.clone())
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .init();
        buf
    })
}

fn audit_records(request_ids: &[String]) -> Vec<serde_json::Value> {
    let text = String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == connectors_proxy::AUDIT_TARGET)
        .filter(|v| {
            request_ids.is_empty()
                || request_ids
                    .iter()
                    .any(|id| v["request_id"].as_str() == Some(id.as_str()))
        })
        .collect()
}

struct Env {
    up: TestUpstream,
    proxy: RunningProxy,
    tls: TlsUpstream,
    audit_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let audit_file = dir.path().join("audit.jsonl");
    let catalog = MemCatalog::with_classes(&["git", "k8s"]);
    let up = TestUpstream::start().await;
    let p = pki();
    let tls = TlsUpstream::start(&p).await;
    catalog.put_secret(basic_auth_secret("team-a", "cred", "bot", PASSWORD));
    catalog.put_secret(bearer_token_secret("team-a", "kube", BEARER));
    catalog.put_secret(ca_secret("team-a", "ca", &p.ca_pem));
    catalog.put_connector(git_connector("team-a", "git", &up.base(), Some("cred")));
    let address = format!("https://127.0.0.1:{}", tls.addr.port());
    let k8s = k8s_connector("team-a", "k8s", &address, Some("kube"));
    catalog.put_connector(with_ca_secret(k8s, "ca"));
    catalog.add_token(TOKEN, "team-a", "builder");
    let config = connectors_proxy::ProxyConfig {
        audit_file: Some(audit_file.clone()),
        ..test_config()
    };
    let proxy = start_proxy(catalog, config).await;
    Env {
        up,
        proxy,
        tls,
        audit_file,
        _dir: dir,
    }
}

/// Runs a mix of requests; returns the request ids the proxy gave back on
/// its own answers and the number of requests made.
async fn traffic(env: &Env) -> usize {
    let pa = proxy_auth("team-a/git", TOKEN);
    let bearer = format!("Bearer {TOKEN}");
    let r = get(
        env.proxy.addr,
        "/namespaces/team-a/connectors/git/repo.git/info/refs?service=git-upload-pack&secret=q",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let url = format!("{}/covered?secret=q", env.up.base());
    let r = get_host(
        env.proxy.addr,
        &url,
        &env.up.addr.to_string(),
        &[("proxy-authorization", &pa)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get_host(env.proxy.addr, &url, &env.up.addr.to_string(), &[]).await;
    assert_eq!(r.status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    let tool = format!("127.0.0.1:{}", env.tls.addr.port());
    let mut t = open_tunnel_as(&env.proxy, &tool, "team-a/k8s", TOKEN, &[b"h2"]).await;
    let r = t
        .get(
            &tool,
            "/api?token=q",
            &[("authorization", "Bearer fake-token")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // reverse, forward, forward 407, CONNECT, one request in the tunnel.
    5
}

async fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let text = String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned();
    panic!(
        "condition not reached; logs:\n{}",
        text.chars().take(4000).collect::<String>()
    );
}

#[tokio::test]
async fn one_audit_record_per_request_without_secrets() {
    logs();
    let env = env().await;
    let n = traffic(&env).await;
    let port_tag = env.up.addr.port().to_string();
    let tls_tag = env.tls.addr.port().to_string();
    let records = wait_for(|| {
        let all = audit_records(&[]);
        let mine: Vec<_> = all
            .into_iter()
            .filter(|v| {
                let h = v["upstream_host"].as_str().unwrap_or("");
                h.ends_with(&port_tag) || h.ends_with(&tls_tag)
            })
            .collect();
        (mine.len() >= n).then_some(mine)
    })
    .await;
    assert_eq!(records.len(), n, "{records:#?}");
    for r in &records {
        for field in [
            "request_id",
            "subject",
            "connector",
            "class",
            "mode",
            "method",
            "upstream_host",
            "path",
            "status",
            "bytes_in",
            "bytes_out",
            "duration_ms",
        ] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
        assert_eq!(r["level"], "INFO");
    }
    let by_mode = |m: &str, status: u64| {
        records
            .iter()
            .filter(|r| r["mode"] == m && r["status"] == status)
            .count()
    };
    assert_eq!(by_mode("reverse", 200), 1);
    assert_eq!(by_mode("forward", 200), 1);
    assert_eq!(by_mode("forward", 407), 1);
    assert_eq!(by_mode("connect", 200), 2);
    let fwd = records
        .iter()
        .find(|r| r["mode"] == "forward" && r["status"] == 200)
        .unwrap();
    assert_eq!(fwd["connector"], "team-a/git");
    assert_eq!(fwd["class"], "git");
    assert_eq!(fwd["subject"], "system:serviceaccount:team-a:builder");
    assert_eq!(fwd["path"], "/covered");
    let inner = records
        .iter()
        .find(|r| r["mode"] == "connect" && r["method"] == "GET")
        .unwrap();
    assert_eq!(inner["connector"], "team-a/k8s");
    assert_eq!(inner["path"], "/api");
    let denied = records.iter().find(|r| r["status"] == 407).unwrap();
    assert_eq!(denied["connector"], "none");

    let file_lines = wait_for(|| {
        let text = std::fs::read_to_string(&env.audit_file).unwrap_or_default();
        (text.lines().count() >= n).then_some(text)
    })
    .await;
    assert_eq!(file_lines.lines().count(), n);
    for l in file_lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
    }

    let all = String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned() + &file_lines;
    for needle in [
        TOKEN,
        PASSWORD,
        BEARER,
        "fake-token",
        "secret=q",
        "token=q",
        &b64(&format!("bot:{PASSWORD}")),
    ] {
        assert!(!all.contains(needle), "logs contain {needle}");
    }
}

#[tokio::test]
async fn metrics_listener_serves_counters_and_health() {
    logs();
    let env = env().await;
    traffic(&env).await;
    // A closed port: an upstream connect error.
    let closed = closed_port();
    let r = get_host(
        env.proxy.addr,
        &format!("http://{closed}/x"),
        &closed.to_string(),
        &[("proxy-authorization", &proxy_auth("team-a/git", TOKEN))],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let maddr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(env.proxy.proxy.clone().serve_metrics(listener, async move {
        let _ = rx.await;
    }));
    let body = wait_for_metrics(maddr).await;
    for line in [
        "connectors_proxy_requests_total{mode=\"reverse\",class=\"git\",code=\"200\"} 1",
        "connectors_proxy_requests_total{mode=\"forward\",class=\"git\",code=\"200\"} 1",
        "connectors_proxy_requests_total{mode=\"forward\",class=\"none\",code=\"407\"} 1",
        "connectors_proxy_requests_total{mode=\"connect\",class=\"k8s\",code=\"200\"} 1",
        "connectors_proxy_requests_total{mode=\"connect\",class=\"none\",code=\"200\"} 1",
        "connectors_proxy_request_duration_seconds_count{mode=\"forward\"} 3",
        "connectors_proxy_leaf_certificates 1",
        "connectors_proxy_auth_cache_misses_total{cache=\"identity\"}",
        "connectors_proxy_auth_cache_hits_total{cache=\"decision\"}",
        "connectors_proxy_auth_cache_hit_ratio",
        "connectors_proxy_response_bytes_total{mode=\"reverse\",class=\"git\"}",
        "connectors_proxy_upstream_errors_total{class=\"none\",kind=\"connect\"} 1",
    ] {
        assert!(body.contains(line), "missing {line}:\n{body}");
    }
    assert!(!body.contains(TOKEN) && !body.contains(PASSWORD));
    let r = get(maddr, "/healthz", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ok\n"));
    let r = get(maddr, "/other", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let _ = tx.send(());
    task.await.unwrap().unwrap();
}

/// Scrapes until the last request of the traffic is counted.
async fn wait_for_metrics(addr: std::net::SocketAddr) -> String {
    for _ in 0..200 {
        let r = get(addr, "/metrics", &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers["content-type"].to_str().unwrap().contains("text"));
        let body = r.text();
        if body.contains("mode=\"connect\",class=\"k8s\",code=\"200\"} 1")
            && body.contains("mode=\"reverse\",class=\"git\",code=\"200\"} 1")
        {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("metrics never showed the requests");
}

/// Requests the listener's fast path gives to the general server (an
/// unknown Connector, an `Expect` request) are recorded once, by the server
/// that answers them, like the ones it answers itself.
#[tokio::test]
async fn every_request_is_audited_once_whichever_path_answers() {
    let env = env().await;
    let bearer = format!("Bearer {TOKEN}");
    let answered = [
        (
            "/namespaces/team-a/connectors/nope/x",
            &[][..],
            StatusCode::NOT_FOUND,
        ),
        (
            "/namespaces/team-a/connectors/git/x",
            &[("expect", "100-continue")][..],
            StatusCode::OK,
        ),
        (
            "/namespaces/team-a/connectors/git/y",
            &[][..],
            StatusCode::OK,
        ),
        (
            "/namespaces/team-a/connectors/git/z",
            &[("authorization", "Bearer wrong")][..],
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (path, extra, want) in answered {
        let mut headers = vec![("authorization", bearer.as_str())];
        headers.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        headers.extend_from_slice(extra);
        let r = get(env.proxy.addr, path, &headers).await;
        assert_eq!(r.status, want, "{path}");
    }
    let text = wait_for(|| {
        let text = std::fs::read_to_string(&env.audit_file).unwrap_or_default();
        (text.lines().count() >= answered.len()).then_some(text)
    })
    .await;
    // Give a stray second record time to appear.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = std::fs::read_to_string(&env.audit_file).unwrap_or(text);
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), answered.len(), "{records:#?}");
    let statuses: Vec<u64> = records
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    for (_, _, want) in answered {
        assert!(statuses.contains(&u64::from(want.as_u16())), "{statuses:?}");
    }
}
