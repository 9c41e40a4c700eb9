//! Merging the values of a credential generator into a request body
//! (`position: body`, spec 02 §7): as top-level fields of a JSON object,
//! or as fields of an `application/x-www-form-urlencoded` form. Fields the
//! client sent under the same names are replaced, never kept beside the
//! generated ones; everything else stays as it was (form fields byte for
//! byte, JSON fields in their order).
//!
//! Nothing here puts a value or a body byte into an error: the values are
//! credentials and the body is the client's.

use http::header::CONTENT_TYPE;
use http::HeaderMap;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use url::form_urlencoded;

/// A body a credential can be merged into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `application/json` and `…+json` media types.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

impl Kind {
    /// The kind a media type names; parameters (`; charset=…`) are ignored.
    pub(crate) fn of(media_type: &str) -> Option<Kind> {
        let essence = essence(media_type);
        if essence == "application/json" || essence.ends_with("+json") {
            Some(Kind::Json)
        } else if essence == "application/x-www-form-urlencoded" {
            Some(Kind::Form)
        } else {
            None
        }
    }

    /// The `Content-Type` of a body made from nothing.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Kind::Json => "application/json",
            Kind::Form => "application/x-www-form-urlencoded",
        }
    }
}

/// `type/subtype` of a media type, lower-cased, without parameters.
pub(crate) fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The request's `Content-Type`, when it is readable text.
pub(crate) fn declared_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

/// Whether the request says its body is JSON.
pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    declared_type(headers).and_then(Kind::of) == Some(Kind::Json)
}

/// Why a body cannot take the generated values.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MergeError {
    #[error("the request body is not valid JSON")]
    InvalidJson,
    #[error("the request body is a JSON {0}, not an object, so no field can be added to it")]
    JsonNotObject(&'static str),
    #[error("the request body is not UTF-8 text")]
    FormNotText,
}

/// `body` with `values` set in it. An empty body (or, for JSON, one of only
/// white space) becomes a body holding just the values.
pub(crate) fn merge(
    kind: Kind,
    body: &[u8],
    values: &BTreeMap<String, String>,
) -> Result<Vec<u8>, MergeError> {
    match kind {
        Kind::Json => merge_json(body, values),
        Kind::Form => merge_form(body, values),
    }
}

/// The fields of the client's object are kept as they were written (their
/// values byte for byte, so long numbers and nested formatting survive),
/// in their order; a field the values name takes the generated value in
/// its place (repeats of it are dropped); the other values follow.
fn merge_json(body: &[u8], values: &BTreeMap<String, String>) -> Result<Vec<u8>, MergeError> {
    let fields = if body.trim_ascii().is_empty() {
        Vec::new()
    } else {
        let raw: &RawValue = serde_json::from_slice(body).map_err(|_| MergeError::InvalidJson)?;
        match raw.get().as_bytes().first() {
            Some(b'{') => {}
            Some(b'[') => return Err(MergeError::JsonNotObject("array")),
            Some(b'"') => return Err(MergeError::JsonNotObject("string")),
            Some(b't' | b'f') => return Err(MergeError::JsonNotObject("boolean")),
            Some(b'n') => return Err(MergeError::JsonNotObject("null")),
            _ => return Err(MergeError::JsonNotObject("number")),
        }
        serde_json::from_str::<Fields>(raw.get())
            .map_err(|_| MergeError::InvalidJson)?
            .0
    };
    let mut out = Vec::with_capacity(body.len() + 64);
    out.push(b'{');
    let field = |out: &mut Vec<u8>, key: &str, value: &[u8]| {
        if out.len() > 1 {
            out.push(b',');
        }
        // Serialising a string cannot fail.
        out.extend_from_slice(&serde_json::to_vec(key).unwrap_or_default());
        out.push(b':');
        out.extend_from_slice(value);
    };
    let generated = |v: &String| serde_json::to_vec(v).unwrap_or_default();
    let mut written: Vec<&str> = Vec::new();
    for (key, value) in &fields {
        match values.get_key_value(key.as_str()) {
            Some((k, _)) if written.contains(&k.as_str()) => {}
            Some((k, v)) => {
                field(&mut out, k, &generated(v));
                written.push(k);
            }
            None => field(&mut out, key, value.get().as_bytes()),
        }
    }
    for (k, v) in values {
        if !written.contains(&k.as_str()) {
            field(&mut out, k, &generated(v));
        }
    }
    out.push(b'}');
    Ok(out)
}

/// The fields of a JSON object in their order, values as written.
struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(Visit)
    }
}

fn merge_form(body: &[u8], values: &BTreeMap<String, String>) -> Result<Vec<u8>, MergeError> {
    let text = std::str::from_utf8(body).map_err(|_| MergeError::FormNotText)?;
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let set = values
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)));
    Ok(crate::pairs::replace(text, |name| values.contains_key(name), set).into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn media_types_name_their_kind() {
        assert_eq!(Kind::of("application/json"), Some(Kind::Json));
        assert_eq!(
            Kind::of(" Application/JSON ; charset=utf-8"),
            Some(Kind::Json)
        );
        assert_eq!(Kind::of("application/vnd.api+json"), Some(Kind::Json));
        assert_eq!(
            Kind::of("application/x-www-form-urlencoded; charset=UTF-8"),
            Some(Kind::Form)
        );
        assert_eq!(Kind::of("text/plain"), None);
        assert_eq!(Kind::of("multipart/form-data; boundary=x"), None);
        assert_eq!(Kind::of(""), None);
    }

    #[test]
    fn json_fields_are_set_and_the_clients_are_replaced() {
        let body = br#"{"query":"{ me }","token":"client","n":[1,2]}"#;
        let out = merge(
            Kind::Json,
            body,
            &values(&[("token", "s3cr3t"), ("user", "u")]),
        )
        .unwrap();
        assert_eq!(
            text(out),
            r#"{"query":"{ me }","token":"s3cr3t","n":[1,2],"user":"u"}"#
        );
    }

    #[test]
    fn json_values_are_kept_as_written() {
        let body = br#" { "big": 123456789012345678901234567890, "f": 1.50,
            "nested": { "a" : [1, 2] }, "token": 1, "token": 2, "s": "\u00e9" } "#;
        let out = merge(Kind::Json, body, &values(&[("token", "x")])).unwrap();
        assert_eq!(
            text(out),
            r#"{"big":123456789012345678901234567890,"f":1.50,"nested":{ "a" : [1, 2] },"token":"x","s":"\u00e9"}"#
        );
    }

    #[test]
    fn an_empty_body_becomes_the_values() {
        let v = values(&[("token", "a b&c")]);
        assert_eq!(
            text(merge(Kind::Json, b"", &v).unwrap()),
            r#"{"token":"a b&c"}"#
        );
        assert_eq!(
            text(merge(Kind::Json, b" \n", &v).unwrap()),
            r#"{"token":"a b&c"}"#
        );
        assert_eq!(text(merge(Kind::Form, b"", &v).unwrap()), "token=a+b%26c");
    }

    #[test]
    fn json_that_is_not_an_object_is_refused() {
        let v = values(&[("token", "x")]);
        assert_eq!(
            merge(Kind::Json, b"[1]", &v),
            Err(MergeError::JsonNotObject("array"))
        );
        assert_eq!(
            merge(Kind::Json, br#""s""#, &v),
            Err(MergeError::JsonNotObject("string"))
        );
        assert_eq!(
            merge(Kind::Json, b"{\"a\":", &v),
            Err(MergeError::InvalidJson)
        );
        assert_eq!(merge(Kind::Json, b"a=1", &v), Err(MergeError::InvalidJson));
    }

    #[test]
    fn form_fields_are_kept_byte_for_byte_and_the_clients_replaced() {
        let body = b"a=1&token=client&b=%2F+x&to%6Ben=again&flag&";
        let out = merge(Kind::Form, body, &values(&[("token", "s t&1")])).unwrap();
        assert_eq!(text(out), "a=1&b=%2F+x&flag&token=s+t%261");
    }

    #[test]
    fn a_form_that_is_not_text_is_refused() {
        assert_eq!(
            merge(Kind::Form, b"a=\xff", &values(&[("t", "x")])),
            Err(MergeError::FormNotText)
        );
    }

    #[test]
    fn errors_never_carry_values_or_body() {
        for e in [
            merge(
                Kind::Json,
                b"[\"s3cr3t-body\"]",
                &values(&[("k", "s3cr3t-value")]),
            ),
            merge(
                Kind::Json,
                b"s3cr3t-body",
                &values(&[("k", "s3cr3t-value")]),
            ),
        ] {
            let msg = e.unwrap_err().to_string();
            assert!(!msg.contains("s3cr3t"), "{msg}");
        }
    }
}
