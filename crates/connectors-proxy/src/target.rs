//! Forward-mode targets (spec 02 §6.4): the parsed destination of a
//! request, and which listed Connector (if any) covers it.
//!
//! The destination always comes from the request line (absolute-form URL)
//! or, inside a CONNECT tunnel, from the CONNECT authority plus the inner
//! request's path — never from a `Host` header the client chose.

use crate::error::RequestError;
use crate::proxy_auth::Entry;
use crate::route::{Route, RouteTable};
use connectors_catalog::Snapshot;
use http::uri::{Authority, Scheme};
use http::Uri;
use std::borrow::Cow;
use std::sync::Arc;

/// Where a forward-mode request goes.
#[derive(Clone, Debug)]
pub(crate) struct ForwardTarget {
    pub(crate) scheme: Scheme,
    /// Host in lower case (IPv6 literals in brackets).
    pub(crate) host: String,
    /// Effective port.
    pub(crate) port: u16,
    /// `host[:port]` with the default port left out: the upstream URI's
    /// authority and `Host` header.
    pub(crate) authority: Authority,
    /// Path (dot segments resolved) and raw query.
    pub(crate) path_and_query: String,
}

impl ForwardTarget {
    /// From an absolute-form request URL (`GET http://host/path`).
    pub(crate) fn from_absolute(uri: &Uri) -> Result<ForwardTarget, RequestError> {
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => Scheme::HTTP,
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::HTTPS,
            _ => {
                return Err(RequestError::BadRequest(
                    "only http:// and https:// URLs can be sent through the proxy",
                ))
            }
        };
        let authority = uri
            .authority()
            .ok_or(RequestError::BadRequest("the request URL has no host"))?;
        let port = authority.port_u16().unwrap_or(default_port(&scheme));
        let pq = match uri.query() {
            Some(q) => format!("{}?{q}", normalize_path(uri.path())),
            None => normalize_path(uri.path()).into_owned(),
        };
        ForwardTarget::new(scheme, authority.host(), port, pq)
    }

    /// Inside a CONNECT tunnel: `https://<tunnel host:port><path>`.
    pub(crate) fn in_tunnel(tunnel: &TunnelTarget, uri: &Uri) -> ForwardTarget {
        ForwardTarget::in_tunnel_parts(tunnel, uri.path(), uri.query())
    }

    /// Like [`in_tunnel`](Self::in_tunnel), from a request's path and query.
    pub(crate) fn in_tunnel_parts(
        tunnel: &TunnelTarget,
        path: &str,
        query: Option<&str>,
    ) -> ForwardTarget {
        let path = normalize_path(path);
        let path_and_query = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.into_owned(),
        };
        ForwardTarget {
            scheme: Scheme::HTTPS,
            host: tunnel.host.clone(),
            port: tunnel.port,
            authority: tunnel.authority.clone(),
            path_and_query,
        }
    }

    fn new(
        scheme: Scheme,
        host: &str,
        port: u16,
        path_and_query: String,
    ) -> Result<ForwardTarget, RequestError> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return Err(RequestError::BadRequest("the request URL has no host"));
        }
        let authority = authority_of(&host, port, &scheme)?;
        Ok(ForwardTarget {
            scheme,
            host,
            port,
            authority,
            path_and_query,
        })
    }

    /// The path without query.
    pub(crate) fn path(&self) -> &str {
        self.path_and_query
            .split_once('?')
            .map(|(p, _)| p)
            .unwrap_or(&self.path_and_query)
    }

    /// `host:port` for logs and messages.
    pub(crate) fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The destination of a CONNECT tunnel.
#[derive(Clone, Debug)]
pub(crate) struct TunnelTarget {
    /// Host in lower case (IPv6 literals in brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host[:port]`, default port 443 left out.
    pub(crate) authority: Authority,
}

impl TunnelTarget {
    /// From the CONNECT request target (`host:port`; port 443 when absent).
    /// Only that form is taken: no scheme, path or user information.
    pub(crate) fn from_connect(uri: &Uri) -> Result<TunnelTarget, RequestError> {
        let authority = uri
            .authority()
            .filter(|a| {
                uri.scheme().is_none()
                    && uri.path_and_query().is_none()
                    && !a.as_str().contains('@')
            })
            .ok_or(RequestError::BadRequest("CONNECT needs a host:port target"))?;
        let port = authority.port_u16().unwrap_or(443);
        let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() || port == 0 {
            return Err(RequestError::BadRequest("CONNECT needs a host:port target"));
        }
        let authority = authority_of(&host, port, &Scheme::HTTPS)?;
        Ok(TunnelTarget {
            host,
            port,
            authority,
        })
    }

    /// The host without IPv6 brackets, as certificates name it.
    pub(crate) fn cert_name(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// `host:port` for logs and messages.
    pub(crate) fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Whether an authority named by an inner request (`Host` header or
    /// absolute URI) is this tunnel's. A missing port means 443.
    pub(crate) fn same_authority(&self, other: &str) -> bool {
        let Ok(a) = other.parse::<Authority>() else {
            return false;
        };
        if a.as_str().contains('@') {
            return false;
        }
        let port = a.port_u16().unwrap_or(443);
        port == self.port
            && a.host()
                .trim_end_matches('.')
                .eq_ignore_ascii_case(&self.host)
    }
}

fn default_port(scheme: &Scheme) -> u16 {
    if *scheme == Scheme::HTTPS {
        443
    } else {
        80
    }
}

fn authority_of(host: &str, port: u16, scheme: &Scheme) -> Result<Authority, RequestError> {
    let text = if port == default_port(scheme) {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    text.parse()
        .map_err(|_| RequestError::BadRequest("the target host is not a valid host name"))
}

/// Resolves `.` and `..` segments (also percent-encoded ones), so that the
/// prefix match and the upstream see the same path. Paths without dot
/// segments are returned as they are.
pub(crate) fn normalize_path(path: &str) -> Cow<'_, str> {
    let path = if path.is_empty() { "/" } else { path };
    if !path.split('/').any(|s| dot(s) || dotdot(s)) {
        return Cow::Borrowed(path);
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        if dot(seg) {
            if i == last {
                out.push("");
            }
        } else if dotdot(seg) {
            out.pop();
            if i == last {
                out.push("");
            }
        } else {
            out.push(seg);
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() {
        s.push('/');
    }
    Cow::Owned(s)
}

/// Whether a (normalized) path still holds a `.` or `..` segment once
/// encoded slashes (`%2F`) and backslashes (`\`, `%5C`) count as
/// separators, as some servers treat them: such a path may land outside
/// the prefix it seems to be under, so it is never taken as covered.
pub(crate) fn hides_dot_segment(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if !lower.contains("%2f") && !lower.contains("%5c") && !lower.contains('\\') {
        return false;
    }
    lower
        .replace("%2f", "/")
        .replace("%5c", "/")
        .replace('\\', "/")
        .split('/')
        .any(|s| dot(s) || dotdot(s))
}

fn dot(s: &str) -> bool {
    s == "." || s.eq_ignore_ascii_case("%2e")
}

fn dotdot(s: &str) -> bool {
    s == ".."
        || s.eq_ignore_ascii_case("%2e.")
        || s.eq_ignore_ascii_case(".%2e")
        || s.eq_ignore_ascii_case("%2e%2e")
}

/// What the listed Connectors say about one target.
#[derive(Default)]
pub(crate) struct Selection {
    /// The Connector whose address (or address extension) is the longest
    /// prefix of the target, with its index in the list; the first listed
    /// wins a tie.
    pub(crate) covered: Option<(Arc<Route>, usize)>,
    /// The first listed Connector with CA certificates whose addresses share
    /// the target's origin (scheme, host, port).
    pub(crate) trust: Option<Arc<Route>>,
}

/// Looks the target up among the listed Connectors that exist; missing
/// ones are skipped.
pub(crate) fn select(
    routes: &RouteTable,
    snap: &Snapshot,
    entries: &[Entry],
    target: &ForwardTarget,
) -> Selection {
    let scheme = target.scheme.as_str();
    let path = target.path();
    let ambiguous = hides_dot_segment(path);
    let mut best: Option<(Arc<Route>, usize, usize)> = None;
    let mut trust = None;
    for (i, e) in entries.iter().enumerate() {
        let Some(route) = routes.lookup(snap, &e.namespace, &e.name) else {
            tracing::debug!(connector = %format_args!("{}/{}", e.namespace, e.name), "listed connector does not exist; skipped");
            continue;
        };
        if trust.is_none()
            && matches!(route.ca, Ok(Some(_)))
            && route
                .origins
                .iter()
                .any(|(s, h, p)| s == scheme && *h == target.host && *p == target.port)
        {
            trust = Some(route.clone());
        }
        let matched = route
            .prefixes
            .iter()
            .filter(|_| !ambiguous)
            .filter_map(|p| p.matches(scheme, &target.host, target.port, path))
            .max();
        if let Some(len) = matched {
            if best.as_ref().is_none_or(|(_, _, l)| len > *l) {
                best = Some((route, i, len));
            }
        }
    }
    Selection {
        covered: best.map(|(r, i, _)| (r, i)),
        trust,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_targets() {
        let t =
            ForwardTarget::from_absolute(&"http://Example.COM/a/b?x=1".parse().unwrap()).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str(), t.path()),
            ("example.com", 80, "example.com", "/a/b")
        );
        assert_eq!(t.path_and_query, "/a/b?x=1");
        let t = ForwardTarget::from_absolute(&"https://h:8443".parse().unwrap()).unwrap();
        assert_eq!(
            (t.port, t.authority.as_str(), t.path_and_query.as_str()),
            (8443, "h:8443", "/")
        );
        let t = ForwardTarget::from_absolute(&"http://h:80/x".parse().unwrap()).unwrap();
        assert_eq!(t.authority.as_str(), "h");
        let t = ForwardTarget::from_absolute(&"http://u:p@h/x".parse().unwrap()).unwrap();
        assert_eq!(t.authority.as_str(), "h");
        let t = ForwardTarget::from_absolute(&"http://[::1]:81/x".parse().unwrap()).unwrap();
        assert_eq!(
            (t.host.as_str(), t.authority.as_str()),
            ("[::1]", "[::1]:81")
        );
        assert!(ForwardTarget::from_absolute(&"ftp://h/x".parse().unwrap()).is_err());
    }

    #[test]
    fn dot_segments_are_resolved() {
        assert_eq!(normalize_path("/a/b"), "/a/b");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/repo/maven/../other/x"), "/repo/other/x");
        assert_eq!(normalize_path("/repo/maven/%2E%2e/other"), "/repo/other");
        assert_eq!(normalize_path("/a/./b/."), "/a/b/");
        assert_eq!(normalize_path("/../../x"), "/x");
        assert_eq!(normalize_path("/a/.."), "/");
        assert_eq!(normalize_path("/a/..b/c"), "/a/..b/c");
    }

    #[test]
    fn encoded_separators_around_dot_segments_are_ambiguous() {
        for p in [
            "/repo/maven/..%2Fother/x",
            "/repo/maven/%2e%2e%2fother",
            "/repo/maven/..%5Cother",
            "/repo/maven/..\\other",
            "/repo/maven/.%2Fx",
        ] {
            assert!(hides_dot_segment(p), "{p}");
        }
        for p in [
            "/api/v4/projects/group%2Frepo",
            "/repo/maven/a..%2Fb",
            "/repo/maven/x",
            "/a/..b/c",
        ] {
            assert!(!hides_dot_segment(p), "{p}");
        }
    }

    #[test]
    fn tunnel_authorities() {
        let t = TunnelTarget::from_connect(&"Example.com:443".parse().unwrap()).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("example.com", 443, "example.com")
        );
        assert!(t.same_authority("example.com"));
        assert!(t.same_authority("EXAMPLE.com:443"));
        assert!(!t.same_authority("example.com:8443"));
        assert!(!t.same_authority("other.com"));
        assert!(!t.same_authority("u@example.com"));
        let t = TunnelTarget::from_connect(&"10.0.0.1:6443".parse().unwrap()).unwrap();
        assert_eq!(t.authority.as_str(), "10.0.0.1:6443");
        assert!(t.same_authority("10.0.0.1:6443"));
        assert!(!t.same_authority("10.0.0.1"));
        let t = TunnelTarget::from_connect(&"[::1]:8443".parse().unwrap()).unwrap();
        assert_eq!(t.cert_name(), "::1");
        for other_form in [
            "http://example.com:80/",
            "https://example.com",
            "u@example.com:443",
        ] {
            let e = TunnelTarget::from_connect(&other_form.parse().unwrap()).unwrap_err();
            assert_eq!(e.status(), 400, "{other_form}");
        }
        let inner = ForwardTarget::in_tunnel(&t, &"/x/../y?q=1".parse().unwrap());
        assert_eq!(inner.path_and_query, "/y?q=1");
        assert_eq!(inner.host_port(), "[::1]:8443");
    }
}
