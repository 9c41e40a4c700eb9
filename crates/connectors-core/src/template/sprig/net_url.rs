//! URL parsing and formatting with the exact results of Go's `net/url`,
//! which Sprig's `urlParse` and `urlJoin` expose to templates.
//!
//! Go's parser is deliberately lenient and differs from the WHATWG URL
//! standard (which the `url` crate implements) in ways templates can see: it
//! keeps the host's case, adds no `/` path, keeps a rootless `scheme:rest` as
//! an opaque part, and unescapes the path. So it is reproduced here.
//!
//! Errors say what is wrong but never quote the input, which may carry a
//! password in its userinfo.

/// A parsed URL, Go's `url.URL` restricted to what templates read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoUrl {
    /// Lower-cased scheme, without `:`.
    pub scheme: String,
    /// Everything after `scheme:` when it does not start with `/`.
    pub opaque: String,
    /// User name and optional password, unescaped.
    pub user: Option<(String, Option<String>)>,
    /// Host with port, unescaped.
    pub host: String,
    /// Unescaped path.
    pub path: String,
    /// Query without `?`, as written.
    pub raw_query: String,
    /// Unescaped fragment.
    pub fragment: String,
    /// A `scheme:/path` URL with an empty authority.
    pub omit_host: bool,
    /// A URL ending in a lone `?`.
    pub force_query: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn unhex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Go's `shouldEscape` for the modes used here.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => return c == b'?',
            Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::Fragment => return false,
            Mode::Host | Mode::Zone => {}
        },
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

/// Go's `escape` for the modes used here.
fn escape(s: &str, mode: Mode) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if should_escape(b, mode) {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Go's `unescape`: validates every `%XX`, refuses in a host what Go
/// refuses, and decodes. Bytes that do not form UTF-8 become U+FFFD.
fn unescape(s: &str, mode: Mode) -> Result<String, &'static str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                if i + 2 >= bytes.len() || !is_hex(bytes[i + 1]) || !is_hex(bytes[i + 2]) {
                    return Err("invalid URL escape");
                }
                let escaped = &s[i..i + 3];
                if mode == Mode::Host && unhex(bytes[i + 1]) < 8 && escaped != "%25" {
                    return Err("invalid URL escape");
                }
                if mode == Mode::Zone {
                    let v = (unhex(bytes[i + 1]) << 4) | unhex(bytes[i + 2]);
                    if escaped != "%25" && v != b' ' && should_escape(v, Mode::Host) {
                        return Err("invalid URL escape");
                    }
                }
                i += 3;
            }
            b if matches!(mode, Mode::Host | Mode::Zone) && b < 0x80 && should_escape(b, mode) => {
                return Err("invalid character in host name");
            }
            _ => i += 1,
        }
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push((unhex(bytes[i + 1]) << 4) | unhex(bytes[i + 2]));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `:digits` or nothing.
fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    }
}

fn valid_userinfo(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.'
                    | '_'
                    | ':'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '@'
            )
    })
}

/// Splits `scheme:rest`; no scheme when the text before the first `:` is not
/// one.
fn split_scheme(raw: &str) -> Result<(&str, &str), &'static str> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme"),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_host(host: &str) -> Result<String, &'static str> {
    if host.starts_with('[') {
        let close = host.rfind(']').ok_or("missing ']' in host")?;
        if !valid_optional_port(&host[close + 1..]) {
            return Err("invalid port after host");
        }
        let inner = &host[1..close];
        let literal = match inner.find("%25") {
            Some(zone) => &inner[..zone],
            None => inner,
        };
        match literal.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(_)) => {}
            _ => return Err("invalid IP-literal"),
        }
        if let Some(zone) = host[..close].find("%25") {
            let a = unescape(&host[..zone], Mode::Host)?;
            let b = unescape(&host[zone..close], Mode::Zone)?;
            let c = unescape(&host[close..], Mode::Host)?;
            return Ok(format!("{a}{b}{c}"));
        }
    } else if let Some(colon) = host.rfind(':') {
        if !valid_optional_port(&host[colon..]) {
            return Err("invalid port after host");
        }
    }
    unescape(host, Mode::Host)
}

type Authority = (Option<(String, Option<String>)>, String);

fn parse_authority(authority: &str) -> Result<Authority, &'static str> {
    let at = authority.rfind('@');
    let host = parse_host(match at {
        Some(i) => &authority[i + 1..],
        None => authority,
    })?;
    let Some(i) = at else {
        return Ok((None, host));
    };
    let userinfo = &authority[..i];
    if !valid_userinfo(userinfo) {
        return Err("invalid userinfo");
    }
    let user = match userinfo.split_once(':') {
        None => (unescape(userinfo, Mode::UserPassword)?, None),
        Some((name, password)) => (
            unescape(name, Mode::UserPassword)?,
            Some(unescape(password, Mode::UserPassword)?),
        ),
    };
    Ok((Some(user), host))
}

/// Parses like Go's `url.Parse`.
pub fn parse(raw: &str) -> Result<GoUrl, &'static str> {
    let (without_fragment, fragment) = match raw.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (raw, None),
    };
    let mut url = parse_without_fragment(without_fragment)?;
    if let Some(f) = fragment {
        url.fragment = unescape(f, Mode::Fragment)?;
    }
    Ok(url)
}

fn parse_without_fragment(raw: &str) -> Result<GoUrl, &'static str> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL");
    }
    let mut url = GoUrl::default();
    if raw == "*" {
        url.path = "*".to_owned();
        return Ok(url);
    }
    let (scheme, rest) = split_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let mut rest = rest;
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        url.force_query = true;
        rest = &rest[..rest.len() - 1];
    } else if let Some((before, query)) = rest.split_once('?') {
        url.raw_query = query.to_owned();
        rest = before;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_owned();
            return Ok(url);
        }
        let segment = rest.split('/').next().unwrap_or("");
        if segment.contains(':') {
            return Err("first path segment in URL cannot contain colon");
        }
    }
    let mut path = rest;
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority_and_path = &rest[2..];
        let (authority, tail) = match authority_and_path.find('/') {
            Some(i) => (&authority_and_path[..i], &authority_and_path[i..]),
            None => (authority_and_path, ""),
        };
        let (user, host) = parse_authority(authority)?;
        url.user = user;
        url.host = host;
        path = tail;
    } else if !url.scheme.is_empty() && rest.starts_with('/') {
        url.omit_host = true;
    }
    url.path = unescape(path, Mode::Path)?;
    Ok(url)
}

impl GoUrl {
    /// Go's `URL.Hostname()`: the host without port or IPv6 brackets.
    pub fn hostname(&self) -> &str {
        let mut host = self.host.as_str();
        if let Some(colon) = host.rfind(':') {
            if valid_optional_port(&host[colon..]) {
                host = &host[..colon];
            }
        }
        if host.starts_with('[') && host.ends_with(']') && host.len() >= 2 {
            host = &host[1..host.len() - 1];
        }
        host
    }

    /// Go's `Userinfo.String()`: name and password re-escaped; "" without
    /// userinfo.
    pub fn userinfo(&self) -> String {
        match &self.user {
            None => String::new(),
            Some((name, password)) => {
                let mut s = escape(name, Mode::UserPassword);
                if let Some(password) = password {
                    s.push(':');
                    s.push_str(&escape(password, Mode::UserPassword));
                }
                s
            }
        }
    }

    /// Go's `URL.String()`.
    pub fn to_go_string(&self) -> String {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.opaque.is_empty() {
            out.push_str(&self.opaque);
        } else {
            let has_authority =
                !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some();
            let empty_authority_omitted =
                self.omit_host && self.host.is_empty() && self.user.is_none();
            if has_authority && !empty_authority_omitted {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    out.push_str("//");
                }
                if self.user.is_some() {
                    out.push_str(&self.userinfo());
                    out.push('@');
                }
                if !self.host.is_empty() {
                    out.push_str(&escape(&self.host, Mode::Host));
                }
            }
            let path = if self.path == "*" {
                "*".to_owned()
            } else {
                escape(&self.path, Mode::Path)
            };
            if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
                out.push('/');
            }
            if out.is_empty() {
                let segment = path.split('/').next().unwrap_or("");
                if segment.contains(':') {
                    out.push_str("./");
                }
            }
            out.push_str(&path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            out.push('?');
            out.push_str(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            out.push('#');
            out.push_str(&escape(&self.fragment, Mode::Fragment));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let u = parse("https://User:p%40ss@Git.Example.com:8443/a%2Fb/c?x=1&y#frag%20x").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host, "Git.Example.com:8443");
        assert_eq!(u.hostname(), "Git.Example.com");
        assert_eq!(u.path, "/a/b/c");
        assert_eq!(u.raw_query, "x=1&y");
        assert_eq!(u.fragment, "frag x");
        assert_eq!(u.userinfo(), "User:p%40ss");

        let u = parse("mailto:someone@example.com").unwrap();
        assert_eq!(u.opaque, "someone@example.com");
        assert_eq!(u.host, "");

        let u = parse("http://[::1]:80/x").unwrap();
        assert_eq!(u.hostname(), "::1");
        assert_eq!(u.host, "[::1]:80");

        assert_eq!(
            parse("registry.npmjs.org/x").unwrap().path,
            "registry.npmjs.org/x"
        );
    }

    #[test]
    fn refuses_what_go_refuses() {
        assert!(parse("http://host:port/").is_err());
        assert!(parse(":foo").is_err());
        assert!(parse("http://a b.com/").is_err());
        assert!(parse("%zz").is_err());
        assert!(parse("a:b/c").is_ok());
        assert!(parse("1a:b").is_err());
        assert!(parse("http://[::1/").is_err());
        assert!(parse("http://x\n").is_err());
    }

    #[test]
    fn formats_like_go() {
        let u = parse("https://u:p@h.com:1/a b?q=1#f g").unwrap();
        assert_eq!(u.to_go_string(), "https://u:p@h.com:1/a%20b?q=1#f%20g");
        let u = GoUrl {
            host: "h".into(),
            path: "p".into(),
            ..GoUrl::default()
        };
        assert_eq!(u.to_go_string(), "//h/p");
    }
}
