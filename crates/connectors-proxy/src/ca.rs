//! The proxy's certificate authority: an ECDSA P-256 key pair and a
//! self-signed CA certificate kept under the data directory
//! (`proxy-ca.crt`, mode 0644, and `proxy-ca.key`, mode 0600, each written
//! atomically). Clients trust its certificate (`ca.crt` in mounts); the
//! forward proxy signs intercepted hosts' certificates with it.

use crate::error::ProxyError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SerialNumber, PKCS_ECDSA_P256_SHA256,
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
    cert_path: PathBuf,
}

impl fmt::Debug for ProxyCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCa")
            .field("cert_path", &self.cert_path)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl ProxyCa {
    /// Loads the CA from `data_dir`, or creates it there when absent.
    ///
    /// Refuses a key file that group or others may read, and a certificate
    /// that does not belong to the key.
    pub fn load_or_create(data_dir: impl AsRef<Path>) -> Result<ProxyCa, ProxyError> {
        let dir = data_dir.as_ref();
        fs::create_dir_all(dir)
            .map_err(|e| ProxyError::io(format!("creating {}", dir.display()), e))?;
        let key_path = dir.join(CA_KEY_FILE);
        let cert_path = dir.join(CA_CERT_FILE);

        let key = if key_path.exists() {
            check_key_mode(&key_path)?;
            let pem = fs::read_to_string(&key_path)
                .map_err(|e| ProxyError::io(format!("reading {}", key_path.display()), e))?;
            KeyPair::from_pem(&pem).map_err(|e| {
                ProxyError::Ca(format!(
                    "{} is not a usable private key ({e}); remove it and {CA_CERT_FILE} to create a new CA",
                    key_path.display()
                ))
            })?
        } else {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                .map_err(|e| ProxyError::Ca(format!("generating the CA key: {e}")))?;
            write_atomically(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
            // A certificate left from an older key is useless now.
            if cert_path.exists() {
                fs::remove_file(&cert_path)
                    .map_err(|e| ProxyError::io(format!("removing {}", cert_path.display()), e))?;
            }
            key
        };

        let (cert_pem, cert_der) = if cert_path.exists() {
            let pem = fs::read_to_string(&cert_path)
                .map_err(|e| ProxyError::io(format!("reading {}", cert_path.display()), e))?;
            let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| {
                ProxyError::Ca(format!(
                    "{} is not a PEM certificate ({e}); remove it to create a new one",
                    cert_path.display()
                ))
            })?;
            if !contains(der.as_ref(), key.public_key_raw()) {
                return Err(ProxyError::Ca(format!(
                    "{} does not belong to {}; remove both files to create a new CA",
                    cert_path.display(),
                    key_path.display()
                )));
            }
            (pem, der.as_ref().to_vec())
        } else {
            let cert = ca_params(true)?
                .self_signed(&key)
                .map_err(|e| ProxyError::Ca(format!("signing the CA certificate: {e}")))?;
            let pem = cert.pem();
            write_atomically(&cert_path, pem.as_bytes(), 0o644)?;
            (pem, cert.der().as_ref().to_vec())
        };

        Ok(ProxyCa {
            key,
            cert_pem,
            cert_der,
            cert_path,
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

    /// Where the certificate is stored.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The CA's signing key (for minting leaf certificates).
    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    /// Parameters naming this CA as an issuer (subject, key usages), for
    /// `rcgen::Issuer::from_params` together with [`key`](Self::key).
    pub fn issuer_params(&self) -> Result<CertificateParams, ProxyError> {
        ca_params(false)
    }
}

fn ca_params(fresh: bool) -> Result<CertificateParams, ProxyError> {
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
    if fresh {
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
    }
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
