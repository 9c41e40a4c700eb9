//! Condition computation for Connectors (spec 01 §5), as a pure function of
//! what the reconciler observed. The reconciler does the I/O (probes, lookups)
//! and feeds the outcomes here.

use connectors_types::common::{find_condition, Condition, ConditionStatus};
use connectors_types::condition::{self as cond, reason};

/// Outcome of one check, in the terms a condition needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed; an optional reason for informational passes
    /// (`SecretOptional`, `NonLivenessProbe`, …).
    Passed(Option<&'static str>),
    /// The check passed, with a reason and a message worth showing
    /// (e.g. `Valid`, "CA certificate loaded from secret …").
    PassedWith(&'static str, String),
    /// The check failed with a reason and a message.
    Failed(&'static str, String),
    /// Not known (yet): still running, or a dependency is not ready.
    Unknown(&'static str, String),
}

impl Outcome {
    /// A pass without reason.
    pub fn ok() -> Outcome {
        Outcome::Passed(None)
    }

    /// A pass with an informational reason.
    pub fn ok_because(reason: &'static str) -> Outcome {
        Outcome::Passed(Some(reason))
    }

    fn status(&self) -> ConditionStatus {
        match self {
            Outcome::Passed(_) | Outcome::PassedWith(..) => ConditionStatus::True,
            Outcome::Failed(..) => ConditionStatus::False,
            Outcome::Unknown(..) => ConditionStatus::Unknown,
        }
    }

    fn into_condition(self, type_: &str) -> Condition {
        let status = self.status();
        let (reason, message) = match self {
            Outcome::Passed(r) => (r.map(str::to_string), None),
            Outcome::PassedWith(r, m) | Outcome::Failed(r, m) | Outcome::Unknown(r, m) => {
                (Some(r.to_string()), Some(m))
            }
        };
        Condition {
            type_: type_.to_string(),
            status,
            reason,
            message,
            severity: None,
            last_transition_time: None,
        }
    }
}

/// What the reconciler learnt about one Connector, check by check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// `ConnectorClassReady`.
    pub class: Outcome,
    /// `SecretReady`.
    pub secret: Outcome,
    /// `LivenessReady`.
    pub liveness: Outcome,
    /// `AuthReady`.
    pub auth: Outcome,
    /// `ProxyServiceReady`.
    pub proxy: Outcome,
    /// `CACertReady` (informational; never affects `Ready`), when the
    /// Connector names a CA Secret.
    pub ca_cert: Option<Outcome>,
}

impl Observation {
    /// Every dependent condition Unknown because the class is missing.
    pub fn class_missing(class_name: &str) -> Observation {
        let waiting = || {
            Outcome::Unknown(
                reason::DEPENDENCY_NOT_READY,
                format!("waiting for connectorclass {class_name:?}"),
            )
        };
        Observation {
            class: Outcome::Failed(
                reason::CONNECTOR_CLASS_NOT_FOUND,
                format!("connectorclass.connectors.alauda.io {class_name:?} not found"),
            ),
            secret: waiting(),
            liveness: waiting(),
            auth: waiting(),
            proxy: waiting(),
            ca_cert: None,
        }
    }
}

/// Classifies the HTTP status of an auth probe: 2xx passes, 401/403 is a
/// refused credential, anything else is a failed probe naming the status.
pub fn auth_probe_outcome(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::ok(),
        _ => Outcome::Failed(
            reason::AUTHENTICATION_FAILED,
            format!("Authentication failed: status code {status}"),
        ),
    }
}

/// Classifies the HTTP status of a liveness probe: any 2xx passes.
pub fn liveness_probe_outcome(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::ok(),
        _ => Outcome::Failed(
            reason::CONNECTION_FAILED,
            format!("liveness probe failed: status code {status}"),
        ),
    }
}

/// The conditions of a Connector, in spec order followed by `Ready`.
/// `lastTransitionTime` is kept from `previous` when a condition's status
/// did not change, and set to `now` (RFC 3339) when it did.
pub fn connector_conditions(obs: Observation, previous: &[Condition], now: &str) -> Vec<Condition> {
    let mut out: Vec<Condition> = vec![
        obs.class.into_condition(cond::CONNECTOR_CLASS_READY),
        obs.secret.into_condition(cond::SECRET_READY),
        obs.liveness.into_condition(cond::LIVENESS_READY),
        obs.auth.into_condition(cond::AUTH_READY),
        obs.proxy.into_condition(cond::PROXY_SERVICE_READY),
    ];
    if let Some(ca) = obs.ca_cert {
        let mut c = ca.into_condition(cond::CA_CERT_READY);
        c.severity = Some(cond::SEVERITY_INFO.to_string());
        out.push(c);
    }
    let ready = aggregate_ready(&out);
    out.push(ready);
    for c in &mut out {
        c.last_transition_time = match find_condition(previous, &c.type_) {
            Some(p) if p.status == c.status && p.last_transition_time.is_some() => {
                p.last_transition_time.clone()
            }
            _ => Some(now.to_string()),
        };
    }
    out
}

/// `Ready`: True when every dependent is True; otherwise the reason and
/// message of the first False dependent, else of the first Unknown one.
pub fn aggregate_ready(dependents: &[Condition]) -> Condition {
    let relevant: Vec<&Condition> = dependents
        .iter()
        .filter(|c| c.severity.as_deref() != Some(cond::SEVERITY_INFO))
        .collect();
    let pick = |status: ConditionStatus| relevant.iter().find(|c| c.status == status);
    let (status, from) = if let Some(f) = pick(ConditionStatus::False) {
        (ConditionStatus::False, Some(*f))
    } else if let Some(u) = pick(ConditionStatus::Unknown) {
        (ConditionStatus::Unknown, Some(*u))
    } else {
        (ConditionStatus::True, None)
    };
    Condition {
        type_: cond::READY.to_string(),
        status,
        reason: from.and_then(|c| c.reason.clone()),
        message: from.and_then(|c| c.message.clone()),
        severity: None,
        last_transition_time: None,
    }
}

/// Whether two condition lists say the same thing, ignoring transition times.
pub fn same_conditions(a: &[Condition], b: &[Condition]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.type_ == y.type_
                && x.status == y.status
                && x.reason == y.reason
                && x.message == y.message
                && x.severity == y.severity
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_ok() -> Observation {
        Observation {
            class: Outcome::ok(),
            secret: Outcome::ok(),
            liveness: Outcome::ok(),
            auth: Outcome::ok(),
            proxy: Outcome::ok(),
            ca_cert: None,
        }
    }

    #[test]
    fn ca_cert_condition_is_informational() {
        let mut o = all_ok();
        o.ca_cert = Some(Outcome::Failed(reason::INVALID_PEM, "bad".into()));
        let c = connector_conditions(o, &[], "t0");
        assert_eq!(c.len(), 7);
        assert_eq!(c[5].type_, "CACertReady");
        assert_eq!(c[5].severity.as_deref(), Some("Info"));
        assert_eq!(
            c[6].status,
            ConditionStatus::True,
            "Ready ignores CACertReady"
        );
    }

    #[test]
    fn all_passing_is_ready() {
        let c = connector_conditions(all_ok(), &[], "t0");
        assert_eq!(c.len(), 6);
        assert_eq!(c[5].type_, "Ready");
        assert_eq!(c[5].status, ConditionStatus::True);
        assert!(c
            .iter()
            .all(|c| c.last_transition_time.as_deref() == Some("t0")));
    }

    #[test]
    fn ready_copies_first_false_in_order() {
        let mut o = all_ok();
        o.auth = auth_probe_outcome(401);
        o.liveness = Outcome::Failed(reason::CONNECTION_FAILED, "dial tcp: refused".into());
        let c = connector_conditions(o, &[], "t0");
        assert_eq!(c[5].status, ConditionStatus::False);
        assert_eq!(c[5].reason.as_deref(), Some("ConnectionFailed"));
        assert_eq!(c[5].message.as_deref(), Some("dial tcp: refused"));
        assert_eq!(
            c[3].message.as_deref(),
            Some("Authentication failed: status code 401")
        );
    }

    #[test]
    fn missing_class_makes_dependents_unknown() {
        let c = connector_conditions(Observation::class_missing("git"), &[], "t0");
        assert_eq!(c[0].reason.as_deref(), Some("ConnectorClassNotFound"));
        assert!(c[0]
            .message
            .as_deref()
            .unwrap()
            .contains("\"git\" not found"));
        assert!(c[1..5].iter().all(|c| c.status == ConditionStatus::Unknown));
        assert_eq!(c[5].status, ConditionStatus::False);
        assert_eq!(c[5].reason.as_deref(), Some("ConnectorClassNotFound"));
    }

    #[test]
    fn unknown_without_false_is_unknown() {
        let mut o = all_ok();
        o.auth = Outcome::Unknown(reason::IN_PROGRESS, "probing".into());
        let c = connector_conditions(o, &[], "t0");
        assert_eq!(c[5].status, ConditionStatus::Unknown);
        assert_eq!(c[5].reason.as_deref(), Some("InProgress"));
    }

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let first = connector_conditions(all_ok(), &[], "t0");
        let mut o = all_ok();
        o.auth = auth_probe_outcome(403);
        let second = connector_conditions(o, &first, "t1");
        assert_eq!(second[0].last_transition_time.as_deref(), Some("t0"));
        assert_eq!(second[3].last_transition_time.as_deref(), Some("t1"));
        assert_eq!(second[5].last_transition_time.as_deref(), Some("t1"));
        assert!(!same_conditions(&first, &second));
        assert!(same_conditions(
            &second,
            &connector_conditions(
                {
                    let mut o = all_ok();
                    o.auth = auth_probe_outcome(403);
                    o
                },
                &second,
                "t2"
            )
        ));
    }

    #[test]
    fn probe_status_classification() {
        assert_eq!(auth_probe_outcome(204), Outcome::ok());
        assert!(
            matches!(auth_probe_outcome(404), Outcome::Failed("AuthenticationFailed", m) if m.contains("404"))
        );
        assert!(matches!(
            liveness_probe_outcome(503),
            Outcome::Failed("ConnectionFailed", _)
        ));
    }
}
