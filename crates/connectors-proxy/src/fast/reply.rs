//! The proxy's own answers on the fast path: the same short plain-text
//! error responses as the general server, written straight to the socket.

use super::framing::Framing;
use super::{ClientIo, Conn, Next};
use crate::audit::RequestLog;
use crate::error::RequestError;
use crate::server::error_response;
use crate::Shared;
use bytes::{Buf, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Drops a request body that is already buffered whole; `false` when it
/// is not (the connection must then close after the answer).
pub(crate) fn skip_body(buf: &mut BytesMut, body: Framing) -> bool {
    match body {
        Framing::Length(n) if n <= buf.len() as u64 => {
            buf.advance(n as usize);
            true
        }
        _ => false,
    }
}

/// Answers with `e` and finishes the request's record.
pub(crate) async fn error<IO: ClientIo>(
    shared: &Shared,
    conn: &mut Conn<IO>,
    log: &mut RequestLog,
    e: &RequestError,
    close: bool,
) -> Next {
    let resp = error_response(shared, log, e);
    let body = resp.body().full_bytes().cloned().unwrap_or_default();
    let status = resp.status();
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in resp.headers() {
        out.extend_from_slice(k.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    super::date::append_field(&mut out);
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    log.status = status.as_u16();
    // Flushed: a TLS client stream may hold back what it could not send.
    if conn.io.write_all(&out).await.is_err() || conn.io.flush().await.is_err() {
        return Next::Close;
    }
    log.add_bytes(body.len());
    log.mark_complete();
    if close {
        Next::Close
    } else {
        Next::KeepAlive
    }
}

/// Answers with `e` a request that was not read whole, finishes its
/// record, and closes the connection ([`close_unread`]).
pub(crate) async fn error_and_close<IO: ClientIo>(
    shared: &Shared,
    conn: &mut Conn<IO>,
    mut log: Box<RequestLog>,
    e: &RequestError,
) {
    error(shared, conn, &mut log, e, true).await;
    drop(log);
    close_unread(conn).await
}

/// Most bytes of an unread request read and dropped before closing.
const UNREAD_DRAIN_BYTES: usize = 1024 * 1024;

/// How long the client gets to stop sending an unread request.
const UNREAD_DRAIN_TIME: Duration = Duration::from_millis(500);

/// Closes a connection whose client may still be sending a request that
/// was answered without being read. Closing a socket with unread bytes
/// resets the connection, and a client that is still writing may then
/// lose the answer; so the sending side is closed first and what arrives
/// is read and dropped, within bounds, before the socket goes.
async fn close_unread<IO: ClientIo>(conn: &mut Conn<IO>) {
    let _ = conn.io.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 16 * 1024];
        let mut read = 0;
        while read < UNREAD_DRAIN_BYTES {
            match conn.io.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(UNREAD_DRAIN_TIME, drain).await;
}
