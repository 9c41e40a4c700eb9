//! The proxy CA on disk.

use connectors_proxy::{ProxyCa, ProxyError, CA_CERT_FILE, CA_KEY_FILE};
use std::os::unix::fs::PermissionsExt;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn created_with_strict_modes_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ProxyCa::load_or_create(dir.path()).unwrap();
    let key = dir.path().join(CA_KEY_FILE);
    let crt = dir.path().join(CA_CERT_FILE);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&crt), 0o644);
    assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(std::fs::read_to_string(&crt).unwrap(), ca.ca_pem());
    assert!(!format!("{ca:?}").contains("PRIVATE"));
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let key_before = std::fs::read(&key).unwrap();
    let again = ProxyCa::load_or_create(dir.path()).unwrap();
    assert_eq!(again.ca_pem(), ca.ca_pem(), "restart reuses the CA");
    assert_eq!(std::fs::read(&key).unwrap(), key_before);
}

#[test]
fn certificate_is_a_ca_rustls_accepts_as_root() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ProxyCa::load_or_create(dir.path()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            ca.ca_der().to_vec(),
        ))
        .unwrap();
    assert_eq!(roots.len(), 1);
}

#[test]
fn readable_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    ProxyCa::load_or_create(dir.path()).unwrap();
    let key = dir.path().join(CA_KEY_FILE);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = ProxyCa::load_or_create(dir.path()).unwrap_err();
    assert!(matches!(err, ProxyError::Ca(_)));
    let msg = err.to_string();
    assert!(msg.contains("chmod 600"), "{msg}");
}

#[test]
fn missing_certificate_is_recreated_from_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let first = ProxyCa::load_or_create(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join(CA_CERT_FILE)).unwrap();
    let second = ProxyCa::load_or_create(dir.path()).unwrap();
    assert_eq!(first.key().public_key_raw(), second.key().public_key_raw());
}

#[test]
fn certificate_of_another_key_is_refused() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    ProxyCa::load_or_create(a.path()).unwrap();
    ProxyCa::load_or_create(b.path()).unwrap();
    std::fs::copy(a.path().join(CA_CERT_FILE), b.path().join(CA_CERT_FILE)).unwrap();
    let msg = ProxyCa::load_or_create(b.path()).unwrap_err().to_string();
    assert!(msg.contains("does not belong"), "{msg}");
}

/// A CA certificate with `params`' subject and validity for a new key,
/// written as the proxy's CA files of `dir`.
fn write_ca(dir: &std::path::Path, params: rcgen::CertificateParams) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let key_path = dir.join(CA_KEY_FILE);
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(dir.join(CA_CERT_FILE), cert.pem()).unwrap();
    cert.der().to_vec()
}

fn ca_params(common_name: &str) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p
}

#[test]
fn an_organisations_own_ca_is_used_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let der = write_ca(dir.path(), ca_params("Acme Interception CA"));
    let before = std::fs::read(dir.path().join(CA_CERT_FILE)).unwrap();
    let ca = ProxyCa::load_or_create(dir.path()).unwrap();
    assert_eq!(ca.ca_der(), der.as_slice());
    assert_eq!(
        std::fs::read(dir.path().join(CA_CERT_FILE)).unwrap(),
        before
    );
    // The fingerprint is the SHA-256 of the certificate.
    let digest = ring::digest::digest(&ring::digest::SHA256, &der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(ca.fingerprint(), hex);
    assert!(ca.not_after_unix() > 0);
}

#[test]
fn load_writes_nothing_and_needs_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let err = ProxyCa::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains(CA_KEY_FILE), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    ProxyCa::load_or_create(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join(CA_CERT_FILE)).unwrap();
    let err = ProxyCa::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains(CA_CERT_FILE), "{err}");
    assert!(!dir.path().join(CA_CERT_FILE).exists());
}

#[test]
fn a_certificate_that_may_not_sign_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut not_ca = ca_params("plain.example");
    not_ca.is_ca = rcgen::IsCa::ExplicitNoCa;
    write_ca(dir.path(), not_ca);
    let err = ProxyCa::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("not a CA certificate"), "{err}");

    let mut no_cert_sign = ca_params("Acme Signing Only");
    no_cert_sign.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    write_ca(dir.path(), no_cert_sign);
    let err = ProxyCa::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("keyCertSign"), "{err}");
}

#[test]
fn an_expired_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut expired = ca_params("Acme Old CA");
    expired.not_before = rcgen::date_time_ymd(2015, 1, 1);
    expired.not_after = rcgen::date_time_ymd(2020, 1, 1);
    write_ca(dir.path(), expired);
    let err = ProxyCa::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("expired"), "{err}");
    // load_or_create does not replace it either.
    assert!(ProxyCa::load_or_create(dir.path()).is_err());
}

#[test]
fn validity_end_reads_as_a_date() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = ca_params("Acme Dated CA");
    p.not_after = rcgen::date_time_ymd(2039, 7, 14);
    write_ca(dir.path(), p);
    let ca = ProxyCa::load(dir.path()).unwrap();
    assert_eq!(ca.valid_until(), "2039-07-14T00:00:00Z");
    assert_eq!(ca.not_after_unix(), 2_194_214_400);
}
