//! Turning desired objects into snapshots: server-like metadata, stored
//! statuses, and `Arc` reuse for everything that did not change.

use crate::snapshot::{ObjectRef, Snapshot};
use connectors_types::connector::ConnectorStatus;
use connectors_types::connector_class::ConnectorClassStatus;
use connectors_types::{Connector, ConnectorClass};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Serialize;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The objects the files ask for, without server metadata or status.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    /// Connectors.
    pub connectors: BTreeMap<ObjectRef, Connector>,
    /// Classes (built-in and from files).
    pub classes: BTreeMap<String, ConnectorClass>,
    /// Secrets.
    pub secrets: BTreeMap<ObjectRef, Secret>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Connector(ObjectRef),
    Class(String),
    Secret(ObjectRef),
}

/// Server-side metadata of one object.
struct Meta {
    uid: String,
    created: Time,
    generation: i64,
    resource_version: u64,
    spec_hash: u64,
    full_hash: u64,
}

/// A built object with the hashes it was built from.
struct Built<T> {
    object: Arc<T>,
    full_hash: u64,
    status_hash: u64,
}

/// Everything needed to build snapshots.
#[derive(Default)]
pub struct Store {
    desired: Desired,
    meta: HashMap<Key, Meta>,
    connectors: HashMap<ObjectRef, Built<Connector>>,
    classes: HashMap<String, Built<ConnectorClass>>,
    secrets: HashMap<ObjectRef, Built<Secret>>,
    connector_status: HashMap<ObjectRef, ConnectorStatus>,
    class_status: HashMap<String, ConnectorClassStatus>,
    resource_version: u64,
    generation: u64,
    uid_counter: u64,
}

fn hash_of<T: Serialize + ?Sized>(v: &T) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(v).unwrap_or_default().hash(&mut h);
    h.finish()
}

impl Store {
    /// Replaces the desired objects; returns the new snapshot when anything
    /// visible changed.
    pub fn set_desired(&mut self, desired: Desired) -> Option<Snapshot> {
        self.desired = desired;
        self.connector_status
            .retain(|k, _| self.desired.connectors.contains_key(k));
        self.class_status
            .retain(|k, _| self.desired.classes.contains_key(k));
        self.rebuild()
    }

    /// Stores a Connector status; `None` result when it did not change
    /// anything, `Err` when the Connector does not exist.
    pub fn set_connector_status(
        &mut self,
        key: ObjectRef,
        status: ConnectorStatus,
    ) -> Result<Option<Snapshot>, ()> {
        if !self.desired.connectors.contains_key(&key) {
            return Err(());
        }
        if self.connector_status.get(&key) == Some(&status) {
            return Ok(None);
        }
        self.connector_status.insert(key, status);
        Ok(self.rebuild())
    }

    /// Stores a class status.
    pub fn set_class_status(
        &mut self,
        name: &str,
        status: ConnectorClassStatus,
    ) -> Result<Option<Snapshot>, ()> {
        if !self.desired.classes.contains_key(name) {
            return Err(());
        }
        if self.class_status.get(name) == Some(&status) {
            return Ok(None);
        }
        self.class_status.insert(name.to_string(), status);
        Ok(self.rebuild())
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let mut bytes = [0u8; 8];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
        let r = u64::from_le_bytes(bytes);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (r >> 32) as u32,
            (r >> 16) as u16,
            r as u16,
            self.uid_counter as u16,
            self.uid_counter
        )
    }

    /// Updates metadata bookkeeping for one object and returns it.
    fn touch(&mut self, key: Key, spec_hash: u64, full_hash: u64) -> &Meta {
        let exists = self.meta.contains_key(&key);
        if !exists {
            self.resource_version += 1;
            let uid = self.next_uid();
            let meta = Meta {
                uid,
                created: Time(k8s_openapi::jiff::Timestamp::now()),
                generation: 1,
                resource_version: self.resource_version,
                spec_hash,
                full_hash,
            };
            self.meta.insert(key.clone(), meta);
        } else if let Some(m) = self.meta.get(&key) {
            if m.full_hash != full_hash {
                self.resource_version += 1;
                let rv = self.resource_version;
                let m = self.meta.get_mut(&key).expect("checked above");
                if m.spec_hash != spec_hash {
                    m.generation += 1;
                    m.spec_hash = spec_hash;
                }
                m.full_hash = full_hash;
                m.resource_version = rv;
            }
        }
        self.meta.get(&key).expect("inserted above")
    }

    fn rebuild(&mut self) -> Option<Snapshot> {
        let mut changed = false;
        let desired = std::mem::take(&mut self.desired);

        // Connectors.
        let mut connectors = HashMap::new();
        for (key, c) in &desired.connectors {
            let spec_hash = hash_of(&c.spec);
            let full_hash = hash_of(&(&c.metadata.labels, &c.metadata.annotations, &c.spec));
            let meta = self.touch(Key::Connector(key.clone()), spec_hash, full_hash);
            let meta = (
                meta.uid.clone(),
                meta.created.clone(),
                meta.generation,
                meta.resource_version,
            );
            let status = self.connector_status.get(key).cloned();
            let status_hash = hash_of(&status);
            let reuse = self
                .connectors
                .get(key)
                .filter(|b| b.full_hash == full_hash && b.status_hash == status_hash)
                .map(|b| b.object.clone());
            let object = match reuse {
                Some(o) => o,
                None => {
                    changed = true;
                    let mut c = c.clone();
                    stamp(&mut c.metadata, &meta);
                    c.status = status;
                    Arc::new(c)
                }
            };
            connectors.insert(
                key.clone(),
                Built {
                    object,
                    full_hash,
                    status_hash,
                },
            );
        }
        changed |= self.connectors.keys().any(|k| !connectors.contains_key(k));
        self.connectors = connectors;

        // Classes.
        let mut classes = HashMap::new();
        for (name, c) in &desired.classes {
            let spec_hash = hash_of(&c.spec);
            let full_hash = hash_of(&(&c.metadata.labels, &c.metadata.annotations, &c.spec));
            let meta = self.touch(Key::Class(name.clone()), spec_hash, full_hash);
            let meta = (
                meta.uid.clone(),
                meta.created.clone(),
                meta.generation,
                meta.resource_version,
            );
            let status = self.class_status.get(name).cloned();
            let status_hash = hash_of(&status);
            let reuse = self
                .classes
                .get(name)
                .filter(|b| b.full_hash == full_hash && b.status_hash == status_hash)
                .map(|b| b.object.clone());
            let object = match reuse {
                Some(o) => o,
                None => {
                    changed = true;
                    let mut c = c.clone();
                    stamp(&mut c.metadata, &meta);
                    c.status = status;
                    Arc::new(c)
                }
            };
            classes.insert(
                name.clone(),
                Built {
                    object,
                    full_hash,
                    status_hash,
                },
            );
        }
        changed |= self.classes.keys().any(|k| !classes.contains_key(k));
        self.classes = classes;

        // Secrets.
        let mut secrets = HashMap::new();
        for (key, s) in &desired.secrets {
            let spec_hash = hash_of(&(&s.type_, &s.data, &s.string_data));
            let full_hash = hash_of(&(&s.metadata.labels, &s.metadata.annotations, spec_hash));
            let meta = self.touch(Key::Secret(key.clone()), spec_hash, full_hash);
            let meta = (
                meta.uid.clone(),
                meta.created.clone(),
                meta.generation,
                meta.resource_version,
            );
            let reuse = self
                .secrets
                .get(key)
                .filter(|b| b.full_hash == full_hash)
                .map(|b| b.object.clone());
            let object = match reuse {
                Some(o) => o,
                None => {
                    changed = true;
                    let mut s = s.clone();
                    stamp(&mut s.metadata, &meta);
                    Arc::new(s)
                }
            };
            secrets.insert(
                key.clone(),
                Built {
                    object,
                    full_hash,
                    status_hash: 0,
                },
            );
        }
        changed |= self.secrets.keys().any(|k| !secrets.contains_key(k));
        self.secrets = secrets;

        // Forget metadata of objects that are gone, so a re-created object
        // starts over at generation 1 with a new uid.
        self.meta.retain(|k, _| match k {
            Key::Connector(r) => desired.connectors.contains_key(r),
            Key::Class(n) => desired.classes.contains_key(n),
            Key::Secret(r) => desired.secrets.contains_key(r),
        });
        self.desired = desired;

        if !changed {
            return None;
        }
        self.generation += 1;
        Some(self.snapshot())
    }

    /// A new generation of the unchanged objects (something observable
    /// besides the objects changed, e.g. the load problems).
    pub fn bump(&mut self) -> Snapshot {
        self.generation += 1;
        self.snapshot()
    }

    /// The snapshot of the current state.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            generation: self.generation,
            connectors: self
                .connectors
                .iter()
                .map(|(k, b)| (k.clone(), b.object.clone()))
                .collect(),
            classes: self
                .classes
                .iter()
                .map(|(k, b)| (k.clone(), b.object.clone()))
                .collect(),
            secrets: self
                .secrets
                .iter()
                .map(|(k, b)| (k.clone(), b.object.clone()))
                .collect(),
        }
    }
}

fn stamp(meta: &mut ObjectMeta, m: &(String, Time, i64, u64)) {
    meta.uid = Some(m.0.clone());
    meta.creation_timestamp = Some(m.1.clone());
    meta.generation = Some(m.2);
    meta.resource_version = Some(m.3.to_string());
}
