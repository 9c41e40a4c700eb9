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

use super::prepare::{connector_label, runs_policies, upstream_head, Head, Memo, Plan, Prepared};
use super::upconn::Destination;
use crate::connect::Tunnel;
use crate::error::RequestError;
use crate::forward;
use crate::route::Credential;
use crate::server::ConnCtx;
use crate::target::{self, ForwardTarget};
use crate::Shared;

pub(crate) async fn plan(
    shared: &Shared,
    ctx: &ConnCtx,
    tunnel: &Tunnel,
    head: &Head<'_>,
    memo: &mut Memo,
) -> Prepared {
    if head
        .scan
        .host
        .is_some_and(|h| !tunnel.target.same_authority(h))
    {
        return Prepared::HandOff;
    }
    let target = ForwardTarget::in_tunnel_parts(&tunnel.target, head.pq.path(), head.pq.query());
    let entries = &tunnel.creds.entries;
    let selection = {
        let snap = shared.catalog.snapshot();
        target::select(&shared.routes, &snap, entries, &target)
    };
    if selection
        .covered
        .as_ref()
        .is_some_and(|(route, _)| runs_policies(route))
    {
        return Prepared::HandOff;
    }

    let mut log = head.log(shared, ctx, "connect", target.path());
    log.upstream_host = Some(target.host_port());
    let token = &tunnel.creds.token;
    let hash = memo.hash(token);
    let caller = match shared.auth.authenticate_hashed(hash, token).await {
        Ok(c) => c,
        Err(RequestError::Unauthenticated(m)) => {
            return head.refuse(log, RequestError::ProxyTokenRejected(m))
        }
        Err(e) => return head.refuse(log, e),
    };
    log.subject = Some(caller.identity.clone());
    if let Err(e) = forward::require_listed_connector(shared, &caller, entries, &head.method).await
    {
        return head.refuse(log, e);
    }
    let (authorization, strip, ca) = match &selection.covered {
        None => {
            let ca = selection
                .trust
                .as_ref()
                .and_then(|t| t.ca.as_ref().ok().cloned().flatten());
            (None, false, ca)
        }
        Some((route, i)) => {
            let entry = &entries[*i];
            log.connector = Some(connector_label(&entry.namespace, &entry.name));
            log.class = Some(route.class_label.clone());
            if let Err(e) = shared
                .auth
                .authorize(&caller, &entry.namespace, &entry.name, &head.method)
                .await
            {
                return head.refuse(log, e);
            }
            let forward = match &route.forward {
                Ok(f) => f,
                Err(e) => return head.refuse(log, e.clone()),
            };
            let ca = match &route.ca {
                Ok(ca) => ca.clone(),
                Err(e) => return head.refuse(log, e.clone()),
            };
            let authorization = match &forward.credential {
                Credential::Header(v) => Some(v.as_bytes()),
                _ => None,
            };
            (authorization, true, ca)
        }
    };
    let out = upstream_head(
        head,
        &target.path_and_query,
        target.authority.as_str(),
        token,
        strip,
        authorization,
    );
    Prepared::Go(Box::new(Plan {
        log,
        dest: std::sync::Arc::new(Destination::of_forward(&target, ca)),
        head: out,
        body: head.scan.body,
        head_method: head.method == http::Method::HEAD,
        client_close: head.scan.close,
        redirect: None,
    }))
}
