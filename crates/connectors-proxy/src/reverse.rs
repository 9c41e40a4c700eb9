//! Reverse mode (spec 02 §5.4, §6.1): identify the Connector, extract and
//! check the caller's token, authorise, then forward with the Connector's
//! credential, streaming both ways.
//!
//! Order matters: authorisation happens before the Connector's existence is
//! revealed, so callers without rights cannot probe names.

use crate::audit::{connector_label, RequestLog};
use crate::body::{ResponseBody, UpstreamBody};
use crate::error::RequestError;
use crate::identify::{identify, Format, Target};
use crate::inject::{self, Outgoing};
use crate::location;
use crate::policy;
use crate::relay::{self, Outbound};
use crate::route::{Forward, Route, UpstreamTarget};
use crate::server::ConnCtx;
use crate::tls::upstream::CaSet;
use crate::token::{self, ClientToken, Source};
use crate::upgrade::Upgrade;
use crate::upstream::strip_hop_by_hop;
use crate::Shared;
use connectors_core::address::join_path;
use http::header::{HOST, LOCATION};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;
use std::sync::Arc;

pub(crate) async fn handle(
    shared: &Shared,
    ctx: &ConnCtx,
    mut req: Request<Incoming>,
    log: &mut RequestLog,
) -> Result<Response<ResponseBody>, RequestError> {
    let upgrade = Upgrade::take(&mut req);
    let (mut parts, incoming) = req.into_parts();
    let client_uri = parts.uri.clone();
    let client_host = client_host(&parts);
    let target = identify(client_uri.path(), client_host.as_deref())?;
    log.connector = Some(connector_label(target.namespace, target.name));
    let route = lookup_route(shared, &target);
    let mut body = UpstreamBody::new(incoming);

    let query = client_uri.query();
    let token = extract_token(shared, route.as_deref(), &parts, &target, query, &mut body).await?;
    let caller = shared.auth.authenticate(&token).await?;
    log.subject = Some(caller.identity.clone());
    shared
        .auth
        .authorize(&caller, target.namespace, target.name, &parts.method)
        .await?;

    let route = route_or_not_found(route, &target)?;
    log.class = Some(route.class_label.clone());
    let (forward, ca) = forwarding(&route)?;
    let upstream = &forward.upstream;

    let mut path_and_query = join_path(&upstream.base, target.rest, query);
    strip_client_headers(&mut parts.headers, &token);
    let limit = shared.config.max_inspected_body_bytes;
    let out = outgoing(&mut parts, &mut path_and_query, upstream, &mut body, limit);
    inject::apply(&forward.credential, &route.class_name, out).await?;
    log_upstream(log, upstream, &path_and_query);
    parts.uri = upstream_uri(upstream, path_and_query)?;
    // Kept (a cheap shared copy) to resolve a relative `Location` later.
    let sent_path_and_query = parts.uri.path_and_query().cloned();

    let outbound = Outbound {
        parts,
        body,
        host: &upstream.host,
        ca,
        upgrade,
    };
    let resp = relay::exchange(shared, &ctx.state, outbound, log).await?;

    let (mut rparts, rbody) = resp.into_parts();
    let sent_url = || request_url(upstream, sent_path_and_query.as_ref());
    let client_host = client_host.as_deref();
    rewrite_response_location(&mut rparts.headers, &route, &target, client_host, sent_url);
    Ok(Response::from_parts(rparts, ResponseBody::upstream(rbody)))
}

/// The route of the Connector `target` names, `None` when there is none.
#[inline]
fn lookup_route(shared: &Shared, target: &Target<'_>) -> Option<Arc<Route>> {
    let snap = shared.catalog.snapshot();
    shared.routes.lookup(&snap, target.namespace, target.name)
}

/// The route, or `ConnectorNotFound` when the Connector does not exist.
#[inline]
fn route_or_not_found(
    route: Option<Arc<Route>>,
    target: &Target<'_>,
) -> Result<Arc<Route>, RequestError> {
    route.ok_or_else(|| RequestError::ConnectorNotFound {
        namespace: target.namespace.to_string(),
        name: target.name.to_string(),
    })
}

/// Where and how the route forwards: its upstream and credential, and the
/// extra CA certificates for an HTTPS tool; errors of the class's
/// extractor, of the forwarding and of the CA come in that order.
#[inline]
fn forwarding(route: &Route) -> Result<(&Forward, Option<&CaSet>), RequestError> {
    if let Some(Err(e)) = &route.extractor {
        return Err(RequestError::PolicyCompile(e.clone()));
    }
    let forward = route.forward.as_ref().map_err(Clone::clone)?;
    let ca = if forward.upstream.scheme == http::uri::Scheme::HTTPS {
        route.ca()?
    } else {
        None
    };
    Ok((forward, ca))
}

/// Drops the hop-by-hop headers, the client's own credentials and `Host`.
#[inline]
fn strip_client_headers(headers: &mut HeaderMap, token: &ClientToken) {
    strip_hop_by_hop(headers);
    inject::strip_client_credentials(headers, token, None);
    headers.remove(HOST);
}

/// The parts of the upstream request the credential injection may change.
#[inline]
fn outgoing<'a>(
    parts: &'a mut Parts,
    path_and_query: &'a mut String,
    upstream: &'a UpstreamTarget,
    body: &'a mut UpstreamBody,
    body_limit: usize,
) -> Outgoing<'a> {
    Outgoing {
        method: &parts.method,
        path_and_query,
        host: &upstream.host,
        headers: &mut parts.headers,
        body,
        body_limit,
    }
}

/// Records the tool's host and the path (without query) sent to it.
#[inline]
pub(crate) fn log_upstream(log: &mut RequestLog, upstream: &UpstreamTarget, path_and_query: &str) {
    log.upstream_host = Some(upstream.host.clone());
    log.path = path_and_query
        .split_once('?')
        .map(|(p, _)| p)
        .unwrap_or(path_and_query)
        .to_string();
}

/// The absolute URI of the request to the tool.
#[inline]
fn upstream_uri(upstream: &UpstreamTarget, path_and_query: String) -> Result<Uri, RequestError> {
    Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| RequestError::BadRequest("the request path cannot be forwarded"))
}

/// The URL a request was sent to, from the path and query it was sent with.
fn request_url(upstream: &UpstreamTarget, path_and_query: Option<&PathAndQuery>) -> String {
    format!(
        "{}://{}{}",
        upstream.scheme,
        upstream.authority,
        path_and_query.map_or("/", |pq| pq.as_str())
    )
}

/// The host the client addressed: its `Host` header, else the request
/// target's authority.
fn client_host(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
}

/// Points a tool's `Location` under the Connector's address back at the
/// proxy (see [`rewrite_location`]); `sent_url` gives the URL the request
/// was sent to, against which a relative `Location` is resolved.
fn rewrite_response_location(
    headers: &mut http::HeaderMap,
    route: &Route,
    target: &Target<'_>,
    client_host: Option<&str>,
    sent_url: impl FnOnce() -> String,
) {
    let Some(loc) = headers.get(LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let Some(new) = rewrite_location(loc, route, target, client_host, &sent_url()) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&new) {
        headers.insert(LOCATION, v);
    }
}

/// Token sources in order: class extractor (only for an existing Connector
/// with a compiled extractor), then `Authorization` Bearer, then Basic.
async fn extract_token(
    shared: &Shared,
    route: Option<&Route>,
    parts: &Parts,
    target: &Target<'_>,
    query: Option<&str>,
    body: &mut UpstreamBody,
) -> Result<ClientToken, RequestError> {
    if let Some(Some(Ok(extractor))) = route.map(|r| &r.extractor) {
        let limit = shared.config.max_inspected_body_bytes;
        let json = inject::policy_body(extractor.reads_body(), &parts.headers, body, limit).await?;
        let host = parts
            .headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let rest = if target.rest.is_empty() {
            "/"
        } else {
            target.rest
        };
        let target_pq = match query {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        let input = policy::request_input(&parts.method, host, &target_pq, &parts.headers, json);
        match extractor.extract(&input) {
            Ok(Some(t)) if !t.is_empty() => return Ok(ClientToken::new(t, Source::Extractor)),
            Ok(_) => {}
            Err(e) => return Err(RequestError::PolicyEval(e.to_string())),
        }
    }
    token::from_authorization(&parts.headers)?.ok_or(RequestError::NoToken)
}

/// Rewrites a redirect under `spec.address` to the Connector's proxy
/// address: the published one, else the address the client used.
pub(crate) fn rewrite_location(
    loc: &str,
    route: &Route,
    target: &Target<'_>,
    client_host: Option<&str>,
    request_url: &str,
) -> Option<String> {
    let forward = route.forward.as_ref().ok()?;
    let request_url = url::Url::parse(request_url).ok()?;
    let base = match route.proxy_address() {
        Some(a) if !a.is_empty() => a.to_string(),
        _ => {
            let host = client_host?;
            match target.format {
                Format::Path => format!(
                    "http://{host}/namespaces/{}/connectors/{}",
                    target.namespace, target.name
                ),
                Format::Host => format!("http://{host}"),
            }
        }
    };
    location::rewrite(loc, &forward.upstream, &request_url, &base)
}
