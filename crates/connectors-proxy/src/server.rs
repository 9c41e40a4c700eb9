//! Accepting clients: HTTP/1.1 with keep-alive on the listener, HTTP/1.1 or
//! HTTP/2 inside intercepted tunnels, one task per connection, request-head
//! and idle deadlines, head limits, and graceful shutdown bounded by the
//! configured grace period.

use crate::audit::RequestLog;
use crate::body::ResponseBody;
use crate::classify::{classify, Mode};
use crate::conn::{BusyGuard, ConnIo, ConnState, Deadlines};
use crate::connect::{self, Tunnel};
use crate::error::{ProxyError, RequestError};
use crate::{forward, reverse, Shared};
use http::{Request, Response, StatusCode};
use hyper::body::{Body as _, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Runs a hyper connection future; on shutdown, asks it to finish the
/// requests in flight and close.
macro_rules! drive {
    ($conn:expr, $stop:expr, $shared:expr, $tunnel:expr) => {{
        let conn = $conn;
        let mut stop: watch::Receiver<bool> = $stop;
        tokio::pin!(conn);
        let ended = tokio::select! {
            ended = conn.as_mut() => ended,
            _ = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = ended {
            crate::unreadable::record_parse_error($shared, &e, $tunnel);
        }
    }};
}

/// What the requests of one client connection share.
pub(crate) struct ConnCtx {
    pub(crate) state: Arc<ConnState>,
    /// Set inside an intercepted CONNECT tunnel.
    pub(crate) tunnel: Option<Arc<Tunnel>>,
}

pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ProxyError> {
    let mut conns = JoinSet::new();
    let local = listener.local_addr().ok();
    tracing::debug!(addr = ?local, "proxy listening");
    let deadlines = Deadlines {
        header: shared.config.header_timeout,
        idle: shared.config.idle_timeout,
        multiplexed: false,
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    crate::loopback::tune(&stream, peer, shared.config.loopback_congestion.as_deref());
                    let state = Arc::new(ConnState::default());
                    let io = ConnIo::new(stream, state.clone(), deadlines);
                    let ctx = ConnCtx { state, tunnel: None };
                    if shared.config.http1_fast_path {
                        conns.spawn(crate::fast::serve(shared.clone(), io, ctx));
                    } else {
                        conns.spawn(serve_connection(shared.clone(), io, ctx, false));
                    }
                }
                Err(e) => {
                    // Typically out of file descriptors: back off briefly.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = shared.stop.send(true);
    let grace = shared.config.shutdown_grace;
    shared.tasks.close();
    let drained = tokio::time::timeout(grace, async {
        while conns.join_next().await.is_some() {}
        shared.tasks.wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = conns.len() + shared.tasks.len(),
            "connections still busy after the shutdown grace period were cut off"
        );
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
    Ok(())
}

pub(crate) async fn serve_on_workers(
    shared: Arc<Shared>,
    listener: TcpListener,
    workers: usize,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ProxyError> {
    let workers = match workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let listener = listener
        .into_std()
        .map_err(|e| ProxyError::io("preparing the proxy listener", e))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<Result<(), ProxyError>>(workers);
    for i in 0..workers {
        let listener = listener
            .try_clone()
            .map_err(|e| ProxyError::io("sharing the proxy listener", e))?;
        let shared = shared.clone();
        let mut stop = stop_rx.clone();
        let done = done_tx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("proxy-{i}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| ProxyError::io("starting a proxy worker", e))
                    .and_then(|rt| {
                        rt.block_on(async move {
                            let listener = TcpListener::from_std(listener)
                                .map_err(|e| ProxyError::io("registering the proxy listener", e))?;
                            serve(shared, listener, async move {
                                let _ = stop.wait_for(|s| *s).await;
                            })
                            .await
                        })
                    });
                let _ = done.blocking_send(result);
            });
        if let Err(e) = spawned {
            let _ = stop_tx.send(true);
            return Err(ProxyError::io("starting a proxy worker thread", e));
        }
    }
    drop(done_tx);
    drop(listener);
    tracing::debug!(workers, "proxy workers started");
    shutdown.await;
    let _ = stop_tx.send(true);
    let mut result = Ok(());
    while let Some(r) = done_rx.recv().await {
        if r.is_err() && result.is_ok() {
            result = r;
        }
    }
    result
}

/// Serves HTTP on one client connection (HTTP/2 when `h2`) until it
/// closes, or until shutdown (then gracefully). Boxed: tunnels serve
/// connections from inside a request handler.
pub(crate) fn serve_connection<IO>(
    shared: Arc<Shared>,
    io: IO,
    ctx: ConnCtx,
    h2: bool,
) -> Pin<Box<dyn Future<Output = ()> + Send>>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(async move {
        let stop = shared.stop.subscribe();
        let tunnel = ctx.tunnel.is_some();
        let ctx = Arc::new(ctx);
        let svc = {
            let shared = shared.clone();
            service_fn(move |req| {
                let busy = ctx.state.busy();
                handle(shared.clone(), ctx.clone(), busy, req)
            })
        };
        if h2 {
            let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            b.timer(hyper_util::rt::TokioTimer::new())
                .max_header_list_size(
                    u32::try_from(shared.config.max_request_header_bytes.saturating_mul(2))
                        .unwrap_or(u32::MAX),
                );
            drive!(
                b.serve_connection(TokioIo::new(io), svc),
                stop,
                &shared,
                tunnel
            );
        } else {
            drive!(
                shared
                    .h1
                    .serve_connection(TokioIo::new(io), svc)
                    .with_upgrades(),
                stop,
                &shared,
                tunnel
            );
        }
    })
}

/// The HTTP/1.1 server settings of the listener and of tunnels.
pub(crate) fn http1_builder(config: &crate::ProxyConfig) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(hyper_util::rt::TokioTimer::new())
        .keep_alive(true)
        // Head and idle deadlines are kept by `ConnIo`.
        .header_read_timeout(None)
        // A looser bound while parsing; `limits` gives the exact answer.
        .max_header_size(config.max_request_header_bytes.saturating_mul(2).max(4096));
    if config.max_request_headers > 100 {
        b.max_headers(config.max_request_headers.saturating_mul(2));
    }
    b
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn handle(
    shared: Arc<Shared>,
    ctx: Arc<ConnCtx>,
    busy: BusyGuard,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let id = shared.ids.next();
    let mode = match (&ctx.tunnel, classify(&req)) {
        (Some(_), _) | (None, Mode::Connect) => "connect",
        (None, Mode::Forward) => "forward",
        (None, Mode::Reverse) => "reverse",
    };
    let path = if req.method() == http::Method::CONNECT {
        ""
    } else {
        req.uri().path()
    };
    let mut log = Box::new(RequestLog::new(
        id,
        shared.telemetry.clone(),
        Some(busy),
        req.method().clone(),
        mode,
        path,
    ));
    let result = dispatch(&shared, &ctx, req, &mut log).await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => error_response(&shared, &mut log, &e),
    };
    log.status = resp.status().as_u16();
    // A body that has ended before it starts (HEAD, 204, 304, CONNECT's
    // 200) is never read by the server: it is complete as it is.
    if resp.body().is_end_stream() {
        log.mark_complete();
    }
    resp.body_mut().attach_log(log);
    Ok(resp)
}

/// The proxy's own answer for a failed request: noted in the request's
/// log record and the upstream error counters, logged (a warning for
/// server-side failures), and turned into a short plain-text response.
pub(crate) fn error_response(
    shared: &Shared,
    log: &mut RequestLog,
    e: &RequestError,
) -> Response<ResponseBody> {
    log.error = Some(e.kind());
    if let Some(kind) = e.upstream_kind() {
        shared
            .telemetry
            .metrics
            .upstream_error(log.class.as_ref(), kind);
    }
    let id = log.id;
    if e.status().is_server_error() && e.status() != StatusCode::NOT_IMPLEMENTED {
        tracing::warn!(request_id = %id, connector = log.connector.as_deref().unwrap_or("-"), error = %e, "request failed");
    } else {
        tracing::debug!(request_id = %id, connector = log.connector.as_deref().unwrap_or("-"), error = %e, "request refused");
    }
    e.to_response(id)
}

async fn dispatch(
    shared: &Arc<Shared>,
    ctx: &ConnCtx,
    req: Request<Incoming>,
    log: &mut RequestLog,
) -> Result<Response<ResponseBody>, RequestError> {
    let (head, body) = req.into_parts();
    shared.limits.check(&head)?;
    let req = Request::from_parts(head, body);
    if let Some(tunnel) = &ctx.tunnel {
        return connect::inner(shared, ctx, tunnel, req, log).await;
    }
    match classify(&req) {
        Mode::Reverse => reverse::handle(shared, ctx, req, log).await,
        Mode::Forward => forward::handle(shared, ctx, req, log).await,
        Mode::Connect => connect::open(shared, ctx, req, log).await,
    }
}
