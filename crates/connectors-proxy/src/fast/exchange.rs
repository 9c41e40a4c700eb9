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
use super::upconn::{Destination, UpConn, UpIo};
use super::{reply, ClientIo, Conn, Next};
use crate::audit::RequestLog;
use crate::deadline::Deadline;
use crate::error::RequestError;
use crate::identify::Target;
use crate::reverse::rewrite_location;
use crate::route::Route;
use crate::Shared;
use bytes::{Buf, BytesMut};
use std::time::Instant;
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

/// A request as the tool gets it, and how the tool's answer is read.
struct ToolRequest<'a> {
    dest: &'a Destination,
    /// The request head, ending with the blank line.
    head: &'a [u8],
    body: Framing,
    head_method: bool,
    client_close: bool,
    /// Rewrites a `Location` from the tool, or leaves it.
    location: &'a (dyn Fn(&str) -> Option<String> + Sync),
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
    let location = |loc: &str| {
        redirect
            .as_ref()
            .and_then(|(route, r)| locate(loc, route, r))
    };
    let req = ToolRequest {
        dest: &dest,
        head: &head,
        body,
        head_method,
        client_close,
        location: &location,
    };
    let (mut up, mut client_head) = match head_from_tool(shared, conn, &req, &mut log).await {
        Ok(answered) => answered,
        Err(next) => return next,
    };

    log.status = client_head.status;
    if respond(conn, &mut up, &mut client_head, &mut log, &dest.label)
        .await
        .is_err()
    {
        return Next::Close;
    }
    log.mark_complete();
    let started = log.started;
    drop(log);
    if client_head.reusable && up.buf.is_empty() {
        keep(conn, up, started);
    }
    if client_close {
        Next::Close
    } else {
        Next::KeepAlive
    }
}

/// Sends the request on the kept connection or a new one and reads the
/// tool's response head. A kept connection the tool closed meanwhile is
/// replaced once when nothing of the request can have reached the tool;
/// a failure is answered to the client (`Err`: what to do next).
async fn head_from_tool<IO: ClientIo>(
    shared: &Shared,
    conn: &mut Conn<IO>,
    req: &ToolRequest<'_>,
    log: &mut RequestLog,
) -> Result<(UpConn, ClientHead), Next> {
    let body = req.body;
    let mut retried = false;
    loop {
        let mut up = match connection(shared, &mut conn.up, req.dest, body, log.started).await {
            Ok(u) => u,
            Err(e) => return Err(fail(shared, conn, log, &e, body, req.client_close).await),
        };
        match send(shared, conn, &mut up, req, log).await {
            Ok(h) => return Ok((up, h)),
            Err(Failure::Stale) if !retried && up.served > 0 && body.is_empty() => retried = true,
            Err(Failure::Stale) => {
                let e = RequestError::upstream_failed(
                    &req.dest.label,
                    "connection closed before a response",
                );
                return Err(fail(shared, conn, log, &e, Framing::Length(0), true).await);
            }
            Err(Failure::Answer(e)) => {
                let close = req.client_close;
                return Err(fail(shared, conn, log, &e, Framing::Length(0), close).await);
            }
        }
    }
}

/// The kept connection when it goes to `dest` and is still open, else a
/// new one. A request with a body cannot be sent again if the kept
/// connection turns out closed, and a long-idle one may well be: it is
/// looked at first.
async fn connection(
    shared: &Shared,
    kept: &mut Option<UpConn>,
    dest: &Destination,
    body: Framing,
    started: Instant,
) -> Result<UpConn, RequestError> {
    let mut reuse = kept.take().filter(|u| u.serves(dest));
    if let Some(u) = reuse.as_mut() {
        if (!body.is_empty() || started.saturating_duration_since(u.last_used) >= PROBE_IDLE)
            && u.closed_meanwhile().await
        {
            reuse = None;
        }
    }
    match reuse {
        Some(u) => Ok(u),
        None => UpConn::open(shared, dest).await,
    }
}

/// Sends the head and the body; returns the client's response head, the
/// tool's body (or its start) left in `up.buf`.
async fn send<IO: ClientIo>(
    shared: &Shared,
    conn: &mut Conn<IO>,
    up: &mut UpConn,
    req: &ToolRequest<'_>,
    log: &mut RequestLog,
) -> Result<ClientHead, Failure> {
    let host = req.dest.label.as_str();
    // The body is buffered whole (see `prepare`); a short one goes out in
    // the same write as the head.
    let n = match req.body {
        Framing::Length(n) => usize::try_from(n).unwrap_or(usize::MAX).min(conn.buf.len()),
        _ => 0,
    };
    let written = write_request(&mut up.io, req.head, &conn.buf[..n]).await;
    // The body is used up either way: sent, or answered with an error.
    conn.buf.advance(n);
    let send_failed = |e: std::io::Error| {
        RequestError::upstream_failed(host, format!("sending the request failed: {}", e.kind()))
    };
    if let Err(e) = written {
        return Err(stale_or(up, send_failed(e)));
    }
    log.add_request_bytes(n);
    if let Err(e) = up.io.flush().await {
        return Err(Failure::Answer(send_failed(e)));
    }

    let limit = shared.config.upstream_header_timeout;
    let answer = conn.answer.get_or_insert_with(|| Deadline::after(limit));
    answer.restart(limit);
    match answer.run(read_head(up, req)).await {
        Some(r) => r,
        None => Err(Failure::Answer(RequestError::UpstreamTimeout {
            host: host.to_string(),
            what: "answer",
            after: limit,
        })),
    }
}

/// Writes the request head and its buffered body, in one write when the
/// body is short.
async fn write_request(io: &mut UpIo, head: &[u8], body: &[u8]) -> std::io::Result<()> {
    if body.is_empty() {
        io.write_all(head).await
    } else if body.len() <= COALESCE {
        let mut out = Vec::with_capacity(head.len() + body.len());
        out.extend_from_slice(head);
        out.extend_from_slice(body);
        io.write_all(&out).await
    } else {
        match io.write_all(head).await {
            Ok(()) => io.write_all(body).await,
            Err(e) => Err(e),
        }
    }
}

/// Reads the tool's response head, skipping informational ones; what
/// follows it stays in `up.buf`.
async fn read_head(up: &mut UpConn, req: &ToolRequest<'_>) -> Result<ClientHead, Failure> {
    let host = req.dest.label.as_str();
    let mut seen = false;
    loop {
        if !up.buf.is_empty() {
            seen = true;
            match response::parse(
                &up.buf,
                host,
                req.head_method,
                req.client_close,
                req.location,
            ) {
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
            Ok(0) => return Err(no_head(up, host, seen, None)),
            Ok(_) => {}
            Err(e) => return Err(no_head(up, host, seen, Some(e))),
        }
    }
}

/// Why the response head did not come: the tool closed the connection
/// (`error` is `None`) or reading failed, before any of its bytes (`seen`
/// is false) or within it.
fn no_head(up: &UpConn, host: &str, seen: bool, error: Option<std::io::Error>) -> Failure {
    let reason = match error {
        None if seen => "connection closed in the response head".to_string(),
        None => "connection closed before a response".to_string(),
        Some(e) => format!("reading the response failed: {}", e.kind()),
    };
    let e = RequestError::upstream_failed(host, reason);
    if seen {
        Failure::Answer(e)
    } else {
        stale_or(up, e)
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

/// Passes the response to the client: its head (with a short body read
/// along), the rest of the body, then the end pushed out.
async fn respond<IO: ClientIo>(
    conn: &mut Conn<IO>,
    up: &mut UpConn,
    client_head: &mut ClientHead,
    log: &mut RequestLog,
    host: &str,
) -> Result<(), Cut> {
    let rest = write_head(conn, up, client_head, log).await?;
    pass_body(conn, up, rest, log, host).await?;
    // A TLS client stream (in a tunnel) takes bytes it cannot send yet into
    // its own buffer: the end of the response must be pushed out before the
    // next read, which waits for the client, who waits for that end.
    if let Err(e) = conn.io.flush().await {
        tracing::debug!(request_id = %log.id, error = %e, "the client went away at the end of the response");
        return Err(Cut);
    }
    Ok(())
}

/// Writes the client's response head, with the whole body appended when
/// it is short and already read; returns the framing of the body still to
/// pass.
async fn write_head<IO: ClientIo>(
    conn: &mut Conn<IO>,
    up: &mut UpConn,
    client_head: &mut ClientHead,
    log: &mut RequestLog,
) -> Result<Framing, Cut> {
    let mut sent_inline = 0;
    if let Framing::Length(n) = client_head.body {
        if n > 0 && n as usize <= COALESCE && up.buf.len() as u64 >= n {
            client_head.bytes.extend_from_slice(&up.buf[..n as usize]);
            up.buf.advance(n as usize);
            sent_inline = n as usize;
        }
    }
    if let Err(e) = conn.io.write_all(&client_head.bytes).await {
        tracing::debug!(request_id = %log.id, error = %e, "the client went away before the response head");
        return Err(Cut);
    }
    log.add_bytes(sent_inline);
    Ok(if sent_inline > 0 {
        Framing::Length(0)
    } else {
        client_head.body
    })
}

/// Keeps the tool's connection for the client's next request (large
/// read buffers are replaced by a small one or given back).
#[inline]
fn keep<IO>(conn: &mut Conn<IO>, mut up: UpConn, started: Instant) {
    up.served += 1;
    up.last_used = started;
    if up.buf.capacity() > 64 * 1024 {
        up.buf = BytesMut::with_capacity(8 * 1024);
    }
    up.io.shed();
    conn.up = Some(up);
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

/// The response did not all reach the client, whose connection must be
/// cut (what went wrong is logged).
struct Cut;

/// Records a tool's body that broke off (the record's outcome, a warning).
fn body_broke_off(log: &mut RequestLog, host: &str, e: &dyn std::fmt::Display) {
    log.mark_failed();
    tracing::warn!(request_id = %log.id, connector = log.connector.as_deref().unwrap_or("-"), host = %host, error = %e, "the tool's response body broke off");
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
