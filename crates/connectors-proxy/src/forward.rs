//! Forward mode (spec 02 §6.2, §6.4): absolute-form requests
//! (`GET http://host/path`) and, through [`connect`](crate::connect), the
//! requests decrypted from a CONNECT tunnel.
//!
//! Order: `Proxy-Authorization` (407 when missing or malformed), the token
//! (407 when rejected), the Connector whose address covers the target (the
//! longest prefix among the listed ones), its authorisation (403), then the
//! client's credentials are removed and the Connector's injected. A target
//! no listed Connector covers is forwarded without credentials, with the
//! proxy's own headers and every header carrying the client's token
//! removed. A `Proxy-Authorization` naming only Connectors that do not exist
//! is refused (403 or 404, see [`require_listed_connector`]).

use crate::audit::{connector_label, RequestLog};
use crate::auth::Caller;
use crate::body::{ResponseBody, UpstreamBody};
use crate::error::RequestError;
use crate::inject::{self, Outgoing};
use crate::policy;
use crate::proxy_auth::{self, Entry};
use crate::relay::{self, Outbound};
use crate::route::Route;
use crate::server::ConnCtx;
use crate::target::{self, ForwardTarget, Selection};
use crate::tls::upstream::CaSet;
use crate::token::ClientToken;
use crate::upgrade::Upgrade;
use crate::upstream::strip_hop_by_hop;
use crate::Shared;
use connectors_catalog::ObjectRef;
use http::header::HOST;
use http::request::Parts;
use http::uri::Scheme;
use http::{Method, Request, Response, Uri};
use hyper::body::Incoming;

/// An absolute-form request on the proxy's listener.
pub(crate) async fn handle(
    shared: &Shared,
    ctx: &ConnCtx,
    req: Request<Incoming>,
    log: &mut RequestLog,
) -> Result<Response<ResponseBody>, RequestError> {
    let target = ForwardTarget::from_absolute(req.uri());
    if let Ok(t) = &target {
        log.upstream_host = Some(t.host_port());
        log.path = t.path().to_string();
    }
    let creds = proxy_auth::parse(req.headers())?;
    let target = target?;
    let caller = authenticate(shared, &creds.token).await?;
    send(
        shared,
        ctx,
        req,
        &creds.entries,
        &creds.token,
        &caller,
        target,
        log,
    )
    .await
}

/// Checks a forward-mode token: a rejection is a 407.
pub(crate) async fn authenticate(
    shared: &Shared,
    token: &ClientToken,
) -> Result<Caller, RequestError> {
    shared.auth.authenticate(token).await.map_err(|e| match e {
        RequestError::Unauthenticated(m) => RequestError::ProxyTokenRejected(m),
        other => other,
    })
}

/// Refuses a request whose `Proxy-Authorization` names only Connectors that
/// do not exist, instead of forwarding it as if it named none: 403 when the
/// caller may not use one of the names (so names cannot be probed), else
/// 404. With at least one existing Connector listed, missing ones are
/// simply skipped during target matching.
pub(crate) async fn require_listed_connector(
    shared: &Shared,
    caller: &Caller,
    entries: &[Entry],
    method: &Method,
) -> Result<(), RequestError> {
    let any = {
        let snap = shared.catalog.snapshot();
        entries.iter().any(|e| {
            snap.connectors
                .contains_key(&ObjectRef::new(&e.namespace, &e.name))
        })
    };
    if any {
        return Ok(());
    }
    for e in entries {
        shared
            .auth
            .authorize(caller, &e.namespace, &e.name, method)
            .await?;
    }
    let names: Vec<String> = entries
        .iter()
        .map(|e| format!("{}/{}", e.namespace, e.name))
        .collect();
    Err(RequestError::ListedConnectorsNotFound(names.join(", ")))
}

/// The listed Connectors' match for `target` in the current catalog.
#[inline]
pub(crate) fn select(shared: &Shared, entries: &[Entry], target: &ForwardTarget) -> Selection {
    let snap = shared.catalog.snapshot();
    target::select(&shared.routes, &snap, entries, target)
}

/// Selects, authorises, injects and forwards one request to `target`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send(
    shared: &Shared,
    ctx: &ConnCtx,
    mut req: Request<Incoming>,
    entries: &[Entry],
    token: &ClientToken,
    caller: &Caller,
    target: ForwardTarget,
    log: &mut RequestLog,
) -> Result<Response<ResponseBody>, RequestError> {
    log.subject = Some(caller.identity.clone());
    log.upstream_host = Some(target.host_port());
    log.path = target.path().to_string();
    require_listed_connector(shared, caller, entries, req.method()).await?;
    let upgrade = Upgrade::take(&mut req);
    let (mut parts, incoming) = req.into_parts();
    let mut body = UpstreamBody::new(incoming);
    let selection = select(shared, entries, &target);
    strip_hop_by_hop(&mut parts.headers);
    let mut path_and_query = target.path_and_query.clone();
    let route = match selection.covered {
        None => {
            inject::strip_client_token(&mut parts.headers, token);
            None
        }
        Some((route, i)) => {
            authorize_covering(shared, caller, &entries[i], &route, &parts.method, log).await?;
            let request = Covered {
                parts: &mut parts,
                body: &mut body,
                path_and_query: &mut path_and_query,
            };
            prepare_covered(shared, &route, request, token, &target).await?;
            Some(route)
        }
    };
    let https = target.scheme == Scheme::HTTPS;
    let ca = target_ca(route.as_deref(), selection.trust.as_deref(), https)?;
    // The upstream client writes `Host` (HTTP/1.1) or `:authority` (HTTP/2)
    // from the URI: never the client's.
    parts.headers.remove(HOST);
    parts.uri = target_uri(&target, path_and_query)?;
    let host = target.host_port();
    let outbound = Outbound {
        parts,
        body,
        host: &host,
        ca,
        upgrade,
    };
    let resp = relay::exchange(shared, &ctx.state, outbound, log).await?;
    let (rparts, rbody) = resp.into_parts();
    Ok(Response::from_parts(rparts, ResponseBody::upstream(rbody)))
}

/// Records the Connector that covers the target, and checks that the
/// caller may use it.
pub(crate) async fn authorize_covering(
    shared: &Shared,
    caller: &Caller,
    entry: &Entry,
    route: &Route,
    method: &Method,
    log: &mut RequestLog,
) -> Result<(), RequestError> {
    log.connector = Some(connector_label(&entry.namespace, &entry.name));
    log.class = Some(route.class_label.clone());
    shared
        .auth
        .authorize(caller, &entry.namespace, &entry.name, method)
        .await
}

/// The CA set an HTTPS target is verified with, besides the system roots:
/// the covering Connector's (an error when it cannot be had), else that of
/// the listed Connector sharing the target's origin, when it can be had.
#[inline]
fn target_ca<'a>(
    covering: Option<&'a Route>,
    trust: Option<&'a Route>,
    https: bool,
) -> Result<Option<&'a CaSet>, RequestError> {
    Ok(match (covering, trust, https) {
        (_, _, false) => None,
        (Some(r), _, true) => r.ca()?,
        (None, Some(t), true) => t.ca().ok().flatten(),
        (None, None, true) => None,
    })
}

/// The absolute URI of the request to the tool.
#[inline]
fn target_uri(target: &ForwardTarget, path_and_query: String) -> Result<Uri, RequestError> {
    Uri::builder()
        .scheme(target.scheme.clone())
        .authority(target.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| RequestError::BadRequest("the request path cannot be forwarded"))
}

/// The parts of a request to a covered destination that change.
struct Covered<'a> {
    parts: &'a mut Parts,
    body: &'a mut UpstreamBody,
    path_and_query: &'a mut String,
}

/// For a destination the Connector covers: removes every client
/// credential, then adds the Connector's.
async fn prepare_covered(
    shared: &Shared,
    route: &Route,
    request: Covered<'_>,
    token: &ClientToken,
    target: &ForwardTarget,
) -> Result<(), RequestError> {
    let Covered {
        parts,
        body,
        path_and_query,
    } = request;
    let limit = shared.config.max_inspected_body_bytes;
    let extracted = match &route.extractor {
        None => None,
        Some(Err(e)) => return Err(RequestError::PolicyCompile(e.clone())),
        Some(Ok(extractor)) => {
            let json =
                inject::policy_body(extractor.reads_body(), &parts.headers, body, limit).await?;
            let input = policy::request_input(
                &parts.method,
                target.authority.as_str(),
                path_and_query,
                &parts.headers,
                json,
            );
            extractor
                .extract(&input)
                .map_err(|e| RequestError::PolicyEval(e.to_string()))?
        }
    };
    let forward = route.forward.as_ref().map_err(Clone::clone)?;
    inject::strip_client_credentials(&mut parts.headers, token, extracted.as_deref());
    inject::apply(
        &forward.credential,
        &route.class_name,
        Outgoing {
            method: &parts.method,
            path_and_query,
            host: target.authority.as_str(),
            headers: &mut parts.headers,
            body,
            body_limit: limit,
        },
    )
    .await
}
