//! Local identity: an Ed25519 signing key in the data directory, and
//! Kubernetes-style ServiceAccount tokens (compact JWS, `alg: EdDSA`).

use super::files::{check_private_mode, write_private};
use super::LocalError;
use crate::access::{AuthError, Identity};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use connectors_core::validate::check_label;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// File name of the signing key (PKCS#8 PEM, mode 0600).
pub const SIGNING_KEY_FILE: &str = "signing-key.pem";
/// Issuer claim of local tokens.
pub const ISSUER: &str = "connectors-standalone";
/// Audience the proxy requires.
pub const AUDIENCE: &str = "connectors";
/// Shortest and longest token lifetimes.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// Longest token lifetime.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Clock skew tolerated on `nbf`.
const LEEWAY_SECS: u64 = 60;

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

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
    /// Loads the signing key of `data_dir`, creating the directory (0700)
    /// and a new key (0600) on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<TokenIssuer, LocalError> {
        super::files::ensure_private_dir(data_dir)?;
        let path = data_dir.join(SIGNING_KEY_FILE);
        if !path.exists() {
            let rng = SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| LocalError::Key("generating an Ed25519 key failed".into()))?;
            let pem = format!(
                "{PEM_BEGIN}\n{}\n{PEM_END}\n",
                STANDARD.encode(pkcs8.as_ref())
            );
            write_private(&path, pem.as_bytes())?;
            tracing::info!(file = %path.display(), "created a new token signing key");
        }
        Self::load(data_dir)
    }

    /// Loads the signing key of `data_dir`; fails when there is none.
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
            .map_err(|_| LocalError::Key(format!("{} is not a PEM private key", path.display())))?;
        let key = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| {
            LocalError::Key(format!("{} does not hold an Ed25519 key", path.display()))
        })?;
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
                "ttl {} is out of range; use between 1s and 7d",
                humantime::format_duration(ttl)
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

    /// Verifies a token: structure, algorithm, key id, signature, audience,
    /// `nbf` and `exp`. Errors never contain the token.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let bad = |m: &str| AuthError::Unauthenticated(m.to_string());
        let mut parts = token.trim().split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("malformed token: expected three dot-separated parts"));
        };
        let header: Header = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("malformed token: unreadable header"))?;
        if header.alg != "EdDSA" {
            return Err(bad("token is not signed with EdDSA"));
        }
        if header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(bad(
                "token was signed by another key; issue a new one with `connectors token issue`",
            ));
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad("malformed token: unreadable signature"))?;
        let public = UnparsedPublicKey::new(&ED25519, self.key.public_key().as_ref());
        public
            .verify(format!("{h}.{p}").as_bytes(), &sig)
            .map_err(|_| bad("token signature is invalid"))?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("malformed token: unreadable claims"))?;
        if !claims.aud.iter().any(|a| a == AUDIENCE) {
            return Err(bad("token is not meant for connectors (wrong audience)"));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if claims.nbf > now + LEEWAY_SECS {
            return Err(bad("token is not valid yet; check the clock"));
        }
        if claims.exp <= now {
            return Err(AuthError::Unauthenticated(format!(
                "token expired at {}; issue a new one",
                humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(claims.exp))
            )));
        }
        let expected = format!(
            "system:serviceaccount:{}:{}",
            claims.kubernetes.namespace, claims.kubernetes.serviceaccount.name
        );
        if claims.sub != expected {
            return Err(bad(
                "token subject does not match its ServiceAccount claims",
            ));
        }
        Ok(Identity::service_account_identity(
            &claims.kubernetes.namespace,
            &claims.kubernetes.serviceaccount.name,
            claims.jti,
            Some(UNIX_EPOCH + Duration::from_secs(claims.exp)),
        ))
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
        let data = dir.path().join("data");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(SIGNING_KEY_FILE)), 0o600);
        let again = TokenIssuer::load(&data).unwrap();
        assert!(again.verify(&t.token).is_ok(), "the key is reused");
    }

    #[test]
    fn expired_tampered_foreign_and_wrong_audience_tokens_fail() {
        let (_d, i) = issuer();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = |exp: u64, aud: &str| {
            serde_json::json!({"iss": ISSUER, "sub": "system:serviceaccount:a:b", "aud": [aud],
                "iat": now - 100, "nbf": now - 100, "exp": exp, "jti": "x",
                "kubernetes.io": {"namespace": "a", "serviceaccount": {"name": "b"}}})
        };
        let expired = i.sign_raw(&claims(now - 10, AUDIENCE));
        let err = i.verify(&expired).unwrap_err().to_string();
        assert!(err.contains("token expired at"), "{err}");
        assert!(!err.contains(&expired));

        let wrong_aud = i.sign_raw(&claims(now + 100, "kubernetes"));
        assert!(i
            .verify(&wrong_aud)
            .unwrap_err()
            .to_string()
            .contains("audience"));

        let good = i.issue("a", "b", Duration::from_secs(60)).unwrap().token;
        let mut chars: Vec<char> = good.chars().collect();
        let last = chars.len() - 2;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(i.verify(&tampered).is_err());

        let parts: Vec<&str> = good.split('.').collect();
        let forged_payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(now + 1000, AUDIENCE)).unwrap());
        let swapped = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(
            i.verify(&swapped).unwrap_err().to_string(),
            "token signature is invalid"
        );

        let (_d2, other) = issuer();
        let foreign = other
            .issue("a", "b", Duration::from_secs(60))
            .unwrap()
            .token;
        assert!(i
            .verify(&foreign)
            .unwrap_err()
            .to_string()
            .contains("another key"));
        for junk in ["", "a.b", "a.b.c.d", "....", "eyJ.eyJ.sig"] {
            assert!(i.verify(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn issue_checks_names_and_ttl() {
        let (_d, i) = issuer();
        assert!(i.issue("Team_A", "x", Duration::from_secs(60)).is_err());
        assert!(i.issue("a", "", Duration::from_secs(60)).is_err());
        assert!(i.issue("a", "b", Duration::from_millis(10)).is_err());
        assert!(i
            .issue("a", "b", Duration::from_secs(8 * 24 * 3600))
            .is_err());
        assert!(i.issue("a", "b", Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let (dir, _i) = issuer();
        let key = dir.path().join("data").join(SIGNING_KEY_FILE);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = TokenIssuer::load(&dir.path().join("data"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
        let missing = TokenIssuer::load(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("connectors standalone"), "{missing}");
    }
}
