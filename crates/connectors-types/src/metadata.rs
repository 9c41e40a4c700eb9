//! Labels and annotations with meaning.

/// Class annotation: `host` (default) or `path`.
pub const PROXY_RESOLVER_ANNOTATION: &str = "connectors.cpaas.io/proxy-resolver";
/// Human name (class and Connector).
pub const DISPLAY_NAME_ANNOTATION: &str = "cpaas.io/display-name";
/// Short description (class and Connector).
pub const DESCRIPTION_ANNOTATION: &str = "cpaas.io/description";
/// Icon data URI (class).
pub const ICON_ANNOTATION: &str = "ui.cpaas.io/icon";
/// Markdown usage text (class).
pub const README_ANNOTATION: &str = "connectors.cpaas.io/readme";
/// Documentation link (class).
pub const DOCS_LINK_ANNOTATION: &str = "connectors.cpaas.io/docs-link";
/// Connector label stamped with its class name.
pub const CONNECTOR_CLASS_LABEL: &str = "connectors.alauda.io/connectorclass";
/// Label marking global CA certificate Secrets.
pub const CA_CERT_LABEL: &str = "connectors.cpaas.io/ca-cert";
