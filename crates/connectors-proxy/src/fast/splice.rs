//! Relaying a long body between two plain TCP sockets inside the kernel
//! (Linux `splice(2)` through a pipe): the bytes are never copied into the
//! proxy, which then costs a few system calls per megabyte instead of two
//! copies of every byte.
//!
//! While a body is spliced, the client's connection sends like one
//! without `TCP_NODELAY` (Nagle's rule): each splice would otherwise end
//! in a short segment of its own, and a body relayed in many writes (a
//! loopback connection queues little unsent, see [`crate::loopback`])
//! would cost a packet, an acknowledgement and their CPU time for every
//! write. The setting comes back when the body ends, which also sends its
//! last short segment at once.
//!
//! Readiness is kept honest: the socket's readiness is cleared only when
//! the pipe was empty (so "would block" can only mean the socket is empty),
//! and the destination's only when the pipe holds bytes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Bodies at least this long are spliced.
pub(crate) const MIN_SPLICE: u64 = 256 * 1024;
/// Pipe capacity asked for (the kernel may give less).
const PIPE_SIZE: libc::c_int = 1 << 20;

/// Why a splice relay stopped early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpliceError {
    #[error("reading failed: {0}")]
    Source(io::Error),
    #[error("writing failed: {0}")]
    Sink(io::Error),
    #[error("the body ended early")]
    Truncated,
}

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

fn pipe() -> io::Result<Pipe> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid array of two descriptors for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_SETPIPE_SZ on an open pipe descriptor; failure is harmless.
    unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
    Ok(Pipe { read, write })
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: plain descriptors and null offsets (sockets and pipes have no
    // file position); the kernel checks the descriptors.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Turns `TCP_NODELAY` off on a socket until dropped, then back to what it
/// was (turning it on sends what Nagle's rule held back).
struct Coalescing<'a> {
    socket: &'a TcpStream,
    nodelay: bool,
}

impl<'a> Coalescing<'a> {
    fn start(socket: &'a TcpStream) -> Coalescing<'a> {
        let nodelay = socket.nodelay().unwrap_or(false);
        if nodelay {
            let _ = socket.set_nodelay(false);
        }
        Coalescing { socket, nodelay }
    }
}

impl Drop for Coalescing<'_> {
    fn drop(&mut self) {
        if self.nodelay {
            let _ = self.socket.set_nodelay(true);
        }
    }
}

/// Moves exactly `len` bytes from `src` to `dst`; `counted` receives the
/// bytes as they reach `dst`.
pub(crate) async fn relay(
    src: &TcpStream,
    dst: &TcpStream,
    len: u64,
    counted: &mut (dyn FnMut(usize) + Send),
) -> Result<(), SpliceError> {
    let _coalescing = Coalescing::start(dst);
    let pipe = pipe().map_err(SpliceError::Source)?;
    let (pr, pw) = (pipe.read.as_raw_fd(), pipe.write.as_raw_fd());
    let (sfd, dfd) = (src.as_raw_fd(), dst.as_raw_fd());
    let mut left = len;
    let mut in_pipe = 0usize;
    let chunk = PIPE_SIZE as usize;
    loop {
        if left == 0 && in_pipe == 0 {
            return Ok(());
        }
        let mut moved = false;
        if left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(chunk);
            let r = if in_pipe == 0 {
                src.try_io(Interest::READABLE, || splice(sfd, pw, want))
            } else {
                splice(sfd, pw, want)
            };
            match r {
                Ok(0) => return Err(SpliceError::Truncated),
                Ok(n) => {
                    in_pipe += n;
                    left -= n as u64;
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(SpliceError::Source(e)),
            }
        }
        if in_pipe > 0 {
            match dst.try_io(Interest::WRITABLE, || splice(pr, dfd, in_pipe)) {
                Ok(n) => {
                    in_pipe -= n;
                    counted(n);
                    moved = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(SpliceError::Sink(e)),
            }
        }
        if !moved {
            let waited = if in_pipe > 0 {
                dst.writable().await.map_err(SpliceError::Sink)
            } else {
                src.readable().await.map_err(SpliceError::Source)
            };
            waited?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn moves_exactly_the_body_and_leaves_the_rest() {
        let (mut up_peer, up) = pair().await;
        let (down, mut down_peer) = pair().await;
        let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut sent = body.clone();
        sent.extend_from_slice(b"NEXT");
        let writer = tokio::spawn(async move {
            up_peer.write_all(&sent).await.unwrap();
            up_peer
        });
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; 3_000_000];
            down_peer.read_exact(&mut got).await.unwrap();
            got
        });
        let mut n = 0;
        relay(&up, &down, body.len() as u64, &mut |k| n += k)
            .await
            .unwrap();
        assert_eq!(n, body.len());
        assert!(reader.await.unwrap() == body);
        let _peer = writer.await.unwrap();
        let mut rest = [0u8; 4];
        let mut up = up;
        up.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"NEXT");
    }

    #[tokio::test]
    async fn the_clients_nodelay_is_off_during_the_body_and_back_after() {
        let (mut up_peer, up) = pair().await;
        let (down, mut down_peer) = pair().await;
        down.set_nodelay(true).unwrap();
        let body = vec![7u8; MIN_SPLICE as usize + 1001];
        let sent = body.clone();
        let writer = tokio::spawn(async move {
            up_peer.write_all(&sent).await.unwrap();
            up_peer
        });
        let mut seen_during = None;
        relay(&up, &down, body.len() as u64, &mut |_| {
            seen_during.get_or_insert(down.nodelay().unwrap());
        })
        .await
        .unwrap();
        assert_eq!(seen_during, Some(false));
        assert!(down.nodelay().unwrap());
        // All of the body arrives on the connection, which stays open.
        let mut got = vec![0u8; body.len()];
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            down_peer.read_exact(&mut got),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(got == body);
        let _open = writer.await.unwrap();
        // A client without TCP_NODELAY keeps it off.
        let (mut up_peer, up) = pair().await;
        let (down, _down_peer) = pair().await;
        up_peer.write_all(b"abc").await.unwrap();
        relay(&up, &down, 3, &mut |_| {}).await.unwrap();
        assert!(!down.nodelay().unwrap());
    }

    #[tokio::test]
    async fn a_short_body_is_reported() {
        let (mut up_peer, up) = pair().await;
        let (down, _down_peer) = pair().await;
        up_peer.write_all(b"abc").await.unwrap();
        drop(up_peer);
        let r = relay(&up, &down, 10, &mut |_| {}).await;
        assert!(matches!(r, Err(SpliceError::Truncated)), "{r:?}");
    }

    /// A body that trickles in, on a connection the tool keeps open after
    /// it: the relay ends with the body's last byte, without waiting for
    /// more or for the tool to close.
    #[tokio::test]
    async fn a_trickling_body_on_a_kept_open_connection_completes() {
        for len in [1000u64, PIPE_SIZE as u64 + 1, 2 * PIPE_SIZE as u64 + 4321] {
            let (mut up_peer, up) = pair().await;
            let (down, mut down_peer) = pair().await;
            let body: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let sent = body.clone();
            let writer = tokio::spawn(async move {
                for piece in sent.chunks(200_000) {
                    up_peer.write_all(piece).await.unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                up_peer
            });
            let reader = tokio::spawn(async move {
                let mut got = vec![0u8; len as usize];
                down_peer.read_exact(&mut got).await.unwrap();
                got
            });
            let mut n = 0;
            let relayed = tokio::time::timeout(
                std::time::Duration::from_secs(20),
                relay(&up, &down, len, &mut |k| n += k),
            )
            .await
            .unwrap_or_else(|_| panic!("a body of {len} bytes stalled"));
            relayed.unwrap();
            assert_eq!(n as u64, len);
            assert!(reader.await.unwrap() == body, "body of {len} bytes differs");
            let _open = writer.await.unwrap();
        }
    }
}
