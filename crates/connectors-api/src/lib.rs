//! HTTP APIs of Connectors.
//!
//! [`local`] is the API of the standalone process: health, load status,
//! Connectors with their status, token issuing and mounts (the one-machine
//! equivalent of the CSI driver). Every route but `/healthz` requires the
//! admin bearer token the process writes into its data directory.

pub mod local;
