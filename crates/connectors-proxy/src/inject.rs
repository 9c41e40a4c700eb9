//! Taking the client's credentials off a request and putting the
//! Connector's on (spec 02 §7).

use crate::body::UpstreamBody;
use crate::body_merge::{self, Kind};
use crate::error::RequestError;
use crate::policy::{self, Injection, Position};
use crate::route::Credential;
use crate::token::ClientToken;
use bytes::Bytes;
use http::header::{HeaderName, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderValue, Method};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

static PRIVATE_TOKEN: HeaderName = HeaderName::from_static("private-token");

/// For a request that gets a Connector's credential (every reverse request,
/// forward requests to a covered destination): removes every client
/// credential before the Connector's is added — `Authorization`,
/// `Proxy-Authorization`, `Private-Token`, any header whose value is the
/// token the class extractor read (`extracted`), and any header carrying
/// the client's token (see [`strip_client_token`]). What the injection then
/// sets replaces, never joins, what the client sent.
pub(crate) fn strip_client_credentials(
    headers: &mut HeaderMap,
    client_token: &ClientToken,
    extracted: Option<&str>,
) {
    headers.remove(AUTHORIZATION);
    headers.remove(PROXY_AUTHORIZATION);
    headers.remove(&PRIVATE_TOKEN);
    let extracted = extracted.map(str::as_bytes).filter(|e| !e.is_empty());
    remove_where(headers, |v| {
        carries_token(v, client_token.expose()) || extracted.is_some_and(|e| v.trim_ascii() == e)
    });
}

/// For every forward request, covered or not: removes each header that
/// carries the client's own token — as the whole value, as
/// `Bearer TOKEN`, or as the password of `Basic` — so the workload's
/// identity token never reaches a tool, whatever the destination. Other
/// headers the client chose (its own `Authorization` for a host no
/// Connector covers) are left alone.
pub(crate) fn strip_client_token(headers: &mut HeaderMap, client_token: &ClientToken) {
    remove_where(headers, |v| carries_token(v, client_token.expose()));
}

fn remove_where(headers: &mut HeaderMap, hit: impl Fn(&[u8]) -> bool) {
    let names: Vec<HeaderName> = headers
        .iter()
        .filter(|(_, v)| hit(v.as_bytes()))
        .map(|(k, _)| k.clone())
        .collect();
    for n in names {
        headers.remove(&n);
    }
}

/// Whether a header value is `token`, `<scheme> token`, or `Basic` with
/// `token` as password.
pub(crate) fn carries_token(value: &[u8], token: &str) -> bool {
    let token = token.as_bytes();
    if token.is_empty() {
        return false;
    }
    let value = value.trim_ascii();
    if value == token {
        return true;
    }
    let Some(space) = value.iter().position(|b| *b == b' ') else {
        return false;
    };
    let (scheme, rest) = (&value[..space], value[space..].trim_ascii());
    if rest == token {
        return true;
    }
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return false;
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine;
    let Ok(rest) = std::str::from_utf8(rest) else {
        return false;
    };
    let decoded = STANDARD
        .decode(rest)
        .or_else(|_| STANDARD_NO_PAD.decode(rest.trim_end_matches('=')));
    decoded.is_ok_and(|d| {
        d.iter()
            .position(|b| *b == b':')
            .is_some_and(|i| &d[i + 1..] == token)
    })
}

/// The parts of the upstream request an injection may change.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a Method,
    /// Upstream path and query (`/p/x?y=1`).
    pub(crate) path_and_query: &'a mut String,
    pub(crate) host: &'a str,
    pub(crate) headers: &'a mut HeaderMap,
    pub(crate) body: &'a mut UpstreamBody,
    /// The longest body read to show a generator or to merge into.
    pub(crate) body_limit: usize,
}

/// Adds the Connector's credential.
pub(crate) async fn apply(
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
            let json = policy_body(
                generator.reads_body(),
                out.headers,
                out.body,
                out.body_limit,
            )
            .await?;
            let input =
                policy::request_input(out.method, out.host, out.path_and_query, out.headers, json);
            let injection = generator
                .generate(data, &input)
                .map_err(|e| RequestError::PolicyEval(e.to_string()))?;
            let Some(injection) = injection else {
                return Ok(());
            };
            let unsupported = |detail: String| RequestError::InjectionUnsupported {
                class: class.to_string(),
                detail,
            };
            match injection.position {
                Position::Header => {
                    for (k, v) in &injection.auth {
                        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                            unsupported(format!(
                                "the credential generator produced an invalid header name {k:?}"
                            ))
                        })?;
                        let mut value = HeaderValue::from_str(v).map_err(|_| {
                            unsupported(format!(
                                "the credential generator produced an invalid value for header {k}"
                            ))
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
                Position::Body => merge_into_body(&injection, out).await.map_err(unsupported),
            }
        }
    }
}

/// `input.request.body` for a class policy: the body as JSON when the
/// policy reads it (`reads_body`) and the request says it is JSON; `None`
/// otherwise, or when it is longer than `limit` or not valid JSON. The
/// bytes read stay queued for the tool.
pub(crate) async fn policy_body(
    reads_body: bool,
    headers: &HeaderMap,
    body: &mut UpstreamBody,
    limit: usize,
) -> Result<Option<serde_json::Value>, RequestError> {
    if !reads_body || !body_merge::is_json(headers) {
        return Ok(None);
    }
    Ok(body
        .read_bounded(limit)
        .await
        .map_err(|_| RequestError::BadRequest("the request body could not be read"))?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// `position: body`: the values become fields of the JSON object or form
/// the client sent (of a new one when it sent no body), `Content-Length`
/// follows, and `Content-Type` says what the body now is. The media type
/// is the generator's `contentType`, else the request's.
async fn merge_into_body(injection: &Injection, out: Outgoing<'_>) -> Result<(), String> {
    let declared = body_merge::declared_type(out.headers).map(str::to_string);
    let Some(wanted) = injection.content_type.as_deref().or(declared.as_deref()) else {
        return Err(
            "the credential generator asked for body injection, but neither it \
                    (contentType) nor the request (Content-Type) names a media type"
                .into(),
        );
    };
    let Some(kind) = Kind::of(wanted) else {
        return Err(format!(
            "a credential can be merged into a JSON or form body, not into {}",
            body_merge::essence(wanted)
        ));
    };
    let bytes = out
        .body
        .read_bounded(out.body_limit)
        .await
        .map_err(|_| "the request body could not be read".to_string())?
        .ok_or_else(|| {
            format!(
                "the request body is longer than {} bytes, the most a credential is merged into",
                out.body_limit
            )
        })?;
    let declared_kind = declared.as_deref().and_then(Kind::of);
    if let Some(declared) = declared.as_deref() {
        if !bytes.is_empty() && declared_kind != Some(kind) {
            return Err(format!(
                "the credential generator asked for a {} body, but the request body is {}",
                body_merge::essence(wanted),
                body_merge::essence(declared)
            ));
        }
    }
    let merged = body_merge::merge(kind, &bytes, &injection.auth).map_err(|e| e.to_string())?;
    out.headers
        .insert(CONTENT_LENGTH, HeaderValue::from(merged.len()));
    if declared_kind != Some(kind) {
        // No type, or another one on an empty body: the body is now `kind`.
        let value = injection
            .content_type
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
            .unwrap_or(HeaderValue::from_static(kind.content_type()));
        out.headers.insert(CONTENT_TYPE, value);
    }
    out.body.replace(Bytes::from(merged));
    Ok(())
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
    let (path, query) = pq.split_once('?').unwrap_or((pq.as_str(), ""));
    let set = params.clone().map(|(k, v)| {
        format!(
            "{}={}",
            utf8_percent_encode(k, QUERY),
            utf8_percent_encode(v, QUERY)
        )
    });
    let query = crate::pairs::replace(query, |name| params.clone().any(|(k, _)| k == name), set);
    *pq = format!("{path}?{query}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Source;

    fn basic(s: &str) -> HeaderValue {
        use base64::Engine;
        let enc = base64::engine::general_purpose::STANDARD.encode(s);
        HeaderValue::from_str(&format!("Basic {enc}")).unwrap()
    }

    #[test]
    fn the_client_token_is_found_in_any_header_form() {
        let t = ClientToken::new("proxy-tok".into(), Source::ProxyBasic);
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, basic(":proxy-tok"));
        h.insert("x-raw", HeaderValue::from_static(" proxy-tok"));
        h.insert("x-bearer", HeaderValue::from_static("bearer proxy-tok"));
        h.insert(
            "x-token-scheme",
            HeaderValue::from_static("token proxy-tok"),
        );
        h.insert("x-basic-user", basic("anyone:proxy-tok"));
        h.insert("x-other-basic", basic("proxy-tok:different"));
        h.insert("x-longer", HeaderValue::from_static("Bearer proxy-tok2"));
        h.insert("x-keep", HeaderValue::from_static("Bearer the-clients-own"));
        strip_client_token(&mut h, &t);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["x-keep", "x-longer", "x-other-basic"]);
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
        strip_client_credentials(
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

    #[tokio::test]
    async fn header_credential_replaces_client_value() {
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
                body: &mut UpstreamBody::empty(),
                body_limit: 1024,
            },
        )
        .await
        .unwrap();
        assert_eq!(h[AUTHORIZATION], "Bearer real");
        assert!(h[AUTHORIZATION].is_sensitive());
    }
}
