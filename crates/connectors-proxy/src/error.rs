//! What can go wrong: [`ProxyError`] for starting and running the proxy,
//! [`RequestError`] for one request (each maps to a status code and a short
//! plain-text body that says what to do). Neither ever carries a token or a
//! Secret value.

use crate::body::ResponseBody;
use crate::request_id::RequestId;
use http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PROXY_AUTHENTICATE, WWW_AUTHENTICATE,
};
use http::{Response, StatusCode};
use std::time::Duration;

/// Header carrying the per-request id on proxy-generated responses.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Challenge sent with every 401 (`WWW-Authenticate`) and 407
/// (`Proxy-Authenticate`).
pub(crate) const BASIC_CHALLENGE: &str = "Basic realm=\"connectors-proxy\"";

/// Errors of setting up or running the proxy (not of single requests).
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. "writing /data/proxy-ca.key".
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The proxy CA could not be created or loaded.
    #[error("proxy CA: {0}")]
    Ca(String),
}

impl ProxyError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> ProxyError {
        ProxyError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Why one request was answered by the proxy itself instead of the tool.
///
/// Messages are safe to show to the caller and to log: they name objects and
/// hosts, never tokens or credential values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No client token anywhere.
    #[error("no token: send the workload token as the Basic password (any username) or as 'Authorization: Bearer TOKEN'")]
    NoToken,
    /// An `Authorization` header that cannot be read.
    #[error(
        "malformed Authorization header ({0}): send 'Basic base64(user:TOKEN)' or 'Bearer TOKEN'"
    )]
    MalformedAuthorization(&'static str),
    /// The catalog did not accept the token.
    #[error("token rejected ({0}): get a fresh workload token and retry")]
    Unauthenticated(String),
    /// The catalog could not be asked.
    #[error("cannot check access right now ({0}); retry shortly")]
    AuthUnavailable(String),
    /// The identity may not use the Connector.
    #[error("{who} may not use connector {namespace}/{name} ({reason}); ask an administrator to grant get on connectors.connectors.alauda.io {name} in namespace {namespace}")]
    Forbidden {
        /// Display form of the caller, e.g. `serviceaccount team-a/builder`.
        who: String,
        /// Connector namespace.
        namespace: String,
        /// Connector name.
        name: String,
        /// The catalog's reason.
        reason: String,
    },
    /// Neither path nor host names a Connector.
    #[error(
        "connector not specified: use /namespaces/NS/connectors/NAME/... or host c-NAME.NS.svc"
    )]
    ConnectorNotSpecified,
    /// Path or host names a Connector with an impossible name.
    #[error("connector not specified: {0:?} is not a valid namespace or name")]
    InvalidConnectorName(String),
    /// Forward mode: `Proxy-Authorization` is missing or unusable.
    #[error("proxy authentication required ({0}): send 'Proxy-Authorization: Basic base64(NAMESPACE/CONNECTOR:TOKEN)', e.g. use the proxy URL http://NAMESPACE%2FCONNECTOR:TOKEN@PROXY-HOST")]
    ProxyAuthRequired(&'static str),
    /// Forward mode: the catalog did not accept the token.
    #[error(
        "proxy token rejected ({0}): get a fresh workload token and use it as the proxy password"
    )]
    ProxyTokenRejected(String),
    /// The request head is over a configured limit.
    #[error("request header fields too large ({0}); send fewer or smaller headers")]
    HeadersTooLarge(String),
    /// A request inside a CONNECT tunnel names another host than the tunnel.
    #[error("this connection was opened with CONNECT {tunnel} but the request is for {requested}; open a separate CONNECT for that host")]
    Misdirected {
        /// `host:port` of the CONNECT request.
        tunnel: String,
        /// What the request named.
        requested: String,
    },
    /// Forward mode: no Connector named in `Proxy-Authorization` exists
    /// (and the caller may use every name listed).
    #[error("none of the connectors named in Proxy-Authorization exists ({0}); check the proxy user NAMESPACE/CONNECTOR[,NAMESPACE/CONNECTOR...]")]
    ListedConnectorsNotFound(String),
    /// The caller is allowed, but the Connector does not exist.
    #[error(
        "connector {namespace}/{name} not found: check the namespace and name of the proxy address"
    )]
    ConnectorNotFound {
        /// Connector namespace.
        namespace: String,
        /// Connector name.
        name: String,
    },
    /// The Connector's class is missing or is not served by this proxy.
    #[error("connector {connector}: {detail}")]
    ClassUnusable {
        /// `namespace/name`.
        connector: String,
        /// What is wrong and what to do.
        detail: String,
    },
    /// `spec.address` cannot be used as an upstream.
    #[error("connector {connector} has an unusable spec.address ({detail}); fix the Connector")]
    InvalidAddress {
        /// `namespace/name`.
        connector: String,
        /// Why.
        detail: String,
    },
    /// The Secret named by `spec.caCertSecretRef` is missing or holds no
    /// certificate.
    #[error("connector CA certificates unavailable: {0}")]
    CaUnavailable(String),
    /// The Secret is missing or lacks what the auth type needs.
    #[error("connector credential unavailable: {0}")]
    CredentialUnavailable(String),
    /// A class policy does not compile (the message names the class).
    #[error("{0}; fix the ConnectorClass")]
    PolicyCompile(String),
    /// A class policy failed while evaluating (the message names the class
    /// and never carries request or Secret values).
    #[error("{0}; fix the ConnectorClass")]
    PolicyEval(String),
    /// The generator asked for something this proxy cannot do yet or that
    /// is not a valid header or query parameter.
    #[error("class {class}: {detail}")]
    InjectionUnsupported {
        /// Class name.
        class: String,
        /// What was asked.
        detail: String,
    },
    /// DNS, TCP or TLS towards the tool failed.
    #[error("upstream {host} unreachable: {reason}")]
    UpstreamUnreachable {
        /// `host[:port]`.
        host: String,
        /// Short reason.
        reason: String,
    },
    /// The tool's TLS certificate was not accepted, or the handshake failed.
    #[error("upstream {host} unreachable: TLS failed: {reason}{hint}")]
    UpstreamTls {
        /// `host[:port]`.
        host: String,
        /// Short reason.
        reason: String,
        /// What to do about it, when the reason tells (`; ` first), or empty.
        hint: &'static str,
    },
    /// The tool closed or broke the exchange before answering.
    #[error("upstream {host} failed: {reason}")]
    UpstreamFailed {
        /// `host[:port]`.
        host: String,
        /// Short reason.
        reason: String,
    },
    /// The tool did not connect or answer in time.
    #[error("upstream {host} did not {what} within {}s; retry later or raise the proxy's upstream timeout", after.as_secs_f32())]
    UpstreamTimeout {
        /// `host[:port]`.
        host: String,
        /// `accept a connection` or `answer`.
        what: &'static str,
        /// The limit that passed.
        after: Duration,
    },
    /// The client sent something unusable.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A request head that could not be parsed.
    #[error("malformed request head: {0}")]
    MalformedHead(&'static str),
    /// A request mode this proxy does not implement yet.
    #[error("{0}")]
    NotImplemented(&'static str),
}

impl RequestError {
    /// The tool at `host` did not answer properly, for `reason`.
    pub(crate) fn upstream_failed(host: &str, reason: impl Into<String>) -> RequestError {
        RequestError::UpstreamFailed {
            host: host.to_string(),
            reason: reason.into(),
        }
    }

    /// The TLS handshake with the tool at `host` failed with `e`, or for a
    /// reason rustls did not give (`e` is `None`; `reason` says it).
    pub(crate) fn upstream_tls(
        host: &str,
        e: Option<&rustls::Error>,
        reason: String,
    ) -> RequestError {
        let hint = match e {
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented) => {
                "; if the tool uses a private CA, put the CA certificate in a Secret and reference it from the Connector's spec.caCertSecretRef"
            }
            Some(
                rustls::Error::InvalidMessage(_)
                | rustls::Error::InappropriateMessage { .. }
                | rustls::Error::InappropriateHandshakeMessage { .. },
            ) => "; the tool did not answer in TLS: if this port serves plain HTTP, use an http:// address",
            _ => "",
        };
        RequestError::UpstreamTls {
            host: host.to_string(),
            reason: reason.chars().take(200).collect(),
            hint,
        }
    }

    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        use RequestError::*;
        match self {
            NoToken | MalformedAuthorization(_) | Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ProxyAuthRequired(_) | ProxyTokenRejected(_) => {
                StatusCode::PROXY_AUTHENTICATION_REQUIRED
            }
            HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Misdirected { .. } => StatusCode::MISDIRECTED_REQUEST,
            AuthUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Forbidden { .. } => StatusCode::FORBIDDEN,
            ConnectorNotSpecified
            | InvalidConnectorName(_)
            | ConnectorNotFound { .. }
            | ListedConnectorsNotFound(_) => StatusCode::NOT_FOUND,
            ClassUnusable { .. }
            | InvalidAddress { .. }
            | CredentialUnavailable(_)
            | CaUnavailable(_)
            | UpstreamTls { .. }
            | PolicyCompile(_)
            | InjectionUnsupported { .. }
            | UpstreamUnreachable { .. }
            | UpstreamFailed { .. } => StatusCode::BAD_GATEWAY,
            PolicyEval(_) => StatusCode::INTERNAL_SERVER_ERROR,
            UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            BadRequest(_) | MalformedHead(_) => StatusCode::BAD_REQUEST,
            NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// A short machine-friendly name for logs.
    pub fn kind(&self) -> &'static str {
        use RequestError::*;
        match self {
            NoToken => "no_token",
            MalformedAuthorization(_) => "malformed_authorization",
            Unauthenticated(_) => "unauthenticated",
            ProxyAuthRequired(_) => "proxy_auth_required",
            ProxyTokenRejected(_) => "proxy_token_rejected",
            HeadersTooLarge(_) => "headers_too_large",
            Misdirected { .. } => "misdirected",
            CaUnavailable(_) => "ca_unavailable",
            UpstreamTls { .. } => "upstream_tls",
            AuthUnavailable(_) => "auth_unavailable",
            Forbidden { .. } => "forbidden",
            ConnectorNotSpecified | InvalidConnectorName(_) => "connector_not_specified",
            ConnectorNotFound { .. } | ListedConnectorsNotFound(_) => "connector_not_found",
            ClassUnusable { .. } => "class_unusable",
            InvalidAddress { .. } => "invalid_address",
            CredentialUnavailable(_) => "credential_unavailable",
            PolicyCompile(_) => "policy_compile",
            PolicyEval(_) => "policy_eval",
            InjectionUnsupported { .. } => "injection_unsupported",
            UpstreamUnreachable { .. } => "upstream_unreachable",
            UpstreamFailed { .. } => "upstream_failed",
            UpstreamTimeout { .. } => "upstream_timeout",
            BadRequest(_) => "bad_request",
            MalformedHead(_) => crate::unreadable::MALFORMED,
            NotImplemented(_) => "not_implemented",
        }
    }

    /// For upstream failures, the kind counted in metrics: `connect`,
    /// `tls`, `timeout` or `protocol`.
    pub fn upstream_kind(&self) -> Option<&'static str> {
        match self {
            RequestError::UpstreamUnreachable { .. } => Some("connect"),
            RequestError::UpstreamTls { .. } => Some("tls"),
            RequestError::UpstreamTimeout { .. } => Some("timeout"),
            RequestError::UpstreamFailed { .. } => Some("protocol"),
            _ => None,
        }
    }

    /// The plain-text response for this error (body ends with a newline).
    pub(crate) fn to_response(&self, id: RequestId) -> Response<ResponseBody> {
        let mut body = self.to_string();
        body.push('\n');
        let mut resp = Response::new(ResponseBody::full(body));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
            h.insert(REQUEST_ID_HEADER, v);
        }
        match self.status() {
            StatusCode::UNAUTHORIZED => {
                h.insert(WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE));
            }
            StatusCode::PROXY_AUTHENTICATION_REQUIRED => {
                h.insert(
                    PROXY_AUTHENTICATE,
                    HeaderValue::from_static(BASIC_CHALLENGE),
                );
            }
            _ => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(RequestError::NoToken.status(), 401);
        assert_eq!(RequestError::ConnectorNotSpecified.status(), 404);
        assert_eq!(
            RequestError::UpstreamTimeout {
                host: "h".into(),
                what: "answer",
                after: Duration::from_secs(1)
            }
            .status(),
            504
        );
        let r = RequestError::NoToken.to_response(RequestId(7));
        assert_eq!(r.headers()[WWW_AUTHENTICATE], BASIC_CHALLENGE);
        assert!(r.headers().contains_key(REQUEST_ID_HEADER));
        let r = RequestError::ProxyAuthRequired("no Proxy-Authorization").to_response(RequestId(8));
        assert_eq!(r.status(), 407);
        assert_eq!(r.headers()[PROXY_AUTHENTICATE], BASIC_CHALLENGE);
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn tls_failures_hint_only_at_what_their_reason_tells() {
        let text = |e: Option<&rustls::Error>| {
            RequestError::upstream_tls("h:443", e, "why".into()).to_string()
        };
        let unknown_ca = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(text(Some(&unknown_ca)).ends_with("spec.caCertSecretRef"));
        let not_tls = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(text(Some(&not_tls)).contains("did not answer in TLS"));
        assert_eq!(text(None), "upstream h:443 unreachable: TLS failed: why");
        let refused = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert!(text(Some(&refused)).ends_with("TLS failed: why"));
    }
}
