//! Who may use what on the local backend.

use crate::access::{AccessCheck, Decision, Identity};

/// A ServiceAccount token of namespace NS may use the Connectors of NS,
/// nothing else.
#[derive(Clone, Debug, Default)]
pub struct LocalPolicy;

impl LocalPolicy {
    /// The decision for one check.
    pub fn decide(&self, identity: &Identity, check: &AccessCheck) -> Decision {
        match identity.service_account() {
            Some((ns, _)) if ns == check.namespace => Decision::Allow,
            Some((ns, name)) => Decision::Deny(format!(
                "serviceaccount {ns}:{name} may only use Connectors of namespace {ns}, not {}/{}",
                check.namespace, check.name
            )),
            None => Decision::Deny(format!(
                "{} is not a ServiceAccount; only ServiceAccount tokens may use Connectors",
                identity.username
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_namespace_only() {
        let id = Identity::service_account_identity("team-a", "builder", "u", None);
        let p = LocalPolicy;
        assert!(p.decide(&id, &AccessCheck::get("team-a", "git")).allowed());
        let proxy = AccessCheck {
            verb: "*".into(),
            subresource: Some("proxy".into()),
            ..AccessCheck::get("team-a", "git")
        };
        assert!(p.decide(&id, &proxy).allowed(), "any verb, any subresource");
        let d = p.decide(&id, &AccessCheck::get("team-b", "git"));
        assert!(
            matches!(d, Decision::Deny(ref m) if m.contains("team-a:builder may only use Connectors of namespace team-a"))
        );
        let user = Identity {
            username: "alice".into(),
            ..id
        };
        assert!(!p
            .decide(&user, &AccessCheck::get("team-a", "git"))
            .allowed());
    }
}
