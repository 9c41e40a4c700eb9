//! The proxy's certificate authority: a key pair and a CA certificate
//! kept under the data directory (`proxy-ca.crt`, mode 0644, and
//! `proxy-ca.key`, mode 0600). When absent they are created (ECDSA P-256,
//! self-signed, each file written atomically); an organisation may put its
//! own CA there instead, of any subject, which leaf certificates then name
//! as their issuer (subject and key identifier taken from its
//! certificate). Clients trust its certificate (`ca.crt` in mounts); the
//! forward proxy signs intercepted hosts' certificates with it.

mod inspect;

use crate::error::ProxyError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// File name of the CA certificate under the data directory.
pub const CA_CERT_FILE: &str = "proxy-ca.crt";
/// File name of the CA private key under the data directory.
pub const CA_KEY_FILE: &str = "proxy-ca.key";

const COMMON_NAME: &str = "Connectors Proxy CA";
const ORGANIZATION: &str = "Connectors";
const VALIDITY_DAYS: i64 = 3650;

/// The proxy CA: key pair and certificate.
pub struct ProxyCa {
    key: KeyPair,
    cert_pem: String,
    cert_der: Vec<u8>,
    /// The certificates after the CA's own in its file (the intermediates
    /// up to a root, when the CA is an organisation's intermediate).
    issuers: Vec<CertificateDer<'static>>,
    cert_path: PathBuf,
    facts: inspect::Facts,
}

impl fmt::Debug for ProxyCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCa")
            .field("cert_path", &self.cert_path)
            .field("fingerprint", &self.facts.fingerprint)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl ProxyCa {
    /// Loads the CA from `data_dir`, or creates it there when absent: a new
    /// CA when there is no key (replacing a certificate left from an older
    /// key), a new self-signed certificate for the key when there is none.
    ///
    /// Refuses what [`load`](Self::load) refuses.
    pub fn load_or_create(data_dir: impl AsRef<Path>) -> Result<ProxyCa, ProxyError> {
        let dir = data_dir.as_ref();
        fs::create_dir_all(dir)
            .map_err(|e| ProxyError::io(format!("creating {}", dir.display()), e))?;
        let (key_path, cert_path) = (dir.join(CA_KEY_FILE), dir.join(CA_CERT_FILE));
        if !key_path.exists() {
            return ProxyCa::create_new(dir);
        }
        if !cert_path.exists() {
            let key = read_key(&key_path)?;
            write_atomically(&cert_path, self_signed(&key)?.pem().as_bytes(), 0o644)?;
        }
        ProxyCa::load(dir).map_err(|e| match e {
            ProxyError::Ca(m) => ProxyError::Ca(format!(
                "{m}; to start over with a new CA, remove {} and {} (clients must then trust the new one)",
                cert_path.display(),
                key_path.display()
            )),
            other => other,
        })
    }

    /// Creates a new CA in `data_dir` (ECDSA P-256, self-signed, ten
    /// years), in place of any there: the key, then the certificate, each
    /// written to a temporary file and renamed into place.
    pub fn create_new(data_dir: impl AsRef<Path>) -> Result<ProxyCa, ProxyError> {
        let dir = data_dir.as_ref();
        fs::create_dir_all(dir)
            .map_err(|e| ProxyError::io(format!("creating {}", dir.display()), e))?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(|e| ProxyError::Ca(format!("generating the CA key: {e}")))?;
        let cert = self_signed(&key)?;
        write_atomically(
            &dir.join(CA_KEY_FILE),
            key.serialize_pem().as_bytes(),
            0o600,
        )?;
        write_atomically(&dir.join(CA_CERT_FILE), cert.pem().as_bytes(), 0o644)?;
        ProxyCa::load(dir)
    }

    /// Loads the CA that `data_dir` holds, writing nothing: a key readable
    /// only by its owner, and a CA certificate (the first of the PEM file;
    /// any subject, e.g. an organisation's own CA) that belongs to it.
    pub fn load(data_dir: impl AsRef<Path>) -> Result<ProxyCa, ProxyError> {
        let dir = data_dir.as_ref();
        let (key_path, cert_path) = (dir.join(CA_KEY_FILE), dir.join(CA_CERT_FILE));
        let key = read_key(&key_path)?;
        let cert_pem = fs::read_to_string(&cert_path)
            .map_err(|e| ProxyError::io(format!("reading {}", cert_path.display()), e))?;
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| {
            ProxyError::Ca(format!(
                "{} is not a PEM certificate ({e})",
                cert_path.display()
            ))
        })?;
        if !contains(der.as_ref(), key.public_key_raw()) {
            return Err(ProxyError::Ca(format!(
                "{} does not belong to {}",
                cert_path.display(),
                key_path.display()
            )));
        }
        let facts = inspect::certificate(&der)
            .map_err(|e| ProxyError::Ca(format!("{}: {e}", cert_path.display())))?;
        Issuer::from_ca_cert_der(&der, &key).map_err(|e| {
            ProxyError::Ca(format!(
                "{} cannot issue certificates: {e}",
                cert_path.display()
            ))
        })?;
        let issuers = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .skip(1)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                ProxyError::Ca(format!(
                    "{}: a certificate after the first is not readable ({e})",
                    cert_path.display()
                ))
            })?;
        Ok(ProxyCa {
            key,
            cert_pem,
            issuers,
            cert_der: der.as_ref().to_vec(),
            cert_path,
            facts,
        })
    }

    /// The CA certificate in PEM form (what clients put in `ca.crt`).
    pub fn ca_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate in DER form.
    pub fn ca_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// What a leaf certificate is presented with: nothing for a CA alone
    /// in its file; the CA and the certificates after it when the file
    /// holds a chain (an intermediate CA, for clients that trust only its
    /// root).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        if self.issuers.is_empty() {
            return Vec::new();
        }
        let mut chain = vec![CertificateDer::from(self.cert_der.clone())];
        chain.extend(self.issuers.iter().cloned());
        chain
    }

    /// Where the certificate is stored.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The CA's signing key (for minting leaf certificates).
    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    /// This CA as the issuer of leaf certificates: the subject, key
    /// identifier and key usages of its certificate, and its key.
    pub fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, ProxyError> {
        let der = CertificateDer::from(self.cert_der.as_slice());
        Issuer::from_ca_cert_der(&der, &self.key)
            .map_err(|e| ProxyError::Ca(format!("the CA certificate cannot issue: {e}")))
    }

    /// SHA-256 of the certificate (DER), in lowercase hex: how logs name a
    /// CA.
    pub fn fingerprint(&self) -> &str {
        &self.facts.fingerprint
    }

    /// The certificate's subject, e.g. `O=Connectors, CN=Connectors Proxy CA`.
    pub fn subject(&self) -> &str {
        &self.facts.subject
    }

    /// The end of the certificate's validity, in seconds since 1970.
    pub fn not_after_unix(&self) -> i64 {
        self.facts.not_after_unix
    }

    /// Seconds from `now` to the end of the certificate's validity
    /// (negative once it has passed).
    pub fn seconds_left(&self, now: SystemTime) -> i64 {
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.facts.not_after_unix - now
    }

    /// The end of the certificate's validity, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn valid_until(&self) -> String {
        let t = self.facts.not_after_unix;
        let (y, m, d) = civil_from_days(t.div_euclid(86_400));
        let s = t.rem_euclid(86_400);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// A new self-signed CA certificate for `key`.
fn self_signed(key: &KeyPair) -> Result<rcgen::Certificate, ProxyError> {
    ca_params()?
        .self_signed(key)
        .map_err(|e| ProxyError::Ca(format!("signing the CA certificate: {e}")))
}

/// The key at `path`, refused when group or others may read it.
fn read_key(path: &Path) -> Result<KeyPair, ProxyError> {
    check_key_mode(path)?;
    let pem = fs::read_to_string(path)
        .map_err(|e| ProxyError::io(format!("reading {}", path.display()), e))?;
    KeyPair::from_pem(&pem).map_err(|e| {
        ProxyError::Ca(format!(
            "{} is not a usable private key ({e}); a PKCS#8 PEM key is needed \
             (openssl pkcs8 -topk8 -nocrypt converts one)",
            path.display()
        ))
    })
}

fn ca_params() -> Result<CertificateParams, ProxyError> {
    let mut p = CertificateParams::new(Vec::<String>::new())
        .map_err(|e| ProxyError::Ca(format!("CA parameters: {e}")))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, COMMON_NAME);
    dn.push(DnType::OrganizationName, ORGANIZATION);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let today = days_since_epoch();
    let (y, m, d) = civil_from_days(today - 1);
    p.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = civil_from_days(today + VALIDITY_DAYS);
    p.not_after = rcgen::date_time_ymd(y, m, d);
    let mut serial = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
        .map_err(|_| ProxyError::Ca("no randomness for the CA serial number".into()))?;
    serial[0] &= 0x7f;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(p)
}

fn check_key_mode(path: &Path) -> Result<(), ProxyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(path)
            .map_err(|e| ProxyError::io(format!("reading {}", path.display()), e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ProxyError::Ca(format!(
                "{} is readable by group or others (mode {mode:04o}); run chmod 600 {}",
                path.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// Writes `data` to a temporary file next to `path` with `mode`, syncs it,
/// then renames it into place.
fn write_atomically(path: &Path, data: &[u8], mode: u32) -> Result<(), ProxyError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let ctx = |what: &str| format!("{what} {}", tmp.display());
    let mut f = opts
        .open(&tmp)
        .map_err(|e| ProxyError::io(ctx("creating"), e))?;
    #[cfg(unix)]
    {
        // The umask may have narrowed the mode; set it exactly.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| ProxyError::io(ctx("setting the mode of"), e))?;
    }
    f.write_all(data)
        .map_err(|e| ProxyError::io(ctx("writing"), e))?;
    f.sync_all()
        .map_err(|e| ProxyError::io(ctx("syncing"), e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| {
        ProxyError::io(
            format!("renaming {} to {}", tmp.display(), path.display()),
            e,
        )
    })?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn days_since_epoch() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 86_400) as i64
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y as i32, m as u8, d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
    }
}
