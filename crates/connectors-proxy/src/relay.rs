//! The exchange with the tool shared by every mode: send the prepared
//! request (streaming its body), then turn the answer into the client's —
//! hop-by-hop headers removed, a protocol upgrade spliced. Redirects are
//! returned as they are; the proxy never follows them.

use crate::audit::RequestLog;
use crate::body::{Progress, UpstreamBody};
use crate::conn::ConnState;
use crate::error::RequestError;
use crate::tls::upstream::CaSet;
use crate::upgrade::Upgrade;
use crate::upstream::strip_hop_by_hop;
use crate::Shared;
use http::header::UPGRADE;
use http::request::Parts;
use http::{Request, Response, Version};
use hyper::body::Incoming;

/// A request ready for the tool.
pub(crate) struct Outbound<'a> {
    /// Absolute URI, headers already edited (`Host`, credentials).
    pub(crate) parts: Parts,
    pub(crate) body: UpstreamBody,
    /// `host[:port]` for messages.
    pub(crate) host: &'a str,
    /// Extra CA certificates trusted for this tool.
    pub(crate) ca: Option<&'a CaSet>,
    pub(crate) upgrade: Option<Upgrade>,
}

/// Sends `out` and returns the answer for the client.
pub(crate) async fn exchange(
    shared: &Shared,
    conn: &ConnState,
    out: Outbound<'_>,
    log: &mut RequestLog,
) -> Result<Response<Incoming>, RequestError> {
    let Outbound {
        mut parts,
        mut body,
        host,
        ca,
        upgrade,
    } = out;
    if let Some(u) = &upgrade {
        u.restore_request(&mut parts.headers);
    }
    parts.version = Version::HTTP_11;
    let progress = Progress::new();
    body.set_progress(progress.clone());
    log.track_request_body(progress.clone());
    let mut resp = shared
        .upstream
        .send(
            Request::from_parts(parts, body),
            progress,
            host,
            ca,
            upgrade.is_some(),
        )
        .await?;
    let upstream_upgrade = upgrade
        .as_ref()
        .and_then(|_| resp.headers().get(UPGRADE).cloned());
    strip_hop_by_hop(resp.headers_mut());
    *resp.version_mut() = Version::HTTP_11;
    if let Some(u) = upgrade {
        u.finish(&mut resp, upstream_upgrade, &shared.tasks, conn);
    }
    Ok(resp)
}
