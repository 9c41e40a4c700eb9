//! An immutable view of all objects at one moment.

use connectors_types::{Connector, ConnectorClass};
use k8s_openapi::api::core::v1::Secret;
use std::collections::HashMap;
use std::sync::Arc;

/// `namespace/name` of a namespaced object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// Builds a reference.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> ObjectRef {
        ObjectRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// All Connectors (with status), classes (with status) and Secrets at one
/// generation. Objects are shared `Arc`s, so a new snapshot that changes one
/// object reuses the others; `Arc::ptr_eq` tells whether an object changed.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Increases with every change.
    pub generation: u64,
    /// Connectors by namespace/name.
    pub connectors: HashMap<ObjectRef, Arc<Connector>>,
    /// Classes by name.
    pub classes: HashMap<String, Arc<ConnectorClass>>,
    /// Secrets by namespace/name.
    pub secrets: HashMap<ObjectRef, Arc<Secret>>,
}

impl Snapshot {
    /// A Connector.
    pub fn connector(&self, namespace: &str, name: &str) -> Option<&Arc<Connector>> {
        self.connectors.get(&ObjectRef::new(namespace, name))
    }

    /// A class.
    pub fn class(&self, name: &str) -> Option<&Arc<ConnectorClass>> {
        self.classes.get(name)
    }

    /// A Secret.
    pub fn secret(&self, namespace: &str, name: &str) -> Option<&Arc<Secret>> {
        self.secrets.get(&ObjectRef::new(namespace, name))
    }

    /// The Secret a Connector references, if it references one that exists.
    pub fn secret_of(&self, connector: &Connector) -> Option<&Arc<Secret>> {
        let ns = connector.metadata.namespace.as_deref()?;
        self.secret(ns, connector.spec.secret_name()?)
    }

    /// Connectors sorted by namespace then name.
    pub fn sorted_connectors(&self) -> Vec<&Arc<Connector>> {
        let mut v: Vec<(&ObjectRef, &Arc<Connector>)> = self.connectors.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.into_iter().map(|(_, c)| c).collect()
    }

    /// Connectors of one class.
    pub fn connectors_of_class<'a>(
        &'a self,
        class: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Connector>> + 'a {
        self.connectors
            .values()
            .filter(move |c| c.spec.connector_class_name == class)
    }
}
