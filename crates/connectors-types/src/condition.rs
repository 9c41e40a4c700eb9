//! Condition types and reasons of Connectors and ConnectorClasses.

/// Aggregate readiness (both kinds).
pub const READY: &str = "Ready";

/// Connector: the class exists.
pub const CONNECTOR_CLASS_READY: &str = "ConnectorClassReady";
/// Connector: the Secret exists and fits the auth type.
pub const SECRET_READY: &str = "SecretReady";
/// Connector: the tool answered the liveness probe.
pub const LIVENESS_READY: &str = "LivenessReady";
/// Connector: the credential passed the auth probe.
pub const AUTH_READY: &str = "AuthReady";
/// Connector: a proxy address was allocated.
pub const PROXY_SERVICE_READY: &str = "ProxyServiceReady";
/// Connector: custom CA certificates loaded (informational).
pub const CA_CERT_READY: &str = "CACertReady";

/// Class: the API is reachable.
pub const API_READY: &str = "APIReady";
/// Class: the proxy is reachable.
pub const PROXY_READY: &str = "ProxyReady";

/// The five conditions that make up a Connector's `Ready`, in evaluation order.
pub const CONNECTOR_DEPENDENTS: [&str; 5] = [
    CONNECTOR_CLASS_READY,
    SECRET_READY,
    LIVENESS_READY,
    AUTH_READY,
    PROXY_SERVICE_READY,
];

/// Severity of informational conditions.
pub const SEVERITY_INFO: &str = "Info";

/// Reasons.
pub mod reason {
    /// The class does not exist.
    pub const CONNECTOR_CLASS_NOT_FOUND: &str = "ConnectorClassNotFound";
    /// Auth type optional and no Secret referenced.
    pub const SECRET_OPTIONAL: &str = "SecretOptional";
    /// The referenced Secret does not exist.
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    /// The Secret has the wrong type or lacks keys.
    pub const SECRET_INVALID: &str = "SecretInvalid";
    /// The class has no liveness probe.
    pub const NON_LIVENESS_PROBE: &str = "NonLivenessProbe";
    /// Transport error or failed liveness probe.
    pub const CONNECTION_FAILED: &str = "ConnectionFailed";
    /// No auth probe for the chosen auth type.
    pub const NON_AUTH_PROBE: &str = "NonAuthProbe";
    /// The credential was refused.
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    /// The class has no proxy.
    pub const NON_PROXY: &str = "NonProxy";
    /// The proxy Service or address could not be resolved.
    pub const PROXY_SERVICE_NOT_FOUND: &str = "ProxyServiceNotFound";
    /// The class has no API.
    pub const NON_API: &str = "NonAPI";
    /// CA Secret loaded.
    pub const VALID: &str = "Valid";
    /// No CA Secret referenced.
    pub const NO_CA_CERT: &str = "NoCACert";
    /// CA Secret holds no valid PEM.
    pub const INVALID_PEM: &str = "InvalidPEM";
    /// Probe or check still running.
    pub const IN_PROGRESS: &str = "InProgress";
    /// A dependency is not ready yet, so this check did not run.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// A template of the class failed to render.
    pub const TEMPLATE_ERROR: &str = "TemplateError";
}
