//! Moving a message body from one side to the other by its framing:
//! a known length, chunked (checked and passed on as is, trailers
//! dropped), or — for a response only — until the tool closes (passed to
//! the client chunked).

use super::chunked::{ChunkError, ChunkedDecoder, Piece};
use bytes::{Buf, BytesMut};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How a body's end is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Exactly this many bytes (0: no body).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the sender closes (responses only).
    Close,
}

impl Framing {
    /// Whether there is no body at all.
    pub(crate) fn is_empty(self) -> bool {
        self == Framing::Length(0)
    }
}

/// Why a body could not be moved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    #[error("reading failed: {0}")]
    Source(io::Error),
    #[error("writing failed: {0}")]
    Sink(io::Error),
    #[error("{0}")]
    Framing(#[from] ChunkError),
    #[error("the body ended early")]
    Truncated,
}

/// Reads up to this much at a time once a body is large: 16 TLS records
/// of plaintext, which a proxy TLS stream (whose send buffer is as large,
/// see [`crate::tls::SEND_BUFFER`]) writes in one system call.
const READ_CHUNK: usize = 256 * 1024;

/// Moves one body from `buf` (bytes already read) and then `src` to
/// `dst`. Bytes after the body stay in `buf`. `counted` receives the
/// number of body bytes (without framing) as they go.
pub(crate) async fn relay<R, W>(
    framing: Framing,
    buf: &mut BytesMut,
    src: &mut R,
    dst: &mut W,
    counted: &mut (dyn FnMut(usize) + Send),
) -> Result<(), RelayError>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut relay = Relay {
        buf,
        src,
        dst,
        counted,
    };
    match framing {
        Framing::Length(n) => relay.length(n).await,
        Framing::Chunked => relay.chunked().await,
        Framing::Close => relay.until_close().await,
    }
}

/// One body on its way.
struct Relay<'a, R: ?Sized, W: ?Sized> {
    buf: &'a mut BytesMut,
    src: &'a mut R,
    dst: &'a mut W,
    counted: &'a mut (dyn FnMut(usize) + Send),
}

impl<R, W> Relay<'_, R, W>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    /// Reads more into `buf`; the end of the stream is an early end.
    async fn fill(&mut self) -> Result<(), RelayError> {
        if self.buf.is_empty() {
            super::align::place_empty(self.buf, READ_CHUNK);
        } else if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        let mut room = bytes::BufMut::limit(&mut *self.buf, READ_CHUNK);
        match self.src.read_buf(&mut room).await {
            Ok(0) => Err(RelayError::Truncated),
            Ok(_) => Ok(()),
            Err(e) => Err(RelayError::Source(e)),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), RelayError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.dst.write_all(bytes).await.map_err(RelayError::Sink)
    }

    /// Writes `buf[from..to]`.
    async fn write_buffered(&mut self, from: usize, to: usize) -> Result<(), RelayError> {
        if from == to {
            return Ok(());
        }
        self.dst
            .write_all(&self.buf[from..to])
            .await
            .map_err(RelayError::Sink)
    }

    async fn length(&mut self, mut left: u64) -> Result<(), RelayError> {
        loop {
            if left > 0 && !self.buf.is_empty() {
                let k = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(self.buf.len());
                self.write_buffered(0, k).await?;
                self.buf.advance(k);
                left -= k as u64;
                (self.counted)(k);
            }
            if left == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    async fn chunked(&mut self) -> Result<(), RelayError> {
        let mut dec = ChunkedDecoder::default();
        loop {
            // Passed bytes are contiguous from `start` to `pos`.
            let (mut start, mut pos) = (0, 0);
            let mut ended = false;
            while pos < self.buf.len() {
                match dec.next(&self.buf[pos..])? {
                    Piece::Data(k) => {
                        (self.counted)(k);
                        pos += k;
                    }
                    Piece::Pass(k) => pos += k,
                    Piece::Skip(k) => {
                        self.write_buffered(start, pos).await?;
                        pos += k;
                        start = pos;
                    }
                    Piece::End(k) => {
                        self.write_buffered(start, pos).await?;
                        self.write(b"\r\n").await?;
                        pos += k;
                        start = pos;
                        ended = true;
                        break;
                    }
                    Piece::More => break,
                }
            }
            self.write_buffered(start, pos).await?;
            self.buf.advance(pos);
            if ended || dec.is_done() {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    async fn until_close(&mut self) -> Result<(), RelayError> {
        let mut out = Vec::new();
        loop {
            if !self.buf.is_empty() {
                out.clear();
                out.extend_from_slice(format!("{:x}\r\n", self.buf.len()).as_bytes());
                out.extend_from_slice(self.buf);
                out.extend_from_slice(b"\r\n");
                self.write(&out).await?;
                (self.counted)(self.buf.len());
                self.buf.clear();
            }
            match self.fill().await {
                Ok(()) => {}
                Err(RelayError::Truncated) => return self.write(b"0\r\n\r\n").await,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    async fn run(
        framing: Framing,
        first: &[u8],
        rest: &[u8],
    ) -> (Result<(), RelayError>, Vec<u8>, Vec<u8>, usize) {
        let mut buf = BytesMut::from(first);
        let mut src = rest;
        let mut out = Vec::new();
        let mut n = 0;
        let r = relay(framing, &mut buf, &mut src, &mut out, &mut |k| n += k).await;
        (r, out, buf.to_vec(), n)
    }

    #[tokio::test]
    async fn lengths_stop_at_the_end_of_the_body() {
        let (r, out, left, n) = run(Framing::Length(5), b"he", b"lloGET /next").await;
        r.unwrap();
        assert_eq!((out.as_slice(), n), (&b"hello"[..], 5));
        assert_eq!(left, b"GET /next");
        let (r, _, _, _) = run(Framing::Length(5), b"he", b"l").await;
        assert!(matches!(r, Err(RelayError::Truncated)));
    }

    #[tokio::test]
    async fn chunked_bodies_pass_without_trailers() {
        let (r, out, left, n) = run(
            Framing::Chunked,
            b"3\r\nabc\r\n0\r\nX-T: 1\r\n",
            b"\r\nrest",
        )
        .await;
        r.unwrap();
        assert_eq!(out, b"3\r\nabc\r\n0\r\n\r\n");
        assert_eq!((left.as_slice(), n), (&b"rest"[..], 3));
    }

    /// A source that offers more than asked and records how much room
    /// each read had.
    struct Generous {
        left: usize,
        rooms: Vec<usize>,
    }

    impl AsyncRead for Generous {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            self.rooms.push(buf.remaining());
            let n = buf.remaining().min(self.left);
            buf.put_slice(&vec![b'x'; n]);
            self.left -= n;
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn long_bodies_are_read_a_bounded_chunk_at_a_time() {
        let len = 3 * READ_CHUNK + 10;
        let mut src = Generous {
            left: len,
            rooms: Vec::new(),
        };
        let mut buf = BytesMut::with_capacity(8 * READ_CHUNK);
        let mut out = Vec::new();
        relay(
            Framing::Length(len as u64),
            &mut buf,
            &mut src,
            &mut out,
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(out.len(), len);
        // Never more than one chunk per read, however much room the
        // buffer has: each read becomes one write of whole TLS records.
        assert!(
            src.rooms.iter().all(|&r| r == READ_CHUNK),
            "{:?}",
            src.rooms
        );
        assert_eq!(src.rooms.len(), 4);
    }

    /// A sink that notes where, modulo a page, each write's bytes begin.
    #[derive(Default)]
    struct Placements {
        offsets: Vec<usize>,
        len: usize,
    }

    impl tokio::io::AsyncWrite for Placements {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            self.offsets.push(buf.as_ptr() as usize % 4096);
            self.len += buf.len();
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn long_bodies_are_written_from_one_cache_line_past_a_page() {
        // The head's leftover (300 bytes) goes first from wherever it
        // is; every later write starts at the buffer's placed offset.
        let len = 5 * READ_CHUNK + 300;
        let mut src = Generous {
            left: len - 300,
            rooms: Vec::new(),
        };
        let mut buf = BytesMut::with_capacity(4096);
        buf.put_bytes(b'h', 300);
        let mut sink = Placements::default();
        relay(
            Framing::Length(len as u64),
            &mut buf,
            &mut src,
            &mut sink,
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(sink.len, len);
        assert_eq!(sink.offsets.len(), 6, "{:?}", sink.offsets);
        assert!(
            sink.offsets[1..]
                .iter()
                .all(|&o| o == super::super::align::BODY_OFFSET),
            "{:?}",
            sink.offsets
        );
    }

    #[tokio::test]
    async fn close_delimited_bodies_become_chunked() {
        let (r, out, _, n) = run(Framing::Close, b"ab", b"cde").await;
        r.unwrap();
        assert_eq!(out, b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n");
        assert_eq!(n, 5);
    }
}
