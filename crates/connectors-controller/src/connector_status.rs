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
    let mut status = ConnectorStatus {
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
    };
    let Some(class) = snapshot.class(class_name) else {
        status.conditions =
            connector_conditions(Observation::class_missing(class_name), &previous, now);
        return status;
    };

    let spec_problems = validate::connector(connector, Some(class));
    let class_outcome = match spec_problems.split_first() {
        None => Outcome::ok(),
        Some((first, rest)) => Outcome::Failed(
            "ConnectorInvalid",
            if rest.is_empty() {
                first.clone()
            } else {
                format!("{first} (and {} more problem(s))", rest.len())
            },
        ),
    };

    let secret = snapshot.secret_of(connector).map(|s| s.as_ref());
    let secret_outcome = secret_outcome(connector, class, secret);
    let secret_usable = matches!(secret_outcome, Outcome::Passed(_) | Outcome::PassedWith(..));

    let (proxy_outcome, proxy_url) = match addressing.resolve(connector, class) {
        ProxyAddress::NonProxy => (Outcome::ok_because(reason::NON_PROXY), None),
        ProxyAddress::Url(u) => (Outcome::ok(), Some(u)),
        ProxyAddress::Unresolved(m) => (Outcome::Failed(reason::PROXY_SERVICE_NOT_FOUND, m), None),
    };
    status.proxy = proxy_url.map(|url| ConnectorProxyStatus {
        http_address: Some(Addressable {
            url: Some(url),
            ..Default::default()
        }),
    });

    let (ca_cert, extra_roots) = ca_observation(snapshot, connector);

    let in_progress = || Outcome::Unknown(reason::IN_PROGRESS, "probe is running".into());
    let liveness = match class
        .spec
        .liveness_probe
        .as_ref()
        .and_then(|p| p.http.as_ref())
    {
        None => Outcome::ok_because(reason::NON_LIVENESS_PROBE),
        Some(_) if !probes => in_progress(),
        Some(http) => {
            run_probe(
                http,
                connector,
                None,
                client,
                &extra_roots,
                "livenessProbe",
                false,
            )
            .await
        }
    };
    let auth_probe = class
        .spec
        .auth_probe(connector.spec.auth_name())
        .and_then(|p| p.probe.http.as_ref());
    let auth = match auth_probe {
        None => Outcome::ok_because(reason::NON_AUTH_PROBE),
        Some(_) if !secret_usable => Outcome::Unknown(
            reason::DEPENDENCY_NOT_READY,
            "the Secret is not ready, so the credential was not checked".into(),
        ),
        Some(_) if !probes => in_progress(),
        Some(http) => {
            run_probe(
                http,
                connector,
                secret,
                client,
                &extra_roots,
                "authProbe",
                true,
            )
            .await
        }
    };

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

async fn run_probe(
    http: &HttpProbe,
    connector: &Connector,
    secret: Option<&Secret>,
    client: &ProbeClient,
    extra_roots: &[Vec<u8>],
    label: &str,
    is_auth: bool,
) -> Outcome {
    let failed_reason = if is_auth {
        reason::AUTHENTICATION_FAILED
    } else {
        reason::CONNECTION_FAILED
    };
    let request = match render_http_probe(http, connector, secret, label) {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(reason::TEMPLATE_ERROR, e.to_string()),
    };
    if request.cel.is_some() {
        return Outcome::Unknown(
            failed_reason,
            "response.cel checks are not supported by this build; the probe was not judged".into(),
        );
    }
    match client.send(&request, extra_roots).await {
        Ok(r) if is_auth => auth_probe_outcome(r.status),
        Ok(r) => liveness_probe_outcome(r.status),
        Err(e) => Outcome::Failed(reason::CONNECTION_FAILED, e),
    }
}
