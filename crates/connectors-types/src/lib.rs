//! API types of Connectors: `Connector` and `ConnectorClass`
//! (`connectors.alauda.io/v1alpha1`), the Secret contracts they rely on, the
//! condition vocabulary, well-known metadata keys and CRD generation.
//!
//! The field names and shapes follow the original system so that existing
//! YAML loads unchanged; see `spec/01-resources.md` for their meaning.

pub mod common;
pub mod condition;
pub mod connector;
pub mod connector_class;
pub mod crd;
pub mod metadata;
pub mod secret;

pub use common::{
    Addressable, Condition, ConditionStatus, Destination, DestinationRef, Param, ParamSpec,
    PolicySource, SecretReference,
};
pub use connector::{Connector, ConnectorAuth, ConnectorSpec, ConnectorStatus};
pub use connector_class::{ConnectorClass, ConnectorClassSpec, ConnectorClassStatus};

/// API group of `Connector` and `ConnectorClass`.
pub const GROUP: &str = "connectors.alauda.io";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` value of both kinds.
pub const API_VERSION: &str = "connectors.alauda.io/v1alpha1";
/// Default system namespace of an installation.
pub const SYSTEM_NAMESPACE: &str = "connectors-system";
/// Name of the built-in proxy Service in the system namespace.
pub const PROXY_SERVICE_NAME: &str = "connectors-proxy-service";
