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

/// Metadata of every object, and the counters it is drawn from.
#[derive(Default)]
struct MetaBook {
    meta: HashMap<Key, Meta>,
    resource_version: u64,
    uid_counter: u64,
}

impl MetaBook {
    /// A random (version 4) UUID; unique even if the system random
    /// generator were to fail, through the counter and the clock.
    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let mut b = [0u8; 16];
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64;
            b[..8].copy_from_slice(&nanos.to_le_bytes());
            b[8..].copy_from_slice(&self.uid_counter.to_le_bytes());
        }
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// Records the hashes of an object: a new object gets a uid, a creation
    /// time and generation 1; any change a new resource version; a spec
    /// change a new generation. Returns the metadata to stamp.
    fn touch(&mut self, key: Key, spec_hash: u64, full_hash: u64) -> Stamp {
        if !self.meta.contains_key(&key) {
            self.resource_version += 1;
            let uid = self.next_uid();
            self.meta.insert(
                key.clone(),
                Meta {
                    uid,
                    created: Time(k8s_openapi::jiff::Timestamp::now()),
                    generation: 1,
                    resource_version: self.resource_version,
                    spec_hash,
                    full_hash,
                },
            );
        } else if self.meta.get(&key).map(|m| m.full_hash) != Some(full_hash) {
            self.resource_version += 1;
            let rv = self.resource_version;
            if let Some(m) = self.meta.get_mut(&key) {
                if m.spec_hash != spec_hash {
                    m.generation += 1;
                    m.spec_hash = spec_hash;
                }
                m.full_hash = full_hash;
                m.resource_version = rv;
            }
        }
        let m = &self.meta[&key];
        Stamp {
            uid: m.uid.clone(),
            created: m.created.clone(),
            generation: m.generation,
            resource_version: m.resource_version,
        }
    }
}

/// Metadata written into a built object.
struct Stamp {
    uid: String,
    created: Time,
    generation: i64,
    resource_version: u64,
}

/// A built object with the hashes it was built from.
struct Built<T> {
    object: Arc<T>,
    full_hash: u64,
    status_hash: u64,
}

/// What the store needs to know about each kind of object.
trait Stored: Clone {
    /// Observed status kept beside the object (`()` for Secrets).
    type Status: Clone + Serialize;
    /// Hash of what counts as the spec (bumps `generation`).
    fn spec_hash(&self) -> u64;
    /// Hash of everything a reader can see besides status.
    fn full_hash(&self) -> u64;
    /// Metadata to stamp.
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// Sets the stored status.
    fn set_status(&mut self, status: Option<Self::Status>);
}

impl Stored for Connector {
    type Status = ConnectorStatus;
    fn spec_hash(&self) -> u64 {
        hash_of(&self.spec)
    }
    fn full_hash(&self) -> u64 {
        hash_of(&(
            &self.metadata.labels,
            &self.metadata.annotations,
            &self.spec,
        ))
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn set_status(&mut self, status: Option<ConnectorStatus>) {
        self.status = status;
    }
}

impl Stored for ConnectorClass {
    type Status = ConnectorClassStatus;
    fn spec_hash(&self) -> u64 {
        hash_of(&self.spec)
    }
    fn full_hash(&self) -> u64 {
        hash_of(&(
            &self.metadata.labels,
            &self.metadata.annotations,
            &self.spec,
        ))
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn set_status(&mut self, status: Option<ConnectorClassStatus>) {
        self.status = status;
    }
}

impl Stored for Secret {
    type Status = ();
    fn spec_hash(&self) -> u64 {
        hash_of(&(&self.type_, &self.data, &self.string_data))
    }
    fn full_hash(&self) -> u64 {
        hash_of(&(
            &self.metadata.labels,
            &self.metadata.annotations,
            self.spec_hash(),
        ))
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn set_status(&mut self, _: Option<()>) {}
}

/// Everything needed to build snapshots.
#[derive(Default)]
pub struct Store {
    desired: Desired,
    book: MetaBook,
    connectors: HashMap<ObjectRef, Built<Connector>>,
    classes: HashMap<String, Built<ConnectorClass>>,
    secrets: HashMap<ObjectRef, Built<Secret>>,
    connector_status: HashMap<ObjectRef, ConnectorStatus>,
    class_status: HashMap<String, ConnectorClassStatus>,
    generation: u64,
}

fn hash_of<T: Serialize + ?Sized>(v: &T) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(v).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// Rebuilds the objects of one kind, reusing the `Arc` of every object whose
/// content and status did not change. Returns whether anything changed.
fn rebuild_kind<K, T>(
    book: &mut MetaBook,
    desired: &BTreeMap<K, T>,
    built: &mut HashMap<K, Built<T>>,
    statuses: &HashMap<K, T::Status>,
    key_of: impl Fn(&K) -> Key,
) -> bool
where
    K: Clone + Eq + std::hash::Hash + Ord,
    T: Stored,
{
    let mut changed = false;
    let mut next = HashMap::with_capacity(desired.len());
    for (key, object) in desired {
        let full_hash = object.full_hash();
        let stamp = book.touch(key_of(key), object.spec_hash(), full_hash);
        let status = statuses.get(key).cloned();
        let status_hash = hash_of(&status);
        let reused = built
            .get(key)
            .filter(|b| b.full_hash == full_hash && b.status_hash == status_hash)
            .map(|b| b.object.clone());
        let object = reused.unwrap_or_else(|| {
            changed = true;
            let mut o = object.clone();
            stamp_meta(o.meta_mut(), &stamp);
            o.set_status(status);
            Arc::new(o)
        });
        next.insert(
            key.clone(),
            Built {
                object,
                full_hash,
                status_hash,
            },
        );
    }
    changed |= built.keys().any(|k| !next.contains_key(k));
    *built = next;
    changed
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

    fn rebuild(&mut self) -> Option<Snapshot> {
        let no_status = HashMap::new();
        let mut changed = rebuild_kind(
            &mut self.book,
            &self.desired.connectors,
            &mut self.connectors,
            &self.connector_status,
            |k| Key::Connector(k.clone()),
        );
        changed |= rebuild_kind(
            &mut self.book,
            &self.desired.classes,
            &mut self.classes,
            &self.class_status,
            |k| Key::Class(k.clone()),
        );
        changed |= rebuild_kind(
            &mut self.book,
            &self.desired.secrets,
            &mut self.secrets,
            &no_status,
            |k| Key::Secret(k.clone()),
        );
        // Forget metadata of objects that are gone, so a re-created object
        // starts over at generation 1 with a new uid.
        let desired = &self.desired;
        self.book.meta.retain(|k, _| match k {
            Key::Connector(r) => desired.connectors.contains_key(r),
            Key::Class(n) => desired.classes.contains_key(n),
            Key::Secret(r) => desired.secrets.contains_key(r),
        });
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

fn stamp_meta(meta: &mut ObjectMeta, s: &Stamp) {
    meta.uid = Some(s.uid.clone());
    meta.creation_timestamp = Some(s.created.clone());
    meta.generation = Some(s.generation);
    meta.resource_version = Some(s.resource_version.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use connectors_core::manifest::{parse_manifest, DocumentContent, Object};

    fn desired(text: &str) -> Desired {
        let mut d = Desired::default();
        for doc in parse_manifest(text) {
            match doc.content {
                DocumentContent::Object(Object::Connector(c)) => {
                    let key = ObjectRef::new(
                        c.metadata.namespace.clone().unwrap(),
                        c.metadata.name.clone().unwrap(),
                    );
                    d.connectors.insert(key, *c);
                }
                DocumentContent::Object(Object::Secret(s)) => {
                    let key = ObjectRef::new(
                        s.metadata.namespace.clone().unwrap(),
                        s.metadata.name.clone().unwrap(),
                    );
                    d.secrets.insert(key, *s);
                }
                other => panic!("{other:?}"),
            }
        }
        d
    }

    fn files(address: &str, label: &str, password: &str) -> Desired {
        desired(&format!(
            "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {{name: c, labels: {{l: {label}}}}}\nspec: {{connectorClassName: git, address: '{address}'}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData: {{password: {password}}}\n"
        ))
    }

    fn meta(snap: &Snapshot) -> (i64, String, String, i64, String) {
        let c = snap.connector("default", "c").unwrap();
        let s = snap.secret("default", "s").unwrap();
        (
            c.metadata.generation.unwrap(),
            c.metadata.resource_version.clone().unwrap(),
            c.metadata.uid.clone().unwrap(),
            s.metadata.generation.unwrap(),
            s.metadata.resource_version.clone().unwrap(),
        )
    }

    #[test]
    fn generation_follows_the_spec_and_resource_version_any_change() {
        let mut store = Store::default();
        let s1 = store.set_desired(files("https://a", "x", "p1")).unwrap();
        let (g, rv, uid, sg, _) = meta(&s1);
        assert_eq!((g, sg), (1, 1));
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4", "a version 4 UUID: {uid}");
        assert!(s1
            .connector("default", "c")
            .unwrap()
            .metadata
            .creation_timestamp
            .is_some());

        assert!(
            store.set_desired(files("https://a", "x", "p1")).is_none(),
            "identical objects publish nothing"
        );

        // A label: new resourceVersion, same generation.
        let s2 = store.set_desired(files("https://a", "y", "p1")).unwrap();
        let (g2, rv2, uid2, _, _) = meta(&s2);
        assert_eq!(g2, 1);
        assert_ne!(rv2, rv);
        assert_eq!(uid2, uid);
        assert!(Arc::ptr_eq(
            s1.secret("default", "s").unwrap(),
            s2.secret("default", "s").unwrap()
        ));

        // The spec: new generation.
        let s3 = store.set_desired(files("https://b", "y", "p1")).unwrap();
        assert_eq!(meta(&s3).0, 2);

        // Secret data: the Secret's generation.
        let s4 = store.set_desired(files("https://b", "y", "p2")).unwrap();
        assert_eq!(meta(&s4).3, 2);
        assert_eq!(meta(&s4).0, 2);
        assert!(s4.generation > s3.generation);

        // Gone and back: a new object.
        store.set_desired(Desired::default()).unwrap();
        let s5 = store.set_desired(files("https://b", "y", "p2")).unwrap();
        let (g5, _, uid5, _, _) = meta(&s5);
        assert_eq!(g5, 1);
        assert_ne!(uid5, uid);
    }

    #[test]
    fn statuses_stay_with_their_object() {
        let mut store = Store::default();
        store.set_desired(files("https://a", "x", "p")).unwrap();
        let key = ObjectRef::new("default", "c");
        let status = ConnectorStatus {
            observed_generation: Some(1),
            ..Default::default()
        };
        let snap = store
            .set_connector_status(key.clone(), status.clone())
            .unwrap()
            .unwrap();
        let c = snap.connector("default", "c").unwrap();
        assert_eq!(c.status.as_ref(), Some(&status));
        assert_eq!(c.metadata.generation, Some(1), "status is not spec");
        assert!(store
            .set_connector_status(key.clone(), status.clone())
            .unwrap()
            .is_none());
        let snap = store.set_desired(files("https://b", "x", "p")).unwrap();
        assert_eq!(
            snap.connector("default", "c").unwrap().status.as_ref(),
            Some(&status)
        );
        store.set_desired(Desired::default()).unwrap();
        assert!(store.set_connector_status(key.clone(), status).is_err());
        let snap = store.set_desired(files("https://b", "x", "p")).unwrap();
        assert_eq!(snap.connector("default", "c").unwrap().status, None);
        assert!(store
            .set_class_status("nope", ConnectorClassStatus::default())
            .is_err());
    }
}
