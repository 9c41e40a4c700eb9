//! What the proxy checks in a CA certificate it is given: that it may
//! issue certificates, and when it stops being valid.

use rustls::pki_types::CertificateDer;
use std::time::{SystemTime, UNIX_EPOCH};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Facts about a usable CA certificate.
#[derive(Clone, Debug)]
pub(crate) struct Facts {
    /// SHA-256 of the DER, lowercase hex.
    pub(crate) fingerprint: String,
    /// End of validity, seconds since 1970.
    pub(crate) not_after_unix: i64,
    /// The subject, as RFC 4514-like text.
    pub(crate) subject: String,
}

/// Checks that `der` is a CA certificate that can sign server
/// certificates today.
pub(crate) fn certificate(der: &CertificateDer<'_>) -> Result<Facts, String> {
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|e| format!("not a readable X.509 certificate ({e})"))?;
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca);
    if !is_ca {
        return Err(
            "not a CA certificate (basicConstraints CA:TRUE is missing); clients would reject \
             the certificates it signs"
                .into(),
        );
    }
    if let Ok(Some(ku)) = cert.key_usage() {
        if !ku.value.key_cert_sign() {
            return Err("its key usage does not allow signing certificates (keyCertSign)".into());
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let validity = cert.validity();
    let not_after_unix = validity.not_after.timestamp();
    if now >= not_after_unix {
        return Err(format!("it expired on {}", validity.not_after));
    }
    if now < validity.not_before.timestamp() {
        return Err(format!("it is not valid before {}", validity.not_before));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    let fingerprint = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Facts {
        fingerprint,
        not_after_unix,
        subject: cert.subject().to_string(),
    })
}
