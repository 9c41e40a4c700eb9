//! CONNECT with TLS interception (spec 02 §6.3). Never a blind byte
//! tunnel:
//!
//! 1. the CONNECT request itself must carry a valid `Proxy-Authorization`
//!    (407 before anything is opened) naming at least one existing
//!    Connector (else 403/404, as in forward mode);
//! 2. `200 Connection Established`, then the client's TLS is terminated
//!    with a leaf certificate for exactly the CONNECT host, signed by the
//!    proxy CA (a client whose SNI names another host is refused; a client
//!    that does not finish its handshake within the header timeout is
//!    closed);
//! 3. HTTP/1.1 or HTTP/2 (by ALPN) is served on the decrypted stream, and
//!    each request goes through forward mode against
//!    `https://<CONNECT authority><path>` — a request naming another
//!    authority (`Host`, `:authority` or absolute URI) is answered 421 and
//!    not forwarded, so a tunnel opened for one host never carries
//!    credentials meant for another.
//!
//! A CONNECT to a host none of the listed Connectors covers is intercepted
//! just the same (spec 02 §6.4, no blind tunnel): its requests are sent
//! without any Connector credential and without headers carrying the
//! client's token. The identity is the one of the CONNECT request; a
//! `Proxy-Authorization` inside the tunnel is ignored and not forwarded.

use crate::audit::RequestLog;
use crate::body::ResponseBody;
use crate::conn::{ConnIo, ConnState, Deadlines};
use crate::error::RequestError;
use crate::forward;
use crate::proxy_auth::{self, ProxyCredentials};
use crate::server::{self, ConnCtx};
use crate::target::{ForwardTarget, TunnelTarget};
use crate::tls;
use crate::Shared;
use http::header::HOST;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::sync::Arc;

/// What every request inside one tunnel shares.
#[derive(Debug)]
pub(crate) struct Tunnel {
    pub(crate) target: TunnelTarget,
    pub(crate) creds: ProxyCredentials,
}

/// A `CONNECT host:port` request.
pub(crate) async fn open(
    shared: &Arc<Shared>,
    ctx: &ConnCtx,
    mut req: Request<Incoming>,
    log: &mut RequestLog,
) -> Result<Response<ResponseBody>, RequestError> {
    let target = TunnelTarget::from_connect(req.uri());
    if let Ok(t) = &target {
        log.upstream_host = Some(t.host_port());
    }
    let creds = proxy_auth::parse(req.headers())?;
    let target = target?;
    let caller = forward::authenticate(shared, &creds.token).await?;
    log.subject = Some(caller.identity.clone());
    forward::require_listed_connector(shared, &caller, &creds.entries, req.method()).await?;
    if ServerName::try_from(target.cert_name()).is_err() {
        return Err(RequestError::BadRequest(
            "the CONNECT host is not a valid host name or IP address",
        ));
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    ctx.state.hand_off();
    let tunnel = Arc::new(Tunnel { target, creds });
    shared.tasks.spawn(run(shared.clone(), on_upgrade, tunnel));
    Ok(Response::new(ResponseBody::empty()))
}

/// After `200`: terminate TLS, then serve the decrypted requests.
async fn run(shared: Arc<Shared>, on_upgrade: OnUpgrade, tunnel: Arc<Tunnel>) {
    let upgraded = match on_upgrade.await {
        Ok(u) => u,
        Err(e) => {
            tracing::debug!(error = %e, "CONNECT tunnel was not established");
            return;
        }
    };
    let tls = match tls::accept(
        TokioIo::new(upgraded),
        tunnel.target.cert_name(),
        &shared.leaves,
        shared.config.header_timeout,
    )
    .await
    {
        Ok(t) => t,
        Err(e @ tls::AcceptError::Distrusted(_)) => {
            shared.telemetry.metrics.certificate_rejected();
            let ca = shared.leaves.ca();
            tracing::warn!(host = %tunnel.target.host_port(), ca_fingerprint = %ca.fingerprint(), error = %e, "a client refused the intercepted connection; give it the proxy CA certificate (ca.crt of a new mount, or connectors ca show --pem)");
            return;
        }
        Err(e) => {
            tracing::debug!(host = %tunnel.target.host_port(), error = %e, "intercepted tunnel closed");
            return;
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let state = Arc::new(ConnState::default());
    let io = ConnIo::new(
        tls,
        state.clone(),
        Deadlines {
            header: shared.config.header_timeout,
            idle: shared.config.idle_timeout,
            multiplexed: h2,
        },
    );
    let ctx = ConnCtx {
        state,
        tunnel: Some(tunnel),
    };
    if !h2 && shared.config.http1_fast_path {
        crate::fast::serve(shared, io, ctx).await;
    } else {
        server::serve_connection(shared, io, ctx, h2).await;
    }
}

/// One request decrypted from a tunnel.
pub(crate) async fn inner(
    shared: &Shared,
    ctx: &ConnCtx,
    tunnel: &Tunnel,
    req: Request<Incoming>,
    log: &mut RequestLog,
) -> Result<Response<ResponseBody>, RequestError> {
    log.upstream_host = Some(tunnel.target.host_port());
    let misdirected = |requested: &str| RequestError::Misdirected {
        tunnel: tunnel.target.host_port(),
        requested: requested.chars().take(128).collect(),
    };
    if let Some(a) = req.uri().authority() {
        if !tunnel.target.same_authority(a.as_str()) {
            return Err(misdirected(a.as_str()));
        }
    }
    for h in req.headers().get_all(HOST) {
        let value = h
            .to_str()
            .map_err(|_| RequestError::BadRequest("the Host header is not ASCII"))?;
        if !tunnel.target.same_authority(value) {
            return Err(misdirected(value));
        }
    }
    let target = ForwardTarget::in_tunnel(&tunnel.target, req.uri());
    let caller = forward::authenticate(shared, &tunnel.creds.token).await?;
    forward::send(
        shared,
        ctx,
        req,
        &tunnel.creds.entries,
        &tunnel.creds.token,
        &caller,
        target,
        log,
    )
    .await
}
