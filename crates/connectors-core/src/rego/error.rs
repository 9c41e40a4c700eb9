//! Errors of the Rego module and the policy kinds they name.

use std::fmt;

/// Which ConnectorClass policy an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// `spec.proxy.authExtractor.rego`: finds the caller's token.
    AuthExtractor,
    /// `spec.auth.types[].generator.rego`: builds the tool credential.
    Generator,
    /// `spec.api.permissions.rego`: maps an API request to a verb.
    Permissions,
}

impl PolicyKind {
    /// The field name the policy comes from, as users write it in YAML.
    pub fn field_name(self) -> &'static str {
        match self {
            PolicyKind::AuthExtractor => "authExtractor",
            PolicyKind::Generator => "generator",
            PolicyKind::Permissions => "permissions",
        }
    }

    /// The package the policy must declare.
    pub fn package(self) -> &'static str {
        match self {
            PolicyKind::AuthExtractor | PolicyKind::Generator => "proxy",
            PolicyKind::Permissions => "permissions",
        }
    }

    /// The rule the policy must define.
    pub fn rule(self) -> &'static str {
        match self {
            PolicyKind::AuthExtractor | PolicyKind::Generator => "auth",
            PolicyKind::Permissions => "result",
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field_name())
    }
}

/// An error compiling or evaluating a policy.
///
/// `label` is the caller's description of where the policy lives (for
/// example `class gitlab`); messages read `<kind> policy of <label> …`.
/// No variant ever carries values from the evaluation input (Secret data,
/// tokens, headers): messages describe locations, types and field names only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegoError {
    /// The policy text does not parse or does not pass Rego's checks, or it
    /// does not declare the expected package and rule.
    #[error("{kind} policy of {label} does not compile: {message}")]
    Compile {
        /// Which policy.
        kind: PolicyKind,
        /// Where the policy lives, as given by the caller.
        label: String,
        /// What is wrong, with the line and column when known.
        message: String,
    },
    /// Evaluation failed (for example a rule conflict, an unknown function
    /// or the time limit).
    #[error("{kind} policy of {label} failed: {message}")]
    Eval {
        /// Which policy.
        kind: PolicyKind,
        /// Where the policy lives, as given by the caller.
        label: String,
        /// What went wrong, with input values removed.
        message: String,
    },
    /// Evaluation succeeded but the rule's value does not have the shape
    /// the proxy expects.
    #[error("{kind} policy of {label} returned an unusable value: {message}")]
    Shape {
        /// Which policy.
        kind: PolicyKind,
        /// Where the policy lives, as given by the caller.
        label: String,
        /// The expected shape and the type that came back.
        message: String,
    },
}

impl RegoError {
    /// Which policy the error is about.
    pub fn kind(&self) -> PolicyKind {
        match self {
            RegoError::Compile { kind, .. }
            | RegoError::Eval { kind, .. }
            | RegoError::Shape { kind, .. } => *kind,
        }
    }

    /// The label the caller gave when compiling the policy.
    pub fn label(&self) -> &str {
        match self {
            RegoError::Compile { label, .. }
            | RegoError::Eval { label, .. }
            | RegoError::Shape { label, .. } => label,
        }
    }
}

/// The type of a Rego value as an error message names it ("a number").
/// Never the value itself.
pub(crate) fn describe(v: &regorus::Value) -> &'static str {
    use regorus::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Set(_) => "a set",
        Value::Object(_) => "an object",
        Value::Undefined => "an undefined value",
    }
}
