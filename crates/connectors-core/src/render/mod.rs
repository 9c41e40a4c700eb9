//! Rendering of client configuration files and probe requests from class
//! templates.
//!
//! Two template contexts exist (spec 01 §9.2, §9.3): configurations see the
//! Connector as lower-case JSON (`.connector.spec.address`), probes see it
//! with Go field casing (`.Connector.Spec.Address`) plus the Secret.

mod builtin;
mod configuration;
mod context;
mod error;
mod mount;
mod probe;

pub use builtin::{builtin_files, forward_proxy_url, BUILTIN_FILE_NAMES};
pub use configuration::{render_configuration, resolve_params};
pub use context::{configuration_context, probe_context, RenderContext};
pub use error::RenderError;
pub use mount::{render_mount, render_mount_marked, MountRequest, Selection};
pub use probe::{render_http_probe, ProbeRequest};

/// Rendered files: name → content, in the order they were produced.
pub type Files = std::collections::BTreeMap<String, Vec<u8>>;

/// Names of the files whose content depends on the token: `files` was
/// rendered with the real token and `probe` with another one, so a file that
/// differs carries the token in some form (plain, base64, URL-encoded, …).
pub fn token_dependent(files: &Files, probe: &Files) -> std::collections::BTreeSet<String> {
    files
        .iter()
        .filter(|(name, content)| probe.get(*name) != Some(*content))
        .map(|(name, _)| name.clone())
        .collect()
}

/// A stand-in token that differs from `token` in every rendering of it.
pub fn probe_token(token: &str) -> String {
    format!("{token}x")
}
