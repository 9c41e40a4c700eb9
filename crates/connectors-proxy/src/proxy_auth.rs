//! The caller's identity in forward mode (spec 02 §3.2, §4.1):
//! `Proxy-Authorization: Basic base64("NS/NAME[,NS/NAME…]:TOKEN")`.
//!
//! Each entry of the username is trimmed, percent-decoded (clients that
//! pass `ns%2Fname` literally) and split on its first `/`. Anything missing
//! or malformed is a 407 with a challenge; the reason never repeats what
//! the client sent.

use crate::error::RequestError;
use crate::identify::valid_name;
use crate::token::{decode_base64, ClientToken, Source};
use http::header::PROXY_AUTHORIZATION;
use http::HeaderMap;
use std::sync::Arc;

/// Most Connectors one `Proxy-Authorization` may list.
pub(crate) const MAX_ENTRIES: usize = 32;

/// One `NS/NAME` entry of the username.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) namespace: String,
    pub(crate) name: String,
}

/// What a forward-mode client presented: the Connectors it names, in list
/// order, and its token.
#[derive(Debug)]
pub(crate) struct ProxyCredentials {
    pub(crate) entries: Arc<[Entry]>,
    pub(crate) token: ClientToken,
}

/// Reads `Proxy-Authorization`.
pub(crate) fn parse(headers: &HeaderMap) -> Result<ProxyCredentials, RequestError> {
    let mut values = headers.get_all(PROXY_AUTHORIZATION).iter();
    let value = values.next().ok_or(RequestError::ProxyAuthRequired(
        "no Proxy-Authorization header",
    ))?;
    if values.next().is_some() {
        return Err(RequestError::ProxyAuthRequired(
            "more than one Proxy-Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| RequestError::ProxyAuthRequired("Proxy-Authorization is not ASCII"))?
        .trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(RequestError::ProxyAuthRequired(
            "Proxy-Authorization does not use the Basic scheme",
        ));
    }
    let decoded = decode_base64(rest.trim()).ok_or(RequestError::ProxyAuthRequired(
        "Proxy-Authorization is not valid base64",
    ))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| RequestError::ProxyAuthRequired("Proxy-Authorization is not UTF-8"))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or(RequestError::ProxyAuthRequired(
            "Proxy-Authorization has no ':' between user and token",
        ))?;
    if password.is_empty() {
        return Err(RequestError::ProxyAuthRequired(
            "the proxy password (the token) is empty",
        ));
    }
    let entries = entries(user)?;
    Ok(ProxyCredentials {
        entries: entries.into(),
        token: ClientToken::new(password.to_string(), Source::ProxyBasic),
    })
}

fn entries(user: &str) -> Result<Vec<Entry>, RequestError> {
    let mut out = Vec::new();
    for raw in user.split(',') {
        if out.len() == MAX_ENTRIES {
            return Err(RequestError::ProxyAuthRequired(
                "the proxy user lists too many connectors",
            ));
        }
        let decoded = percent_encoding::percent_decode_str(raw.trim())
            .decode_utf8()
            .map_err(|_| {
                RequestError::ProxyAuthRequired("a proxy user entry is not UTF-8 once decoded")
            })?;
        let entry = decoded.trim();
        let Some((namespace, name)) = entry.split_once('/') else {
            return Err(RequestError::ProxyAuthRequired(
                "the proxy user must be NAMESPACE/CONNECTOR (or a comma-separated list of them)",
            ));
        };
        if !valid_name(namespace) || !valid_name(name) {
            return Err(RequestError::ProxyAuthRequired(
                "a proxy user entry is not a valid NAMESPACE/CONNECTOR",
            ));
        }
        out.push(Entry {
            namespace: namespace.to_string(),
            name: name.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use http::HeaderValue;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(PROXY_AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        m
    }

    fn basic(s: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }

    fn names(c: &ProxyCredentials) -> Vec<String> {
        c.entries
            .iter()
            .map(|e| format!("{}/{}", e.namespace, e.name))
            .collect()
    }

    #[test]
    fn single_list_and_percent_encoded() {
        let c = parse(&h(&basic("team-a/git:tok"))).unwrap();
        assert_eq!(names(&c), ["team-a/git"]);
        assert_eq!(c.token.expose(), "tok");
        let c = parse(&h(&basic(" team-a/a , team-b%2Fb,team-c%2fc:t:k"))).unwrap();
        assert_eq!(names(&c), ["team-a/a", "team-b/b", "team-c/c"]);
        assert_eq!(c.token.expose(), "t:k");
        let c = parse(&h(&format!(
            "basic   {}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode("a/b:t")
        )))
        .unwrap();
        assert_eq!(names(&c), ["a/b"]);
    }

    #[test]
    fn malformed_is_407() {
        let too_many = (0..40)
            .map(|i| format!("a/c{i}"))
            .collect::<Vec<_>>()
            .join(",");
        for v in [
            "Bearer abc".to_string(),
            "Basic".to_string(),
            "Basic !!!".to_string(),
            basic("team-a/git"),
            basic("team-a/git:"),
            basic("team-a:zq9tk"),
            basic("/git:zq9tk"),
            basic("team-a/:zq9tk"),
            basic("team-a/git,:zq9tk"),
            basic("Team/git:zq9tk"),
            basic("a/b/c:zq9tk"),
            basic("team-a%2:zq9tk"),
            basic(":zq9tk"),
            basic(&format!("{too_many}:zq9tk")),
        ] {
            let e = parse(&h(&v)).unwrap_err();
            assert_eq!(e.status(), 407, "{v}");
            assert!(!e.to_string().contains("zq9tk"), "{e}");
        }
        assert_eq!(parse(&HeaderMap::new()).unwrap_err().status(), 407);
        let mut two = h(&basic("a/b:t"));
        two.append(PROXY_AUTHORIZATION, HeaderValue::from_static("Basic x"));
        assert_eq!(parse(&two).unwrap_err().status(), 407);
    }
}
