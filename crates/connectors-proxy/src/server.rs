//! Accepting clients: HTTP/1.1 with keep-alive, one task per connection,
//! graceful shutdown bounded by the configured grace period.

use crate::access_log::RequestLog;
use crate::body::ResponseBody;
use crate::classify::{classify, Mode};
use crate::error::{ProxyError, RequestError};
use crate::{reverse, Shared};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ProxyError> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(shared.config.idle_timeout)
        .max_header_size(shared.config.max_request_header_bytes.max(1024));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let local = listener.local_addr().ok();
    tracing::debug!(addr = ?local, "proxy listening");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let conn = builder
                        .serve_connection(
                            TokioIo::new(stream),
                            service_fn(move |req| handle(shared.clone(), req)),
                        )
                        .with_upgrades();
                    let mut stop = stop_rx.clone();
                    conns.spawn(async move {
                        tokio::pin!(conn);
                        tokio::select! {
                            _ = conn.as_mut() => {}
                            _ = stopped(&mut stop) => {
                                conn.as_mut().graceful_shutdown();
                                let _ = conn.await;
                            }
                        }
                    });
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
    let _ = stop_tx.send(true);
    let grace = shared.config.shutdown_grace;
    let drained =
        tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = conns.len(),
            "connections still busy after the shutdown grace period were cut off"
        );
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
    Ok(())
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let id = shared.ids.next();
    let mut log = Box::new(RequestLog::new(id, req.method().clone(), req.uri().path()));
    let result = match classify(&req) {
        Mode::Reverse => reverse::handle(&shared, req, &mut log).await,
        Mode::Forward => {
            log.mode = "forward";
            Err(RequestError::NotImplemented(
                "forward proxying (absolute request URLs) is not supported yet: send requests to the Connector's proxy address",
            ))
        }
        Mode::Connect => {
            log.mode = "connect";
            Err(RequestError::NotImplemented(
                "CONNECT is not supported yet: send requests to the Connector's proxy address",
            ))
        }
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            log.error = Some(e.kind());
            if e.status().is_server_error() && e.status() != StatusCode::NOT_IMPLEMENTED {
                tracing::warn!(request_id = %id, connector = log.connector.as_deref().unwrap_or("-"), error = %e, "request failed");
            } else {
                tracing::debug!(request_id = %id, connector = log.connector.as_deref().unwrap_or("-"), error = %e, "request refused");
            }
            e.to_response(id)
        }
    };
    log.status = resp.status().as_u16();
    log.headers_after = Some(log.started.elapsed());
    resp.body_mut().attach_log(log);
    Ok(resp)
}
