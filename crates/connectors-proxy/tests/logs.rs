//! Nothing secret reaches the logs, even at debug level.

mod support;

use http::StatusCode;
use support::*;

#[tokio::test]
async fn debug_log_has_no_token_and_no_secret() {
    let buf = Buffer::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(buf.clone())
        .with_ansi(false)
        .init();

    const PASSWORD: &str = "pw-never-logged-5c1b";
    const TOKEN: &str = "token-never-logged-93ad";
    let catalog = MemCatalog::with_classes(&["git"]);
    let up = TestUpstream::start().await;
    catalog.put_secret(basic_auth_secret("team-a", "cred", "bot", PASSWORD));
    catalog.put_connector(git_connector("team-a", "git", &up.base(), Some("cred")));
    catalog.add_token(TOKEN, "team-a", "builder");
    let proxy = start_proxy(catalog.clone(), test_config()).await;

    let auth = format!("Basic {}", b64(&format!(":{TOKEN}")));
    let r = get(
        proxy.addr,
        "/namespaces/team-a/connectors/git/repo.git/info/refs?service=git-upload-pack&secret=q",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = get(
        proxy.addr,
        "/namespaces/team-b/connectors/git/x",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = get(
        proxy.addr,
        "/namespaces/team-a/connectors/git/x",
        &[("authorization", "Bearer wrong-token-77aa")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    catalog.remove_secret("team-a", "cred");
    let r = get(
        proxy.addr,
        "/namespaces/team-a/connectors/git/x",
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    proxy.shutdown().await.unwrap();

    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("proxied request"),
        "request lines are logged:\n{text}"
    );
    assert!(text.contains("/repo.git/info/refs"), "{text}");
    let basic_of_secret = b64(&format!("bot:{PASSWORD}"));
    for needle in [
        PASSWORD,
        TOKEN,
        "wrong-token-77aa",
        &basic_of_secret,
        &b64(&format!(":{TOKEN}")),
        "secret=q",
    ] {
        assert!(!text.contains(needle), "log contains {needle}:\n{text}");
    }
}
