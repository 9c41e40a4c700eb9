//! TLS towards the tools: the system roots (honouring `SSL_CERT_FILE`),
//! loaded once, plus the CA certificates of a Connector's
//! `spec.caCertSecretRef`. Client configurations are built once per distinct
//! CA set (by [`Upstream`](crate::upstream::Upstream)), never per request.

use crate::error::RequestError;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::fmt;
use std::sync::Arc;

/// Extra CA certificates trusted for one Connector's tool, identified by a
/// fingerprint of their contents so equal sets share one client.
pub(crate) struct CaSet {
    pub(crate) fingerprint: [u8; 32],
    certs: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for CaSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaSet({} certificates, ", self.certs.len())?;
        for b in &self.fingerprint[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl CaSet {
    /// The usable certificates of `ders`; an error naming `what` when none
    /// can serve as a trust anchor.
    pub(crate) fn new(ders: Vec<Vec<u8>>, what: &str) -> Result<CaSet, RequestError> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut certs = Vec::with_capacity(ders.len());
        let mut probe = RootCertStore::empty();
        for der in ders {
            let cert = CertificateDer::from(der);
            if probe.add(cert.clone()).is_ok() {
                ctx.update(&(cert.len() as u64).to_be_bytes());
                ctx.update(cert.as_ref());
                certs.push(cert);
            }
        }
        if certs.is_empty() {
            return Err(RequestError::CaUnavailable(format!(
                "{what} holds no usable CA certificate; put PEM CA certificates under keys ending in .crt or .pem"
            )));
        }
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(ctx.finish().as_ref());
        Ok(CaSet { fingerprint, certs })
    }
}

/// The trust roots every upstream TLS connection starts from.
pub(crate) struct UpstreamTls {
    system: RootCertStore,
}

impl UpstreamTls {
    /// Loads the system roots; warns when there are none.
    pub(crate) fn load() -> UpstreamTls {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!(error = %e, "some system CA certificates could not be loaded");
        }
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::debug!(ignored, "ignored unparsable system CA certificates");
        }
        if added == 0 {
            tracing::warn!("no system CA certificates found: HTTPS tools will fail verification unless their Connector names a CA (set SSL_CERT_FILE to a CA bundle)");
        }
        UpstreamTls { system: roots }
    }

    /// A client configuration trusting the system roots plus `ca`; ALPN is
    /// set by the caller.
    pub(crate) fn client_config(&self, ca: Option<&CaSet>) -> ClientConfig {
        let mut roots = self.system.clone();
        if let Some(ca) = ca {
            for c in &ca.certs {
                let _ = roots.add(c.clone());
            }
        }
        ClientConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_root_certificates(Arc::new(roots))
            .with_no_client_auth()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_der() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn ca_sets_are_fingerprinted_and_checked() {
        let a = ca_der();
        let b = ca_der();
        let s1 = CaSet::new(vec![a.clone(), b.clone()], "Secret x").unwrap();
        let s2 = CaSet::new(vec![a.clone(), b.clone()], "Secret y").unwrap();
        let s3 = CaSet::new(vec![b, a], "Secret z").unwrap();
        assert_eq!(s1.fingerprint, s2.fingerprint);
        assert_ne!(s1.fingerprint, s3.fingerprint);
        let e = CaSet::new(vec![vec![1, 2, 3]], "Secret team-a/ca").unwrap_err();
        assert!(e.to_string().contains("Secret team-a/ca"), "{e}");
    }
}
