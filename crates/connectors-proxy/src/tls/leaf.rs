//! Leaf certificates for intercepted hosts: an ECDSA P-256 key and a
//! certificate for exactly the CONNECT host (DNS or IP SAN), signed by the
//! proxy CA, valid for 7 days from one hour ago. Each leaf comes with its
//! ready TLS server configuration (ALPN h2 and http/1.1).
//!
//! Leaves are cached per host in a bounded map, minted at most once per
//! host even when many tunnels to it open at once, and minted again a day
//! before they expire. When the CA is replaced (rotated), every cached
//! leaf is dropped and the next tunnel to a host gets one signed by the
//! new CA; tunnels already open keep theirs.

use crate::ca::ProxyCa;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::ServerConfig;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

const VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);
const BACKDATE: Duration = Duration::from_secs(3600);
const RENEW_BEFORE: Duration = Duration::from_secs(24 * 3600);

/// Why no leaf could be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LeafError {
    /// The host cannot be named in a certificate.
    #[error("{0:?} is not a host name or IP address a certificate can name")]
    InvalidHost(String),
    /// Key generation, signing or the TLS configuration failed.
    #[error("minting a certificate failed: {0}")]
    Mint(String),
}

/// One minted leaf.
pub(crate) struct Leaf {
    /// Server configuration presenting this leaf.
    pub(crate) config: Arc<ServerConfig>,
    renew_at: SystemTime,
    minted: Instant,
}

impl Leaf {
    fn fresh(&self, now: SystemTime) -> bool {
        now < self.renew_at
    }
}

type Slot = Arc<OnceCell<Arc<Leaf>>>;

/// Minted leaves by host.
pub(crate) struct LeafCache {
    /// The signing CA. Replacing it clears `slots` under their lock, so a
    /// leaf of the previous CA never reaches the map again: only the
    /// tunnels that were already waiting for it get it.
    signer: Mutex<Arc<ProxyCa>>,
    slots: Mutex<HashMap<String, Slot>>,
    max: usize,
    minted: AtomicU64,
}

impl LeafCache {
    pub(crate) fn new(ca: Arc<ProxyCa>, max: usize) -> LeafCache {
        LeafCache {
            signer: Mutex::new(ca),
            slots: Mutex::new(HashMap::new()),
            max: max.max(1),
            minted: AtomicU64::new(0),
        }
    }

    /// The CA leaves are signed with now.
    pub(crate) fn ca(&self) -> Arc<ProxyCa> {
        self.signer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Signs every leaf from now on with `ca` and forgets the cached ones.
    pub(crate) fn replace_ca(&self, ca: Arc<ProxyCa>) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        *self.signer.lock().unwrap_or_else(|p| p.into_inner()) = ca;
        slots.clear();
    }

    /// The leaf for `host` (no brackets around IPv6), minted when absent or
    /// about to expire.
    pub(crate) async fn get(&self, host: &str) -> Result<Arc<Leaf>, LeafError> {
        let key = host.to_ascii_lowercase();
        let slot = {
            let now = SystemTime::now();
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            match slots.get(&key) {
                Some(slot) => match slot.get() {
                    Some(leaf) if leaf.fresh(now) => return Ok(leaf.clone()),
                    Some(_) => {
                        let fresh: Slot = Arc::default();
                        slots.insert(key.clone(), fresh.clone());
                        fresh
                    }
                    None => slot.clone(),
                },
                None => {
                    if slots.len() >= self.max {
                        evict(&mut slots, now);
                    }
                    let fresh: Slot = Arc::default();
                    slots.insert(key.clone(), fresh.clone());
                    fresh
                }
            }
        };
        slot.get_or_try_init(|| async { self.mint(&key).map(Arc::new) })
            .await
            .cloned()
    }

    /// Leaves currently cached.
    pub(crate) fn len(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.values().filter(|s| s.initialized()).count()
    }

    /// Leaves minted since start.
    pub(crate) fn minted(&self) -> u64 {
        self.minted.load(Ordering::Relaxed)
    }

    fn mint(&self, host: &str) -> Result<Leaf, LeafError> {
        if ServerName::try_from(host).is_err() {
            return Err(LeafError::InvalidHost(host.chars().take(64).collect()));
        }
        let mint_err = |e: rcgen::Error| LeafError::Mint(e.to_string());
        let mut params = CertificateParams::new(vec![host.to_string()])
            .map_err(|_| LeafError::InvalidHost(host.chars().take(64).collect()))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = SystemTime::now();
        let unix = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let start = unix.saturating_sub(BACKDATE.as_secs());
        params.not_before = epoch + Duration::from_secs(start);
        params.not_after = epoch + Duration::from_secs(start) + VALIDITY;
        let mut serial = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
            .map_err(|_| LeafError::Mint("no randomness for a serial number".into()))?;
        serial[0] &= 0x7f;
        params.serial_number = Some(SerialNumber::from_slice(&serial));

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(mint_err)?;
        let ca = self.ca();
        let issuer = ca.issuer().map_err(|e| LeafError::Mint(e.to_string()))?;
        let cert = params.signed_by(&key, &issuer).map_err(mint_err)?;
        let cert = CertificateDer::from(cert.der().to_vec());
        let mut config = ServerConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| LeafError::Mint(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(
                std::iter::once(cert).chain(ca.chain()).collect(),
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .map_err(|e| LeafError::Mint(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // The proxy's cipher order (AES-128-GCM first) over the client's.
        config.ignore_client_order = true;
        self.minted.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(host, "minted a leaf certificate");
        let not_after = UNIX_EPOCH + Duration::from_secs(start) + VALIDITY;
        Ok(Leaf {
            config: Arc::new(config),
            renew_at: not_after - RENEW_BEFORE,
            minted: Instant::now(),
        })
    }
}

/// Makes room: drops stale and unfinished slots, then the oldest leaf.
fn evict(slots: &mut HashMap<String, Slot>, now: SystemTime) {
    slots.retain(|_, s| s.get().is_some_and(|l| l.fresh(now)));
    let oldest = slots
        .iter()
        .filter_map(|(k, s)| s.get().map(|l| (k, l.minted)))
        .min_by_key(|(_, m)| *m)
        .map(|(k, _)| k.clone());
    if let Some(k) = oldest {
        slots.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max: usize) -> (tempfile::TempDir, LeafCache) {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(ProxyCa::load_or_create(dir.path()).unwrap());
        (dir, LeafCache::new(ca, max))
    }

    #[tokio::test]
    async fn minted_once_per_host_and_bounded() {
        let (_d, c) = cache(2);
        let a = c.get("Example.com").await.unwrap();
        let a2 = c.get("example.com").await.unwrap();
        assert!(Arc::ptr_eq(&a, &a2));
        assert_eq!(c.minted(), 1);
        c.get("10.1.2.3").await.unwrap();
        c.get("::1").await.unwrap();
        assert_eq!(c.minted(), 3);
        assert!(c.len() <= 2);
        assert!(matches!(
            c.get("bad host!").await,
            Err(LeafError::InvalidHost(_))
        ));
    }

    #[tokio::test]
    async fn concurrent_requests_mint_once() {
        let (_d, c) = cache(8);
        let c = Arc::new(c);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let c = c.clone();
            tasks.push(tokio::spawn(
                async move { c.get("same.example").await.unwrap() },
            ));
        }
        let mut leaves = Vec::new();
        for t in tasks {
            leaves.push(t.await.unwrap());
        }
        assert_eq!(c.minted(), 1);
        assert!(leaves.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
    }

    /// The cipher suite a client offering `suites` (in its order) ends up
    /// with against a leaf of this cache.
    async fn negotiated(suites: Vec<rustls::SupportedCipherSuite>) -> rustls::CipherSuite {
        let (dir, c) = cache(2);
        let leaf = c.get("suite.example").await.unwrap();
        let ca = ProxyCa::load_or_create(dir.path()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.ca_der().to_vec()))
            .unwrap();
        let provider = rustls::crypto::CryptoProvider {
            cipher_suites: suites,
            ..rustls::crypto::ring::default_provider()
        };
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("suite.example").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
        let mut server = rustls::ServerConnection::new(leaf.config.clone()).unwrap();
        for _ in 0..10 {
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut wire = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut wire).unwrap();
            }
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets().unwrap();
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
        }
        assert!(!client.is_handshaking(), "the handshake did not finish");
        client.negotiated_cipher_suite().unwrap().suite()
    }

    #[tokio::test]
    async fn clients_get_aes_128_unless_they_offer_only_others() {
        use rustls::crypto::ring::cipher_suite::*;
        // A client preferring AES-256, as rustls and OpenSSL do by default.
        let suite = negotiated(vec![
            TLS13_AES_256_GCM_SHA384,
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS13_AES_128_GCM_SHA256,
        ])
        .await;
        assert_eq!(suite, rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        let suite = negotiated(vec![TLS13_CHACHA20_POLY1305_SHA256]).await;
        assert_eq!(suite, rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    }
}
