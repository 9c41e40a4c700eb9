//! Request and response bodies.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /v1/status`.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// Catalog generation; changes whenever anything is (re)loaded or a status changes.
    pub generation: u64,
    /// Current manifest load problems.
    pub problems: Vec<LoadProblemView>,
    /// Proxy base URL.
    pub proxy: String,
    /// Number of Connectors, classes and Secrets loaded.
    pub counts: BTreeMap<String, usize>,
}

/// One manifest that could not be loaded.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LoadProblemView {
    /// File path.
    pub file: String,
    /// Document index, when the problem is in one document.
    pub document: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// `POST /v1/tokens`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TokenRequestBody {
    /// ServiceAccount namespace.
    pub namespace: String,
    /// ServiceAccount name (default `default`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Lifetime such as `30m` (default 30m).
    #[serde(default)]
    pub ttl: Option<String>,
}

/// A freshly issued token.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// The token.
    pub token: String,
    /// RFC 3339 expiry.
    pub expires_at: String,
}

/// `POST /v1/namespaces/{ns}/connectors/{name}/mount`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct MountRequestBody {
    /// Comma-separated configuration names; `!file` removes a file.
    #[serde(default)]
    pub configurations: String,
    /// Mount-time parameters keyed by configuration name.
    #[serde(default)]
    pub params: Option<serde_json::Value>,
    /// Token lifetime (default 30m).
    #[serde(default)]
    pub ttl: Option<String>,
    /// ServiceAccount the token is for (default `default`), in the Connector's namespace.
    #[serde(default)]
    pub subject: Option<String>,
    /// Mount even when the Connector is not Ready.
    #[serde(default)]
    pub force: bool,
}

/// The files of a mount.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct MountResponse {
    /// File name → standard base64 of the content.
    pub files: BTreeMap<String, String>,
    /// RFC 3339 expiry of the embedded token.
    pub expires_at: String,
    /// Files that carry the token (write them with mode 0600).
    pub sensitive: Vec<String>,
}
