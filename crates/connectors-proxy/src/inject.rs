//! Taking the client's credentials off a request and putting the
//! Connector's on (spec 02 §7).

use crate::error::RequestError;
use crate::policy::{self, Position};
use crate::route::Credential;
use crate::token::{ClientToken, Source};
use http::header::{HeaderName, AUTHORIZATION, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderValue, Method};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Removes the client's `Authorization`, and when the token came from the
/// class extractor, every header whose value equals the token (e.g.
/// `Private-Token`).
pub(crate) fn strip_client_credentials(headers: &mut HeaderMap, token: &ClientToken) {
    headers.remove(AUTHORIZATION);
    if token.source == Source::Extractor {
        let secret = token.expose().as_bytes();
        let names: Vec<HeaderName> = headers
            .iter()
            .filter(|(_, v)| v.as_bytes() == secret || v.as_bytes().trim_ascii() == secret)
            .map(|(k, _)| k.clone())
            .collect();
        for n in names {
            headers.remove(&n);
        }
    }
}

static PRIVATE_TOKEN: HeaderName = HeaderName::from_static("private-token");

/// Forward mode, for a request going to a covered destination: removes
/// every client credential before the Connector's is added —
/// `Authorization`, `Proxy-Authorization`, `Private-Token`, any header
/// whose value is the token the class extractor reads (`extracted`), and
/// any header carrying the client's proxy token.
pub(crate) fn strip_for_covered_target(
    headers: &mut HeaderMap,
    client_token: &ClientToken,
    extracted: Option<&str>,
) {
    headers.remove(AUTHORIZATION);
    headers.remove(PROXY_AUTHORIZATION);
    headers.remove(&PRIVATE_TOKEN);
    let secret = client_token.expose().as_bytes();
    let extracted = extracted.map(str::as_bytes).filter(|e| !e.is_empty());
    let names: Vec<HeaderName> = headers
        .iter()
        .filter(|(_, v)| {
            let v = v.as_bytes().trim_ascii();
            v == secret || extracted.is_some_and(|e| v == e)
        })
        .map(|(k, _)| k.clone())
        .collect();
    for n in names {
        headers.remove(&n);
    }
}

/// The parts of the upstream request an injection may change.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a Method,
    /// Upstream path and query (`/p/x?y=1`).
    pub(crate) path_and_query: &'a mut String,
    pub(crate) host: &'a str,
    pub(crate) headers: &'a mut HeaderMap,
}

/// Adds the Connector's credential.
pub(crate) fn apply(
    credential: &Credential,
    class: &str,
    out: Outgoing<'_>,
) -> Result<(), RequestError> {
    match credential {
        Credential::None | Credential::Unsupported(_) => Ok(()),
        Credential::Header(v) => {
            out.headers.insert(AUTHORIZATION, v.clone());
            Ok(())
        }
        Credential::Generator { generator, data } => {
            let input =
                policy::request_input(out.method, out.host, out.path_and_query, out.headers, None);
            let injection = generator
                .generate(data, &input)
                .map_err(|e| RequestError::PolicyEval(e.to_string()))?;
            let Some(injection) = injection else {
                return Ok(());
            };
            match injection.position {
                Position::Header => {
                    for (k, v) in &injection.auth {
                        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| RequestError::InjectionUnsupported {
                            class: class.to_string(),
                            detail: format!("the credential generator produced an invalid header name {k:?}"),
                        })?;
                        let mut value = HeaderValue::from_str(v).map_err(|_| RequestError::InjectionUnsupported {
                            class: class.to_string(),
                            detail: format!("the credential generator produced an invalid value for header {k}"),
                        })?;
                        value.set_sensitive(true);
                        out.headers.insert(name, value);
                    }
                    Ok(())
                }
                Position::Query => {
                    set_query_params(
                        out.path_and_query,
                        injection.auth.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    );
                    Ok(())
                }
                Position::Body => Err(RequestError::InjectionUnsupported {
                    class: class.to_string(),
                    detail: "body injection is not supported by this proxy yet".into(),
                }),
            }
        }
    }
}

/// Characters escaped in query keys and values.
const QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'%')
    .add(b'\'');

/// Sets each parameter in the query of `pq`, replacing existing ones with
/// the same (decoded) name; other parameters are kept byte for byte.
fn set_query_params<'a>(pq: &mut String, params: impl Iterator<Item = (&'a str, &'a str)> + Clone) {
    let (path, query) = match pq.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (pq.clone(), String::new()),
    };
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let raw_key = pair.split_once('=').map(|(k, _)| k).unwrap_or(pair);
        let key: String = url::form_urlencoded::parse(raw_key.as_bytes())
            .next()
            .map(|(k, _)| k.into_owned())
            .unwrap_or_default();
        if !params.clone().any(|(k, _)| k == key) {
            kept.push(pair);
        }
    }
    let mut out = path;
    out.push('?');
    let mut first = true;
    for p in kept {
        if !first {
            out.push('&');
        }
        out.push_str(p);
        first = false;
    }
    for (k, v) in params {
        if !first {
            out.push('&');
        }
        out.extend(utf8_percent_encode(k, QUERY));
        out.push('=');
        out.extend(utf8_percent_encode(v, QUERY));
        first = false;
    }
    *pq = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_authorization_and_extracted_token() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic Og=="));
        h.insert("private-token", HeaderValue::from_static("tok123"));
        h.insert("x-other", HeaderValue::from_static("keep"));
        strip_client_credentials(&mut h, &ClientToken::new("tok123".into(), Source::Bearer));
        assert!(h.get(AUTHORIZATION).is_none());
        assert!(
            h.get("private-token").is_some(),
            "only extractor tokens clear other headers"
        );
        strip_client_credentials(
            &mut h,
            &ClientToken::new("tok123".into(), Source::Extractor),
        );
        assert!(h.get("private-token").is_none());
        assert_eq!(h["x-other"], "keep");
    }

    #[test]
    fn covered_targets_lose_every_client_credential() {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic dXNlcjpwYXNz"),
        );
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer fake-token"));
        h.insert(PROXY_AUTHORIZATION, HeaderValue::from_static("Basic x"));
        h.insert("private-token", HeaderValue::from_static("p"));
        h.insert("x-api-key", HeaderValue::from_static("from-extractor"));
        h.insert("x-copy", HeaderValue::from_static(" proxy-tok "));
        h.insert("x-other", HeaderValue::from_static("keep"));
        strip_for_covered_target(
            &mut h,
            &ClientToken::new("proxy-tok".into(), Source::ProxyBasic),
            Some("from-extractor"),
        );
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-other"]);
    }

    #[test]
    fn query_params_replace_and_keep_others() {
        let mut pq = "/a/b%2Fc?x=1&access_token=old&y=%2F".to_string();
        set_query_params(&mut pq, [("access_token", "n w&")].into_iter());
        assert_eq!(pq, "/a/b%2Fc?x=1&y=%2F&access_token=n%20w%26");
        let mut pq = "/a".to_string();
        set_query_params(&mut pq, [("k", "v")].into_iter());
        assert_eq!(pq, "/a?k=v");
    }

    #[test]
    fn header_credential_replaces_client_value() {
        let mut h = HeaderMap::new();
        let mut pq = "/x".to_string();
        let mut v = HeaderValue::from_static("Bearer real");
        v.set_sensitive(true);
        apply(
            &Credential::Header(v),
            "k8s",
            Outgoing {
                method: &Method::GET,
                path_and_query: &mut pq,
                host: "h",
                headers: &mut h,
            },
        )
        .unwrap();
        assert_eq!(h[AUTHORIZATION], "Bearer real");
        assert!(h[AUTHORIZATION].is_sensitive());
    }
}
