//! Reverse mode (spec 02 §5.4, §6.1): identify the Connector, extract and
//! check the caller's token, authorise, then forward with the Connector's
//! credential, streaming both ways.
//!
//! Order matters: authorisation happens before the Connector's existence is
//! revealed, so callers without rights cannot probe names.

use crate::audit::RequestLog;
use crate::body::{ResponseBody, UpstreamBody};
use crate::error::RequestError;
use crate::identify::{identify, Format, Target};
use crate::inject::{self, Outgoing};
use crate::location;
use crate::policy;
use crate::relay::{self, Outbound};
use crate::route::Route;
use crate::server::ConnCtx;
use crate::token::{self, ClientToken, Source};
use crate::upgrade::Upgrade;
use crate::upstream::strip_hop_by_hop;
use crate::Shared;
use connectors_core::address::join_path;
use http::header::{HOST, LOCATION};
use http::request::Parts;
use http::{HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;

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
    log.connector = Some(format!("{}/{}", target.namespace, target.name));

    let route = {
        let snap = shared.catalog.snapshot();
        shared.routes.lookup(&snap, target.namespace, target.name)
    };
    let mut body = UpstreamBody::new(incoming);

    let token = extract_token(
        shared,
        route.as_deref(),
        &parts,
        &target,
        client_uri.query(),
        &mut body,
    )
    .await?;
    let caller = shared.auth.authenticate(&token).await?;
    log.subject = Some(caller.identity.clone());
    shared
        .auth
        .authorize(&caller, target.namespace, target.name, &parts.method)
        .await?;

    let route = route.ok_or_else(|| RequestError::ConnectorNotFound {
        namespace: target.namespace.to_string(),
        name: target.name.to_string(),
    })?;
    log.class = Some(route.class_label.clone());
    if let Some(Err(e)) = &route.extractor {
        return Err(RequestError::PolicyCompile(e.clone()));
    }
    let forward = route.forward.as_ref().map_err(Clone::clone)?;
    let upstream = &forward.upstream;
    let ca = if upstream.scheme == http::uri::Scheme::HTTPS {
        route.ca()?
    } else {
        None
    };

    let mut path_and_query = join_path(&upstream.base, target.rest, client_uri.query());
    strip_hop_by_hop(&mut parts.headers);
    inject::strip_client_credentials(&mut parts.headers, &token, None);
    parts.headers.remove(HOST);
    inject::apply(
        &forward.credential,
        &route.class_name,
        Outgoing {
            method: &parts.method,
            path_and_query: &mut path_and_query,
            host: &upstream.host,
            headers: &mut parts.headers,
            body: &mut body,
            body_limit: shared.config.max_inspected_body_bytes,
        },
    )
    .await?;
    log.upstream_host = Some(upstream.host.clone());
    log.path = path_and_query
        .split_once('?')
        .map(|(p, _)| p)
        .unwrap_or(&path_and_query)
        .to_string();
    parts.uri = Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| RequestError::BadRequest("the request path cannot be forwarded"))?;
    // Kept (a cheap shared copy) to resolve a relative `Location` later.
    let sent_path_and_query = parts.uri.path_and_query().cloned();

    let resp = relay::exchange(
        shared,
        &ctx.state,
        Outbound {
            parts,
            body,
            host: &upstream.host,
            ca,
            upgrade,
        },
        log,
    )
    .await?;

    let (mut rparts, rbody) = resp.into_parts();
    let sent_url = || {
        format!(
            "{}://{}{}",
            upstream.scheme,
            upstream.authority,
            sent_path_and_query.as_ref().map_or("/", |pq| pq.as_str())
        )
    };
    rewrite_response_location(
        &mut rparts.headers,
        &route,
        &target,
        client_host.as_deref(),
        sent_url,
    );
    Ok(Response::from_parts(rparts, ResponseBody::upstream(rbody)))
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
