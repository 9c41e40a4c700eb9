//! The HTTP/1.1 fast path of the listener.
//!
//! Most traffic through the proxy is plain reverse-mode requests: a tool
//! client sends `GET /namespaces/NS/connectors/NAME/…` with its token, over
//! a keep-alive connection. For these, one task per client connection reads
//! the request head, checks and rewrites it ([`prepare`]), and relays the
//! exchange over its own HTTP/1.1 connection to the tool ([`exchange`]):
//! one read and one write per side per small request, no pool, no
//! hand-over between tasks, bodies relayed in place.
//!
//! Everything else — forward and CONNECT requests, protocol upgrades,
//! `Expect`, HTTP/1.0, classes with a token extractor or a credential
//! generator, unknown Connectors, heads over a limit — is handed, with the
//! bytes already read, to the general server ([`crate::server`]) for the
//! rest of the connection. The checks, the header rules, the audit record
//! and the metrics are the same on both paths. A head that cannot be read
//! at all is answered here, with a text saying why ([`crate::unreadable`]).

mod align;
mod chunked;
mod date;
mod exchange;
mod framing;
mod prepare;
mod reply;
mod response;
mod rewind;
#[cfg(target_os = "linux")]
mod splice;
mod tunnel;
mod upconn;

use crate::conn::ConnIo;
use crate::read_ahead::ReadAhead;
use crate::server::{self, ConnCtx};
use crate::unreadable;
use crate::Shared;
use bytes::{Buf, BytesMut};
use memchr::memmem;
use prepare::Prepared;
use rewind::Rewind;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::LazyLock;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use upconn::UpConn;

/// A client's byte stream: the listener's TCP socket, or the decrypted
/// stream of an intercepted tunnel.
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The TCP socket itself, when bytes can be spliced straight into it.
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }

    /// Called between requests: gives back read buffers a long request
    /// body took.
    fn idle(&mut self) {}
}

impl ClientIo for TcpStream {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientIo
    for tokio_rustls::server::TlsStream<ReadAhead<T>>
{
    fn idle(&mut self) {
        self.get_mut().0.shed();
    }
}

/// One client connection on the fast path.
pub(crate) struct Conn<IO> {
    pub(crate) io: ConnIo<IO>,
    /// Bytes read from the client and not yet used.
    pub(crate) buf: BytesMut,
    /// The connection to the tool of the last request, kept for the next.
    pub(crate) up: Option<UpConn>,
    memo: prepare::Memo,
    /// The deadline of the tool's answer, kept across requests.
    pub(crate) answer: Option<crate::deadline::Deadline>,
}

/// What to do after a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    KeepAlive,
    Close,
}

enum Head {
    /// A complete head of this many bytes is buffered.
    Ready(usize),
    /// The client left, or shutdown started between requests.
    Closed,
    /// Let the general server read this connection.
    HandOff,
    /// No end of the head within the parser's bound.
    TooLarge,
}

/// Serves one client connection until it closes.
pub(crate) async fn serve<IO: ClientIo>(shared: Arc<Shared>, io: ConnIo<IO>, ctx: ConnCtx) {
    let mut conn = Conn {
        io,
        buf: BytesMut::with_capacity(4096),
        up: None,
        memo: prepare::Memo::default(),
        answer: None,
    };
    // One wait for shutdown over the connection's life, polled while idle.
    let mut stop = shared.stop.subscribe();
    let stopping = std::pin::pin!(async move {
        let _ = stop.wait_for(|s| *s).await;
    });
    let mut stopping = stopping;
    loop {
        let end = match read_head(&shared, &mut conn, stopping.as_mut()).await {
            Head::Ready(end) => end,
            Head::Closed => return,
            Head::HandOff => return hand_off(shared, conn, ctx).await,
            Head::TooLarge => {
                let log = unreadable::log_of(&shared, &ctx, &conn.buf);
                let error = unreadable::oversized(conn.buf.len(), &shared.limits);
                return reply::error_and_close(&shared, &mut conn, log, &error).await;
            }
        };
        let next = match prepare::prepare(
            &shared,
            &ctx,
            &conn.buf[..end],
            conn.buf.len() - end,
            &mut conn.memo,
        )
        .await
        {
            Prepared::HandOff => return hand_off(shared, conn, ctx).await,
            Prepared::Refuse {
                mut log,
                error,
                body,
                client_close,
            } => {
                conn.buf.advance(end);
                if reply::skip_body(&mut conn.buf, body) {
                    reply::error(&shared, &mut conn, &mut log, &error, client_close).await
                } else {
                    // The rest of the request is still coming.
                    return reply::error_and_close(&shared, &mut conn, log, &error).await;
                }
            }
            Prepared::Go(plan) => {
                conn.buf.advance(end);
                exchange::run(&shared, &mut conn, *plan).await
            }
        };
        if next == Next::Close {
            let _ = conn.io.shutdown().await;
            return;
        }
        if conn.buf.is_empty() && conn.buf.capacity() > 64 * 1024 {
            conn.buf = BytesMut::with_capacity(4096);
        }
        conn.io.get_mut().idle();
    }
}

async fn read_head<IO: ClientIo>(
    shared: &Shared,
    conn: &mut Conn<IO>,
    mut stopping: Pin<&mut (impl Future<Output = ()> + ?Sized)>,
) -> Head {
    // The general server's parser bound: no head is read past it.
    let limit = shared
        .config
        .max_request_header_bytes
        .saturating_mul(2)
        .max(4096);
    loop {
        if let Some(end) = head_end(&conn.buf) {
            return Head::Ready(end);
        }
        if conn.buf.len() > limit {
            return Head::TooLarge;
        }
        if conn.buf.capacity() - conn.buf.len() < 1024 {
            conn.buf.reserve(4096);
        }
        let read = if conn.buf.is_empty() {
            tokio::select! {
                r = conn.io.read_buf(&mut conn.buf) => r,
                _ = stopping.as_mut() => return Head::Closed,
            }
        } else {
            conn.io.read_buf(&mut conn.buf).await
        };
        match read {
            Ok(0) if conn.buf.is_empty() => return Head::Closed,
            // A partial head and then the end: the general server answers.
            Ok(0) => return Head::HandOff,
            Ok(_) => {}
            Err(_) => return Head::Closed,
        }
    }
}

/// The end of the head (after its blank line) in `buf`, if it is there.
/// Lines end with CRLF; a bare LF is accepted, as the parser does.
fn head_end(buf: &[u8]) -> Option<usize> {
    static CRLF: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\n\r\n"));
    static LF: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\n\n"));
    let crlf = CRLF.find(buf).map(|at| at + 3);
    let scan = &buf[..crlf.unwrap_or(buf.len())];
    let lf = LF.find(scan).map(|at| at + 2);
    lf.or(crlf)
}

async fn hand_off<IO: ClientIo>(shared: Arc<Shared>, conn: Conn<IO>, ctx: ConnCtx) {
    let Conn { io, buf, .. } = conn;
    server::serve_connection(shared, Rewind::new(buf.freeze(), io), ctx, false).await
}

#[cfg(test)]
mod tests {
    use super::head_end;

    #[test]
    fn head_ends() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\nA: b\n\nbody"), Some(21));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
        assert_eq!(head_end(b""), None);
    }
}
