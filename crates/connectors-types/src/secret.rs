//! Secret types the classes rely on, and the keys each must carry.

/// `username` and `password`; injected as `Authorization: Basic`.
pub const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
/// `token`; injected as `Authorization: Bearer`.
pub const BEARER_TOKEN: &str = "connectors.cpaas.io/bearer-token";
/// `token` (PAT or group access token), optional `username`; GitLab.
pub const GITLAB_PAT_AUTH: &str = "connectors.cpaas.io/gitlab-pat-auth";
/// `username` and `password` used for the registry token flow.
pub const DISTRIBUTION_REGISTRY_TOKEN: &str = "cpaas.io/distribution-registry-token";
/// `ssh-privatekey`; accepted as an auth type, not used by proxies.
pub const SSH_AUTH: &str = "kubernetes.io/ssh-auth";
/// Keys declared by the class's auth type params.
pub const OPAQUE: &str = "Opaque";

/// Key names.
pub mod key {
    /// Basic-auth user name.
    pub const USERNAME: &str = "username";
    /// Basic-auth password (may be a PAT or API key).
    pub const PASSWORD: &str = "password";
    /// Bearer or personal access token.
    pub const TOKEN: &str = "token";
    /// SSH private key.
    pub const SSH_PRIVATE_KEY: &str = "ssh-privatekey";
}

/// Keys a well-known Secret type must contain, or `None` for `Opaque` and
/// custom types (whose keys the class declares in `auth.types[].params`).
pub fn required_keys(secret_type: &str) -> Option<&'static [&'static str]> {
    match secret_type {
        BASIC_AUTH | DISTRIBUTION_REGISTRY_TOKEN => Some(&[key::USERNAME, key::PASSWORD]),
        BEARER_TOKEN | GITLAB_PAT_AUTH => Some(&[key::TOKEN]),
        SSH_AUTH => Some(&[key::SSH_PRIVATE_KEY]),
        _ => None,
    }
}

/// The type of a Secret as the API server reports it (`Opaque` when unset).
pub fn effective_type(secret: &k8s_openapi::api::core::v1::Secret) -> &str {
    secret
        .type_
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(OPAQUE)
}

/// Decoded string data of a Secret: `data` (already base64-decoded by the
/// type) overlaid with `stringData`, as the API server would merge them.
/// Values that are not UTF-8 are decoded lossily.
pub fn string_data(
    secret: &k8s_openapi::api::core::v1::Secret,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Some(data) = &secret.data {
        for (k, v) in data {
            out.insert(k.clone(), String::from_utf8_lossy(&v.0).into_owned());
        }
    }
    if let Some(sd) = &secret.string_data {
        for (k, v) in sd {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_types_have_keys() {
        assert_eq!(
            required_keys(BASIC_AUTH),
            Some(&["username", "password"][..])
        );
        assert_eq!(required_keys(GITLAB_PAT_AUTH), Some(&["token"][..]));
        assert_eq!(required_keys(OPAQUE), None);
        assert_eq!(required_keys("example.com/oauth2"), None);
    }
}
