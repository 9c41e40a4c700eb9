//! Authenticating the caller's token and authorising its use of a
//! Connector through the catalog, with answers cached (see [`auth_cache`]).
//!
//! [`auth_cache`]: crate::auth_cache

use crate::auth_cache::{AuthCache, CacheLimits, CacheStats, CheckRef, TokenHash};
use crate::error::RequestError;
use crate::metrics::CacheCounters;
use crate::token::ClientToken;
use connectors_catalog::{AuthError, Catalog, Decision, Identity};
use http::Method;
use std::sync::Arc;

/// An authenticated caller.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) token: TokenHash,
    pub(crate) identity: Arc<Identity>,
}

impl Caller {
    /// How the caller is named in messages.
    pub(crate) fn display(&self) -> String {
        match self.identity.service_account() {
            Some((ns, name)) => format!("serviceaccount {ns}/{name}"),
            None => format!("user {}", self.identity.username),
        }
    }
}

pub(crate) struct Authorizer {
    catalog: Arc<dyn Catalog>,
    cache: AuthCache,
    check_proxy_subresource: bool,
}

impl Authorizer {
    pub(crate) fn new(
        catalog: Arc<dyn Catalog>,
        limits: CacheLimits,
        counters: CacheCounters,
        check_proxy_subresource: bool,
    ) -> Authorizer {
        Authorizer {
            catalog,
            cache: AuthCache::new(limits, counters),
            check_proxy_subresource,
        }
    }

    /// Who the token belongs to (401 when nobody, 503 when the catalog
    /// cannot answer).
    pub(crate) async fn authenticate(&self, token: &ClientToken) -> Result<Caller, RequestError> {
        self.authenticate_hashed(TokenHash::of(token.expose()), token)
            .await
    }

    /// Like [`authenticate`](Self::authenticate), with the token's hash
    /// already known.
    pub(crate) async fn authenticate_hashed(
        &self,
        hash: TokenHash,
        token: &ClientToken,
    ) -> Result<Caller, RequestError> {
        match self.cache.identity(&hash) {
            Some(Ok(identity)) => {
                return Ok(Caller {
                    token: hash,
                    identity,
                })
            }
            Some(Err(reason)) => return Err(RequestError::Unauthenticated(reason.to_string())),
            None => {}
        }
        match self.catalog.authenticate(token.expose()).await {
            Ok(identity) => {
                let identity = self.cache.put_identity(hash, identity);
                Ok(Caller {
                    token: hash,
                    identity,
                })
            }
            Err(AuthError::Unauthenticated(m)) => {
                self.cache.put_rejected(hash, &m);
                Err(RequestError::Unauthenticated(m))
            }
            Err(AuthError::Unavailable(m)) => Err(RequestError::AuthUnavailable(m)),
        }
    }

    /// Whether the caller may use Connector `namespace/name` with this
    /// method (403 when not). The plain `get` on the Connector is always
    /// checked; the `connectors/proxy` subresource only when configured.
    pub(crate) async fn authorize(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        method: &Method,
    ) -> Result<(), RequestError> {
        self.check(caller, CheckRef::get(namespace, name)).await?;
        if self.check_proxy_subresource {
            let check = CheckRef {
                namespace,
                name,
                verb: verb(method),
                subresource: Some("proxy"),
            };
            self.check(caller, check).await?;
        }
        Ok(())
    }

    async fn check(&self, caller: &Caller, check: CheckRef<'_>) -> Result<(), RequestError> {
        let decision = match self.cache.decision(&caller.token, check) {
            Some(d) => d,
            None => {
                let owned = check.owned();
                let d = match self.catalog.authorize(&caller.identity, &owned).await {
                    Ok(Decision::Allow) => Ok(()),
                    Ok(Decision::Deny(reason)) => Err(Arc::<str>::from(reason)),
                    Err(AuthError::Unauthenticated(m)) => {
                        return Err(RequestError::Unauthenticated(m))
                    }
                    Err(AuthError::Unavailable(m)) => return Err(RequestError::AuthUnavailable(m)),
                };
                self.cache
                    .put_decision(caller.token, &caller.identity, owned, d.clone());
                d
            }
        };
        decision.map_err(|reason| {
            let what = match &check.subresource {
                Some(s) => format!("{} on connectors/{s}", check.verb),
                None => format!("{} on connectors", check.verb),
            };
            let reason = if reason.is_empty() {
                format!("no {what}")
            } else {
                format!("{reason}; needs {what}")
            };
            RequestError::Forbidden {
                who: caller.display(),
                namespace: check.namespace.to_string(),
                name: check.name.to_string(),
                reason,
            }
        })
    }

    pub(crate) fn stats(&self) -> CacheStats {
        self.cache.stats()
    }
}

/// The access verb of an HTTP method (spec 02 §5.2).
pub(crate) fn verb(method: &Method) -> &'static str {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "get",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        assert_eq!(verb(&Method::HEAD), "get");
        assert_eq!(verb(&Method::POST), "create");
        assert_eq!(verb(&Method::PUT), "update");
        assert_eq!(verb(&Method::PATCH), "patch");
        assert_eq!(verb(&Method::DELETE), "delete");
    }
}
