//! Tool addresses: parsing, joining request paths onto them, and deciding
//! whether a request target lies under one (credential-injection targets).

use url::Url;

/// Parses an absolute `http`/`https` URL with a host, as `spec.address` and
/// address extensions must be. The error completes the sentence
/// "spec.address …".
pub fn parse_tool_url(s: &str) -> Result<Url, String> {
    if s.trim().is_empty() {
        return Err("is empty; set the tool's URL, e.g. https://git.example.com".into());
    }
    let url = Url::parse(s).map_err(|e| {
        format!("{s:?} is not an absolute URL ({e}); write it as http(s)://host[:port][/path]")
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "{s:?} has scheme {:?}; only http and https are supported",
            url.scheme()
        ));
    }
    if url.host_str().unwrap_or("").is_empty() {
        return Err(format!("{s:?} has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{:?} carries credentials in the URL; put them in the Connector's Secret instead",
            redact_userinfo(&url)
        ));
    }
    Ok(url)
}

fn redact_userinfo(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Joins a request path (and raw query) onto a base address: the base's path
/// prefix, then exactly one `/`, then the request path. The request path is
/// kept byte for byte (percent-escapes such as `%2F` stay encoded).
///
/// `https://h/gitlab` + `/g/r.git/info/refs` + `service=x` →
/// `https://h/gitlab/g/r.git/info/refs?service=x`.
pub fn join_path(base: &Url, request_path: &str, query: Option<&str>) -> String {
    let prefix = base.path().trim_end_matches('/');
    let rest = request_path.trim_start_matches('/');
    let mut out = String::with_capacity(prefix.len() + rest.len() + 2);
    out.push_str(prefix);
    if !rest.is_empty() || prefix.is_empty() || request_path.ends_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    if out.is_empty() {
        out.push('/');
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `host[:port]` of a URL as it should appear in a `Host` header (default
/// ports omitted).
pub fn authority(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// Parsed origin and path prefix of an injection target address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetPrefix {
    scheme: String,
    host: String,
    port: u16,
    path: String,
}

impl TargetPrefix {
    /// Builds the prefix from an address.
    pub fn new(address: &Url) -> Option<TargetPrefix> {
        Some(TargetPrefix {
            scheme: address.scheme().to_ascii_lowercase(),
            host: address.host_str()?.to_ascii_lowercase(),
            port: address.port_or_known_default()?,
            path: address.path().trim_end_matches('/').to_string(),
        })
    }

    /// Parses and builds the prefix from an address string.
    pub fn parse(address: &str) -> Option<TargetPrefix> {
        TargetPrefix::new(&Url::parse(address).ok()?)
    }

    /// When the target lies under this prefix (same scheme, host and
    /// effective port; path equal or below at a `/` boundary), the length of
    /// the matched path prefix, so the longest match can win.
    pub fn matches(&self, scheme: &str, host: &str, port: u16, path: &str) -> Option<usize> {
        if !self.scheme.eq_ignore_ascii_case(scheme)
            || !self.host.eq_ignore_ascii_case(host.trim_end_matches('.'))
            || self.port != port
        {
            return None;
        }
        if self.path.is_empty() {
            return Some(0);
        }
        let rest = path.strip_prefix(self.path.as_str())?;
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
            Some(self.path.len())
        } else {
            None
        }
    }

    /// Like [`matches`](Self::matches) for a parsed URL.
    pub fn matches_url(&self, target: &Url) -> Option<usize> {
        self.matches(
            target.scheme(),
            target.host_str()?,
            target.port_or_known_default()?,
            target.path(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_urls() {
        assert!(parse_tool_url("https://gitlab.com").is_ok());
        assert!(parse_tool_url("http://127.0.0.1:8080/git").is_ok());
        assert!(parse_tool_url("gitlab.com")
            .unwrap_err()
            .contains("not an absolute URL"));
        assert!(parse_tool_url("ftp://x")
            .unwrap_err()
            .contains("only http and https"));
        assert!(parse_tool_url("").unwrap_err().contains("empty"));
        let e = parse_tool_url("https://u:hunter2@h").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn joins_paths_with_one_slash() {
        let b = Url::parse("https://internal-tool.com/gitlab").unwrap();
        assert_eq!(
            join_path(
                &b,
                "/group/repo.git/info/refs",
                Some("service=git-upload-pack")
            ),
            "/gitlab/group/repo.git/info/refs?service=git-upload-pack"
        );
        assert_eq!(join_path(&b, "", None), "/gitlab");
        assert_eq!(join_path(&b, "/", None), "/gitlab/");
        let root = Url::parse("https://h").unwrap();
        assert_eq!(join_path(&root, "", None), "/");
        assert_eq!(join_path(&root, "/a", None), "/a");
        let slash = Url::parse("https://h/p/").unwrap();
        assert_eq!(
            join_path(&slash, "/api/v4/projects/devops%2Fdemo", None),
            "/p/api/v4/projects/devops%2Fdemo"
        );
    }

    #[test]
    fn prefix_matching_on_segment_boundaries() {
        let p = TargetPrefix::parse("https://Nexus.example.com/repository/maven").unwrap();
        assert_eq!(
            p.matches("https", "nexus.example.com", 443, "/repository/maven/a.jar"),
            Some(17)
        );
        assert_eq!(
            p.matches("https", "nexus.example.com", 443, "/repository/maven"),
            Some(17)
        );
        assert_eq!(
            p.matches(
                "https",
                "nexus.example.com",
                443,
                "/repository/maven-evil/a"
            ),
            None
        );
        assert_eq!(
            p.matches("http", "nexus.example.com", 443, "/repository/maven"),
            None
        );
        assert_eq!(
            p.matches("https", "nexus.example.com", 8443, "/repository/maven"),
            None
        );
        assert_eq!(
            p.matches("https", "evil.com", 443, "/repository/maven"),
            None
        );
        let root = TargetPrefix::parse("https://h:6443/").unwrap();
        assert_eq!(root.matches("https", "h", 6443, "/api"), Some(0));
        assert_eq!(authority(&Url::parse("https://h:443/x").unwrap()), "h");
        assert_eq!(
            authority(&Url::parse("http://[::1]:8080/").unwrap()),
            "[::1]:8080"
        );
    }
}
