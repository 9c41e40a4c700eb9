//! Identities and access checks.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Who a token belongs to (the answer of a TokenReview).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// e.g. `system:serviceaccount:team-a:builder`.
    pub username: String,
    /// Stable id of the subject, when known.
    pub uid: String,
    /// Groups, e.g. `system:serviceaccounts`, `system:serviceaccounts:team-a`.
    pub groups: Vec<String>,
    /// Extra claims (e.g. bound pod name).
    pub extra: BTreeMap<String, Vec<String>>,
    /// When the token stops being valid; caches must not outlive it.
    pub expires_at: Option<SystemTime>,
}

impl Identity {
    /// `(namespace, name)` when the identity is a ServiceAccount.
    pub fn service_account(&self) -> Option<(&str, &str)> {
        let rest = self.username.strip_prefix("system:serviceaccount:")?;
        let (ns, name) = rest.split_once(':')?;
        (!ns.is_empty() && !name.is_empty()).then_some((ns, name))
    }

    /// The identity of a ServiceAccount with the standard groups.
    pub fn service_account_identity(
        namespace: &str,
        name: &str,
        uid: impl Into<String>,
        expires_at: Option<SystemTime>,
    ) -> Identity {
        Identity {
            username: format!("system:serviceaccount:{namespace}:{name}"),
            uid: uid.into(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
            extra: BTreeMap::new(),
            expires_at,
        }
    }
}

/// One permission question: may the identity do `verb` on Connector
/// `namespace/name` (optionally on a subresource such as `proxy`)?
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccessCheck {
    /// Connector namespace.
    pub namespace: String,
    /// Connector name.
    pub name: String,
    /// `get`, `create`, `update`, `patch`, `delete`, or `*`.
    pub verb: String,
    /// e.g. `proxy`; `None` for the Connector itself.
    pub subresource: Option<String>,
}

impl AccessCheck {
    /// `get` on the Connector itself (the check the proxy always makes).
    pub fn get(namespace: &str, name: &str) -> AccessCheck {
        AccessCheck {
            namespace: namespace.to_string(),
            name: name.to_string(),
            verb: "get".into(),
            subresource: None,
        }
    }
}

/// The answer to an [`AccessCheck`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Denied, with a reason safe to show the caller.
    Deny(String),
}

impl Decision {
    /// Whether access is allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// Why authentication or authorisation could not give an answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is not valid (malformed, bad signature, expired, wrong
    /// audience). The message is safe to show and never contains the token.
    #[error("{0}")]
    Unauthenticated(String),
    /// The authority could not be asked (e.g. API server down).
    #[error("authentication service unavailable: {0}")]
    Unavailable(String),
}
