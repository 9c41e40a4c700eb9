//! The one log line per request: written at debug level when the response
//! body is finished (or dropped), with method, connector, upstream host,
//! path without query, status, bytes sent back, duration and request id.
//! Never header values, tokens or credential data.

use crate::request_id::RequestId;
use http::Method;
use std::time::{Duration, Instant};

/// What is known about one request by the time its response starts.
#[derive(Debug)]
pub struct RequestLog {
    pub(crate) id: RequestId,
    pub(crate) method: Method,
    pub(crate) mode: &'static str,
    pub(crate) connector: Option<String>,
    pub(crate) upstream_host: Option<String>,
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) error: Option<&'static str>,
    pub(crate) started: Instant,
    pub(crate) headers_after: Option<Duration>,
    bytes: u64,
    complete: bool,
    failed: bool,
}

impl RequestLog {
    pub(crate) fn new(id: RequestId, method: Method, path: &str) -> RequestLog {
        RequestLog {
            id,
            method,
            mode: "reverse",
            connector: None,
            upstream_host: None,
            path: path.to_string(),
            status: 0,
            error: None,
            started: Instant::now(),
            headers_after: None,
            bytes: 0,
            complete: false,
            failed: false,
        }
    }

    pub(crate) fn add_bytes(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
    }

    pub(crate) fn mark_complete(&mut self) {
        self.complete = true;
    }

    pub(crate) fn mark_failed(&mut self) {
        self.failed = true;
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        let outcome = if self.failed {
            "body_error"
        } else if self.complete {
            "complete"
        } else {
            "aborted"
        };
        tracing::debug!(
            request_id = %self.id,
            mode = self.mode,
            method = %self.method,
            connector = self.connector.as_deref().unwrap_or("-"),
            upstream = self.upstream_host.as_deref().unwrap_or("-"),
            path = %self.path,
            status = self.status,
            error = self.error.unwrap_or("-"),
            bytes = self.bytes,
            headers_ms = self.headers_after.map(|d| d.as_millis() as u64).unwrap_or(0),
            duration_ms = self.started.elapsed().as_millis() as u64,
            outcome,
            "proxied request"
        );
    }
}
