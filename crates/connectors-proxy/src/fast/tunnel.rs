//! Requests inside an intercepted CONNECT tunnel (HTTP/1.1), on the fast
//! path: the same rules as [`forward`](crate::forward) — the target is the
//! tunnel's authority and the request's path; the Connector listed in the
//! CONNECT request's `Proxy-Authorization` whose address covers the target
//! (longest prefix) gives its credential, after every client credential is
//! removed; a target no listed Connector covers gets none, and only the
//! fields carrying the workload token are removed.
//!
//! A `Host` naming another authority, token extractors and credential
//! generators go to the general server.

use super::prepare::{header_credential, runs_policies, upstream_head, Head, Memo, Plan, Prepared};
use super::upconn::Destination;
use crate::audit::RequestLog;
use crate::auth::Caller;
use crate::connect::Tunnel;
use crate::error::RequestError;
use crate::forward;
use crate::proxy_auth::Entry;
use crate::route::Route;
use crate::server::ConnCtx;
use crate::target::{ForwardTarget, Selection};
use crate::tls::upstream::CaSet;
use crate::Shared;
use std::sync::Arc;

pub(crate) async fn plan(
    shared: &Shared,
    ctx: &ConnCtx,
    tunnel: &Tunnel,
    head: &Head<'_>,
    memo: &mut Memo,
) -> Prepared {
    if names_another_authority(tunnel, head) {
        return Prepared::HandOff;
    }
    let target = ForwardTarget::in_tunnel_parts(&tunnel.target, head.pq.path(), head.pq.query());
    let entries = &tunnel.creds.entries;
    let selection = forward::select(shared, entries, &target);
    if selection
        .covered
        .as_ref()
        .is_some_and(|(route, _)| runs_policies(route))
    {
        return Prepared::HandOff;
    }

    let mut log = head.log(shared, ctx, "connect", target.path());
    log.upstream_host = Some(target.host_port());
    let caller = match listed_caller(shared, tunnel, head, memo, &mut log).await {
        Ok(c) => c,
        Err(e) => return head.refuse(log, e),
    };
    let (authorization, strip, ca) = match &selection.covered {
        None => (None, false, origin_ca(&selection)),
        Some((route, i)) => {
            match covered(shared, head, &caller, &entries[*i], route, &mut log).await {
                Ok((authorization, ca)) => (authorization, true, ca),
                Err(e) => return head.refuse(log, e),
            }
        }
    };
    let out = upstream_head(
        head,
        &target.path_and_query,
        target.authority.as_str(),
        &tunnel.creds.token,
        strip,
        authorization,
    );
    Prepared::Go(Box::new(Plan {
        log,
        dest: Arc::new(Destination::of_forward(&target, ca)),
        head: out,
        body: head.scan.body,
        head_method: head.method == http::Method::HEAD,
        client_close: head.scan.close,
        redirect: None,
    }))
}

/// Whether the request's `Host` names another authority than the tunnel's.
#[inline]
fn names_another_authority(tunnel: &Tunnel, head: &Head<'_>) -> bool {
    head.scan
        .host
        .is_some_and(|h| !tunnel.target.same_authority(h))
}

/// The caller, once the tunnel's token is authenticated (a rejection is a
/// 407; the caller is recorded) and the Connectors the tunnel lists pass
/// [`require_listed_connector`](forward::require_listed_connector).
async fn listed_caller(
    shared: &Shared,
    tunnel: &Tunnel,
    head: &Head<'_>,
    memo: &mut Memo,
    log: &mut RequestLog,
) -> Result<Caller, RequestError> {
    let token = &tunnel.creds.token;
    let hash = memo.hash(token);
    let caller = match shared.auth.authenticate_hashed(hash, token).await {
        Ok(c) => c,
        Err(RequestError::Unauthenticated(m)) => return Err(RequestError::ProxyTokenRejected(m)),
        Err(e) => return Err(e),
    };
    log.subject = Some(caller.identity.clone());
    let entries = &tunnel.creds.entries;
    forward::require_listed_connector(shared, &caller, entries, &head.method).await?;
    Ok(caller)
}

/// For a target the listed Connector `entry` covers: records the
/// Connector, checks that the caller may use it, and gives its
/// `Authorization` value and CA set.
async fn covered<'r>(
    shared: &Shared,
    head: &Head<'_>,
    caller: &Caller,
    entry: &Entry,
    route: &'r Route,
    log: &mut RequestLog,
) -> Result<(Option<&'r [u8]>, Option<Arc<CaSet>>), RequestError> {
    forward::authorize_covering(shared, caller, entry, route, &head.method, log).await?;
    let forward = route.forward.as_ref().map_err(Clone::clone)?;
    let ca = route.ca.clone()?;
    Ok((header_credential(&forward.credential), ca))
}

/// For a target no listed Connector covers: the CA set of the first listed
/// one that shares its origin, when it can be had.
#[inline]
fn origin_ca(selection: &Selection) -> Option<Arc<CaSet>> {
    selection
        .trust
        .as_ref()
        .and_then(|t| t.ca.as_ref().ok().cloned().flatten())
}
