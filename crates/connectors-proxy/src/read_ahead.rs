//! Reading a TLS connection's bytes in large system calls.
//!
//! rustls asks its transport for a few KiB at a time (it grows its record
//! buffer 4 KiB per read), so a long body arriving over TLS costs one
//! `recv` per few KiB. [`ReadAhead`] sits under every TLS session of the
//! proxy: towards tools (fast path and general server) and under an
//! intercepted client's TLS. Once the socket has answered [`STREAK`]
//! record-sized reads in a row in full — the sign of a long body — it reads
//! up to [`AHEAD`] bytes per system call into its own buffer and hands them
//! out from there. The fast path calls [`ReadAhead::shed`] when a
//! connection goes idle, which gives the buffer back; a pooled connection
//! of the general server keeps it until the pool drops the connection.
//! Connections that only carry small messages never take it.

use hyper_util::client::legacy::connect::{Connected, Connection};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes read per system call once a connection carries a long body.
pub(crate) const AHEAD: usize = 128 * 1024;

/// Reads answered in full, in a row, before reading ahead.
const STREAK: u8 = 8;

/// The largest read that counts towards [`STREAK`]: one TLS record with
/// its header and the most padding (rustls never asks for more). Readers
/// with buffers of their own, such as hyper's over plain HTTP, ask for
/// more once their reads come back full, and are left alone.
const RECORD_READ: usize = 16 * 1024 + 2048 + 5;

/// A byte stream whose reads are made in large system calls once the
/// stream has shown it has more than is asked for. Writes pass through.
pub(crate) struct ReadAhead<S> {
    inner: S,
    /// Empty, or [`AHEAD`] bytes while reading ahead.
    buf: Vec<u8>,
    /// `buf[pos..end]` are read and not yet handed out.
    pos: usize,
    end: usize,
    /// Reads answered in full, in a row, while not reading ahead.
    full: u8,
}

impl<S> ReadAhead<S> {
    pub(crate) fn new(inner: S) -> Self {
        ReadAhead {
            inner,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            full: 0,
        }
    }

    /// Gives the buffer back unless it holds unread bytes (call when the
    /// connection goes idle).
    pub(crate) fn shed(&mut self) {
        if self.pos == self.end {
            self.buf = Vec::new();
            self.pos = 0;
            self.end = 0;
        }
        self.full = 0;
    }

    /// Whether the buffer is held (for tests).
    #[cfg(test)]
    fn reads_ahead(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Hands out buffered bytes; whether there were any.
    fn drain_into(&mut self, out: &mut ReadBuf<'_>) -> bool {
        if self.pos == self.end {
            return false;
        }
        let n = out.remaining().min(self.end - self.pos);
        out.put_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        true
    }

    /// Counts a direct read; reads ahead after [`STREAK`] full ones.
    fn count(&mut self, wanted: usize, got: usize) {
        if got < wanted || wanted > RECORD_READ {
            self.full = 0;
            return;
        }
        self.full += 1;
        if self.full >= STREAK {
            self.full = 0;
            self.buf = vec![0; AHEAD];
        }
    }
}

/// The general server's client asks its connections what they are.
impl Connection for ReadAhead<tokio::net::TcpStream> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if me.drain_into(out) {
            return Poll::Ready(Ok(()));
        }
        let wanted = out.remaining();
        if wanted == 0 {
            return Poll::Ready(Ok(()));
        }
        if me.buf.is_empty() || wanted >= AHEAD {
            let before = out.filled().len();
            std::task::ready!(Pin::new(&mut me.inner).poll_read(cx, out))?;
            if me.buf.is_empty() {
                me.count(wanted, out.filled().len() - before);
            }
            return Poll::Ready(Ok(()));
        }
        let mut ahead = ReadBuf::new(&mut me.buf);
        std::task::ready!(Pin::new(&mut me.inner).poll_read(cx, &mut ahead))?;
        me.pos = 0;
        me.end = ahead.filled().len();
        me.drain_into(out);
        Poll::Ready(Ok(()))
    }
}

crate::write_through::write_through!(ReadAhead);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

    /// A source that answers every read with as much as asked for (up to
    /// `per_read` and what is left), counting the reads it was asked for.
    struct Source {
        data: Vec<u8>,
        at: usize,
        per_read: usize,
        reads: usize,
        written: Vec<u8>,
    }

    impl Source {
        fn new(len: usize, per_read: usize) -> Source {
            Source {
                data: (0..len).map(|i| (i * 7 % 251) as u8).collect(),
                at: 0,
                per_read,
                reads: 0,
                written: Vec::new(),
            }
        }
    }

    impl AsyncRead for Source {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let me = self.get_mut();
            me.reads += 1;
            let n = out.remaining().min(me.per_read).min(me.data.len() - me.at);
            out.put_slice(&me.data[me.at..me.at + n]);
            me.at += n;
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Source {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().written.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Reads everything in `ask`-byte reads, as rustls does.
    async fn read_all(r: &mut ReadAhead<Source>, ask: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut piece = vec![0u8; ask];
        loop {
            let n = r.read(&mut piece).await.unwrap();
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&piece[..n]);
        }
    }

    #[tokio::test]
    async fn a_long_stream_is_read_in_large_calls_and_arrives_whole() {
        let len = 4 * 1024 * 1024 + 123;
        let mut r = ReadAhead::new(Source::new(len, usize::MAX));
        let got = read_all(&mut r, 4096).await;
        assert_eq!(got, r.inner.data);
        // STREAK small reads, then one per AHEAD bytes (and the last, empty).
        let most = STREAK as usize + len / AHEAD + 2;
        assert!(r.inner.reads <= most, "{} reads", r.inner.reads);
        assert!(len / 4096 > 10 * most);
    }

    #[tokio::test]
    async fn short_answers_never_take_the_buffer() {
        // The sender never has as much as is asked for: small messages.
        let mut r = ReadAhead::new(Source::new(64 * 1024, 1000));
        let got = read_all(&mut r, 4096).await;
        assert_eq!(got.len(), 64 * 1024);
        assert!(!r.reads_ahead());
        assert_eq!(r.inner.reads, (64 * 1024usize).div_ceil(1000) + 1);
    }

    #[tokio::test]
    async fn shedding_keeps_unread_bytes_and_gives_back_an_empty_buffer() {
        let len = 512 * 1024;
        let mut r = ReadAhead::new(Source::new(len, usize::MAX));
        let mut piece = vec![0u8; 4096];
        let mut got = Vec::new();
        for _ in 0..=STREAK {
            let n = r.read(&mut piece).await.unwrap();
            got.extend_from_slice(&piece[..n]);
        }
        assert!(r.reads_ahead());
        // Bytes are waiting in the buffer: it stays.
        r.shed();
        assert!(r.reads_ahead());
        // Once they are read, it goes.
        while r.pos < r.end {
            let n = r.read(&mut piece).await.unwrap();
            got.extend_from_slice(&piece[..n]);
        }
        r.shed();
        assert!(!r.reads_ahead());
        got.extend(read_all(&mut r, 4096).await);
        assert_eq!(got, r.inner.data);
    }

    #[tokio::test]
    async fn readers_that_ask_for_more_than_a_record_are_left_alone() {
        // hyper over plain HTTP: its own buffer, reads of 32 KiB and more.
        let len = 4 * 1024 * 1024;
        let mut r = ReadAhead::new(Source::new(len, usize::MAX));
        let got = read_all(&mut r, 32 * 1024).await;
        assert_eq!(got, r.inner.data);
        assert!(!r.reads_ahead());
        assert_eq!(r.inner.reads, len / (32 * 1024) + 1);
    }

    #[tokio::test]
    async fn large_reads_bypass_the_buffer_and_writes_pass_through() {
        let len = 2 * 1024 * 1024;
        let mut r = ReadAhead::new(Source::new(len, usize::MAX));
        let _ = read_all(&mut r, 4096).await;
        assert!(r.reads_ahead());
        let mut r = ReadAhead::new(Source::new(len, usize::MAX));
        let got = read_all(&mut r, AHEAD).await;
        assert_eq!(got.len(), len);
        assert_eq!(r.inner.reads, len / AHEAD + 1);
        r.write_all(b"request").await.unwrap();
        r.flush().await.unwrap();
        assert_eq!(r.inner.written, b"request");
    }
}
