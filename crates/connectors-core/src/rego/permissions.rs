//! The API permission mapping: `ConnectorClass.spec.api.permissions.rego`.

use std::collections::BTreeMap;

use regorus::Value;

use super::error::{describe, PolicyKind, RegoError};
use super::input::RequestInput;
use super::policy::Policy;

/// The verb a permission policy assigns to an API request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiVerb {
    /// `read`: the request only reads (e.g. git's `POST …/git-upload-pack`).
    Read,
    /// `write`.
    Write,
    /// `delete`.
    Delete,
    /// `""` or undefined: fall back to the HTTP-method mapping.
    Unspecified,
}

impl ApiVerb {
    /// The name policies use (`read`, `write`, `delete`, `""`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVerb::Read => "read",
            ApiVerb::Write => "write",
            ApiVerb::Delete => "delete",
            ApiVerb::Unspecified => "",
        }
    }
}

/// A compiled permission mapping: package `permissions`, rule `result`
/// evaluating to `{"verb": "read"|"write"|"delete"|""}` over
/// `input.request`.
#[derive(Debug)]
pub struct PermissionMapper {
    policy: Policy,
}

impl PermissionMapper {
    /// Compiles the policy. `label` says where it comes from (for example
    /// `class git`) and appears in every error.
    pub fn compile(source: &str, label: &str) -> Result<PermissionMapper, RegoError> {
        Ok(PermissionMapper {
            policy: Policy::compile(PolicyKind::Permissions, source, label)?,
        })
    }

    /// The verb of `req`; [`ApiVerb::Unspecified`] when the rule is
    /// undefined or says `""`.
    pub fn verb(&self, req: &RequestInput) -> Result<ApiVerb, RegoError> {
        let mut m = BTreeMap::new();
        m.insert(Value::from("request"), req.to_value());
        let out = self
            .policy
            .eval(Value::from(m), || req.sensitive_strings())?;
        let rule = self.policy.rule_name();
        let expected =
            format!("rule {rule} must be an object with field \"verb\" set to \"read\", \"write\", \"delete\" or \"\"");
        let obj = match &out {
            Value::Undefined => return Ok(ApiVerb::Unspecified),
            Value::Object(obj) => obj,
            other => {
                return Err(self
                    .policy
                    .shape_error(format!("{expected}; got {}", describe(other))))
            }
        };
        match obj.get(&Value::from("verb")) {
            Some(Value::String(v)) => match v.as_ref() {
                "read" => Ok(ApiVerb::Read),
                "write" => Ok(ApiVerb::Write),
                "delete" => Ok(ApiVerb::Delete),
                "" => Ok(ApiVerb::Unspecified),
                _ => Err(self
                    .policy
                    .shape_error(format!("{expected}; got another string"))),
            },
            None => Err(self
                .policy
                .shape_error(format!("{expected}; got an object without \"verb\""))),
            Some(other) => Err(self
                .policy
                .shape_error(format!("{expected}; \"verb\" is {}", describe(other)))),
        }
    }

    /// Whether the policy may read `input.request.body`.
    pub fn reads_body(&self) -> bool {
        self.policy.reads_body()
    }
}
