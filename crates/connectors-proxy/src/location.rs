//! Rewriting redirects (spec 02 §6.1): a `Location` that points under the
//! Connector's `spec.address` (same origin, path at or below the prefix) is
//! turned into the same place under the Connector's proxy address, so
//! clients do not leave the proxy. Other locations are left alone.

use crate::route::UpstreamTarget;
use url::Url;

/// The rewritten value, or `None` to leave the header unchanged.
///
/// `request_url` is the upstream URL of the request (relative locations are
/// resolved against it); `proxy_base` is where the Connector is reached
/// through the proxy, without trailing slash.
pub(crate) fn rewrite(
    location: &str,
    upstream: &UpstreamTarget,
    request_url: &Url,
    proxy_base: &str,
) -> Option<String> {
    let target = request_url.join(location).ok()?;
    let host = target.host_str()?;
    let port = target.port_or_known_default()?;
    let path = target.path();
    let matched = upstream.prefix.matches(target.scheme(), host, port, path)?;
    let rest = &path[matched..];
    let mut out = String::with_capacity(proxy_base.len() + rest.len() + 16);
    out.push_str(proxy_base.trim_end_matches('/'));
    if !rest.is_empty() && !rest.starts_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    if out.is_empty() {
        out.push('/');
    }
    if let Some(q) = target.query() {
        out.push('?');
        out.push_str(q);
    }
    if let Some(f) = target.fragment() {
        out.push('#');
        out.push_str(f);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use connectors_core::address::TargetPrefix;

    fn target(addr: &str) -> UpstreamTarget {
        let base = Url::parse(addr).unwrap();
        UpstreamTarget {
            prefix: TargetPrefix::new(&base).unwrap(),
            scheme: http::uri::Scheme::HTTPS,
            authority: "h".parse().unwrap(),
            host: "h".into(),
            base,
        }
    }

    #[test]
    fn rewrites_under_prefix_only() {
        let t = target("https://git.example.com/scm");
        let req = Url::parse("https://git.example.com/scm/a/b").unwrap();
        let p = "http://127.0.0.1:9/namespaces/ns/connectors/c";
        assert_eq!(
            rewrite("https://git.example.com/scm/users/sign_in?x=1", &t, &req, p).as_deref(),
            Some("http://127.0.0.1:9/namespaces/ns/connectors/c/users/sign_in?x=1")
        );
        assert_eq!(
            rewrite("https://GIT.example.com:443/scm", &t, &req, p).as_deref(),
            Some(p)
        );
        assert_eq!(
            rewrite("/scm/x", &t, &req, "http://c-c.ns.svc").as_deref(),
            Some("http://c-c.ns.svc/x")
        );
        assert_eq!(rewrite("https://git.example.com/other", &t, &req, p), None);
        assert_eq!(rewrite("https://git.example.com/scmx", &t, &req, p), None);
        assert_eq!(rewrite("http://git.example.com/scm/x", &t, &req, p), None);
        assert_eq!(rewrite("https://elsewhere.com/scm/x", &t, &req, p), None);
    }
}
