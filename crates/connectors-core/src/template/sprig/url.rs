//! Sprig's URL functions: `urlParse` and `urlJoin`, with Go's `net/url`
//! semantics (see [`super::net_url`]).

use std::collections::HashMap;

use gtmpl_ng::{Func, FuncError, Value};

use super::args;
use super::net_url::{self, GoUrl};

/// The functions of this module, by template name.
pub const FUNCTIONS: &[(&str, Func)] = &[
    ("urlParse", url_parse as Func),
    ("urlJoin", url_join as Func),
];

/// `urlParse S`: a dictionary with `scheme`, `host` (with port), `hostname`
/// (without), `path` (unescaped), `query` (as written), `opaque`,
/// `fragment` and `userinfo` ("" when absent). There is no `port` key. Input
/// Go cannot parse fails the render.
fn url_parse(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("urlParse", values, 1)?;
    let s = args::string("urlParse", values, 0)?;
    let url = net_url::parse(s)
        .map_err(|reason| args::fail("urlParse", format!("unable to parse url: {reason}")))?;
    let entries = [
        ("scheme", url.scheme.clone()),
        ("host", url.host.clone()),
        ("hostname", url.hostname().to_owned()),
        ("path", url.path.clone()),
        ("query", url.raw_query.clone()),
        ("opaque", url.opaque.clone()),
        ("fragment", url.fragment.clone()),
        ("userinfo", url.userinfo()),
    ];
    Ok(Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect(),
    ))
}

/// A string entry of the `urlJoin` dictionary; "" when absent.
fn entry(d: &HashMap<String, Value>, key: &str) -> Result<String, FuncError> {
    match d.get(key) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(args::fail(
            "urlJoin",
            format!(
                "unable to parse {key} key, must be of type string, but {} found",
                args::kind(other)
            ),
        )),
    }
}

/// `urlJoin DICT`: the URL built from a dictionary shaped like `urlParse`'s
/// result, formatted as Go's `URL.String()`.
fn url_join(values: &[Value]) -> Result<Value, FuncError> {
    args::exactly("urlJoin", values, 1)?;
    let d = args::map("urlJoin", values, 0)?;
    let mut url = GoUrl {
        scheme: entry(&d, "scheme")?,
        host: entry(&d, "host")?,
        path: entry(&d, "path")?,
        raw_query: entry(&d, "query")?,
        opaque: entry(&d, "opaque")?,
        fragment: entry(&d, "fragment")?,
        ..GoUrl::default()
    };
    let userinfo = entry(&d, "userinfo")?;
    if !userinfo.is_empty() {
        let parsed = net_url::parse(&format!("proto://{userinfo}@host")).map_err(|reason| {
            args::fail(
                "urlJoin",
                format!("unable to parse userinfo in dict: {reason}"),
            )
        })?;
        url.user = parsed.user;
    }
    Ok(Value::String(url.to_go_string()))
}
