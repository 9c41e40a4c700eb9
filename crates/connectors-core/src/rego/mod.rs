//! The Rego (OPA) policies a ConnectorClass carries, evaluated with
//! `regorus`:
//!
//! - [`TokenExtractor`]: `spec.proxy.authExtractor.rego`, finds the caller's
//!   token in a request reaching the reverse proxy;
//! - [`CredentialGenerator`]: `spec.auth.types[].generator.rego`, builds the
//!   tool credential from the Connector's Secret;
//! - [`PermissionMapper`]: `spec.api.permissions.rego`, assigns a verb to an
//!   API request.
//!
//! Policies compile once and are then evaluated concurrently: every type here
//! is `Send + Sync`, evaluation takes `&self` and no lock. Both Rego v1
//! (`if` syntax, `import rego.v1`) and pre-1.0 syntax are accepted. Builtins
//! behave as in OPA outside strict mode (bad arguments make an expression
//! undefined); `crypto.hmac.sha256` and `crypto.sha256` are added on top of
//! regorus's set. Errors name the policy and never contain input values.

mod crypto;
mod diagnostic;
mod error;
mod extractor;
mod generator;
mod input;
mod permissions;
mod policy;
mod references;

pub use error::{PolicyKind, RegoError};
pub use extractor::TokenExtractor;
pub use generator::{CredentialGenerator, Injection, InjectionPosition};
pub use input::{canonical_header_key, RequestInput};
pub use permissions::{ApiVerb, PermissionMapper};
