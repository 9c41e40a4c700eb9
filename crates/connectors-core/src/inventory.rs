//! A set of objects with where each came from, and whole-set validation.

use crate::classes::builtin_classes;
use crate::manifest::{parse_manifest, DocumentContent, Object, ObjectKey};
use crate::validate;
use connectors_types::{Connector, ConnectorClass};
use k8s_openapi::api::core::v1::Secret;
use std::collections::BTreeMap;
use std::fmt;

/// Where an object or a problem comes from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// Shipped with the binary.
    BuiltIn,
    /// A document of a manifest file.
    File {
        /// Path as given by the user.
        path: String,
        /// Zero-based document index.
        document: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn => write!(f, "built-in"),
            Origin::File { path, document } => write!(f, "{path}: document {document}"),
        }
    }
}

/// One problem found in a set of manifests.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// Where the offending document is.
    pub origin: Origin,
    /// The object, when the document named one.
    pub object: Option<ObjectKey>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(k) => write!(f, "{}: {k}: {}", self.origin, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

/// A document of a kind Connectors does not use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is.
    pub origin: Origin,
    /// `apiVersion/kind name`.
    pub what: String,
}

/// Connectors, classes and Secrets by key, each with its origin.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    /// Connectors by (namespace, name).
    pub connectors: BTreeMap<(String, String), (Connector, Origin)>,
    /// Classes by name.
    pub classes: BTreeMap<String, (ConnectorClass, Origin)>,
    /// Secrets by (namespace, name).
    pub secrets: BTreeMap<(String, String), (Secret, Origin)>,
    /// Documents that could not be used.
    pub findings: Vec<Finding>,
    /// Documents of other kinds.
    pub skipped: Vec<Skipped>,
}

impl Inventory {
    /// An inventory holding the built-in classes.
    pub fn with_builtins() -> Inventory {
        let mut inv = Inventory::default();
        for c in builtin_classes() {
            inv.insert(Object::ConnectorClass(Box::new(c)), Origin::BuiltIn);
        }
        inv
    }

    /// Parses a manifest file's text and adds its objects; malformed
    /// documents become findings.
    pub fn add_manifest(&mut self, path: &str, text: &str) {
        for doc in parse_manifest(text) {
            let origin = Origin::File {
                path: path.to_string(),
                document: doc.index,
            };
            match doc.content {
                DocumentContent::Object(o) => self.insert(o, origin),
                DocumentContent::Ignored {
                    api_version,
                    kind,
                    name,
                } => self.skipped.push(Skipped {
                    origin,
                    what: format!("{api_version}/{kind} {name}"),
                }),
                DocumentContent::Invalid(message) => self.findings.push(Finding {
                    origin,
                    object: None,
                    message,
                }),
            }
        }
    }

    /// Adds an object. A file object replaces a built-in class of the same
    /// name; two file objects with one key are a finding.
    pub fn insert(&mut self, object: Object, origin: Origin) {
        let key = object.key();
        let previous = match object {
            Object::Connector(c) => self
                .connectors
                .insert(
                    (key.namespace.clone(), key.name.clone()),
                    (*c, origin.clone()),
                )
                .map(|(_, o)| o),
            Object::ConnectorClass(c) => self
                .classes
                .insert(key.name.clone(), (*c, origin.clone()))
                .map(|(_, o)| o),
            Object::Secret(s) => self
                .secrets
                .insert(
                    (key.namespace.clone(), key.name.clone()),
                    (*s, origin.clone()),
                )
                .map(|(_, o)| o),
        };
        if let Some(prev @ Origin::File { .. }) = previous {
            self.findings.push(Finding {
                origin,
                object: Some(key),
                message: format!("defined again (first at {prev}); keep one definition"),
            });
        }
    }

    /// A Connector by namespace and name.
    pub fn connector(&self, namespace: &str, name: &str) -> Option<&Connector> {
        self.connectors
            .get(&(namespace.to_string(), name.to_string()))
            .map(|(c, _)| c)
    }

    /// A class by name.
    pub fn class(&self, name: &str) -> Option<&ConnectorClass> {
        self.classes.get(name).map(|(c, _)| c)
    }

    /// A Secret by namespace and name.
    pub fn secret(&self, namespace: &str, name: &str) -> Option<&Secret> {
        self.secrets
            .get(&(namespace.to_string(), name.to_string()))
            .map(|(s, _)| s)
    }

    /// Every problem: malformed documents, duplicate definitions, and the
    /// rules of [`validate`] applied to each object against the others.
    /// Built-in classes are trusted and not re-checked.
    pub fn validate(&self) -> Vec<Finding> {
        let mut out = self.findings.clone();
        let mut push = |origin: &Origin, key: ObjectKey, messages: Vec<String>| {
            for message in messages {
                out.push(Finding {
                    origin: origin.clone(),
                    object: Some(key.clone()),
                    message,
                });
            }
        };
        for (name, (class, origin)) in &self.classes {
            if *origin == Origin::BuiltIn {
                continue;
            }
            push(
                origin,
                ObjectKey {
                    kind: "ConnectorClass",
                    namespace: String::new(),
                    name: name.clone(),
                },
                validate::connector_class(class),
            );
        }
        for ((ns, name), (secret, origin)) in &self.secrets {
            push(
                origin,
                ObjectKey {
                    kind: "Secret",
                    namespace: ns.clone(),
                    name: name.clone(),
                },
                validate::secret(secret),
            );
        }
        for ((ns, name), (c, origin)) in &self.connectors {
            let key = ObjectKey {
                kind: "Connector",
                namespace: ns.clone(),
                name: name.clone(),
            };
            let class = self.class(&c.spec.connector_class_name);
            let mut messages = validate::connector(c, class);
            if let Some(class) = class {
                let secret = c.spec.secret_name().and_then(|s| self.secret(ns, s));
                if let Err(p) = validate::secret_for_connector(c, class, secret) {
                    messages.push(p.message().to_string());
                }
            }
            push(origin, key, messages);
        }
        out.sort();
        out.dedup();
        out
    }
}
