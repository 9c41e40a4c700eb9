//! Client connection deadlines: reading a request head (`header_timeout`,
//! counted from the head's first byte, or from accept for a new connection)
//! and waiting for the next request on a keep-alive connection
//! (`idle_timeout`). While a request is in flight the deadlines are off;
//! once a connection is handed to a tunnel or an upgraded protocol they are
//! off for good.
//!
//! [`ConnIo`] wraps the socket: when the deadline passes while the server
//! waits for bytes, it reports end-of-stream, and the HTTP server closes
//! the connection as it would for a client that left.

use crate::deadline::Deadline;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};

/// Shared between a connection's IO and its requests.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    busy: AtomicUsize,
    /// Requests started so far: a request handled whole between two reads
    /// (the fast path reads nothing while busy) still ends a head phase.
    started: AtomicU64,
    handed_off: AtomicBool,
    /// The reader parked while requests were in flight; woken when the
    /// last one finishes so the idle deadline starts.
    parked: Mutex<Option<Waker>>,
}

impl ConnState {
    /// Marks one request in flight until the guard is dropped.
    pub(crate) fn busy(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::AcqRel);
        self.started.fetch_add(1, Ordering::AcqRel);
        BusyGuard(self.clone())
    }

    /// The connection now carries a tunnel or an upgraded protocol: its
    /// HTTP deadlines no longer apply.
    pub(crate) fn hand_off(&self) {
        self.handed_off.store(true, Ordering::Release);
    }
}

/// Keeps a connection counted as busy.
#[derive(Debug)]
pub(crate) struct BusyGuard(Arc<ConnState>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            let parked = self
                .0
                .parked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(w) = parked {
                w.wake();
            }
        }
    }
}

/// The deadlines of one connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadlines {
    pub(crate) header: Duration,
    pub(crate) idle: Duration,
    /// HTTP/2: frames between requests (pings, settings) only extend the
    /// idle time; there is no separate head phase.
    pub(crate) multiplexed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Between requests, nothing read yet.
    Idle,
    /// Reading a request head.
    Head,
    /// A request is in flight.
    Busy,
}

/// A client socket with request-head and keep-alive deadlines.
pub(crate) struct ConnIo<T> {
    inner: T,
    state: Arc<ConnState>,
    deadlines: Deadlines,
    phase: Phase,
    /// `ConnState::started` as last seen.
    seen_started: u64,
    deadline: Deadline,
}

impl<T> ConnIo<T> {
    /// Wraps a fresh connection: the first head must arrive within the
    /// header timeout.
    pub(crate) fn new(inner: T, state: Arc<ConnState>, deadlines: Deadlines) -> ConnIo<T> {
        ConnIo {
            inner,
            state,
            deadlines,
            phase: Phase::Head,
            seen_started: 0,
            deadline: Deadline::after(deadlines.header),
        }
    }

    /// The socket underneath.
    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    fn set_phase(&mut self, phase: Phase, limit: Duration) {
        self.phase = phase;
        self.deadline.restart(limit);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ConnIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state.handed_off.load(Ordering::Acquire) {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let busy = this.state.busy.load(Ordering::Acquire) > 0;
        let started = this.state.started.load(Ordering::Acquire);
        let served = started != this.seen_started;
        this.seen_started = started;
        match (busy, this.phase) {
            (true, _) => this.phase = Phase::Busy,
            (false, Phase::Busy) => this.set_phase(Phase::Idle, this.deadlines.idle),
            // A request came and went since the last read.
            (false, _) if served => this.set_phase(Phase::Idle, this.deadlines.idle),
            _ => {}
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        match r {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    if this.deadlines.multiplexed {
                        this.set_phase(Phase::Idle, this.deadlines.idle);
                    } else {
                        this.set_phase(Phase::Head, this.deadlines.header);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.phase == Phase::Busy {
                    let mut parked = this.state.parked.lock().unwrap_or_else(|p| p.into_inner());
                    if !parked.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        *parked = Some(cx.waker().clone());
                    }
                    drop(parked);
                    // The last request may have finished meanwhile.
                    if this.state.busy.load(Ordering::Acquire) == 0 {
                        cx.waker().wake_by_ref();
                    }
                } else if this.deadline.poll_passed(cx).is_ready() {
                    // Deadline passed while waiting: end of stream.
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }
}

crate::write_through::write_through!(ConnIo);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::Instant;

    fn deadlines(ms: u64) -> Deadlines {
        Deadlines {
            header: Duration::from_millis(ms),
            idle: Duration::from_millis(ms),
            multiplexed: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silent_connection_ends_after_the_header_timeout() {
        let (a, mut b) = tokio::io::duplex(64);
        let state = Arc::new(ConnState::default());
        let mut io = ConnIo::new(a, state, deadlines(500));
        let mut buf = [0u8; 8];
        let t = Instant::now();
        assert_eq!(io.read(&mut buf).await.unwrap(), 0);
        assert!(t.elapsed() >= Duration::from_millis(500));
        b.write_all(b"x").await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_served_between_reads_restarts_the_clock() {
        let (a, mut b) = tokio::io::duplex(64);
        let state = Arc::new(ConnState::default());
        let mut io = ConnIo::new(a, state.clone(), deadlines(1000));
        let mut buf = [0u8; 8];
        b.write_all(b"GET").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 3);
        // Served without reading while busy, long after the connection
        // opened: the next wait gets a whole idle period again.
        tokio::time::sleep(Duration::from_millis(900)).await;
        drop(state.busy());
        tokio::time::sleep(Duration::from_millis(900)).await;
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            io.read(&mut buf).await.unwrap()
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        b.write_all(b"next").await.unwrap();
        assert_eq!(reader.await.unwrap(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn busy_connections_and_handed_off_ones_do_not_time_out() {
        let (a, mut b) = tokio::io::duplex(64);
        let state = Arc::new(ConnState::default());
        let mut io = ConnIo::new(a, state.clone(), deadlines(100));
        let guard = state.busy();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let n = io.read(&mut buf).await.unwrap();
            (n, io)
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        b.write_all(b"abc").await.unwrap();
        let (n, mut io) = reader.await.unwrap();
        assert_eq!(n, 3);
        drop(guard);
        state.hand_off();
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            io.read(&mut buf).await.unwrap()
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        b.write_all(b"de").await.unwrap();
        assert_eq!(reader.await.unwrap(), 2);
    }
}
