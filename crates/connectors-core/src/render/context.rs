//! The two template contexts.

use connectors_types::{secret as secret_types, Connector, ConnectorClass};
use k8s_openapi::api::core::v1::Secret;
use serde_json::{json, Map, Value};

/// Runtime values a configuration is rendered with.
#[derive(Clone, Debug, Default)]
pub struct RenderContext {
    /// The caller's short-lived token (`.context.token`).
    pub token: String,
    /// PEM of the proxy CA (`.context.proxy.caCert`).
    pub proxy_ca_pem: String,
    /// Proxy base address of the class (`.connectorclass.proxyAddress`);
    /// derived from the first Connector's proxy address when `None`.
    pub class_proxy_address: Option<String>,
}

/// The configuration context: `.connector`, `.connectors`, `.context`,
/// `.connectorclass`, `.configurations`.
pub fn configuration_context(
    class: &ConnectorClass,
    connectors: &[&Connector],
    ctx: &RenderContext,
    params: &Map<String, Value>,
) -> Value {
    let items: Vec<Value> = connectors.iter().map(|c| connector_json(c)).collect();
    let first = items.first().cloned().unwrap_or(Value::Null);
    let class_proxy = ctx
        .class_proxy_address
        .clone()
        .or_else(|| {
            class
                .status
                .as_ref()
                .and_then(|s| s.proxy.as_ref())
                .and_then(|p| p.http_address.as_ref())
                .and_then(|a| a.url.clone())
        })
        .or_else(|| {
            connectors
                .first()
                .and_then(|c| c.proxy_address())
                .map(class_base_of)
        })
        .unwrap_or_default();
    json!({
        "connector": first,
        "connectors": items,
        "context": {
            "token": ctx.token,
            "proxy": { "caCert": ctx.proxy_ca_pem },
        },
        "connectorclass": {
            "name": class.metadata.name.clone().unwrap_or_default(),
            "proxyAddress": class_proxy,
        },
        "configurations": Value::Object(params.clone()),
    })
}

/// The proxy base of a Connector proxy address: the part before
/// `/namespaces/<ns>/connectors/<name>` for path-form addresses, else the
/// address itself.
pub(crate) fn class_base_of(address: &str) -> String {
    match address.find("/namespaces/") {
        Some(pos) if address[pos..].contains("/connectors/") => address[..pos].to_string(),
        _ => address.trim_end_matches('/').to_string(),
    }
}

/// A Connector as JSON with `status.proxyAddress` and `name`/`namespace`
/// shortcuts.
fn connector_json(c: &Connector) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    let proxy = c.proxy_address().unwrap_or("").to_string();
    if let Value::Object(obj) = &mut v {
        if let Some(managed) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            managed.remove("managedFields");
        }
        let status = obj
            .entry("status")
            .or_insert_with(|| Value::Object(Map::new()));
        if !status.is_object() {
            *status = Value::Object(Map::new());
        }
        if let Value::Object(s) = status {
            s.insert("proxyAddress".into(), Value::String(proxy));
        }
        obj.insert(
            "name".into(),
            Value::String(c.metadata.name.clone().unwrap_or_default()),
        );
        obj.insert(
            "namespace".into(),
            Value::String(c.metadata.namespace.clone().unwrap_or_default()),
        );
    }
    v
}

/// The probe context: `.Connector` with Go field names and `.Secret` (nil
/// without a Secret) with `.Secret.StringData.<key>` decoded.
pub fn probe_context(c: &Connector, secret: Option<&Secret>) -> Value {
    let spec = &c.spec;
    let auth = spec.auth.as_ref();
    let meta = json!({
        "Name": c.metadata.name.clone().unwrap_or_default(),
        "Namespace": c.metadata.namespace.clone().unwrap_or_default(),
        "Labels": c.metadata.labels.clone().unwrap_or_default(),
        "Annotations": c.metadata.annotations.clone().unwrap_or_default(),
        "Generation": c.metadata.generation.unwrap_or(0),
        "UID": c.metadata.uid.clone().unwrap_or_default(),
    });
    let mut connector = json!({
        "TypeMeta": { "Kind": "Connector", "APIVersion": connectors_types::API_VERSION },
        "Kind": "Connector",
        "APIVersion": connectors_types::API_VERSION,
        "ObjectMeta": meta.clone(),
        "Spec": {
            "ConnectorClassName": spec.connector_class_name,
            "Address": spec.address,
            "AddressExtensions": spec.address_extensions.iter().map(go_param).collect::<Vec<_>>(),
            "Params": spec.params.iter().map(go_param).collect::<Vec<_>>(),
            "Auth": {
                "Name": auth.map(|a| a.name.clone()).unwrap_or_default(),
                "SecretRef": auth.and_then(|a| a.secret_ref.as_ref()).map(|r| json!({
                    "Name": r.name,
                    "Namespace": r.namespace.clone().unwrap_or_default(),
                })).unwrap_or(Value::Null),
                "Params": auth.map(|a| a.params.iter().map(go_param).collect::<Vec<_>>()).unwrap_or_default(),
            },
            "CACertSecretRef": spec.ca_cert_secret_ref.as_ref().map(|r| json!({"Name": r.name})).unwrap_or(Value::Null),
        },
    });
    if let (Value::Object(target), Value::Object(m)) = (&mut connector, meta) {
        for (k, v) in m {
            target.insert(k, v);
        }
    }
    let secret = match secret {
        None => Value::Null,
        Some(s) => json!({
            "Name": s.metadata.name.clone().unwrap_or_default(),
            "Namespace": s.metadata.namespace.clone().unwrap_or_default(),
            "Type": secret_types::effective_type(s),
            "StringData": secret_types::string_data(s),
        }),
    };
    json!({ "Connector": connector, "Secret": secret })
}

/// A Param as Go's `{Name, Value: {Type, StringVal, ArrayVal, ObjectVal}}`.
fn go_param(p: &connectors_types::Param) -> Value {
    let value = match &p.value {
        Value::String(s) => {
            json!({"Type": "string", "StringVal": s, "ArrayVal": Value::Null, "ObjectVal": Value::Null})
        }
        Value::Array(a) => {
            json!({"Type": "array", "StringVal": "", "ArrayVal": a, "ObjectVal": Value::Null})
        }
        Value::Object(o) => {
            json!({"Type": "object", "StringVal": "", "ArrayVal": Value::Null, "ObjectVal": o})
        }
        other => {
            json!({"Type": "string", "StringVal": other.to_string(), "ArrayVal": Value::Null, "ObjectVal": Value::Null})
        }
    };
    json!({ "Name": p.name, "Value": value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_base_strips_connector_path() {
        assert_eq!(
            class_base_of("http://127.0.0.1:7480/namespaces/a/connectors/b"),
            "http://127.0.0.1:7480"
        );
        assert_eq!(
            class_base_of("http://c-b.a.svc.cluster.local"),
            "http://c-b.a.svc.cluster.local"
        );
    }
}
