//! Per-Connector prepared state: the parsed upstream, the credential ready
//! to inject, and the class policies compiled once per class change.
//!
//! A [`Route`] remembers the exact `Arc`s of the Connector, class and Secret
//! it was built from; a lookup reuses it only while the current snapshot
//! still holds those same `Arc`s (`Arc::ptr_eq`), so a rotated Secret or an
//! edited Connector is used by the very next request.

use crate::error::RequestError;
use crate::policy::{CredentialGenerator, TokenExtractor};
use crate::tls::upstream::CaSet;
use base64::Engine;
use connectors_catalog::{ObjectRef, Snapshot};
use connectors_core::address::{authority, parse_tool_url, TargetPrefix};
use connectors_types::secret::{self, BASIC_AUTH, BEARER_TOKEN};
use connectors_types::{Connector, ConnectorClass, PROXY_SERVICE_NAME};
use http::uri::{Authority, Scheme};
use http::HeaderValue;
use k8s_openapi::api::core::v1::Secret;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use url::Url;

/// Where requests for a Connector go.
#[derive(Debug)]
pub(crate) struct UpstreamTarget {
    /// `spec.address`, parsed.
    pub(crate) base: Url,
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// `host[:port]` for messages and logs.
    pub(crate) host: String,
    /// Origin and path prefix of `spec.address`, for `Location` rewriting.
    pub(crate) prefix: TargetPrefix,
}

/// The credential added to each upstream request.
pub(crate) enum Credential {
    /// Nothing to add (no Secret, or a Secret type without injection rule).
    None,
    /// A Secret type without injection rule and no generator: nothing is
    /// added (the type is kept to warn once).
    Unsupported(String),
    /// A ready `Authorization` value (Basic or Bearer), marked sensitive.
    Header(HeaderValue),
    /// The auth type's generator, evaluated per request over the Secret.
    Generator {
        generator: Arc<CredentialGenerator>,
        data: BTreeMap<String, String>,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::None => f.write_str("None"),
            Credential::Unsupported(t) => write!(f, "Unsupported({t:?})"),
            Credential::Header(_) => f.write_str("Header([redacted])"),
            Credential::Generator { data, .. } => {
                let keys: Vec<&String> = data.keys().collect();
                f.debug_struct("Generator").field("keys", &keys).finish()
            }
        }
    }
}

/// What is needed to forward a request for this Connector.
#[derive(Debug)]
pub(crate) struct Forward {
    pub(crate) upstream: UpstreamTarget,
    pub(crate) credential: Credential,
}

/// Prepared state of one Connector.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) class_name: String,
    /// The class name shared for metric labels.
    pub(crate) class_label: Arc<str>,
    /// `spec.address` and every `spec.addressExtensions[].value` that
    /// parses: the only destinations that get the credential in forward
    /// mode.
    pub(crate) prefixes: Vec<TargetPrefix>,
    /// Scheme, host and port of each of those addresses: a target on one
    /// of these origins is verified with the Connector's CA certificates
    /// too, even where its path gets no credential.
    pub(crate) origins: Vec<(String, String, u16)>,
    /// Extra CA certificates for the tool's TLS (`spec.caCertSecretRef`).
    pub(crate) ca: Result<Option<Arc<CaSet>>, RequestError>,
    connector: Arc<Connector>,
    class: Option<Arc<ConnectorClass>>,
    secret: Option<Arc<Secret>>,
    ca_secret: Option<Arc<Secret>>,
    /// The class's token extractor: absent, compiled, or a compile error.
    pub(crate) extractor: Option<Result<Arc<TokenExtractor>, String>>,
    /// Everything after authorisation; an error here is reported only to
    /// authorised callers.
    pub(crate) forward: Result<Forward, RequestError>,
}

impl Route {
    /// The Connector's namespace and name.
    pub(crate) fn connector_ref(&self) -> (&str, &str) {
        let m = &self.connector.metadata;
        (
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default(),
        )
    }

    /// The published proxy address of the Connector.
    pub(crate) fn proxy_address(&self) -> Option<&str> {
        self.connector.proxy_address()
    }

    /// The CA set for TLS to the tool, or why it cannot be had.
    pub(crate) fn ca(&self) -> Result<Option<&CaSet>, RequestError> {
        match &self.ca {
            Ok(ca) => Ok(ca.as_deref()),
            Err(e) => Err(e.clone()),
        }
    }

    fn is_current(
        &self,
        connector: &Arc<Connector>,
        class: Option<&Arc<ConnectorClass>>,
        secret: Option<&Arc<Secret>>,
        ca_secret: Option<&Arc<Secret>>,
    ) -> bool {
        Arc::ptr_eq(&self.connector, connector)
            && same(self.class.as_ref(), class)
            && same(self.secret.as_ref(), secret)
            && same(self.ca_secret.as_ref(), ca_secret)
    }

    fn build(key: &ObjectRef, parts: RouteParts, policies: Option<Arc<ClassPolicies>>) -> Route {
        let RouteParts {
            connector,
            class,
            secret,
            ca_secret,
        } = parts;
        let key_s = key.to_string();
        let class_name = connector.spec.connector_class_name.clone();
        let extractor = policies.as_ref().and_then(|p| p.extractor.clone());
        let forward = build_forward(
            &key_s,
            &connector,
            class.as_deref(),
            secret.as_deref(),
            policies.as_deref(),
        );
        let ca = ca_set(key, &connector, ca_secret.as_deref());
        Route {
            class_label: Arc::from(class_name.as_str()),
            class_name,
            prefixes: prefixes(&connector),
            origins: origins(&connector),
            ca,
            connector,
            class,
            secret,
            ca_secret,
            extractor,
            forward,
        }
    }
}

/// The objects a route is built from.
struct RouteParts {
    connector: Arc<Connector>,
    class: Option<Arc<ConnectorClass>>,
    secret: Option<Arc<Secret>>,
    ca_secret: Option<Arc<Secret>>,
}

fn addresses(connector: &Connector) -> impl Iterator<Item = Url> + '_ {
    std::iter::once(connector.spec.address.as_str())
        .chain(
            connector
                .spec
                .address_extensions
                .iter()
                .filter_map(|p| p.as_str()),
        )
        .filter_map(|a| parse_tool_url(a).ok())
}

fn prefixes(connector: &Connector) -> Vec<TargetPrefix> {
    addresses(connector)
        .filter_map(|u| TargetPrefix::new(&u))
        .collect()
}

fn origins(connector: &Connector) -> Vec<(String, String, u16)> {
    let mut out: Vec<(String, String, u16)> = Vec::new();
    for u in addresses(connector) {
        let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
            continue;
        };
        let o = (u.scheme().to_string(), host.to_ascii_lowercase(), port);
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out
}

fn ca_set(
    key: &ObjectRef,
    connector: &Connector,
    ca_secret: Option<&Secret>,
) -> Result<Option<Arc<CaSet>>, RequestError> {
    let Some(name) = connector
        .spec
        .ca_cert_secret_ref
        .as_ref()
        .map(|r| r.name.as_str())
        .filter(|n| !n.is_empty())
    else {
        return Ok(None);
    };
    let what = format!(
        "Secret {}/{name} (spec.caCertSecretRef of connector {key})",
        key.namespace
    );
    let Some(secret) = ca_secret else {
        return Err(RequestError::CaUnavailable(format!(
            "{what} does not exist; create it or fix spec.caCertSecretRef"
        )));
    };
    let ders = connectors_core::cacert::ca_certificates(secret)
        .map_err(|e| RequestError::CaUnavailable(format!("{what}: {e}")))?;
    CaSet::new(ders, &what).map(|s| Some(Arc::new(s)))
}

fn same<T>(a: Option<&Arc<T>>, b: Option<&Arc<T>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

fn build_forward(
    key: &str,
    connector: &Connector,
    class: Option<&ConnectorClass>,
    secret: Option<&Secret>,
    policies: Option<&ClassPolicies>,
) -> Result<Forward, RequestError> {
    let class_name = connector.spec.connector_class_name.as_str();
    let Some(class) = class else {
        return Err(RequestError::ClassUnusable {
            connector: key.to_string(),
            detail: format!(
                "its class {class_name:?} does not exist; install the ConnectorClass or fix spec.connectorClassName"
            ),
        });
    };
    match &class.spec.proxy {
        None => {
            return Err(RequestError::ClassUnusable {
                connector: key.to_string(),
                detail: format!("class {class_name} has no spec.proxy, so its Connectors cannot be used through a proxy"),
            })
        }
        Some(p) => {
            if let Some(r) = &p.destination.ref_ {
                if !r.name.is_empty() && r.name != PROXY_SERVICE_NAME {
                    return Err(RequestError::ClassUnusable {
                        connector: key.to_string(),
                        detail: format!(
                            "class {class_name} is served by another proxy (Service {}); use the Connector's published proxy address",
                            r.name
                        ),
                    });
                }
            }
        }
    }
    let upstream = upstream_target(key, &connector.spec.address)?;
    let credential = credential(key, connector, class, secret, policies)?;
    Ok(Forward {
        upstream,
        credential,
    })
}

fn upstream_target(key: &str, address: &str) -> Result<UpstreamTarget, RequestError> {
    let invalid = |detail: String| RequestError::InvalidAddress {
        connector: key.to_string(),
        detail,
    };
    let base = parse_tool_url(address).map_err(|e| invalid(format!("spec.address {e}")))?;
    let scheme = if base.scheme() == "https" {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    };
    let host = authority(&base);
    let auth: Authority = host
        .parse()
        .map_err(|_| invalid(format!("host {host:?} cannot be used in a request")))?;
    HeaderValue::from_str(&host)
        .map_err(|_| invalid(format!("host {host:?} cannot be used in a Host header")))?;
    let prefix = TargetPrefix::new(&base).ok_or_else(|| invalid("it has no host".into()))?;
    Ok(UpstreamTarget {
        base,
        scheme,
        authority: auth,
        host,
        prefix,
    })
}

fn credential(
    key: &str,
    connector: &Connector,
    class: &ConnectorClass,
    secret: Option<&Secret>,
    policies: Option<&ClassPolicies>,
) -> Result<Credential, RequestError> {
    let Some(secret_name) = connector.spec.secret_name() else {
        return Ok(Credential::None);
    };
    let ns = connector.metadata.namespace.as_deref().unwrap_or("");
    let Some(secret) = secret else {
        return Err(RequestError::CredentialUnavailable(format!(
            "Secret {ns}/{secret_name} of connector {key} does not exist; create it or fix spec.auth.secretRef"
        )));
    };
    let auth_name = connector.spec.auth_name();
    if class
        .spec
        .auth_type(auth_name)
        .and_then(|t| t.generator.as_ref())
        .is_some()
    {
        let compiled = policies.and_then(|p| p.generators.get(auth_name));
        return match compiled {
            Some(Ok(generator)) => Ok(Credential::Generator {
                generator: generator.clone(),
                data: secret::string_data(secret),
            }),
            Some(Err(e)) => Err(RequestError::PolicyCompile(e.clone())),
            None => Err(RequestError::PolicyCompile(format!(
                "the credential generator of auth type {auth_name} of class {} was not compiled",
                class_name(class)
            ))),
        };
    }
    let data = secret::string_data(secret);
    let missing = |k: &str| {
        RequestError::CredentialUnavailable(format!(
            "Secret {ns}/{secret_name} of connector {key} has no {k:?}; add it to the Secret"
        ))
    };
    let stype = secret::effective_type(secret);
    let value = match stype {
        BASIC_AUTH => {
            let user = data
                .get(secret::key::USERNAME)
                .map(String::as_str)
                .unwrap_or("");
            let pass = data
                .get(secret::key::PASSWORD)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| missing(secret::key::PASSWORD))?;
            let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            format!("Basic {enc}")
        }
        BEARER_TOKEN => {
            let token = data
                .get(secret::key::TOKEN)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| missing(secret::key::TOKEN))?;
            format!("Bearer {}", token.trim())
        }
        other => return Ok(Credential::Unsupported(other.to_string())),
    };
    let mut hv = HeaderValue::from_str(&value).map_err(|_| {
        RequestError::CredentialUnavailable(format!(
            "Secret {ns}/{secret_name} of connector {key} holds characters that cannot be sent in a header"
        ))
    })?;
    hv.set_sensitive(true);
    Ok(Credential::Header(hv))
}

fn class_name(class: &ConnectorClass) -> String {
    class.metadata.name.clone().unwrap_or_default()
}

/// A class's compiled policies.
#[derive(Debug)]
pub(crate) struct ClassPolicies {
    class: Arc<ConnectorClass>,
    extractor: Option<Result<Arc<TokenExtractor>, String>>,
    generators: HashMap<String, Result<Arc<CredentialGenerator>, String>>,
}

impl ClassPolicies {
    fn compile(class: Arc<ConnectorClass>) -> ClassPolicies {
        let name = class_name(&class);
        let extractor = class.spec.auth_extractor().map(|src| {
            TokenExtractor::compile(src, &format!("class {name}"))
                .map(Arc::new)
                .map_err(|e| e.to_string())
        });
        if let Some(Err(e)) = &extractor {
            tracing::warn!(class = %name, error = %e, "token extractor does not compile");
        }
        let mut generators = HashMap::new();
        for t in class.spec.auth_types() {
            if let Some(g) = t.generator.as_ref().filter(|g| !g.rego.trim().is_empty()) {
                let compiled = CredentialGenerator::compile(
                    &g.rego,
                    &format!("auth type {} of class {name}", t.name),
                )
                .map(Arc::new)
                .map_err(|e| e.to_string());
                if let Err(e) = &compiled {
                    tracing::warn!(class = %name, auth_type = %t.name, error = %e, "credential generator does not compile");
                }
                generators.insert(t.name.clone(), compiled);
            }
        }
        ClassPolicies {
            class,
            extractor,
            generators,
        }
    }
}

/// All prepared routes and class policies, rebuilt lazily on change.
#[derive(Default)]
pub(crate) struct RouteTable {
    routes: RwLock<HashMap<ObjectRef, Arc<Route>>>,
    classes: RwLock<HashMap<String, Arc<ClassPolicies>>>,
    purged_at: AtomicU64,
    warned: Mutex<HashSet<(ObjectRef, String)>>,
}

impl RouteTable {
    /// The route of Connector `namespace/name` in this snapshot, or `None`
    /// when the Connector does not exist.
    pub(crate) fn lookup(
        &self,
        snap: &Snapshot,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Route>> {
        let key = ObjectRef::new(namespace, name);
        let connector = snap.connectors.get(&key)?;
        let class = snap.class(&connector.spec.connector_class_name);
        let secret = connector
            .spec
            .secret_name()
            .and_then(|s| snap.secret(namespace, s));
        let ca_secret = connector
            .spec
            .ca_cert_secret_ref
            .as_ref()
            .filter(|r| !r.name.is_empty())
            .and_then(|r| snap.secret(namespace, &r.name));
        if let Some(r) = read(&self.routes).get(&key) {
            if r.is_current(connector, class, secret, ca_secret) {
                return Some(r.clone());
            }
        }
        let policies = class.map(|c| self.policies(snap, c));
        let route = Arc::new(Route::build(
            &key,
            RouteParts {
                connector: connector.clone(),
                class: class.cloned(),
                secret: secret.cloned(),
                ca_secret: ca_secret.cloned(),
            },
            policies,
        ));
        if let Ok(Forward {
            credential: Credential::Unsupported(t),
            ..
        }) = &route.forward
        {
            let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
            if warned.insert((key.clone(), t.clone())) {
                tracing::warn!(
                    connector = %key,
                    secret_type = %t,
                    "the Secret type has no injection rule and the auth type no generator; requests are forwarded without a credential"
                );
            }
        }
        let mut routes = write(&self.routes);
        if self.purged_at.swap(snap.generation, Ordering::Relaxed) != snap.generation {
            routes.retain(|k, _| snap.connectors.contains_key(k));
        }
        routes.insert(key, route.clone());
        Some(route)
    }

    fn policies(&self, snap: &Snapshot, class: &Arc<ConnectorClass>) -> Arc<ClassPolicies> {
        let name = class_name(class);
        if let Some(p) = read(&self.classes).get(&name) {
            if Arc::ptr_eq(&p.class, class) {
                return p.clone();
            }
        }
        let compiled = Arc::new(ClassPolicies::compile(class.clone()));
        let mut classes = write(&self.classes);
        classes.retain(|k, _| snap.classes.contains_key(k));
        classes.insert(name, compiled.clone());
        compiled
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
