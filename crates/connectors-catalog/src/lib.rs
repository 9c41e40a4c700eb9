//! Where Connectors, ConnectorClasses and Secrets come from, who a token
//! belongs to, and whether that identity may use a Connector.
//!
//! Everything else (proxy, reconciler, API, renderer) talks to a
//! [`Catalog`] and never knows which backend serves it. The `local` backend
//! reads manifests from a directory and issues its own tokens; a Kubernetes
//! backend (watch caches, TokenReview, SubjectAccessReview) implements the
//! same trait.

pub mod access;
pub mod local;
pub mod snapshot;

pub use access::{AccessCheck, AuthError, Decision, Identity};
pub use snapshot::{ObjectRef, Snapshot};

use async_trait::async_trait;
use connectors_types::connector::ConnectorStatus;
use connectors_types::connector_class::ConnectorClassStatus;
use std::sync::Arc;
use tokio::sync::watch;

/// Errors of catalog writes.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The object does not exist (any more).
    #[error("{kind} {key} not found")]
    NotFound {
        /// Object kind.
        kind: &'static str,
        /// `namespace/name` or `name`.
        key: String,
    },
    /// The backend could not be reached or refused the write.
    #[error("catalog unavailable: {0}")]
    Unavailable(String),
}

/// The backend every role talks to.
///
/// Reads are served from an in-memory [`Snapshot`] (an `Arc` swap, no I/O);
/// authentication and authorisation may call out (the Kubernetes backend asks
/// the API server), so they are async. Implementations are cheap to clone
/// behind an `Arc`.
#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// The current view of all objects, with each Connector's and class's
    /// status as last written. Cheap: clones an `Arc`.
    fn snapshot(&self) -> Arc<Snapshot>;

    /// A receiver that changes (to the new snapshot generation) whenever any
    /// object or status changes.
    fn subscribe(&self) -> watch::Receiver<u64>;

    /// Who a bearer token belongs to. `AuthError::Unauthenticated` for a
    /// token that is malformed, forged, expired or meant for someone else.
    async fn authenticate(&self, token: &str) -> Result<Identity, AuthError>;

    /// Whether `identity` may perform `check`.
    async fn authorize(
        &self,
        identity: &Identity,
        check: &AccessCheck,
    ) -> Result<Decision, AuthError>;

    /// Stores the observed status of a Connector.
    async fn write_connector_status(
        &self,
        namespace: &str,
        name: &str,
        status: ConnectorStatus,
    ) -> Result<(), CatalogError>;

    /// Stores the observed status of a ConnectorClass.
    async fn write_class_status(
        &self,
        name: &str,
        status: ConnectorClassStatus,
    ) -> Result<(), CatalogError>;
}
