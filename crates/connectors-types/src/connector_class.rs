//! The cluster-scoped `ConnectorClass`: what a kind of tool needs and offers.

use crate::common::{find_condition, Addressable, Condition, Destination, ParamSpec, PolicySource};
use crate::{condition, metadata};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Desired state of a ConnectorClass.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "connectors.alauda.io",
    version = "v1alpha1",
    kind = "ConnectorClass",
    plural = "connectorclasses",
    singular = "connectorclass",
    status = "ConnectorClassStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "alauda",
    doc = "ConnectorClass describes one type of tool: its address shape, auth types, probes, API, client configuration templates and proxy.",
    annotation(
        "cert-manager.io/inject-ca-from",
        "connectors-system/connectors-serving-cert"
    ),
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorClassSpec {
    /// Constraint on `Connector.spec.address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<ParamSpec>,
    /// Extra named addresses a Connector may or must provide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_extensions: Vec<ParamSpec>,
    /// Extra connector-level parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    /// Supported credential kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ClassAuth>,
    /// Credential-validity probe per auth type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_probes: Vec<AuthProbe>,
    /// Tool reachability probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// Custom REST API of the class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ClassApi>,
    /// Client configuration file templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configurations: Vec<Configuration>,
    /// Proxy serving Connectors of this class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ClassProxy>,
}

/// `spec.auth` of a class.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ClassAuth {
    /// Auth types, keyed by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<AuthType>,
}

/// One supported credential kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthType {
    /// Name referenced by `Connector.spec.auth.name`.
    pub name: String,
    /// Kubernetes Secret `type` the referenced Secret must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// When true a Connector may omit `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    /// Keys the Secret must contain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    /// Rego policy producing the credential injection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<PolicySource>,
    /// UI name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// UI description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl AuthType {
    /// Whether a Connector may omit its Secret.
    pub fn is_optional(&self) -> bool {
        self.optional.unwrap_or(false)
    }
}

/// Credential probe of one auth type.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthProbe {
    /// The auth type this probe checks.
    pub auth_name: String,
    /// Extra inputs the Connector supplies in `spec.auth.params`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    /// How to probe.
    #[serde(default)]
    pub probe: Probe,
}

/// A probe action: HTTP against the tool, or a path on the class API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Probe {
    /// HTTP request against the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbe>,
    /// Request against the class API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiProbe>,
}

/// HTTP probe action.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpProbe {
    /// Request path (may carry a query); appended to the address host.
    #[serde(default)]
    pub path: String,
    /// Overrides the target host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `http` or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// `GET` (default) or `POST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Do not follow redirects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_redirect: Option<bool>,
    /// Request headers; names may repeat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
    /// Response check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ProbeResponse>,
}

/// A header of a probe request.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct HttpHeader {
    /// Header name.
    pub name: String,
    /// Header value (a template for auth probes).
    #[serde(default)]
    pub value: String,
}

/// Response matcher of a probe.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ProbeResponse {
    /// CEL boolean over `response.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cel: Option<String>,
}

/// Probe against the class API.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ApiProbe {
    /// Path relative to the resolved class API URL.
    #[serde(default)]
    pub path: String,
}

/// `spec.api` of a class.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ClassApi {
    /// Where the API server lives.
    #[serde(flatten)]
    pub destination: Destination,
    /// Free-form OpenAPI 3.0 document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::any_object")]
    pub openapi: Option<serde_json::Value>,
    /// Request → verb mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PolicySource>,
}

/// One client configuration (a set of file templates).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Configuration {
    /// Configuration name, e.g. `gitconfig`.
    pub name: String,
    /// File name → template text.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Mount-time parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    /// Free metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `spec.proxy` of a class.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassProxy {
    /// Where the proxy lives.
    #[serde(flatten)]
    pub destination: Destination,
    /// Rego extracting the client token from reverse-proxy requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_extractor: Option<PolicySource>,
}

/// Observed state of a ConnectorClass.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorClassStatus {
    /// `APIReady`, `ProxyReady`, `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Generation the status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Reconciler-owned extra state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Resolved API address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ClassApiStatus>,
    /// Resolved proxy address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ClassProxyStatus>,
}

/// `status.api` of a class.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ClassApiStatus {
    /// Resolved API address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Addressable>,
}

/// `status.proxy` of a class.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassProxyStatus {
    /// Resolved proxy address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_address: Option<Addressable>,
}

/// How Connector proxy addresses are formed (class annotation
/// `connectors.cpaas.io/proxy-resolver`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyResolver {
    /// `http://c-<name>.<ns>.svc.cluster.local` (default).
    Host,
    /// `<class proxy URL>/namespaces/<ns>/connectors/<name>`.
    Path,
}

impl ConnectorClassSpec {
    /// The auth type of that name.
    pub fn auth_type(&self, name: &str) -> Option<&AuthType> {
        self.auth
            .as_ref()
            .and_then(|a| a.types.iter().find(|t| t.name == name))
    }

    /// All auth types.
    pub fn auth_types(&self) -> &[AuthType] {
        self.auth
            .as_ref()
            .map(|a| a.types.as_slice())
            .unwrap_or(&[])
    }

    /// The auth probe of an auth type.
    pub fn auth_probe(&self, auth_name: &str) -> Option<&AuthProbe> {
        self.auth_probes.iter().find(|p| p.auth_name == auth_name)
    }

    /// The configuration of that name.
    pub fn configuration(&self, name: &str) -> Option<&Configuration> {
        self.configurations.iter().find(|c| c.name == name)
    }

    /// The reverse-proxy token extractor policy, if any.
    pub fn auth_extractor(&self) -> Option<&str> {
        self.proxy
            .as_ref()
            .and_then(|p| p.auth_extractor.as_ref())
            .map(|p| p.rego.as_str())
            .filter(|r| !r.trim().is_empty())
    }
}

impl ConnectorClass {
    /// Proxy address resolver declared by annotation; `Host` by default.
    pub fn proxy_resolver(&self) -> ProxyResolver {
        match self
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(metadata::PROXY_RESOLVER_ANNOTATION))
            .map(|s| s.trim())
        {
            Some("path") => ProxyResolver::Path,
            _ => ProxyResolver::Host,
        }
    }

    /// The `Ready` condition, if computed.
    pub fn ready_condition(&self) -> Option<&Condition> {
        self.status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, condition::READY))
    }
}
