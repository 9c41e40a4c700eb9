//! Local identity: an Ed25519 signing key in the data directory, and
//! Kubernetes-style ServiceAccount tokens (compact JWS, `alg: EdDSA`).

use super::files::{check_private_mode, create_private, ensure_private_dir};
use super::LocalError;
use crate::access::{AuthError, Identity};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use connectors_core::validate::check_label;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// File name of the signing key (PKCS#8 PEM, mode 0600).
pub const SIGNING_KEY_FILE: &str = "signing-key.pem";
/// Issuer claim of local tokens.
pub const ISSUER: &str = "connectors-standalone";
/// Audience the proxy requires.
pub const AUDIENCE: &str = "connectors";
/// Shortest token lifetime: one second, so that expiry can be tried end to
/// end (`connectors token issue --ttl 1s`).
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// Longest token lifetime.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Clock skew tolerated on `nbf`.
const LEEWAY_SECS: u64 = 60;
/// Tokens longer than this are refused before any decoding (ours are about
/// 500 bytes).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// The message for an unusable key file.
fn broken_key(path: &Path, what: &str) -> String {
    format!(
        "{} {what}; restore it, or move it away and start `connectors standalone` to create a new key (tokens of the old key then stop working)",
        path.display()
    )
}

/// A token and when it stops being valid.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    /// The compact JWS.
    pub token: String,
    /// Expiry.
    pub expires_at: SystemTime,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Vec<String>,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: String,
    #[serde(rename = "kubernetes.io")]
    kubernetes: KubernetesClaims,
}

#[derive(Serialize, Deserialize)]
struct KubernetesClaims {
    namespace: String,
    serviceaccount: ServiceAccountClaim,
}

#[derive(Serialize, Deserialize)]
struct ServiceAccountClaim {
    name: String,
}

/// Issues and verifies local tokens.
pub struct TokenIssuer {
    key: Ed25519KeyPair,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .finish()
    }
}

impl TokenIssuer {
    /// Loads the signing key of `data_dir`, creating the directory (mode
    /// 0700) and a new key ([`SIGNING_KEY_FILE`], mode 0600) on first use.
    /// The key file appears atomically; when two processes start at once
    /// both end up with the same key.
    pub fn load_or_create(data_dir: &Path) -> Result<TokenIssuer, LocalError> {
        ensure_private_dir(data_dir)?;
        let path = data_dir.join(SIGNING_KEY_FILE);
        if !path.exists() {
            let rng = SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| LocalError::Key("generating an Ed25519 key failed".into()))?;
            let pem = format!(
                "{PEM_BEGIN}\n{}\n{PEM_END}\n",
                STANDARD.encode(pkcs8.as_ref())
            );
            if create_private(&path, pem.as_bytes())? {
                tracing::info!(file = %path.display(), "created a new token signing key");
            }
        }
        Self::load(data_dir)
    }

    /// Loads the signing key of `data_dir`; fails when there is none (it is
    /// created by `connectors standalone`) or when others may read it.
    pub fn load(data_dir: &Path) -> Result<TokenIssuer, LocalError> {
        let path = data_dir.join(SIGNING_KEY_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                LocalError::Key(format!(
                    "no signing key at {}: start `connectors standalone --data {}` once (it creates one) or pass the --data directory it uses",
                    path.display(),
                    data_dir.display()
                ))
            } else {
                LocalError::io(&path, e)
            }
        })?;
        check_private_mode(&path)?;
        let b64: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .join("");
        let der = STANDARD
            .decode(b64.trim())
            .map_err(|_| LocalError::Key(broken_key(&path, "is not a PEM private key")))?;
        let key = Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|_| LocalError::Key(broken_key(&path, "does not hold an Ed25519 key")))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..9]);
        Ok(TokenIssuer {
            key,
            kid,
            rng: SystemRandom::new(),
        })
    }

    /// Issues a token for ServiceAccount `namespace:subject` valid for `ttl`.
    pub fn issue(
        &self,
        namespace: &str,
        subject: &str,
        ttl: Duration,
    ) -> Result<IssuedToken, LocalError> {
        check_label("namespace", namespace).map_err(LocalError::Invalid)?;
        check_label("subject", subject).map_err(LocalError::Invalid)?;
        if ttl < MIN_TTL || ttl > MAX_TTL {
            return Err(LocalError::Invalid(format!(
                "ttl {} is out of range; use between {} and {}",
                humantime::format_duration(ttl),
                humantime::format_duration(MIN_TTL),
                humantime::format_duration(MAX_TTL)
            )));
        }
        let now = SystemTime::now();
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let exp = iat + ttl.as_secs().max(1);
        let mut jti = [0u8; 16];
        self.rng
            .fill(&mut jti)
            .map_err(|_| LocalError::Key("the system random generator failed".into()))?;
        let claims = Claims {
            iss: ISSUER.into(),
            sub: format!("system:serviceaccount:{namespace}:{subject}"),
            aud: vec![AUDIENCE.into()],
            iat,
            nbf: iat,
            exp,
            jti: jti.iter().map(|b| format!("{b:02x}")).collect(),
            kubernetes: KubernetesClaims {
                namespace: namespace.into(),
                serviceaccount: ServiceAccountClaim {
                    name: subject.into(),
                },
            },
        };
        Ok(IssuedToken {
            token: self.sign(&claims),
            expires_at: UNIX_EPOCH + Duration::from_secs(exp),
        })
    }

    fn sign(&self, claims: &Claims) -> String {
        let header = Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: Some(self.kid.clone()),
        };
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{h}.{p}");
        let sig = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// Verifies a token now: see [`verify_at`](Self::verify_at).
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        self.verify_at(token, SystemTime::now())
    }

    /// Verifies a token as of `now`: structure, algorithm, key id,
    /// signature, issuer, audience, `nbf` (with 60 s leeway) and `exp`.
    /// Errors are safe to show and never contain the token.
    pub fn verify_at(&self, token: &str, now: SystemTime) -> Result<Identity, AuthError> {
        let (h, p, s) = split_token(token)?;
        self.check_header(h)?;
        self.check_signature(h, p, s)?;
        let claims: Claims =
            decode_part(p).ok_or_else(|| unauthenticated("malformed token: unreadable claims"))?;
        check_issuer_and_audience(&claims)?;
        check_validity_period(&claims, now)?;
        check_subject(&claims)?;
        Ok(Identity::service_account_identity(
            &claims.kubernetes.namespace,
            &claims.kubernetes.serviceaccount.name,
            claims.jti,
            Some(UNIX_EPOCH + Duration::from_secs(claims.exp)),
        ))
    }

    /// Requires the header to name algorithm `EdDSA` and this issuer's key id.
    fn check_header(&self, h: &str) -> Result<(), AuthError> {
        let header: Header =
            decode_part(h).ok_or_else(|| unauthenticated("malformed token: unreadable header"))?;
        if header.alg != "EdDSA" {
            return Err(unauthenticated(
                "token is not signed with EdDSA; issue one with `connectors token issue`",
            ));
        }
        if header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(unauthenticated(
                "token was signed by another key; issue a new one with `connectors token issue`",
            ));
        }
        Ok(())
    }

    /// Verifies signature `s` of `h.p` with this issuer's public key.
    fn check_signature(&self, h: &str, p: &str, s: &str) -> Result<(), AuthError> {
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| unauthenticated("malformed token: unreadable signature"))?;
        let public = UnparsedPublicKey::new(&ED25519, self.key.public_key().as_ref());
        public
            .verify(format!("{h}.{p}").as_bytes(), &sig)
            .map_err(|_| unauthenticated("token signature is invalid"))
    }

    /// The key id (`kid` header) of this issuer's tokens.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// Signs arbitrary claims (tests build expired or foreign tokens).
    #[cfg(test)]
    pub(crate) fn sign_raw(&self, claims_json: &serde_json::Value) -> String {
        let header = Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: Some(self.kid.clone()),
        };
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims_json).unwrap());
        let sig = self.key.sign(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// An [`AuthError::Unauthenticated`] with message `m`.
fn unauthenticated(m: &str) -> AuthError {
    AuthError::Unauthenticated(m.to_string())
}

/// Splits a token (surrounding whitespace ignored) into its header,
/// payload and signature parts, refusing tokens longer than
/// [`MAX_TOKEN_BYTES`] before looking further.
fn split_token(token: &str) -> Result<(&str, &str, &str), AuthError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_BYTES {
        return Err(unauthenticated("malformed token: too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(unauthenticated(
            "malformed token: expected three dot-separated parts",
        ));
    };
    Ok((h, p, s))
}

/// Decodes a base64url (unpadded) JSON token part; `None` when either
/// step fails.
fn decode_part<T: DeserializeOwned>(part: &str) -> Option<T> {
    URL_SAFE_NO_PAD
        .decode(part)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Requires issuer [`ISSUER`] and [`AUDIENCE`] among the audiences.
fn check_issuer_and_audience(claims: &Claims) -> Result<(), AuthError> {
    if claims.iss != ISSUER {
        return Err(unauthenticated(
            "token was not issued by connectors standalone",
        ));
    }
    if !claims.aud.iter().any(|a| a == AUDIENCE) {
        return Err(unauthenticated(
            "token is not meant for connectors (its audience lacks \"connectors\")",
        ));
    }
    Ok(())
}

/// Requires `nbf` to be at most [`LEEWAY_SECS`] after `now`, then `exp` to
/// be after `now`.
fn check_validity_period(claims: &Claims, now: SystemTime) -> Result<(), AuthError> {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if claims.nbf > now.saturating_add(LEEWAY_SECS) {
        return Err(unauthenticated(
            "token is not valid yet; check the clocks of this machine and the issuer",
        ));
    }
    if claims.exp <= now {
        return Err(AuthError::Unauthenticated(format!(
            "token expired at {}; issue a new one",
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(claims.exp))
        )));
    }
    Ok(())
}

/// Requires `sub` to be `system:serviceaccount:<namespace>:<name>` of the
/// `kubernetes.io` claims.
fn check_subject(claims: &Claims) -> Result<(), AuthError> {
    let expected = format!(
        "system:serviceaccount:{}:{}",
        claims.kubernetes.namespace, claims.kubernetes.serviceaccount.name
    );
    if claims.sub != expected {
        return Err(unauthenticated(
            "token subject does not match its ServiceAccount claims",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn issuer() -> (tempfile::TempDir, TokenIssuer) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let i = TokenIssuer::load_or_create(&data).unwrap();
        (dir, i)
    }

    fn now_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn claims(nbf: u64, exp: u64, aud: &str) -> serde_json::Value {
        serde_json::json!({"iss": ISSUER, "sub": "system:serviceaccount:a:b", "aud": [aud],
            "iat": nbf, "nbf": nbf, "exp": exp, "jti": "x",
            "kubernetes.io": {"namespace": "a", "serviceaccount": {"name": "b"}}})
    }

    /// The Unauthenticated message, checking that it does not quote the token.
    fn rejection(i: &TokenIssuer, token: &str) -> String {
        match i.verify(token) {
            Err(AuthError::Unauthenticated(m)) => {
                assert!(token.len() < 8 || !m.contains(token), "{m}");
                m
            }
            other => panic!("expected Unauthenticated, got {other:?}"),
        }
    }

    #[test]
    fn issue_and_verify_round_trip() {
        let (dir, i) = issuer();
        let t = i
            .issue("team-a", "builder", Duration::from_secs(600))
            .unwrap();
        let id = i.verify(&t.token).unwrap();
        assert_eq!(id.username, "system:serviceaccount:team-a:builder");
        assert_eq!(id.service_account(), Some(("team-a", "builder")));
        assert!(id
            .groups
            .contains(&"system:serviceaccounts:team-a".to_string()));
        assert_eq!(id.expires_at, Some(t.expires_at));
        assert_eq!(id.uid.len(), 32, "the jti");
        let data = dir.path().join("data");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(SIGNING_KEY_FILE)), 0o600);
        let again = TokenIssuer::load(&data).unwrap();
        assert_eq!(again.key_id(), i.key_id());
        assert!(again.verify(&t.token).is_ok(), "the key is reused");
    }

    #[test]
    fn tokens_look_like_kubernetes_projected_tokens() {
        let (_d, i) = issuer();
        let t = i.issue("team-a", "ci", Duration::from_secs(1800)).unwrap();
        let parts: Vec<&str> = t.token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let json = |s: &str| -> serde_json::Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap()
        };
        let header = json(parts[0]);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], i.key_id());
        let c = json(parts[1]);
        assert_eq!(c["iss"], ISSUER);
        assert_eq!(c["sub"], "system:serviceaccount:team-a:ci");
        assert_eq!(c["aud"], serde_json::json!(["connectors"]));
        assert_eq!(c["kubernetes.io"]["namespace"], "team-a");
        assert_eq!(c["kubernetes.io"]["serviceaccount"]["name"], "ci");
        let (iat, nbf, exp) = (
            c["iat"].as_u64().unwrap(),
            c["nbf"].as_u64().unwrap(),
            c["exp"].as_u64().unwrap(),
        );
        assert_eq!(nbf, iat);
        assert_eq!(exp - iat, 1800);
        assert_eq!(t.expires_at, UNIX_EPOCH + Duration::from_secs(exp));
        assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
    }

    #[test]
    fn expired_tokens_name_their_expiry() {
        let (_d, i) = issuer();
        let now = now_secs();
        let expired = i.sign_raw(&claims(now - 100, now - 10, AUDIENCE));
        let err = rejection(&i, &expired);
        let when = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(now - 10));
        assert_eq!(err, format!("token expired at {when}; issue a new one"));

        // The injectable clock: a fresh token is refused once its ttl passed.
        let t = i.issue("a", "b", Duration::from_secs(60)).unwrap();
        assert!(i.verify_at(&t.token, SystemTime::now()).is_ok());
        let later = t.expires_at + Duration::from_secs(1);
        let err = i.verify_at(&t.token, later).unwrap_err().to_string();
        assert!(err.starts_with("token expired at "), "{err}");
    }

    #[test]
    fn not_yet_valid_tokens_are_refused_beyond_the_leeway() {
        let (_d, i) = issuer();
        let now = now_secs();
        let soon = i.sign_raw(&claims(now + 30, now + 600, AUDIENCE));
        assert!(i.verify(&soon).is_ok(), "within the 60 s leeway");
        let later = i.sign_raw(&claims(now + 600, now + 1200, AUDIENCE));
        assert!(rejection(&i, &later).contains("not valid yet"));
    }

    #[test]
    fn wrong_audience_or_issuer_is_refused() {
        let (_d, i) = issuer();
        let now = now_secs();
        let wrong_aud = i.sign_raw(&claims(now, now + 100, "kubernetes"));
        assert!(rejection(&i, &wrong_aud).contains("audience"));
        let mut c = claims(now, now + 100, AUDIENCE);
        c["iss"] = "someone-else".into();
        assert!(rejection(&i, &i.sign_raw(&c)).contains("not issued by"));
        let mut c = claims(now, now + 100, AUDIENCE);
        c["sub"] = "system:serviceaccount:other:b".into();
        assert!(rejection(&i, &i.sign_raw(&c)).contains("does not match"));
    }

    #[test]
    fn tampered_foreign_unsigned_and_malformed_tokens_are_refused() {
        let (_d, i) = issuer();
        let good = i.issue("a", "b", Duration::from_secs(60)).unwrap().token;
        let parts: Vec<&str> = good.split('.').collect();

        // One signature character changed.
        let mut sig: Vec<char> = parts[2].chars().collect();
        sig[3] = if sig[3] == 'A' { 'B' } else { 'A' };
        let sig: String = sig.into_iter().collect();
        let tampered = format!("{}.{}.{sig}", parts[0], parts[1]);
        assert_eq!(rejection(&i, &tampered), "token signature is invalid");

        // Another namespace in the payload, original signature.
        let forged_claims = serde_json::json!({"iss": ISSUER, "sub": "system:serviceaccount:admin:b",
            "aud": [AUDIENCE], "iat": now_secs(), "nbf": now_secs(), "exp": now_secs() + 1000, "jti": "x",
            "kubernetes.io": {"namespace": "admin", "serviceaccount": {"name": "b"}}});
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap());
        let swapped = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(rejection(&i, &swapped), "token signature is invalid");

        // `alg: none` with our key id.
        let none_header = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({"alg": "none", "kid": i.key_id()})).unwrap(),
        );
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert!(rejection(&i, &unsigned).contains("not signed with EdDSA"));

        // A token of another installation.
        let (_d2, other) = issuer();
        let foreign = other
            .issue("a", "b", Duration::from_secs(60))
            .unwrap()
            .token;
        assert!(rejection(&i, &foreign).contains("another key"));

        // Another key that claims our key id.
        let foreign_parts: Vec<&str> = foreign.split('.').collect();
        let relabelled = format!("{}.{}.{}", parts[0], foreign_parts[1], foreign_parts[2]);
        assert_eq!(rejection(&i, &relabelled), "token signature is invalid");

        let huge = format!("{}.{}.{}", "a".repeat(5000), "b".repeat(5000), "c");
        assert!(rejection(&i, &huge).contains("too long"));
        for junk in [
            "",
            "a.b",
            "a.b.c.d",
            "....",
            "eyJ.eyJ.sig",
            "not a token at all",
            "\u{0}.\u{1}.\u{2}",
        ] {
            rejection(&i, junk);
        }
    }

    #[test]
    fn issue_checks_names_and_ttl() {
        let (_d, i) = issuer();
        let err = |r: Result<IssuedToken, LocalError>| r.unwrap_err().to_string();
        let e = err(i.issue("Team_A", "x", Duration::from_secs(60)));
        assert!(
            e.contains("namespace \"Team_A\" is not an RFC 1123 label"),
            "{e}"
        );
        let e = err(i.issue("a", "", Duration::from_secs(60)));
        assert!(e.contains("subject is empty"), "{e}");
        let e = err(i.issue("a", "b", Duration::from_millis(10)));
        assert!(e.contains("out of range"), "{e}");
        let e = err(i.issue("a", "b", Duration::from_secs(8 * 24 * 3600)));
        assert!(e.contains("out of range") && e.contains("7days"), "{e}");
        assert!(i.issue("a", "b", MIN_TTL).is_ok());
        assert!(i.issue("a", "b", MAX_TTL).is_ok());
    }

    #[test]
    fn a_key_readable_by_others_is_refused_and_a_missing_one_explained() {
        let (dir, _i) = issuer();
        let data = dir.path().join("data");
        let key = data.join(SIGNING_KEY_FILE);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = TokenIssuer::load(&data).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        let err = TokenIssuer::load_or_create(&data).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        let missing = TokenIssuer::load(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("connectors standalone"), "{missing}");
        assert!(missing.contains("--data"), "{missing}");
    }

    #[test]
    fn a_broken_key_file_is_an_error_not_a_panic() {
        let (dir, _i) = issuer();
        let data = dir.path().join("data");
        let key = data.join(SIGNING_KEY_FILE);
        super::super::files::write_private(&key, b"-----BEGIN PRIVATE KEY-----\n!!!\n").unwrap();
        let err = TokenIssuer::load(&data).unwrap_err().to_string();
        assert!(err.contains("not a PEM private key"), "{err}");
        super::super::files::write_private(
            &key,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = TokenIssuer::load(&data).unwrap_err().to_string();
        assert!(err.contains("Ed25519"), "{err}");
    }

    #[test]
    fn concurrent_first_starts_share_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let kids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        TokenIssuer::load_or_create(&data)
                            .unwrap()
                            .key_id()
                            .to_string()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(kids.iter().all(|k| k == &kids[0]), "{kids:?}");
        let names: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(SIGNING_KEY_FILE)]);
    }
}
