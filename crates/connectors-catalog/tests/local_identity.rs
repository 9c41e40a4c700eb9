//! Local tokens and policy through the `Catalog` trait, with the key file
//! a real first start creates.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use connectors_catalog::local::{
    LocalCatalog, LocalOptions, TokenIssuer, AUDIENCE, ISSUER, SIGNING_KEY_FILE,
};
use connectors_catalog::{AccessCheck, AuthError, Catalog, Decision};
use ring::signature::Ed25519KeyPair;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Env {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    catalog: Arc<LocalCatalog>,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    // Nested and missing, as `--data ./.connectors` on a first start.
    let data = tmp.path().join("state/.connectors");
    let catalog = LocalCatalog::start(&config, &data, LocalOptions::default()).unwrap();
    Env {
        _tmp: tmp,
        data,
        catalog,
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs `claims` with the key file of `data`, as the issuer would, so that
/// only the claims differ from a real token.
fn sign_with_key_file(data: &Path, kid: &str, claims: &serde_json::Value) -> String {
    let pem = std::fs::read_to_string(data.join(SIGNING_KEY_FILE)).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = Ed25519KeyPair::from_pkcs8(&STANDARD.decode(b64).unwrap()).unwrap();
    let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    let sig = key.sign(format!("{h}.{p}").as_bytes());
    format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

fn claims(ns: &str, name: &str, nbf: u64, exp: u64, aud: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER,
        "sub": format!("system:serviceaccount:{ns}:{name}"),
        "aud": aud,
        "iat": nbf, "nbf": nbf, "exp": exp,
        "jti": "test",
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name}},
    })
}

async fn unauthenticated(catalog: &LocalCatalog, token: &str) -> String {
    match catalog.authenticate(token).await {
        Err(AuthError::Unauthenticated(m)) => {
            assert!(
                token.len() < 8 || !m.contains(token),
                "the error quotes the token: {m}"
            );
            m
        }
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
}

#[tokio::test]
async fn first_start_creates_a_private_key_that_later_processes_share() {
    let e = env();
    let key = e.data.join(SIGNING_KEY_FILE);
    assert_eq!(mode(&e.data), 0o700);
    assert_eq!(mode(&key), 0o600);
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));

    // `connectors token issue` loads the same key and its tokens pass the
    // running catalog.
    let cli = TokenIssuer::load(&e.data).unwrap();
    assert_eq!(cli.key_id(), e.catalog.issuer().key_id());
    let t = cli
        .issue("team-a", "ci", Duration::from_secs(1800))
        .unwrap();
    let id = e.catalog.authenticate(&t.token).await.unwrap();
    assert_eq!(id.username, "system:serviceaccount:team-a:ci");
    assert_eq!(id.expires_at, Some(t.expires_at));

    // A restart keeps the key: old tokens stay valid.
    let again =
        LocalCatalog::start(e.catalog.config_dir(), &e.data, LocalOptions::default()).unwrap();
    assert!(again.authenticate(&t.token).await.is_ok());
}

#[tokio::test]
async fn a_key_file_others_may_read_is_refused() {
    let e = env();
    let key = e.data.join(SIGNING_KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = LocalCatalog::start(e.catalog.config_dir(), &e.data, LocalOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("chmod 600 {}", key.display())),
        "{err}"
    );
    let err = TokenIssuer::load(&e.data).unwrap_err().to_string();
    assert!(err.contains("chmod 600"), "{err}");
}

#[tokio::test]
async fn loading_without_a_key_says_how_to_get_one() {
    let tmp = tempfile::tempdir().unwrap();
    let err = TokenIssuer::load(&tmp.path().join(".connectors"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("connectors standalone"), "{err}");
    assert!(err.contains("--data"), "{err}");
    assert!(
        !tmp.path().join(".connectors").exists(),
        "load creates nothing"
    );
}

#[tokio::test]
async fn expired_not_yet_valid_and_foreign_audience_tokens_are_unauthenticated() {
    let e = env();
    let kid = e.catalog.issuer().key_id().to_string();
    let n = now();

    let expired = sign_with_key_file(
        &e.data,
        &kid,
        &claims("a", "b", n - 600, n - 60, &[AUDIENCE]),
    );
    let m = unauthenticated(&e.catalog, &expired).await;
    assert!(m.starts_with("token expired at "), "{m}");
    assert!(m.ends_with("; issue a new one"), "{m}");
    let when = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(n - 60));
    assert!(m.contains(&when.to_string()), "{m}");

    let future = sign_with_key_file(
        &e.data,
        &kid,
        &claims("a", "b", n + 3600, n + 7200, &[AUDIENCE]),
    );
    assert!(unauthenticated(&e.catalog, &future)
        .await
        .contains("not valid yet"));

    let for_kubernetes = sign_with_key_file(
        &e.data,
        &kid,
        &claims("a", "b", n, n + 600, &["https://kubernetes.default.svc"]),
    );
    assert!(unauthenticated(&e.catalog, &for_kubernetes)
        .await
        .contains("audience"));

    // Several audiences, ours among them: accepted.
    let shared = sign_with_key_file(
        &e.data,
        &kid,
        &claims(
            "a",
            "b",
            n,
            n + 600,
            &["https://kubernetes.default.svc", AUDIENCE],
        ),
    );
    assert!(e.catalog.authenticate(&shared).await.is_ok());

    // A token that passes now fails once its ttl is over.
    let t = e
        .catalog
        .issuer()
        .issue("a", "b", Duration::from_secs(120))
        .unwrap();
    let err = e
        .catalog
        .issuer()
        .verify_at(&t.token, t.expires_at)
        .unwrap_err();
    assert!(err.to_string().starts_with("token expired at "), "{err}");
}

#[tokio::test]
async fn tampered_and_foreign_tokens_are_unauthenticated() {
    let e = env();
    let other = env();
    let token = e
        .catalog
        .issuer()
        .issue("team-a", "ci", Duration::from_secs(600))
        .unwrap()
        .token;
    let parts: Vec<&str> = token.split('.').collect();

    // The payload changed to another namespace, signature kept.
    let payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let text = payload.to_string().replace("team-a", "team-b");
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(text), parts[2]);
    assert_eq!(
        unauthenticated(&e.catalog, &forged).await,
        "token signature is invalid"
    );

    // The signature changed.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 0x01;
    let resigned = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert_eq!(
        unauthenticated(&e.catalog, &resigned).await,
        "token signature is invalid"
    );

    // Another installation's token.
    let foreign = other
        .catalog
        .issuer()
        .issue("team-a", "ci", Duration::from_secs(600))
        .unwrap()
        .token;
    assert!(unauthenticated(&e.catalog, &foreign)
        .await
        .contains("another key"));

    for junk in ["", "Bearer", "a.b", "x.y.z"] {
        unauthenticated(&e.catalog, junk).await;
    }
}

#[tokio::test]
async fn a_namespace_token_may_use_exactly_the_connectors_of_its_namespace() {
    let e = env();
    let t = e
        .catalog
        .issuer()
        .issue("team-a", "builder", Duration::from_secs(600))
        .unwrap();
    let id = e.catalog.authenticate(&t.token).await.unwrap();
    for check in [
        AccessCheck::get("team-a", "git"),
        AccessCheck {
            verb: "get".into(),
            subresource: Some("proxy".into()),
            ..AccessCheck::get("team-a", "registry")
        },
    ] {
        assert_eq!(
            e.catalog.authorize(&id, &check).await.unwrap(),
            Decision::Allow
        );
    }
    match e
        .catalog
        .authorize(&id, &AccessCheck::get("team-b", "git"))
        .await
        .unwrap()
    {
        Decision::Deny(m) => assert!(
            m.contains("serviceaccount team-a:builder may only use Connectors of namespace team-a"),
            "{m}"
        ),
        Decision::Allow => panic!("team-a's token used a team-b Connector"),
    }
}
