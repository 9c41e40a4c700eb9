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
