//! Rendering of HTTP probe requests (liveness and auth).

use super::context::probe_context;
use super::RenderError;
use crate::template::Template;
use connectors_types::connector_class::HttpProbe;
use connectors_types::Connector;
use k8s_openapi::api::core::v1::Secret;

/// A probe request ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Header name/value pairs (names may repeat). Values may hold
    /// credentials: never log them.
    pub headers: Vec<(String, String)>,
    /// Whether redirects are followed.
    pub follow_redirects: bool,
    /// CEL expression deciding success, if any.
    pub cel: Option<String>,
}

/// Renders an HTTP probe for a Connector. The path and header values are
/// templates over the probe context; empty header values are dropped (a
/// template that emits `Authorization` only when a Secret exists).
pub fn render_http_probe(
    probe: &HttpProbe,
    c: &Connector,
    secret: Option<&Secret>,
    label: &str,
) -> Result<ProbeRequest, RenderError> {
    let err = |message: String| RenderError::Probe {
        connector: c.key(),
        message,
    };
    let address = url::Url::parse(&c.spec.address)
        .map_err(|e| err(format!("spec.address is not a URL: {e}")))?;
    let addr_host = crate::address::authority(&address);
    let data = probe_context(c, secret);
    let path = Template::parse(&format!("{label}.path"), &probe.path)?.render(&data)?;
    let host = probe
        .host
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .unwrap_or(&addr_host)
        .to_string();
    let scheme = match probe
        .scheme
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => s.to_ascii_lowercase(),
        None if host == addr_host => address.scheme().to_string(),
        None => "http".to_string(),
    };
    let path = path.trim();
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let url = format!("{scheme}://{host}{path}");
    url::Url::parse(&url).map_err(|e| err(format!("probe URL is invalid: {e}")))?;
    let mut headers = Vec::new();
    for (i, h) in probe.http_headers.iter().enumerate() {
        let value =
            Template::parse(&format!("{label}.httpHeaders[{i}]"), &h.value)?.render(&data)?;
        let value = value.trim();
        if !value.is_empty() {
            headers.push((h.name.clone(), value.to_string()));
        }
    }
    let method = probe
        .method
        .as_deref()
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "GET".into());
    if method != "GET" && method != "POST" {
        return Err(err(format!(
            "method {method:?} is not allowed; use GET or POST"
        )));
    }
    Ok(ProbeRequest {
        method,
        url,
        headers,
        follow_redirects: !probe.disable_redirect.unwrap_or(false),
        cel: probe
            .response
            .as_ref()
            .and_then(|r| r.cel.clone())
            .filter(|c| !c.trim().is_empty()),
    })
}
