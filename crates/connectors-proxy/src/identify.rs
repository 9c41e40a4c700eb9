//! Which Connector a reverse-proxy request is for (spec 02 §3.1): the path
//! format `/namespaces/<ns>/connectors/<name>[/…]` first, whatever the host;
//! else the host format `c-<name>.<ns>.svc[.<cluster domain>]` (port
//! ignored).

use crate::error::RequestError;

/// How the Connector was named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// `/namespaces/<ns>/connectors/<name>` prefix (removed before forwarding).
    Path,
    /// `c-<name>.<ns>.svc…` host.
    Host,
}

/// The Connector a request names, and the path to forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
    /// The request path after the path-format prefix (possibly empty), or
    /// the whole path for the host format.
    pub(crate) rest: &'a str,
    pub(crate) format: Format,
}

/// Finds the Connector from the request path (without query) and the
/// `Host` header value (if any).
pub(crate) fn identify<'a>(
    path: &'a str,
    host: Option<&'a str>,
) -> Result<Target<'a>, RequestError> {
    if let Some(t) = from_path(path)? {
        return Ok(t);
    }
    if let Some(h) = host {
        if let Some((namespace, name)) = from_host(h)? {
            return Ok(Target {
                namespace,
                name,
                rest: path,
                format: Format::Host,
            });
        }
    }
    Err(RequestError::ConnectorNotSpecified)
}

fn from_path(path: &str) -> Result<Option<Target<'_>>, RequestError> {
    let Some(after) = path.strip_prefix("/namespaces/") else {
        return Ok(None);
    };
    let Some((namespace, after)) = after.split_once('/') else {
        return Ok(None);
    };
    let Some(after) = after.strip_prefix("connectors/") else {
        return Ok(None);
    };
    let (name, rest) = match after.find('/') {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    if namespace.is_empty() || name.is_empty() {
        return Ok(None);
    }
    check_name(namespace)?;
    check_name(name)?;
    Ok(Some(Target {
        namespace,
        name,
        rest,
        format: Format::Path,
    }))
}

fn from_host(host: &str) -> Result<Option<(&str, &str)>, RequestError> {
    let host = strip_port(host).trim_end_matches('.');
    let mut labels = host.split('.');
    let (Some(first), Some(namespace), Some(svc)) = (labels.next(), labels.next(), labels.next())
    else {
        return Ok(None);
    };
    if !svc.eq_ignore_ascii_case("svc") {
        return Ok(None);
    }
    let Some(name) = first
        .strip_prefix("c-")
        .or_else(|| first.strip_prefix("C-"))
    else {
        return Ok(None);
    };
    if name.is_empty() || namespace.is_empty() {
        return Ok(None);
    }
    // Host names are case-insensitive; Kubernetes names are lower case.
    if name.bytes().any(|b| b.is_ascii_uppercase())
        || namespace.bytes().any(|b| b.is_ascii_uppercase())
    {
        return Err(RequestError::InvalidConnectorName(format!(
            "{namespace}/{name}"
        )));
    }
    check_name(namespace)?;
    check_name(name)?;
    Ok(Some((namespace, name)))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host; // IPv6 literal: never a Connector host.
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Kubernetes object names: lower-case alphanumerics, `-` and `.`, starting
/// and ending alphanumeric, at most 253 characters.
fn check_name(s: &str) -> Result<(), RequestError> {
    if valid_name(s) {
        Ok(())
    } else {
        let shown: String = s.chars().take(64).collect();
        Err(RequestError::InvalidConnectorName(shown))
    }
}

/// Whether `s` is a valid Kubernetes object name.
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_format() {
        let t = identify(
            "/namespaces/team-a/connectors/git/org/repo.git/info/refs",
            Some("c-x.y.svc"),
        )
        .unwrap();
        assert_eq!(
            (t.namespace, t.name, t.rest, t.format),
            ("team-a", "git", "/org/repo.git/info/refs", Format::Path)
        );
        let t = identify("/namespaces/team-a/connectors/git", None).unwrap();
        assert_eq!(t.rest, "");
        let t = identify("/namespaces/team-a/connectors/git/", None).unwrap();
        assert_eq!(t.rest, "/");
        assert_eq!(
            identify("/namespaces/team-a/connectors/", None),
            Err(RequestError::ConnectorNotSpecified)
        );
        assert_eq!(
            identify("/namespaces/team-a/connectorsx/a", None),
            Err(RequestError::ConnectorNotSpecified)
        );
        assert!(matches!(
            identify("/namespaces/Team/connectors/a", None),
            Err(RequestError::InvalidConnectorName(_))
        ));
        assert!(matches!(
            identify("/namespaces/a/connectors/b%2Fc/x", None),
            Err(RequestError::InvalidConnectorName(_))
        ));
    }

    #[test]
    fn host_format() {
        for h in [
            "c-git.team-a.svc",
            "c-git.team-a.svc.cluster.local",
            "c-git.team-a.svc.cluster.local:80",
            "c-git.team-a.svc:8080",
            "c-git.team-a.svc.cluster.local.",
        ] {
            let t = identify("/org/repo.git", Some(h)).unwrap();
            assert_eq!(
                (t.namespace, t.name, t.rest, t.format),
                ("team-a", "git", "/org/repo.git", Format::Host),
                "{h}"
            );
        }
        for h in [
            "git.team-a.svc",
            "c-git.team-a",
            "c-git.team-a.cluster.local",
            "c-.team-a.svc",
            "127.0.0.1:8080",
            "[::1]:80",
            "",
        ] {
            assert_eq!(
                identify("/x", Some(h)),
                Err(RequestError::ConnectorNotSpecified),
                "{h}"
            );
        }
        assert_eq!(
            identify("/x", None),
            Err(RequestError::ConnectorNotSpecified)
        );
    }
}
