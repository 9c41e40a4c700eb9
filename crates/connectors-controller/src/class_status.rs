//! ConnectorClass status: API and proxy readiness.

use connectors_core::status::aggregate_ready;
use connectors_types::common::{Addressable, Condition, ConditionStatus};
use connectors_types::condition::{self as cond, reason};
use connectors_types::connector_class::{ClassProxyStatus, ConnectorClassStatus};
use connectors_types::ConnectorClass;

use crate::addressing::ProxyAddressing;

/// The status of a class as the standalone process sees it: no class API is
/// reachable from here unless given by absolute URL; the built-in proxy is
/// this process.
pub fn class_status(
    class: &ConnectorClass,
    addressing: &ProxyAddressing,
    now: &str,
) -> ConnectorClassStatus {
    let previous = class
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let api = match &class.spec.api {
        None => Condition::new(cond::API_READY, ConditionStatus::True).with_reason(reason::NON_API),
        Some(api)
            if api
                .destination
                .uri
                .as_deref()
                .map(|u| u.starts_with("http"))
                .unwrap_or(false) =>
        {
            Condition::new(cond::API_READY, ConditionStatus::True)
        }
        Some(_) => Condition::new(cond::API_READY, ConditionStatus::False)
            .with_reason("APIUnresolved")
            .with_message("the class API is a Service reference, which this process cannot reach"),
    };
    let (proxy, proxy_status) = match (&class.spec.proxy, addressing) {
        (None, _) => (
            Condition::new(cond::PROXY_READY, ConditionStatus::True).with_reason(reason::NON_PROXY),
            None,
        ),
        (Some(_), ProxyAddressing::Standalone { base }) => (
            Condition::new(cond::PROXY_READY, ConditionStatus::True),
            Some(ClassProxyStatus {
                http_address: Some(Addressable {
                    url: Some(base.clone()),
                    ..Default::default()
                }),
            }),
        ),
        (Some(_), ProxyAddressing::Cluster { .. }) => (
            Condition::new(cond::PROXY_READY, ConditionStatus::Unknown),
            None,
        ),
    };
    let ready = aggregate_ready(&[api.clone(), proxy.clone()]);
    let mut conditions = vec![api, proxy, ready];
    for c in &mut conditions {
        c.last_transition_time = match connectors_types::common::find_condition(&previous, &c.type_)
        {
            Some(p) if p.status == c.status && p.last_transition_time.is_some() => {
                p.last_transition_time.clone()
            }
            _ => Some(now.to_string()),
        };
    }
    ConnectorClassStatus {
        conditions,
        observed_generation: class.metadata.generation,
        annotations: None,
        api: None,
        proxy: proxy_status,
    }
}
