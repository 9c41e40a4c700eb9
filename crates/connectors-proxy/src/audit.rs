//! One audit record per finished request: a tracing event with target
//! `connectors::audit` at INFO (a JSON line with `--log-format json`), the
//! request metrics, and optionally the same record as a JSON line appended
//! to a file (mode 0600).
//!
//! Fields: time (file only), request id, subject, connector (`ns/name` or
//! `none`), class, mode, method, upstream host, path without query, status,
//! bytes in and out, duration. Never tokens, header values, query strings
//! or Secret data.

use crate::body::Progress;
use crate::conn::BusyGuard;
use crate::error::ProxyError;
use crate::metrics::{Finished, Metrics};
use crate::request_id::RequestId;
use connectors_catalog::Identity;
use http::Method;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Tracing target of audit records.
pub const AUDIT_TARGET: &str = "connectors::audit";

/// Where finished requests are reported.
pub(crate) struct Telemetry {
    pub(crate) metrics: Metrics,
    file: Option<Mutex<File>>,
}

impl Telemetry {
    pub(crate) fn new(audit_file: Option<&Path>) -> Result<Telemetry, ProxyError> {
        let file = match audit_file {
            None => None,
            Some(p) => Some(Mutex::new(open_private_append(p)?)),
        };
        Ok(Telemetry {
            metrics: Metrics::new(),
            file,
        })
    }

    pub(crate) fn without_file() -> Telemetry {
        Telemetry {
            metrics: Metrics::new(),
            file: None,
        }
    }

    fn write_line(&self, record: &serde_json::Value) {
        let Some(file) = &self.file else { return };
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(_) => return,
        };
        line.push(b'\n');
        let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(&line) {
            tracing::warn!(error = %e, "writing the audit file failed");
        }
    }
}

fn open_private_append(path: &Path) -> Result<File, ProxyError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts
        .open(path)
        .map_err(|e| ProxyError::io(format!("opening the audit file {}", path.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| ProxyError::io(format!("setting the mode of {}", path.display()), e))?;
    }
    Ok(f)
}

/// What is known about one request; reported when dropped, which happens
/// when its response body is finished or abandoned.
pub struct RequestLog {
    pub(crate) id: RequestId,
    pub(crate) method: Method,
    pub(crate) mode: &'static str,
    pub(crate) connector: Option<String>,
    pub(crate) class: Option<Arc<str>>,
    pub(crate) subject: Option<Arc<Identity>>,
    pub(crate) upstream_host: Option<String>,
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) error: Option<&'static str>,
    pub(crate) started: Instant,
    request: Option<Arc<Progress>>,
    bytes_in: u64,
    bytes: u64,
    complete: bool,
    failed: bool,
    telemetry: Arc<Telemetry>,
    _busy: Option<BusyGuard>,
}

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLog")
            .field("id", &self.id)
            .field("mode", &self.mode)
            .field("status", &self.status)
            .finish()
    }
}

impl RequestLog {
    pub(crate) fn new(
        id: RequestId,
        telemetry: Arc<Telemetry>,
        busy: Option<BusyGuard>,
        method: Method,
        mode: &'static str,
        path: &str,
    ) -> RequestLog {
        RequestLog {
            id,
            method,
            mode,
            connector: None,
            class: None,
            subject: None,
            upstream_host: None,
            path: path.to_string(),
            status: 0,
            error: None,
            started: Instant::now(),
            request: None,
            bytes_in: 0,
            bytes: 0,
            complete: false,
            failed: false,
            telemetry,
            _busy: busy,
        }
    }

    /// Counts the request body through this progress tracker.
    pub(crate) fn track_request_body(&mut self, progress: Arc<Progress>) {
        self.request = Some(progress);
    }

    /// Counts a request body sent whole.
    pub(crate) fn add_request_bytes(&mut self, n: usize) {
        self.bytes_in = self.bytes_in.saturating_add(n as u64);
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
        let duration = self.started.elapsed();
        let bytes_in = self.bytes_in + self.request.as_ref().map_or(0, |p| p.bytes());
        self.telemetry.metrics.finished(Finished {
            mode: self.mode,
            class: self.class.as_ref(),
            code: self.status,
            duration,
            bytes_in,
            bytes_out: self.bytes,
        });
        let outcome = if self.failed {
            "body_error"
        } else if self.complete {
            "complete"
        } else {
            "aborted"
        };
        let subject = self
            .subject
            .as_deref()
            .map(|i| i.username.as_str())
            .unwrap_or("-");
        let connector = self.connector.as_deref().unwrap_or("none");
        let class = self.class.as_deref().unwrap_or("none");
        let upstream = self.upstream_host.as_deref().unwrap_or("-");
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            target: "connectors::audit",
            request_id = %self.id,
            subject,
            connector,
            class,
            mode = self.mode,
            method = %self.method,
            upstream_host = upstream,
            path = %self.path,
            status = self.status,
            bytes_in,
            bytes_out = self.bytes,
            duration_ms,
            error = self.error.unwrap_or("-"),
            outcome,
            "proxied request"
        );
        if self.telemetry.file.is_some() {
            let record = serde_json::json!({
                "time": rfc3339(SystemTime::now()),
                "request_id": self.id.to_string(),
                "subject": subject,
                "connector": connector,
                "class": class,
                "mode": self.mode,
                "method": self.method.as_str(),
                "upstream_host": upstream,
                "path": self.path,
                "status": self.status,
                "bytes_in": bytes_in,
                "bytes_out": self.bytes,
                "duration_ms": duration_ms,
                "error": self.error,
                "outcome": outcome,
            });
            self.telemetry.write_line(&record);
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let (y, m, day) = crate::ca::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// `namespace/name`, as logs name a Connector.
pub(crate) fn connector_label(namespace: &str, name: &str) -> String {
    let mut s = String::with_capacity(namespace.len() + name.len() + 1);
    s.push_str(namespace);
    s.push('/');
    s.push_str(name);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = UNIX_EPOCH + Duration::from_millis(1_709_164_800_123 + 3_723_000);
        assert_eq!(rfc3339(t), "2024-02-29T01:02:03.123Z");
    }

    #[test]
    fn file_records_are_private_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let t = Arc::new(Telemetry::new(Some(&path)).unwrap());
        let mut log = RequestLog::new(
            RequestId(1),
            t.clone(),
            None,
            Method::GET,
            "forward",
            "/a/b",
        );
        log.status = 200;
        log.connector = Some("team-a/git".into());
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["connector"], "team-a/git");
        assert_eq!(v["path"], "/a/b");
        assert_eq!(v["status"], 200);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
