//! Observing one Connector: the checks behind each condition.

use crate::addressing::{ProxyAddress, ProxyAddressing};
use crate::probe::ProbeClient;
use connectors_catalog::Snapshot;
use connectors_core::cacert::ca_certificates;
use connectors_core::render::render_http_probe;
use connectors_core::status::{
    auth_probe_outcome, connector_conditions, liveness_probe_outcome, Observation, Outcome,
};
use connectors_core::validate::{self, SecretProblem};
use connectors_types::common::Addressable;
use connectors_types::condition::reason;
use connectors_types::connector::{ConnectorApiStatus, ConnectorProxyStatus, ConnectorStatus};
use connectors_types::connector_class::HttpProbe;
use connectors_types::{Connector, ConnectorClass};
use k8s_openapi::api::core::v1::Secret;

/// Runs every check for `connector` and returns its new status. With
/// `probes == false` the probes are reported as in progress (used for the
/// fast first status written before slow probes finish).
pub async fn observe_connector(
    snapshot: &Snapshot,
    connector: &Connector,
    addressing: &ProxyAddressing,
    client: &ProbeClient,
    probes: bool,
    now: &str,
) -> ConnectorStatus {
    let previous = connector
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let class_name = connector.spec.connector_class_name.as_str();
    let mut status = base_status(connector);
    let Some(class) = snapshot.class(class_name) else {
        status.conditions =
            connector_conditions(Observation::class_missing(class_name), &previous, now);
        return status;
    };

    let class_outcome = class_outcome(&validate::connector(connector, Some(class)));

    let secret = snapshot.secret_of(connector).map(|s| s.as_ref());
    let secret_outcome = secret_outcome(connector, class, secret);
    let secret_usable = matches!(secret_outcome, Outcome::Passed(_) | Outcome::PassedWith(..));

    let (proxy_outcome, proxy_status) = proxy_observation(addressing.resolve(connector, class));
    status.proxy = proxy_status;

    let (ca_cert, extra_roots) = ca_observation(snapshot, connector);

    let probing = Probing {
        connector,
        client,
        extra_roots: &extra_roots,
        run: probes,
    };
    let liveness = liveness_outcome(class, &probing).await;
    let auth = auth_outcome(class, &probing, secret, secret_usable).await;

    status.conditions = connector_conditions(
        Observation {
            class: class_outcome,
            secret: secret_outcome,
            liveness,
            auth,
            proxy: proxy_outcome,
            ca_cert,
        },
        &previous,
        now,
    );
    status
}

/// The status fields that need no check: observed generation, API path and
/// the annotations carried over from the current status.
fn base_status(connector: &Connector) -> ConnectorStatus {
    ConnectorStatus {
        observed_generation: connector.metadata.generation,
        api: Some(ConnectorApiStatus {
            path: Some(format!(
                "/connectors/v1alpha1/{}/{}/path",
                connector.metadata.namespace.as_deref().unwrap_or(""),
                connector.metadata.name.as_deref().unwrap_or("")
            )),
        }),
        annotations: connector
            .status
            .as_ref()
            .and_then(|s| s.annotations.clone()),
        ..Default::default()
    }
}

/// `ConnectorClassReady` from the validation problems of the Connector: the
/// first problem, with a count of the others.
fn class_outcome(spec_problems: &[String]) -> Outcome {
    match spec_problems.split_first() {
        None => Outcome::ok(),
        Some((first, rest)) => Outcome::Failed(
            "ConnectorInvalid",
            if rest.is_empty() {
                first.clone()
            } else {
                format!("{first} (and {} more problem(s))", rest.len())
            },
        ),
    }
}

/// `ProxyReady` and the proxy address to publish, from the resolved address.
fn proxy_observation(address: ProxyAddress) -> (Outcome, Option<ConnectorProxyStatus>) {
    let (outcome, url) = match address {
        ProxyAddress::NonProxy => (Outcome::ok_because(reason::NON_PROXY), None),
        ProxyAddress::Url(u) => (Outcome::ok(), Some(u)),
        ProxyAddress::Unresolved(m) => (Outcome::Failed(reason::PROXY_SERVICE_NOT_FOUND, m), None),
    };
    let status = url.map(|url| ConnectorProxyStatus {
        http_address: Some(Addressable {
            url: Some(url),
            ..Default::default()
        }),
    });
    (outcome, status)
}

/// What the probes of one observation share.
struct Probing<'a> {
    connector: &'a Connector,
    client: &'a ProbeClient,
    /// Trust roots added to the system ones.
    extra_roots: &'a [Vec<u8>],
    /// Whether probes run now; if not, they are reported as in progress.
    run: bool,
}

/// The outcome of a probe that is not run in this pass.
fn in_progress() -> Outcome {
    Outcome::Unknown(reason::IN_PROGRESS, "probe is running".into())
}

/// `LivenessReady`: the class's HTTP liveness probe, if it has one.
async fn liveness_outcome(class: &ConnectorClass, probing: &Probing<'_>) -> Outcome {
    match class
        .spec
        .liveness_probe
        .as_ref()
        .and_then(|p| p.http.as_ref())
    {
        None => Outcome::ok_because(reason::NON_LIVENESS_PROBE),
        Some(_) if !probing.run => in_progress(),
        Some(http) => probing.run_probe(http, None, "livenessProbe", false).await,
    }
}

/// `AuthReady`: the class's HTTP auth probe for the Connector's auth type,
/// if it has one; not run while the Secret is unusable.
async fn auth_outcome(
    class: &ConnectorClass,
    probing: &Probing<'_>,
    secret: Option<&Secret>,
    secret_usable: bool,
) -> Outcome {
    let auth_probe = class
        .spec
        .auth_probe(probing.connector.spec.auth_name())
        .and_then(|p| p.probe.http.as_ref());
    match auth_probe {
        None => Outcome::ok_because(reason::NON_AUTH_PROBE),
        Some(_) if !secret_usable => Outcome::Unknown(
            reason::DEPENDENCY_NOT_READY,
            "the Secret is not ready, so the credential was not checked".into(),
        ),
        Some(_) if !probing.run => in_progress(),
        Some(http) => probing.run_probe(http, secret, "authProbe", true).await,
    }
}

fn secret_outcome(
    connector: &Connector,
    class: &ConnectorClass,
    secret: Option<&Secret>,
) -> Outcome {
    match validate::secret_for_connector(connector, class, secret) {
        Ok(()) if connector.spec.secret_name().is_none() => {
            Outcome::ok_because(reason::SECRET_OPTIONAL)
        }
        Ok(()) => Outcome::ok(),
        Err(SecretProblem::NotFound(m)) | Err(SecretProblem::NotReferenced(m)) => {
            Outcome::Failed(reason::SECRET_NOT_FOUND, m)
        }
        Err(SecretProblem::Invalid(m)) => Outcome::Failed(reason::SECRET_INVALID, m),
    }
}

/// `CACertReady` and the extra trust roots of a Connector that names a CA
/// Secret; nothing when it names none.
fn ca_observation(snapshot: &Snapshot, connector: &Connector) -> (Option<Outcome>, Vec<Vec<u8>>) {
    let Some(name) = connector
        .spec
        .ca_cert_secret_ref
        .as_ref()
        .map(|r| r.name.as_str())
        .filter(|n| !n.is_empty())
    else {
        return (None, Vec::new());
    };
    let ns = connector.metadata.namespace.as_deref().unwrap_or("");
    match snapshot.secret(ns, name) {
        None => (
            Some(Outcome::Failed(
                reason::SECRET_NOT_FOUND,
                format!("secrets {name:?} not found in namespace {ns:?}"),
            )),
            Vec::new(),
        ),
        Some(secret) => match ca_certificates(secret) {
            Ok(certs) => (
                Some(Outcome::PassedWith(
                    reason::VALID,
                    format!("CA certificate loaded from secret {name:?}"),
                )),
                certs,
            ),
            Err(e) => (
                Some(Outcome::Failed(reason::INVALID_PEM, e.to_string())),
                Vec::new(),
            ),
        },
    }
}

impl Probing<'_> {
    /// Renders the probe `http` (named `label` in errors) for the
    /// Connector, sends it and judges the answer as an auth probe
    /// (`is_auth`) or a liveness probe.
    async fn run_probe(
        &self,
        http: &HttpProbe,
        secret: Option<&Secret>,
        label: &str,
        is_auth: bool,
    ) -> Outcome {
        let failed_reason = if is_auth {
            reason::AUTHENTICATION_FAILED
        } else {
            reason::CONNECTION_FAILED
        };
        let request = match render_http_probe(http, self.connector, secret, label) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(reason::TEMPLATE_ERROR, e.to_string()),
        };
        if request.cel.is_some() {
            return Outcome::Unknown(
                failed_reason,
                "response.cel checks are not supported by this build; the probe was not judged"
                    .into(),
            );
        }
        match self.client.send(&request, self.extra_roots).await {
            Ok(r) if is_auth => auth_probe_outcome(r.status),
            Ok(r) => liveness_probe_outcome(r.status),
            Err(e) => Outcome::Failed(reason::CONNECTION_FAILED, e),
        }
    }
}
