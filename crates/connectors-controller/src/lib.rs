//! Reconcilers: they observe Connectors and ConnectorClasses through a
//! [`Catalog`](connectors_catalog::Catalog), run the checks of spec 01 §5
//! (class, Secret, liveness and auth probes against the real tool, proxy
//! address) and write status back. The condition logic itself is pure and
//! lives in `connectors_core::status`; this crate does the I/O.

mod addressing;
mod class_status;
mod connector_status;
mod fingerprint;
mod probe;
mod runner;

pub use addressing::ProxyAddressing;
pub use connector_status::observe_connector;
pub use probe::{ProbeClient, ProbeResult, PROBE_USER_AGENT};
pub use runner::{Reconciler, ReconcilerConfig};
