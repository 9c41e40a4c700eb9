//! The credential generator: `ConnectorClass.spec.auth.types[].generator.rego`.

use std::collections::BTreeMap;

use regorus::value::Object;
use regorus::Value;

use super::error::{describe, PolicyKind, RegoError};
use super::input::{is_token_byte, string_map, RequestInput};
use super::policy::Policy;

/// Where the proxy puts the generated credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InjectionPosition {
    /// Each key is a header, replacing existing values.
    Header,
    /// Each key is a query parameter, replacing existing values.
    Query,
    /// Each key is merged into the body (JSON fields or form fields).
    Body,
}

impl InjectionPosition {
    /// The name policies use (`header`, `query`, `body`).
    pub fn as_str(self) -> &'static str {
        match self {
            InjectionPosition::Header => "header",
            InjectionPosition::Query => "query",
            InjectionPosition::Body => "body",
        }
    }
}

/// What a generator asks the proxy to add to the upstream request.
#[derive(Clone, PartialEq, Eq)]
pub struct Injection {
    /// Where the values go.
    pub position: InjectionPosition,
    /// The body's media type (`contentType`), meaningful for
    /// [`InjectionPosition::Body`] only; `None` when unset or empty.
    pub content_type: Option<String>,
    /// Names and values to set. Never empty. Values are credentials.
    pub auth: BTreeMap<String, String>,
}

impl std::fmt::Debug for Injection {
    /// Shows how many entries `auth` has, not their names or values: values
    /// are credentials and a policy may compute names from them too.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Injection")
            .field("position", &self.position)
            .field("content_type", &self.content_type)
            .field("auth_entries", &self.auth.len())
            .finish()
    }
}

/// A compiled credential generator: package `proxy`, rule `auth`
/// evaluating to `{"position": "header"|"query"|"body", "contentType":
/// "<mime>", "auth": {<name>: <string>, …}}` over `input.data` (the decoded
/// Secret) and `input.request` (the request about to go to the tool).
#[derive(Debug)]
pub struct CredentialGenerator {
    policy: Policy,
}

impl CredentialGenerator {
    /// Compiles the policy. `label` says where it comes from (for example
    /// `auth type patAuth of class gitlab`) and appears in every error.
    pub fn compile(source: &str, label: &str) -> Result<CredentialGenerator, RegoError> {
        Ok(CredentialGenerator {
            policy: Policy::compile(PolicyKind::Generator, source, label)?,
        })
    }

    /// The credential to inject into `req`, built from the Secret `data`.
    ///
    /// `None` when the rule is undefined, is an empty object, or has an
    /// empty `auth`. A missing or empty `position` means `header`.
    pub fn generate(
        &self,
        data: &BTreeMap<String, String>,
        req: &RequestInput,
    ) -> Result<Option<Injection>, RegoError> {
        let mut m = BTreeMap::new();
        m.insert(Value::from("data"), string_map(data));
        m.insert(Value::from("request"), req.to_value());
        let sensitive = || {
            let mut s: Vec<&str> = data.values().map(String::as_str).collect();
            s.extend(req.sensitive_strings());
            s
        };
        let out = self.policy.eval(Value::from(m), sensitive)?;
        self.injection(&out)
    }

    /// Whether the policy may read `input.request.body`.
    pub fn reads_body(&self) -> bool {
        self.policy.reads_body()
    }

    /// Checks the rule's value and turns it into an [`Injection`].
    fn injection(&self, out: &Value) -> Result<Option<Injection>, RegoError> {
        let rule = self.policy.rule_name();
        let obj = match out {
            Value::Undefined => return Ok(None),
            Value::Object(obj) => obj,
            other => {
                return self.shape(format!(
                    "rule {rule} must be an object with fields \"position\" and \"auth\"; got {}",
                    describe(other)
                ))
            }
        };
        if obj.is_empty() {
            return Ok(None);
        }
        let position = self.position(obj, &rule)?;
        let content_type = self.content_type(obj, &rule)?;
        let auth = self.auth_values(obj, &rule, position)?;
        if auth.is_empty() {
            return Ok(None);
        }
        Ok(Some(Injection {
            position,
            content_type,
            auth,
        }))
    }

    /// An error about the shape of the rule's value.
    fn shape<T>(&self, message: String) -> Result<T, RegoError> {
        Err(self.policy.shape_error(message))
    }

    /// The `position` field; missing, null or empty means `header`.
    fn position(&self, obj: &Object, rule: &str) -> Result<InjectionPosition, RegoError> {
        match obj.get(&Value::from("position")) {
            None | Some(Value::Null) => Ok(InjectionPosition::Header),
            Some(Value::String(p)) => match p.as_ref() {
                "" | "header" => Ok(InjectionPosition::Header),
                "query" => Ok(InjectionPosition::Query),
                "body" => Ok(InjectionPosition::Body),
                _ => self.shape(format!(
                    "field \"position\" of rule {rule} must be \"header\", \"query\" or \"body\"; got another string"
                )),
            },
            Some(other) => self.shape(format!(
                "field \"position\" of rule {rule} must be \"header\", \"query\" or \"body\"; got {}",
                describe(other)
            )),
        }
    }

    /// The `contentType` field; `None` when missing, null or empty.
    fn content_type(&self, obj: &Object, rule: &str) -> Result<Option<String>, RegoError> {
        match obj.get(&Value::from("contentType")) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(c)) if c.is_empty() => Ok(None),
            Some(Value::String(c)) => Ok(Some(c.to_string())),
            Some(other) => self.shape(format!(
                "field \"contentType\" of rule {rule} must be a string; got {}",
                describe(other)
            )),
        }
    }

    /// The entries of the `auth` field, each checked with
    /// [`auth_entry`](Self::auth_entry).
    fn auth_values(
        &self,
        obj: &Object,
        rule: &str,
        position: InjectionPosition,
    ) -> Result<BTreeMap<String, String>, RegoError> {
        let auth = match obj.get(&Value::from("auth")) {
            Some(Value::Object(a)) => a,
            None => {
                return self.shape(format!(
                    "rule {rule} must have an object field \"auth\" mapping names to strings; it has none"
                ))
            }
            Some(other) => {
                return self.shape(format!(
                    "field \"auth\" of rule {rule} must be an object mapping names to strings; got {}",
                    describe(other)
                ))
            }
        };
        let mut values = BTreeMap::new();
        for (index, (k, v)) in auth.iter().enumerate() {
            let (name, value) = self.auth_entry(rule, index, k, v, position)?;
            values.insert(name.to_string(), value.to_string());
        }
        Ok(values)
    }

    /// Checks entry number `index` of `auth`: a non-empty string name
    /// mapped to a string, both fit for a header at position `header`.
    fn auth_entry<'a>(
        &self,
        rule: &str,
        index: usize,
        k: &'a Value,
        v: &'a Value,
        position: InjectionPosition,
    ) -> Result<(&'a str, &'a str), RegoError> {
        let Value::String(name) = k else {
            return self.shape(format!(
                "field \"auth\" of rule {rule} must have string keys; key #{} is {}",
                index + 1,
                describe(k)
            ));
        };
        let shown = self.shown_name(name);
        let Value::String(value) = v else {
            return self.shape(format!(
                "field \"auth\" of rule {rule} must map names to strings; {shown} is {}",
                describe(v)
            ));
        };
        if name.is_empty() {
            return self.shape(format!("field \"auth\" of rule {rule} has an empty name"));
        }
        if position == InjectionPosition::Header {
            self.check_header_entry(rule, &shown, name, value)?;
        }
        Ok((name, value))
    }

    /// Checks that `name` is a valid header name and `value` a valid
    /// header value.
    fn check_header_entry(
        &self,
        rule: &str,
        shown: &str,
        name: &str,
        value: &str,
    ) -> Result<(), RegoError> {
        if !name.bytes().all(is_token_byte) {
            return self.shape(format!(
                "field \"auth\" of rule {rule}: {shown} is not a valid header name"
            ));
        }
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return self.shape(format!(
                "field \"auth\" of rule {rule}: the value for {shown} contains a control character and cannot be a header value"
            ));
        }
        Ok(())
    }

    /// How an error names an `auth` key: quoted when the policy spells it
    /// out as a literal, else a placeholder (a computed key may hold data).
    fn shown_name(&self, name: &str) -> String {
        if self.policy.source_has_literal(name) {
            format!("key \"{name}\"")
        } else {
            "a computed key".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_values() {
        let i = Injection {
            position: InjectionPosition::Header,
            content_type: None,
            auth: BTreeMap::from([("Authorization".to_string(), "Bearer s3cr3t".to_string())]),
        };
        let s = format!("{i:?}");
        assert!(s.contains("auth_entries: 1"), "{s}");
        assert!(!s.contains("s3cr3t"));
    }
}
