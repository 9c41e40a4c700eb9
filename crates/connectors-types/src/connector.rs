//! The namespaced `Connector`: one tool address plus the Secret that unlocks it.

use crate::common::{
    find_condition, find_param, Addressable, Condition, LocalObjectReference, Param,
    SecretReference,
};
use crate::condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Desired state of a Connector.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "connectors.alauda.io",
    version = "v1alpha1",
    kind = "Connector",
    plural = "connectors",
    singular = "connector",
    namespaced,
    status = "ConnectorStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "alauda",
    doc = "Connector stores how to reach one tool (its address) and the credential to use (a Secret), typed by a ConnectorClass.",
    annotation(
        "cert-manager.io/inject-ca-from",
        "connectors-system/connectors-serving-cert"
    ),
    printcolumn = r#"{"name":"Class","type":"string","jsonPath":".spec.connectorClassName"}"#,
    printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.address"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorSpec {
    /// Name of the cluster-scoped ConnectorClass.
    #[serde(default)]
    pub connector_class_name: String,
    /// Tool URL, possibly with a path prefix.
    #[serde(default)]
    pub address: String,
    /// Extra named addresses declared by the class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_extensions: Vec<Param>,
    /// Values of class-declared parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Which auth type of the class is used, with which Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ConnectorAuth>,
    /// Same-namespace Secret with PEM CA certificates for upstream TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_secret_ref: Option<LocalObjectReference>,
}

/// Credential selection of a Connector.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorAuth {
    /// One of the class's `spec.auth.types[].name`.
    #[serde(default)]
    pub name: String,
    /// Secret holding the credential; may be omitted for optional auth types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
    /// Inputs of the auth probe, e.g. `repository`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

/// Observed state of a Connector.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatus {
    /// Conditions, see `condition`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Generation the status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Reconciler-owned extra state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Proxy address of this Connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ConnectorProxyStatus>,
    /// API path of this Connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ConnectorApiStatus>,
}

/// `status.proxy` of a Connector.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorProxyStatus {
    /// Address clients use to reach the tool through the proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_address: Option<Addressable>,
}

/// `status.api` of a Connector.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ConnectorApiStatus {
    /// `/connectors/v1alpha1/<namespace>/<name>/path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl ConnectorSpec {
    /// Name of the chosen auth type, empty when unset.
    pub fn auth_name(&self) -> &str {
        self.auth.as_ref().map(|a| a.name.as_str()).unwrap_or("")
    }

    /// Name of the referenced Secret, if any.
    pub fn secret_name(&self) -> Option<&str> {
        self.auth
            .as_ref()
            .and_then(|a| a.secret_ref.as_ref())
            .map(|r| r.name.as_str())
            .filter(|n| !n.is_empty())
    }

    /// A connector-level parameter value.
    pub fn param(&self, name: &str) -> Option<&Param> {
        find_param(&self.params, name)
    }

    /// An auth parameter value.
    pub fn auth_param(&self, name: &str) -> Option<&Param> {
        self.auth.as_ref().and_then(|a| find_param(&a.params, name))
    }

    /// An address extension value.
    pub fn address_extension(&self, name: &str) -> Option<&str> {
        find_param(&self.address_extensions, name).and_then(Param::as_str)
    }
}

impl Connector {
    /// `namespace/name` of this Connector.
    pub fn key(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or(""),
            self.metadata.name.as_deref().unwrap_or("")
        )
    }

    /// The published proxy address (`status.proxy.httpAddress.url`).
    pub fn proxy_address(&self) -> Option<&str> {
        self.status
            .as_ref()
            .and_then(|s| s.proxy.as_ref())
            .and_then(|p| p.http_address.as_ref())
            .and_then(|a| a.url.as_deref())
    }

    /// The `Ready` condition, if computed.
    pub fn ready_condition(&self) -> Option<&Condition> {
        self.status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, condition::READY))
    }
}
