//! Parsing of manifest text (the YAML `kubectl apply` would take) into typed
//! objects. Reading files is the caller's job; this module only sees text.

use connectors_types::{Connector, ConnectorClass, API_VERSION};
use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;
use std::fmt;

/// Namespace given to namespaced objects that do not name one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// An object Connectors understands.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// A `connectors.alauda.io/v1alpha1` Connector.
    Connector(Box<Connector>),
    /// A `connectors.alauda.io/v1alpha1` ConnectorClass.
    ConnectorClass(Box<ConnectorClass>),
    /// A `v1` Secret.
    Secret(Box<Secret>),
}

/// Kind, namespace and name of an object, for messages and indexes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// `Connector`, `ConnectorClass` or `Secret`.
    pub kind: &'static str,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl Object {
    /// The object's key.
    pub fn key(&self) -> ObjectKey {
        let (kind, meta) = match self {
            Object::Connector(c) => ("Connector", &c.metadata),
            Object::ConnectorClass(c) => ("ConnectorClass", &c.metadata),
            Object::Secret(s) => ("Secret", &s.metadata),
        };
        ObjectKey {
            kind,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

/// One parsed document of a manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// Zero-based index of the YAML document in its file.
    pub index: usize,
    /// The object, or why it could not be used.
    pub content: DocumentContent,
}

/// What a document held.
#[derive(Clone, Debug, PartialEq)]
pub enum DocumentContent {
    /// A supported object.
    Object(Object),
    /// A well-formed object of a kind Connectors does not use (ignored).
    Ignored {
        /// `apiVersion` of the document.
        api_version: String,
        /// `kind` of the document.
        kind: String,
        /// `metadata.name` of the document.
        name: String,
    },
    /// The document could not be turned into an object.
    Invalid(String),
}

/// Parses every document of a manifest. A YAML syntax error ends the file
/// (the parser cannot resynchronise) and is returned as a final `Invalid`
/// document; earlier documents are kept.
pub fn parse_manifest(text: &str) -> Vec<Document> {
    let mut out = Vec::new();
    for (index, de) in serde_norway::Deserializer::from_str(text).enumerate() {
        match serde_json::Value::deserialize(de) {
            Ok(value) => {
                for content in parse_value(value) {
                    out.push(Document { index, content });
                }
            }
            Err(err) => {
                out.push(Document {
                    index,
                    content: DocumentContent::Invalid(format!("malformed YAML: {err}")),
                });
                break;
            }
        }
    }
    out
}

/// Turns one decoded document into zero or more objects (`kind: List`
/// expands to its items; an empty document yields nothing).
fn parse_value(value: serde_json::Value) -> Vec<DocumentContent> {
    match &value {
        serde_json::Value::Null => return Vec::new(),
        serde_json::Value::Object(_) => {}
        other => {
            return vec![DocumentContent::Invalid(format!(
                "expected a mapping with apiVersion and kind, found {}",
                json_type(other)
            ))]
        }
    }
    let api_version = value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let kind = value
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    if kind.is_empty() {
        return vec![DocumentContent::Invalid(
            "missing `kind`: every document needs apiVersion and kind".into(),
        )];
    }
    if kind == "List" || kind.ends_with("List") && value.get("items").is_some() {
        let items = value
            .get("items")
            .and_then(|i| i.as_array())
            .cloned()
            .unwrap_or_default();
        return items.into_iter().flat_map(parse_value).collect();
    }
    let name = value
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let content = match (api_version.as_str(), kind.as_str()) {
        (API_VERSION, "Connector") => typed::<Connector>(value).map(|mut c| {
            default_namespace(&mut c.metadata);
            Object::Connector(Box::new(c))
        }),
        (API_VERSION, "ConnectorClass") => typed::<ConnectorClass>(value).map(|mut c| {
            c.metadata.namespace = None;
            Object::ConnectorClass(Box::new(c))
        }),
        ("v1", "Secret") => typed::<Secret>(value).map(|mut s| {
            default_namespace(&mut s.metadata);
            Object::Secret(Box::new(s))
        }),
        (_, "Connector" | "ConnectorClass") => Err(format!(
            "{kind} {name:?} has apiVersion {api_version:?}; use {API_VERSION}"
        )),
        (_, "Secret") => Err(format!(
            "Secret {name:?} has apiVersion {api_version:?}; use v1"
        )),
        _ => {
            return vec![DocumentContent::Ignored {
                api_version,
                kind,
                name,
            }]
        }
    };
    vec![match content {
        Ok(object) => DocumentContent::Object(object),
        Err(message) => DocumentContent::Invalid(message),
    }]
}

fn default_namespace(meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
    if meta.namespace.as_deref().unwrap_or("").is_empty() {
        meta.namespace = Some(DEFAULT_NAMESPACE.to_string());
    }
}

/// Deserialises with the path of the offending field in the message. The
/// message never quotes values (a Secret's data could be echoed otherwise).
fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    let kind = value
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or("object")
        .to_string();
    let name = value
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = sanitize_serde_message(&err.into_inner().to_string());
        if path == "." || path.is_empty() {
            format!("{kind} {name:?}: {inner}")
        } else {
            format!("{kind} {name:?}: field {path}: {inner}")
        }
    })
}

/// serde messages may quote the offending value (`invalid value: string
/// "hunter2"`); keep only the part that describes types.
fn sanitize_serde_message(msg: &str) -> String {
    if let Some(pos) = msg.find("invalid value: ") {
        let rest = &msg[pos + "invalid value: ".len()..];
        let kind = rest.split_whitespace().next().unwrap_or("value");
        let expected = msg
            .find(", expected ")
            .map(|p| &msg[p..])
            .unwrap_or_default();
        return format!("invalid {kind}{expected}");
    }
    if let Some(pos) = msg.find("invalid type: ") {
        let rest = &msg[pos + "invalid type: ".len()..];
        let found = rest.split([',', ' ']).next().unwrap_or("value");
        let expected = msg
            .find(", expected ")
            .map(|p| &msg[p..])
            .unwrap_or_default();
        return format!("invalid type: {found}{expected}");
    }
    msg.to_string()
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(text: &str) -> Vec<DocumentContent> {
        parse_manifest(text)
            .into_iter()
            .map(|d| d.content)
            .collect()
    }

    #[test]
    fn parses_multi_document_manifests_with_default_namespace() {
        let docs = parse_manifest(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/basic-auth\nstringData: {username: u, password: p}\n---\n---\napiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: c, namespace: team}\nspec: {connectorClassName: git, address: 'https://x'}\n",
        );
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].index, 0);
        assert_eq!(docs[1].index, 2);
        match &docs[0].content {
            DocumentContent::Object(o) => assert_eq!(o.key().to_string(), "Secret default/s"),
            other => panic!("{other:?}"),
        }
        match &docs[1].content {
            DocumentContent::Object(o) => assert_eq!(o.key().to_string(), "Connector team/c"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lists_expand_and_foreign_kinds_are_ignored() {
        let docs = objects("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: connectors.alauda.io/v1alpha1\n  kind: ConnectorClass\n  metadata: {name: git, namespace: ignored}\n  spec: {}\n");
        assert!(matches!(&docs[0], DocumentContent::Ignored { kind, .. } if kind == "Namespace"));
        match &docs[1] {
            DocumentContent::Object(o) => assert_eq!(o.key().to_string(), "ConnectorClass git"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_yaml_is_an_error_not_a_panic() {
        for text in [
            "apiVersion: v1\nkind: [",
            "\t- :",
            "a: b\n  c: d",
            "- 1\n- 2",
            "'unterminated",
            "kind: Connector\napiVersion: connectors.alauda.io/v1alpha1\nspec: 3",
            "{{{{",
            "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: x}\nspec: {params: [{name: a}]}",
        ] {
            let docs = objects(text);
            assert!(
                docs.iter().any(|d| matches!(d, DocumentContent::Invalid(_))),
                "{text:?} -> {docs:?}"
            );
        }
    }

    #[test]
    fn type_errors_name_the_field_and_never_the_value() {
        let docs = objects("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: 'not base64 hunter2!'}\n");
        let DocumentContent::Invalid(msg) = &docs[0] else {
            panic!("{docs:?}")
        };
        assert!(msg.contains("data.password"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let docs = objects("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: [hunter2]}\n");
        let DocumentContent::Invalid(msg) = &docs[0] else {
            panic!("{docs:?}")
        };
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn wrong_api_version_is_explained() {
        let docs = objects("apiVersion: operator.connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: x}\nspec: {}\n");
        let DocumentContent::Invalid(msg) = &docs[0] else {
            panic!("{docs:?}")
        };
        assert!(msg.contains("use connectors.alauda.io/v1alpha1"), "{msg}");
    }
}
