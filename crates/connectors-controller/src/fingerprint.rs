//! What a Connector's status depends on, to tell when to reconcile again.

use connectors_catalog::Snapshot;
use connectors_types::Connector;

/// Identity and generation of the Connector, its class and its Secret.
/// Status writes do not change it; spec, class or Secret changes do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    connector: (Option<String>, Option<i64>),
    class: Option<(Option<String>, Option<i64>)>,
    secret: Option<(Option<String>, Option<i64>, Option<String>)>,
}

impl Fingerprint {
    /// The fingerprint of `connector` within `snapshot`.
    pub fn of(snapshot: &Snapshot, connector: &Connector) -> Fingerprint {
        Fingerprint {
            connector: (
                connector.metadata.uid.clone(),
                connector.metadata.generation,
            ),
            class: snapshot
                .class(&connector.spec.connector_class_name)
                .map(|c| (c.metadata.uid.clone(), c.metadata.generation)),
            secret: snapshot.secret_of(connector).map(|s| {
                (
                    s.metadata.uid.clone(),
                    s.metadata.generation,
                    s.metadata.resource_version.clone(),
                )
            }),
        }
    }
}
