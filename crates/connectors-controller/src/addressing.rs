//! How a Connector's proxy address is formed.

use connectors_types::connector_class::ProxyResolver;
use connectors_types::{Connector, ConnectorClass, PROXY_SERVICE_NAME};

/// The address scheme of the running installation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyAddressing {
    /// One process serves the built-in proxy at `base`; every Connector of a
    /// class using it gets the path form `<base>/namespaces/<ns>/connectors/<name>`.
    Standalone {
        /// e.g. `http://127.0.0.1:7480`.
        base: String,
    },
    /// In a cluster: host resolver `http://c-<name>.<ns>.svc.cluster.local`,
    /// path resolver `<class proxy URL>/namespaces/<ns>/connectors/<name>`.
    Cluster {
        /// Cluster DNS domain, e.g. `cluster.local`.
        cluster_domain: String,
    },
}

/// Result of resolving a Connector's proxy address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyAddress {
    /// The class has no proxy.
    NonProxy,
    /// The address clients use.
    Url(String),
    /// The class's proxy cannot be resolved here.
    Unresolved(String),
}

impl ProxyAddressing {
    /// The proxy address of `connector`, whose class is `class`.
    pub fn resolve(&self, connector: &Connector, class: &ConnectorClass) -> ProxyAddress {
        let Some(proxy) = &class.spec.proxy else {
            return ProxyAddress::NonProxy;
        };
        let ns = connector.metadata.namespace.as_deref().unwrap_or("default");
        let name = connector.metadata.name.as_deref().unwrap_or("");
        let path_form = |base: &str| {
            format!(
                "{}/namespaces/{ns}/connectors/{name}",
                base.trim_end_matches('/')
            )
        };
        let dest = &proxy.destination;
        let absolute_uri = dest
            .uri
            .as_deref()
            .filter(|u| url::Url::parse(u).map(|u| u.has_host()).unwrap_or(false));
        let builtin_ref = dest
            .ref_
            .as_ref()
            .map(|r| r.name == PROXY_SERVICE_NAME)
            .unwrap_or(false);
        match self {
            ProxyAddressing::Standalone { base } => {
                if let Some(uri) = absolute_uri {
                    return ProxyAddress::Url(path_form(uri));
                }
                if builtin_ref {
                    return ProxyAddress::Url(path_form(base));
                }
                match &dest.ref_ {
                    Some(r) => ProxyAddress::Unresolved(format!(
                        "Service {} not found in namespace {} (standalone serves only the built-in proxy {PROXY_SERVICE_NAME})",
                        r.name,
                        r.namespace.as_deref().unwrap_or(ns)
                    )),
                    None => ProxyAddress::Unresolved(
                        "spec.proxy names neither a Service nor an absolute URI".into(),
                    ),
                }
            }
            ProxyAddressing::Cluster { cluster_domain } => {
                let class_base = match (absolute_uri, &dest.ref_) {
                    (Some(uri), _) => uri.trim_end_matches('/').to_string(),
                    (None, Some(r)) => format!(
                        "http://{}.{}.svc.{cluster_domain}{}",
                        r.name,
                        r.namespace.as_deref().unwrap_or(ns),
                        dest.uri.as_deref().unwrap_or("")
                    ),
                    (None, None) => {
                        return ProxyAddress::Unresolved(
                            "spec.proxy names neither a Service nor an absolute URI".into(),
                        )
                    }
                };
                match class.proxy_resolver() {
                    ProxyResolver::Path => ProxyAddress::Url(path_form(&class_base)),
                    ProxyResolver::Host => {
                        ProxyAddress::Url(format!("http://c-{name}.{ns}.svc.{cluster_domain}"))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connectors_types::common::{Destination, DestinationRef};
    use connectors_types::connector_class::ClassProxy;

    fn class(proxy: Option<ClassProxy>, resolver: Option<&str>) -> ConnectorClass {
        let mut c = ConnectorClass::new("git", Default::default());
        c.spec.proxy = proxy;
        if let Some(r) = resolver {
            c.metadata.annotations = Some(
                [(
                    "connectors.cpaas.io/proxy-resolver".to_string(),
                    r.to_string(),
                )]
                .into(),
            );
        }
        c
    }

    fn builtin() -> Option<ClassProxy> {
        Some(ClassProxy {
            destination: Destination {
                ref_: Some(DestinationRef {
                    kind: Some("Service".into()),
                    name: PROXY_SERVICE_NAME.into(),
                    namespace: Some("connectors-system".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            auth_extractor: None,
        })
    }

    fn connector() -> Connector {
        let mut c = Connector::new("demo", Default::default());
        c.metadata.namespace = Some("team-a".into());
        c
    }

    #[test]
    fn standalone_uses_path_form_on_its_listener() {
        let a = ProxyAddressing::Standalone {
            base: "http://127.0.0.1:7480/".into(),
        };
        assert_eq!(
            a.resolve(&connector(), &class(builtin(), None)),
            ProxyAddress::Url("http://127.0.0.1:7480/namespaces/team-a/connectors/demo".into())
        );
        assert_eq!(
            a.resolve(&connector(), &class(None, None)),
            ProxyAddress::NonProxy
        );
    }

    #[test]
    fn cluster_host_and_path_resolvers() {
        let a = ProxyAddressing::Cluster {
            cluster_domain: "cluster.local".into(),
        };
        assert_eq!(
            a.resolve(&connector(), &class(builtin(), None)),
            ProxyAddress::Url("http://c-demo.team-a.svc.cluster.local".into())
        );
        assert_eq!(
            a.resolve(&connector(), &class(builtin(), Some("path"))),
            ProxyAddress::Url(
                "http://connectors-proxy-service.connectors-system.svc.cluster.local/namespaces/team-a/connectors/demo"
                    .into()
            )
        );
    }
}
