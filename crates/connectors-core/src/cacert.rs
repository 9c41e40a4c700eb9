//! CA certificates carried by Secrets (a Connector's `caCertSecretRef`):
//! keys ending in `.crt` or `.pem`, or any value holding a PEM certificate.

use base64::Engine;
use connectors_types::secret::string_data;
use k8s_openapi::api::core::v1::Secret;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Why a CA Secret yielded no certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaCertError {
    /// No key holds a PEM certificate.
    #[error("Secret {0:?} contains invalid PEM data: no CERTIFICATE block in any .crt/.pem key")]
    NoCertificate(String),
}

/// DER certificates of a CA Secret, in key order.
pub fn ca_certificates(secret: &Secret) -> Result<Vec<Vec<u8>>, CaCertError> {
    let mut out = Vec::new();
    for (key, value) in string_data(secret) {
        let named = key.ends_with(".crt") || key.ends_with(".pem");
        if named || value.contains(BEGIN) {
            out.extend(pem_certificates(&value));
        }
    }
    if out.is_empty() {
        return Err(CaCertError::NoCertificate(
            secret.metadata.name.clone().unwrap_or_default(),
        ));
    }
    Ok(out)
}

/// DER bytes of every well-formed CERTIFICATE block of a PEM text.
pub fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let Some(end) = body.find(END) else { break };
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            if !der.is_empty() {
                out.push(der);
            }
        }
        rest = &body[end + END.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn secret(data: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("ca".into()),
                ..Default::default()
            },
            string_data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn finds_certificates_in_named_keys_and_pem_values() {
        let pem = format!("{BEGIN}\nAQID\n{END}\n{BEGIN}\nBAUG\n{END}\n");
        let s = secret(&[
            ("ca.crt", &pem),
            ("other", "x"),
            ("bundle", &format!("{BEGIN}\nBwg=\n{END}")),
        ]);
        assert_eq!(
            ca_certificates(&s).unwrap(),
            vec![vec![7, 8], vec![1, 2, 3], vec![4, 5, 6]]
        );
        let bad = secret(&[("ca.crt", "not pem")]);
        assert_eq!(
            ca_certificates(&bad).unwrap_err().to_string(),
            "Secret \"ca\" contains invalid PEM data: no CERTIFICATE block in any .crt/.pem key"
        );
    }
}
