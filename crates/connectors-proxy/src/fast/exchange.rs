//! One request and its response on the fast path: send the prepared head
//! and the request body to the tool, read the response head (skipping
//! informational ones) within the response timeout, pass the cleaned head
//! and the body to the client.
//!
//! A kept connection the tool closed meanwhile is replaced once, for a
//! request without a body (nothing of it can have reached the tool). A
//! failure before the response head is answered like on the general path
//! (502/504); a failure after it cuts the client connection, the only way
//! to tell an HTTP/1.1 client the body is incomplete.

use super::framing::{self, Framing, RelayError};
use super::prepare::{Plan, Redirect};
use super::response::{self, ClientHead, Parsed};
use super::upconn::UpConn;
use super::{reply, ClientIo, Conn, Next};
use crate::audit::RequestLog;
use crate::deadline::Deadline;
use crate::error::RequestError;
use crate::identify::Target;
use crate::reverse::rewrite_location;
use crate::route::Route;
use crate::Shared;
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bodies up to this size go out in the same write as their head.
const COALESCE: usize = 16 * 1024;
/// A kept connection whose last request started this long ago is checked
/// before it is used.
const PROBE_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a request could not be sent or answered.
enum Failure {
    /// The kept connection was closed by the tool before it read anything.
    Stale,
    /// Answer the client with this error (the request body is used up).
    Answer(RequestError),
}

pub(crate) async fn run<IO: ClientIo>(shared: &Shared, conn: &mut Conn<IO>, plan: Plan) -> Next {
    let Plan {
        mut log,
        dest,
        head,
        body,
        head_method,
        client_close,
        redirect,
    } = plan;

    let mut retried = false;
    let (mut up, client_head) = loop {
        let mut reuse = conn.up.take().filter(|u| u.serves(&dest));
        // A request with a body cannot be sent again if the kept connection
        // turns out closed, and a long-idle one may well be: look first.
        if let Some(u) = reuse.as_mut() {
            if (!body.is_empty()
                || log.started.saturating_duration_since(u.last_used) >= PROBE_IDLE)
                && u.closed_meanwhile().await
            {
                reuse = None;
            }
        }
        let mut up = match reuse {
            Some(u) => u,
            None => match UpConn::open(shared, &dest).await {
                Ok(u) => u,
                Err(e) => return fail(shared, conn, &mut log, &e, body, client_close).await,
            },
        };
        let location = |loc: &str| {
            redirect
                .as_ref()
                .and_then(|(route, r)| locate(loc, route, r))
        };
        match send(
            shared,
            conn,
            &mut up,
            &head,
            body,
            &mut log,
            &dest.label,
            head_method,
            client_close,
            &location,
        )
        .await
        {
            Ok(h) => break (up, h),
            Err(Failure::Stale) if !retried && up.served > 0 && body.is_empty() => retried = true,
            Err(Failure::Stale) => {
                let e = RequestError::UpstreamFailed {
                    host: dest.label.clone(),
                    reason: "connection closed before a response".into(),
                };
                return fail(shared, conn, &mut log, &e, Framing::Length(0), true).await;
            }
            Err(Failure::Answer(e)) => {
                return fail(shared, conn, &mut log, &e, Framing::Length(0), client_close).await;
            }
        }
    };

    log.status = client_head.status;
    let mut out = client_head.bytes;
    let mut sent_inline = 0;
    if let Framing::Length(n) = client_head.body {
        if n > 0 && n as usize <= COALESCE && up.buf.len() as u64 >= n {
            out.extend_from_slice(&up.buf[..n as usize]);
            up.buf.advance(n as usize);
            sent_inline = n as usize;
        }
    }
    if let Err(e) = conn.io.write_all(&out).await {
        tracing::debug!(request_id = %log.id, error = %e, "the client went away before the response head");
        return Next::Close;
    }
    log.add_bytes(sent_inline);
    let rest = if sent_inline > 0 {
        Framing::Length(0)
    } else {
        client_head.body
    };
    if pass_body(conn, &mut up, rest, &mut log, &dest.label)
        .await
        .is_err()
    {
        return Next::Close;
    }
    // A TLS client stream (in a tunnel) takes bytes it cannot send yet into
    // its own buffer: the end of the response must be pushed out before the
    // next read, which waits for the client, who waits for that end.
    if let Err(e) = conn.io.flush().await {
        tracing::debug!(request_id = %log.id, error = %e, "the client went away at the end of the response");
        return Next::Close;
    }
    log.mark_complete();
    let started = log.started;
    drop(log);
    if client_head.reusable && up.buf.is_empty() {
        up.served += 1;
        up.last_used = started;
        if up.buf.capacity() > 64 * 1024 {
            up.buf = BytesMut::with_capacity(8 * 1024);
        }
        conn.up = Some(up);
    }
    if client_close {
        Next::Close
    } else {
        Next::KeepAlive
    }
}

/// Passes the rest of the tool's body, framed as `rest`, to the client: a
/// long one between two plain sockets in the kernel, any other by its
/// framing.
async fn pass_body<IO: ClientIo>(
    conn: &mut Conn<IO>,
    up: &mut UpConn,
    mut rest: Framing,
    log: &mut RequestLog,
    host: &str,
) -> Result<(), Cut> {
    #[cfg(target_os = "linux")]
    if let Framing::Length(n) = rest {
        if n >= super::splice::MIN_SPLICE && splice_body(conn, up, n, log, host).await? {
            rest = Framing::Length(0);
        }
    }
    let relayed = framing::relay(rest, &mut up.buf, &mut up.io, &mut conn.io, &mut |k| {
        log.add_bytes(k)
    })
    .await;
    match relayed {
        Ok(()) => Ok(()),
        Err(RelayError::Sink(e)) => {
            tracing::debug!(request_id = %log.id, error = %e, "the client went away during the response body");
            Err(Cut)
        }
        Err(e) => {
            body_broke_off(log, host, &e);
            Err(Cut)
        }
    }
}

/// Moves a body of `n` bytes from a plain tool connection to a plain
/// client connection: the bytes read with the head first, then the rest
/// with `splice(2)`. `Ok(false)`: one side is not a plain socket, nothing
/// was moved.
#[cfg(target_os = "linux")]
async fn splice_body<IO: ClientIo>(
    conn: &mut Conn<IO>,
    up: &mut UpConn,
    n: u64,
    log: &mut RequestLog,
    host: &str,
) -> Result<bool, Cut> {
    use super::splice::{self, SpliceError};
    use super::upconn::UpIo;
    if !matches!(up.io, UpIo::Plain(_)) || conn.io.get_ref().tcp().is_none() {
        return Ok(false);
    }
    let k = up.buf.len().min(n as usize);
    if conn.io.write_all(&up.buf[..k]).await.is_err() {
        return Err(Cut);
    }
    up.buf.advance(k);
    log.add_bytes(k);
    let (UpIo::Plain(tcp), Some(client)) = (&up.io, conn.io.get_ref().tcp()) else {
        return Err(Cut);
    };
    match splice::relay(tcp, client, n - k as u64, &mut |b| log.add_bytes(b)).await {
        Ok(()) => Ok(true),
        Err(SpliceError::Sink(_)) => Err(Cut),
        Err(e) => {
            body_broke_off(log, host, &e);
            Err(Cut)
        }
    }
}

/// The body did not all reach the client, whose connection must be cut
/// (what went wrong is logged).
struct Cut;

/// Records a tool's body that broke off (the record's outcome, a warning).
fn body_broke_off(log: &mut RequestLog, host: &str, e: &dyn std::fmt::Display) {
    log.mark_failed();
    tracing::warn!(request_id = %log.id, connector = log.connector.as_deref().unwrap_or("-"), host = %host, error = %e, "the tool's response body broke off");
}

/// Sends the head and the body; returns the client's response head, the
/// tool's body (or its start) left in `up.buf`.
#[allow(clippy::too_many_arguments)]
async fn send<IO: ClientIo>(
    shared: &Shared,
    conn: &mut Conn<IO>,
    up: &mut UpConn,
    head: &[u8],
    body: Framing,
    log: &mut RequestLog,
    host: &str,
    head_method: bool,
    client_close: bool,
    location: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<ClientHead, Failure> {
    let failed = |reason: String| RequestError::UpstreamFailed {
        host: host.to_string(),
        reason,
    };
    // The body is buffered whole (see `prepare`); a short one goes out in
    // the same write as the head.
    let n = match body {
        Framing::Length(n) => usize::try_from(n).unwrap_or(usize::MAX).min(conn.buf.len()),
        _ => 0,
    };
    let written = if n == 0 {
        up.io.write_all(head).await
    } else if n <= COALESCE {
        let mut out = Vec::with_capacity(head.len() + n);
        out.extend_from_slice(head);
        out.extend_from_slice(&conn.buf[..n]);
        up.io.write_all(&out).await
    } else {
        match up.io.write_all(head).await {
            Ok(()) => up.io.write_all(&conn.buf[..n]).await,
            Err(e) => Err(e),
        }
    };
    // The body is used up either way: sent, or answered with an error.
    conn.buf.advance(n);
    if let Err(e) = written {
        return Err(stale_or(
            up,
            failed(format!("sending the request failed: {}", e.kind())),
        ));
    }
    log.add_request_bytes(n);
    if let Err(e) = up.io.flush().await {
        return Err(Failure::Answer(failed(format!(
            "sending the request failed: {}",
            e.kind()
        ))));
    }

    let limit = shared.config.upstream_header_timeout;
    let answer = conn.answer.get_or_insert_with(|| Deadline::after(limit));
    answer.restart(limit);
    let read = answer
        .run(async {
            let mut seen = false;
            loop {
                if !up.buf.is_empty() {
                    seen = true;
                    match response::parse(&up.buf, host, head_method, client_close, location) {
                        Ok(Parsed::Final(n, h)) => {
                            up.buf.advance(n);
                            return Ok(h);
                        }
                        Ok(Parsed::Informational(n)) => {
                            up.buf.advance(n);
                            continue;
                        }
                        Ok(Parsed::Partial) => {}
                        Err(e) => return Err(Failure::Answer(e)),
                    }
                }
                if up.buf.capacity() - up.buf.len() < 4096 {
                    up.buf.reserve(16 * 1024);
                }
                match up.io.read_buf(&mut up.buf).await {
                    Ok(0) if !seen => {
                        return Err(stale_or(
                            up,
                            failed("connection closed before a response".into()),
                        ))
                    }
                    Ok(0) => {
                        return Err(Failure::Answer(failed(
                            "connection closed in the response head".into(),
                        )))
                    }
                    Ok(_) => {}
                    Err(e) if !seen => {
                        return Err(stale_or(
                            up,
                            failed(format!("reading the response failed: {}", e.kind())),
                        ))
                    }
                    Err(e) => {
                        return Err(Failure::Answer(failed(format!(
                            "reading the response failed: {}",
                            e.kind()
                        ))))
                    }
                }
            }
        })
        .await;
    match read {
        Some(r) => r,
        None => Err(Failure::Answer(RequestError::UpstreamTimeout {
            host: host.to_string(),
            what: "answer",
            after: limit,
        })),
    }
}

/// On a kept connection, a failure before any answer means the tool closed
/// it meanwhile.
fn stale_or(up: &UpConn, e: RequestError) -> Failure {
    if up.served > 0 {
        Failure::Stale
    } else {
        Failure::Answer(e)
    }
}

async fn fail<IO: ClientIo>(
    shared: &Shared,
    conn: &mut Conn<IO>,
    log: &mut RequestLog,
    e: &RequestError,
    body: Framing,
    client_close: bool,
) -> Next {
    let close = client_close || !reply::skip_body(&mut conn.buf, body);
    reply::error(shared, conn, log, e, close).await
}

/// A `Location` from the tool, rewritten when it points under the
/// Connector's address.
fn locate(loc: &str, route: &Route, r: &Redirect) -> Option<String> {
    let forward = route.forward.as_ref().ok()?;
    let up = &forward.upstream;
    let (namespace, name) = route.connector_ref();
    let target = Target {
        namespace,
        name,
        rest: "",
        format: r.format,
    };
    let url = format!("{}://{}{}", up.scheme, up.authority, r.sent);
    rewrite_location(loc, route, &target, r.client_host.as_deref(), &url)
}
