//! Body types: what is sent upstream ([`UpstreamBody`]) and what is sent back
//! to the client ([`ResponseBody`]). Both stream frame by frame; nothing here
//! collects a whole body.

use crate::audit::RequestLog;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// When the exchange with the upstream last made progress (a request body
/// frame went out). The response-header timeout counts from there, so a long
/// upload is not cut off while it is still moving.
#[derive(Debug)]
pub(crate) struct Progress {
    start: Instant,
    last_ms: AtomicU64,
    bytes: AtomicU64,
}

impl Progress {
    pub(crate) fn new() -> Arc<Progress> {
        Arc::new(Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Request body bytes sent so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn count(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The instant of the last progress.
    pub(crate) fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// The request body sent upstream: the client's body as it arrives,
/// possibly preceded by a bounded prefix already read (for a token extractor
/// that inspects JSON bodies).
#[derive(Debug)]
pub(crate) struct UpstreamBody {
    head: VecDeque<Bytes>,
    rest: Option<Incoming>,
    progress: Option<Arc<Progress>>,
}

impl UpstreamBody {
    pub(crate) fn new(incoming: Incoming) -> UpstreamBody {
        UpstreamBody {
            head: VecDeque::new(),
            rest: Some(incoming),
            progress: None,
        }
    }

    pub(crate) fn set_progress(&mut self, p: Arc<Progress>) {
        self.progress = Some(p);
    }

    /// Reads up to `limit` bytes into the buffered head. Returns the whole
    /// body when it ended within the limit, `None` when it is longer (the
    /// bytes read stay queued for forwarding either way).
    pub(crate) async fn read_bounded(
        &mut self,
        limit: usize,
    ) -> Result<Option<Bytes>, hyper::Error> {
        use http_body_util::BodyExt;
        let mut total: usize = self.head.iter().map(Bytes::len).sum();
        while total <= limit {
            let Some(rest) = self.rest.as_mut() else {
                break;
            };
            match rest.frame().await {
                None => {
                    self.rest = None;
                    break;
                }
                Some(Err(e)) => return Err(e),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        total += data.len();
                        self.head.push_back(data);
                    }
                    // Trailers of a body read for inspection are dropped.
                }
            }
        }
        if self.rest.is_some() || total > limit {
            return Ok(None);
        }
        let mut all = Vec::with_capacity(total);
        for b in &self.head {
            all.extend_from_slice(b);
        }
        Ok(Some(Bytes::from(all)))
    }
}

impl UpstreamBody {
    /// A body with nothing in it.
    #[cfg(test)]
    pub(crate) fn empty() -> UpstreamBody {
        UpstreamBody {
            head: VecDeque::new(),
            rest: None,
            progress: None,
        }
    }

    /// Sends `bytes` instead of the client's body, which must have been
    /// read whole (see [`UpstreamBody::read_bounded`]).
    pub(crate) fn replace(&mut self, bytes: Bytes) {
        debug_assert!(self.rest.is_none(), "replacing a body not read whole");
        self.head.clear();
        if !bytes.is_empty() {
            self.head.push_back(bytes);
        }
        self.rest = None;
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(p) = &this.progress {
            p.touch();
        }
        if let Some(b) = this.head.pop_front() {
            if let Some(p) = &this.progress {
                p.count(b.len());
            }
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        match this.rest.as_mut() {
            None => Poll::Ready(None),
            Some(rest) => {
                let r = Pin::new(rest).poll_frame(cx);
                match &r {
                    Poll::Ready(None) => this.rest = None,
                    Poll::Ready(Some(Ok(f))) => {
                        if let (Some(p), Some(d)) = (&this.progress, f.data_ref()) {
                            p.count(d.len());
                        }
                    }
                    _ => {}
                }
                r
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_empty() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let head: u64 = self.head.iter().map(|b| b.len() as u64).sum();
        match &self.rest {
            None => SizeHint::with_exact(head),
            Some(rest) => {
                let h = rest.size_hint();
                let mut out = SizeHint::new();
                out.set_lower(h.lower().saturating_add(head));
                if let Some(u) = h.upper() {
                    out.set_upper(u.saturating_add(head));
                }
                out
            }
        }
    }
}

#[derive(Debug)]
enum Inner {
    Upstream(Incoming),
    Full(Option<Bytes>),
}

/// The response body sent to the client: the tool's body as it arrives, or
/// a short text written by the proxy. Carries the request's log record,
/// which is written when the body is finished or dropped.
#[derive(Debug)]
pub struct ResponseBody {
    inner: Inner,
    log: Option<Box<RequestLog>>,
}

impl ResponseBody {
    pub(crate) fn full(text: impl Into<Bytes>) -> ResponseBody {
        ResponseBody {
            inner: Inner::Full(Some(text.into())),
            log: None,
        }
    }

    pub(crate) fn empty() -> ResponseBody {
        ResponseBody {
            inner: Inner::Full(None),
            log: None,
        }
    }

    pub(crate) fn upstream(body: Incoming) -> ResponseBody {
        ResponseBody {
            inner: Inner::Upstream(body),
            log: None,
        }
    }

    /// The text of a body written by the proxy.
    pub(crate) fn full_bytes(&self) -> Option<&Bytes> {
        match &self.inner {
            Inner::Full(b) => b.as_ref(),
            Inner::Upstream(_) => None,
        }
    }

    pub(crate) fn attach_log(&mut self, log: Box<RequestLog>) {
        self.log = Some(log);
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let r = match &mut this.inner {
            Inner::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Inner::Upstream(body) => Pin::new(body).poll_frame(cx),
        };
        if let Some(log) = this.log.as_deref_mut() {
            match &r {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(d) = frame.data_ref() {
                        log.add_bytes(d.len());
                    }
                    let ended = match &this.inner {
                        Inner::Full(b) => b.is_none(),
                        Inner::Upstream(body) => body.is_end_stream(),
                    };
                    if ended {
                        log.mark_complete();
                    }
                }
                Poll::Ready(Some(Err(_))) => log.mark_failed(),
                Poll::Ready(None) => log.mark_complete(),
                Poll::Pending => {}
            }
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(b) => b.is_none(),
            Inner::Upstream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
            Inner::Upstream(body) => body.size_hint(),
        }
    }
}
