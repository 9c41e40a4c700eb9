//! The client-token extractor: `ConnectorClass.spec.proxy.authExtractor.rego`.

use std::collections::BTreeMap;

use regorus::Value;

use super::error::{describe, PolicyKind, RegoError};
use super::input::RequestInput;
use super::policy::Policy;

/// A compiled token extractor: package `proxy`, rule `auth` evaluating to
/// `{"token": "<string>"}` over `input.request` (the request received by the
/// reverse proxy). An empty token or an undefined rule means "no token".
#[derive(Debug)]
pub struct TokenExtractor {
    policy: Policy,
}

impl TokenExtractor {
    /// Compiles the policy. `label` says where it comes from (for example
    /// `class gitlab`) and appears in every error.
    pub fn compile(source: &str, label: &str) -> Result<TokenExtractor, RegoError> {
        Ok(TokenExtractor {
            policy: Policy::compile(PolicyKind::AuthExtractor, source, label)?,
        })
    }

    /// The caller's token found in `req`, `None` when the policy finds none.
    pub fn extract(&self, req: &RequestInput) -> Result<Option<String>, RegoError> {
        self.extract_from(request_document(req), || req.sensitive_strings())
    }

    /// Whether the policy may read `input.request.body`; when false the
    /// proxy need not buffer or parse the body.
    pub fn reads_body(&self) -> bool {
        self.policy.reads_body()
    }

    fn extract_from<'a>(
        &self,
        input: Value,
        sensitive: impl FnOnce() -> Vec<&'a str>,
    ) -> Result<Option<String>, RegoError> {
        let out = self.policy.eval(input, sensitive)?;
        let expected = || {
            format!(
                "rule {} must be an object with a string field \"token\"",
                self.policy.rule_name()
            )
        };
        let obj = match &out {
            Value::Undefined => return Ok(None),
            Value::Object(obj) => obj,
            other => {
                return Err(self.policy.shape_error(format!(
                    "{}; got {}",
                    expected(),
                    describe(other)
                )))
            }
        };
        match obj.get(&Value::from("token")) {
            None => Err(self
                .policy
                .shape_error(format!("{}; got an object without \"token\"", expected()))),
            Some(Value::String(t)) if t.is_empty() => Ok(None),
            Some(Value::String(t)) => Ok(Some(t.to_string())),
            Some(other) => Err(self.policy.shape_error(format!(
                "{}; \"token\" is {}",
                expected(),
                describe(other)
            ))),
        }
    }
}

/// `{"request": …}`.
fn request_document(req: &RequestInput) -> Value {
    let mut m = BTreeMap::new();
    m.insert(Value::from("request"), req.to_value());
    Value::from(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V0: &str = r#"package proxy
default auth = {"token": ""}
auth = {"token": t} {
  t := input.request.headers["Private-Token"][0]
  t != ""
}
"#;

    #[test]
    fn null_request_parts_give_the_default() {
        let x = TokenExtractor::compile(V0, "class test").unwrap();
        for raw in [
            r#"{"request":{"headers":null,"query":null,"body":null}}"#,
            r#"{"request":null}"#,
            r#"{}"#,
            r#"{"request":{"headers":{"Private-Token":null}}}"#,
            r#"{"request":{"headers":{"Private-Token":[]}}}"#,
        ] {
            let input = Value::from_json_str(raw).unwrap();
            let got = x.extract_from(input, Vec::new);
            assert!(matches!(got, Ok(None)), "{raw}: {got:?}");
        }
        // A header list holding a number is not a string token.
        let input =
            Value::from_json_str(r#"{"request":{"headers":{"Private-Token":[7]}}}"#).unwrap();
        let got = x.extract_from(input, Vec::new);
        assert!(matches!(got, Err(RegoError::Shape { .. })), "{got:?}");
    }

    #[test]
    fn null_input_for_a_v1_policy() {
        let src = r#"package proxy
import rego.v1
default auth := {"token": ""}
auth := {"token": t} if {
  some t in input.request.headers["X-Token"]
  startswith(t, "sa-")
}
"#;
        let x = TokenExtractor::compile(src, "class test").unwrap();
        let input = Value::from_json_str(r#"{"request":{"headers":null}}"#).unwrap();
        assert!(matches!(x.extract_from(input, Vec::new), Ok(None)));
    }
}
