//! The class Rego policies as the proxy uses them: the reverse-mode token
//! extractor (`spec.proxy.authExtractor`) and the credential generator of an
//! auth type (`spec.auth.types[].generator`). Evaluation lives in
//! `connectors_core::rego`; this module only turns HTTP parts into its input.

use http::{HeaderMap, Method};

pub(crate) use connectors_core::rego::{
    CredentialGenerator, Injection, InjectionPosition as Position, RequestInput, TokenExtractor,
};

/// `input.request` for a request with these parts. `path_and_query` is the
/// raw request target (the path is percent-decoded for the policy, as Go's
/// `URL.Path`); header values that are not UTF-8 are left out.
pub(crate) fn request_input(
    method: &Method,
    host: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Option<serde_json::Value>,
) -> RequestInput {
    RequestInput::from_parts(
        method.as_str(),
        host,
        path_and_query,
        headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const EXTRACTOR: &str = r#"
package proxy

default auth := {"token": ""}

auth := {"token": token} if {
  token := input.request.headers["Private-Token"][0]
  token != ""
}
"#;

    const GENERATOR: &str = r#"
package proxy
import future.keywords.if
git_request if { endswith(input.request.path, "/info/refs") }
auth := {"position": "header", "auth": {"Authorization": concat(":", ["x", input.data.token])}} if { git_request }
auth := {"position": "query", "auth": {"private_token": input.data.token}} if { not git_request }
"#;

    fn input(path: &str, headers: &[(&'static str, &'static str)]) -> RequestInput {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        request_input(&Method::GET, "h", &format!("{path}?a=1"), &h, None)
    }

    #[test]
    fn extractor_reads_canonical_header() {
        let x = TokenExtractor::compile(EXTRACTOR, "class t").unwrap();
        assert!(!x.reads_body());
        assert_eq!(
            x.extract(&input("/", &[("private-token", "abc")]))
                .unwrap()
                .as_deref(),
            Some("abc")
        );
        assert_eq!(x.extract(&input("/", &[])).unwrap(), None);
    }

    #[test]
    fn generator_sees_the_decoded_path() {
        let g = CredentialGenerator::compile(GENERATOR, "class g").unwrap();
        let data: BTreeMap<String, String> = [("token".to_string(), "T".to_string())].into();
        let i = g
            .generate(&data, &input("/r%2Fx.git/info/refs", &[]))
            .unwrap()
            .unwrap();
        assert_eq!(i.position, Position::Header);
        assert_eq!(i.auth["Authorization"], "x:T");
        let i = g
            .generate(&data, &input("/api/v4/user", &[]))
            .unwrap()
            .unwrap();
        assert_eq!(i.position, Position::Query);
        assert_eq!(i.auth["private_token"], "T");
    }
}
