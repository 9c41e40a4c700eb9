//! The request as policies see it (`input.request`), and its conversion to
//! Rego values.

use std::borrow::Cow;
use std::collections::BTreeMap;

use regorus::Value;
use serde::Deserialize;

/// The request a policy looks at: the one received by the reverse proxy
/// (token extractor, API permissions) or the one about to be sent to the
/// tool (credential generator).
///
/// Becomes `input.request` with fields `method`, `path`, `host`,
/// `headers` (canonical MIME keys to value lists), `query` (names to value
/// lists) and `body` (`null` when absent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestInput {
    /// HTTP method as sent (`GET`, `POST`, …).
    pub method: String,
    /// Percent-decoded path, without the query.
    pub path: String,
    /// Host the request is addressed to (with port when the request has one).
    pub host: String,
    /// Header values by canonical MIME key (`Private-Token`), in arrival
    /// order. [`RequestInput::from_parts`] canonicalises; code filling this
    /// map directly should use [`canonical_header_key`].
    pub headers: BTreeMap<String, Vec<String>>,
    /// Decoded query parameters, values in order.
    pub query: BTreeMap<String, Vec<String>>,
    /// The JSON-decoded body, when the caller parsed one.
    pub body: Option<serde_json::Value>,
}

impl RequestInput {
    /// Builds the input from raw request parts.
    ///
    /// `path_and_query` is the request target (`/a/b?x=1`): the path is
    /// percent-decoded (as Go's `URL.Path`), the query is parsed as
    /// `application/x-www-form-urlencoded` (as Go's `URL.Query()`).
    /// Header names are canonicalised with [`canonical_header_key`] and
    /// repeated names collect their values in order. The caller decides
    /// which headers to pass (Go servers, for instance, keep `Host` out of
    /// the header map) and parses the body only when a policy reads it.
    pub fn from_parts<I, K, V>(
        method: &str,
        host: &str,
        path_and_query: &str,
        headers: I,
        body: Option<serde_json::Value>,
    ) -> RequestInput
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let target = path_and_query
            .split_once('#')
            .map_or(path_and_query, |(t, _)| t);
        let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let path = percent_encoding::percent_decode_str(raw_path)
            .decode_utf8_lossy()
            .into_owned();

        let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
            query
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }

        let mut header_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in headers {
            let key = canonical_header_key(k.as_ref()).into_owned();
            header_map
                .entry(key)
                .or_default()
                .push(v.as_ref().to_string());
        }

        RequestInput {
            method: method.to_string(),
            path,
            host: host.to_string(),
            headers: header_map,
            query,
            body,
        }
    }

    /// `input.request` as a Rego value.
    pub(crate) fn to_value(&self) -> Value {
        let body = match &self.body {
            None => Value::Null,
            // A body regorus cannot represent is treated as absent.
            Some(json) => Value::deserialize(json).unwrap_or(Value::Null),
        };
        let mut m = BTreeMap::new();
        m.insert(Value::from("method"), Value::from(self.method.as_str()));
        m.insert(Value::from("path"), Value::from(self.path.as_str()));
        m.insert(Value::from("host"), Value::from(self.host.as_str()));
        m.insert(Value::from("headers"), list_map(&self.headers));
        m.insert(Value::from("query"), list_map(&self.query));
        m.insert(Value::from("body"), body);
        Value::from(m)
    }

    /// Every string of the request a policy could echo into an error: header
    /// and query values and the strings of the body.
    pub(crate) fn sensitive_strings(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for values in self.headers.values().chain(self.query.values()) {
            out.extend(values.iter().map(String::as_str));
        }
        if let Some(body) = &self.body {
            json_strings(body, &mut out);
        }
        out
    }
}

/// Collects the strings (keys and values) of a JSON document.
fn json_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                out.push(k);
                json_strings(x, out);
            }
        }
        _ => {}
    }
}

/// `{name: [values…]}` as a Rego object.
fn list_map(m: &BTreeMap<String, Vec<String>>) -> Value {
    let obj: BTreeMap<Value, Value> = m
        .iter()
        .map(|(k, vs)| {
            let list: Vec<Value> = vs.iter().map(|v| Value::from(v.as_str())).collect();
            (Value::from(k.as_str()), Value::from(list))
        })
        .collect();
    Value::from(obj)
}

/// `{key: value}` of decoded Secret data as a Rego object.
pub(crate) fn string_map(m: &BTreeMap<String, String>) -> Value {
    let obj: BTreeMap<Value, Value> = m
        .iter()
        .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
        .collect();
    Value::from(obj)
}

/// The canonical MIME form of a header name, as Go's
/// `textproto.CanonicalMIMEHeaderKey` writes it: the first letter and every
/// letter after a hyphen upper case, the other letters lower case
/// (`private-token` → `Private-Token`). A name holding a byte that is not
/// allowed in header names (space, `:`, non-ASCII, …) is returned unchanged.
pub fn canonical_header_key(key: &str) -> Cow<'_, str> {
    let bytes = key.as_bytes();
    if !bytes.iter().copied().all(is_token_byte) {
        return Cow::Borrowed(key);
    }
    let mut upper = true;
    let already = bytes.iter().all(|&b| {
        let ok = if upper {
            !b.is_ascii_lowercase()
        } else {
            !b.is_ascii_uppercase()
        };
        upper = b == b'-';
        ok
    });
    if already {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len());
    let mut upper = true;
    for &b in bytes {
        let c = if upper {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        };
        out.push(char::from(c));
        upper = b == b'-';
    }
    Cow::Owned(out)
}

/// Whether a byte may appear in an HTTP header name (RFC 9110 `tchar`).
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keys() {
        assert_eq!(canonical_header_key("private-token"), "Private-Token");
        assert_eq!(canonical_header_key("x-token"), "X-Token");
        assert_eq!(canonical_header_key("X-TOKEN"), "X-Token");
        assert_eq!(canonical_header_key("content-md5"), "Content-Md5");
        assert_eq!(canonical_header_key("www-authenticate"), "Www-Authenticate");
        assert_eq!(canonical_header_key("a--b"), "A--B");
        assert_eq!(canonical_header_key("-x"), "-X");
        assert_eq!(canonical_header_key("x_y"), "X_y");
        assert_eq!(canonical_header_key(""), "");
        assert!(matches!(
            canonical_header_key("Private-Token"),
            Cow::Borrowed(_)
        ));
        // Invalid names stay as they are.
        assert_eq!(canonical_header_key("private token"), "private token");
        assert_eq!(canonical_header_key("x:y"), "x:y");
        assert_eq!(canonical_header_key("ünï-code"), "ünï-code");
    }

    #[test]
    fn from_parts_decodes_path_and_query() {
        let r = RequestInput::from_parts(
            "GET",
            "gitlab.example.com",
            "/api/v4/projects/a%2Fb?per_page=100&q=a+b%26c&q=2&empty#frag",
            [
                ("private-token", "t1"),
                ("PRIVATE-TOKEN", "t2"),
                ("Accept", "*/*"),
            ],
            None,
        );
        assert_eq!(r.path, "/api/v4/projects/a/b");
        assert_eq!(r.query["per_page"], vec!["100"]);
        assert_eq!(r.query["q"], vec!["a b&c", "2"]);
        assert_eq!(r.query["empty"], vec![""]);
        assert_eq!(r.headers["Private-Token"], vec!["t1", "t2"]);
        assert_eq!(r.headers["Accept"], vec!["*/*"]);
        assert_eq!(r.host, "gitlab.example.com");
    }

    #[test]
    fn value_has_null_body_and_lists() {
        let r = RequestInput::from_parts(
            "POST",
            "h",
            "/x?a=1",
            [("x-token", "v")],
            Some(serde_json::json!({"k": [1, "s"]})),
        );
        let v = r.to_value();
        assert_eq!(v["headers"]["X-Token"][0], Value::from("v"));
        assert_eq!(v["query"]["a"][0], Value::from("1"));
        assert_eq!(v["body"]["k"][1], Value::from("s"));
        let empty = RequestInput::default().to_value();
        assert_eq!(empty["body"], Value::Null);
        assert_eq!(r.sensitive_strings(), vec!["v", "1", "k", "s"]);
    }
}
