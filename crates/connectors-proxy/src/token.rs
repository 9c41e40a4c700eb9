//! The caller's token in reverse mode (spec 02 §4.2): the class's Rego
//! extractor first (when the Connector and its class exist), then
//! `Authorization: Bearer`, then `Authorization: Basic` (username ignored,
//! password is the token).

use crate::error::RequestError;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use std::fmt;

/// Where the token was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The class's token extractor policy.
    Extractor,
    /// `Authorization: Bearer`.
    Bearer,
    /// `Authorization: Basic` password.
    Basic,
    /// Forward mode: the `Proxy-Authorization` Basic password.
    ProxyBasic,
}

/// A client token. Its `Debug` form never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ClientToken {
    value: String,
    pub(crate) source: Source,
}

impl ClientToken {
    pub(crate) fn new(value: String, source: Source) -> ClientToken {
        ClientToken { value, source }
    }

    pub(crate) fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientToken")
            .field("source", &self.source)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// Reads the token from `Authorization` (Bearer, then Basic). `Ok(None)`
/// when there is no `Authorization` header or it uses another scheme.
pub(crate) fn from_authorization(headers: &HeaderMap) -> Result<Option<ClientToken>, RequestError> {
    from_values(headers.get_all(AUTHORIZATION).iter().map(|v| v.as_bytes()))
}

/// Like [`from_authorization`], over the raw values of the
/// `Authorization` fields.
pub(crate) fn from_values<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<ClientToken>, RequestError> {
    let mut found = None;
    let mut malformed = None;
    for v in values {
        match parse(v) {
            Ok(Some(t)) => match (&found, t.source) {
                (None, _) => found = Some(t),
                (
                    Some(ClientToken {
                        source: Source::Basic,
                        ..
                    }),
                    Source::Bearer,
                ) => found = Some(t),
                _ => {}
            },
            Ok(None) => {}
            Err(e) => malformed = Some(e),
        }
    }
    match (found, malformed) {
        (Some(t), _) => Ok(Some(t)),
        (None, Some(e)) => Err(e),
        (None, None) => Ok(None),
    }
}

fn parse(value: &[u8]) -> Result<Option<ClientToken>, RequestError> {
    let value = std::str::from_utf8(value)
        .map_err(|_| RequestError::MalformedAuthorization("not valid UTF-8"))?
        .trim();
    let (scheme, rest) = match value.split_once(' ') {
        Some((s, r)) => (s, r.trim()),
        None => (value, ""),
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(RequestError::MalformedAuthorization("empty Bearer token"));
        }
        return Ok(Some(ClientToken::new(rest.to_string(), Source::Bearer)));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = decode_base64(rest).ok_or(RequestError::MalformedAuthorization(
            "Basic credentials are not valid base64",
        ))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| RequestError::MalformedAuthorization("Basic credentials are not UTF-8"))?;
        let Some((_user, password)) = decoded.split_once(':') else {
            return Err(RequestError::MalformedAuthorization(
                "Basic credentials have no ':'",
            ));
        };
        if password.is_empty() {
            return Err(RequestError::MalformedAuthorization("empty Basic password"));
        }
        return Ok(Some(ClientToken::new(password.to_string(), Source::Basic)));
    }
    Ok(None)
}

/// Decodes the base64 of a `Basic` credential, padded or not.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    STANDARD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s.trim_end_matches('=')))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        m
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn bearer_and_basic() {
        let t = from_authorization(&h("Bearer abc.def")).unwrap().unwrap();
        assert_eq!((t.expose(), t.source), ("abc.def", Source::Bearer));
        let t = from_authorization(&h(&format!("Basic {}", b64(":tok"))))
            .unwrap()
            .unwrap();
        assert_eq!((t.expose(), t.source), ("tok", Source::Basic));
        let t = from_authorization(&h(&format!("basic {}", b64("any-user:to:k"))))
            .unwrap()
            .unwrap();
        assert_eq!(t.expose(), "to:k");
        assert_eq!(from_authorization(&HeaderMap::new()).unwrap(), None);
        assert_eq!(from_authorization(&h("Negotiate xyz")).unwrap(), None);
    }

    #[test]
    fn malformed() {
        for v in [
            "Bearer ",
            "Basic !!!",
            &format!("Basic {}", b64("nocolon")),
            &format!("Basic {}", b64("u:")),
        ] {
            assert!(
                matches!(
                    from_authorization(&h(v)),
                    Err(RequestError::MalformedAuthorization(_))
                ),
                "{v}"
            );
        }
    }

    #[test]
    fn debug_hides_value() {
        let t = ClientToken::new("s3cr3t-token".into(), Source::Bearer);
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
