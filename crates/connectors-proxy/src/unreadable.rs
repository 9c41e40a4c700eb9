//! Request heads the proxy cannot read: a syntax error, more header fields
//! or more bytes than the limits allow.
//!
//! Like every other request, each gets one audit record and is counted in
//! the metrics, with error kind `malformed_request` or `headers_too_large`.
//! The fast path answers them itself: a plain-text 400 or 431 saying what
//! is wrong, with the request id, and the connection closes (what follows
//! such a head cannot be framed). A head the general server's parser
//! refuses is answered by that parser with a bare status line; it is
//! recorded afterwards ([`record_parse_error`]); only the fast path's
//! records carry what the request line said, as far as it could be read.

use crate::audit::RequestLog;
use crate::error::RequestError;
use crate::limits::HeadLimits;
use crate::server::ConnCtx;
use crate::Shared;
use http::Method;

/// Error kind of a head that could not be parsed.
pub(crate) const MALFORMED: &str = "malformed_request";

/// A log record for the unreadable `head` (as much of it as was read) of
/// a request on the fast path, started now.
pub(crate) fn log_of(shared: &Shared, ctx: &ConnCtx, head: &[u8]) -> Box<RequestLog> {
    request_line(head).log(shared, Some(ctx.state.busy()), ctx.tunnel.is_some())
}

/// Audit mode of a head whose request line could not be read.
const UNKNOWN_MODE: &str = "unknown";

/// What the request line of an unreadable head said, as far as it could
/// be read.
#[derive(Clone, Copy, Debug, Default)]
struct Line<'a> {
    method: Option<&'a str>,
    target: Option<&'a str>,
}

impl Line<'_> {
    /// A log record for the request, started now.
    fn log(
        &self,
        shared: &Shared,
        busy: Option<crate::conn::BusyGuard>,
        tunnel: bool,
    ) -> Box<RequestLog> {
        let method = self
            .method
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
            .unwrap_or_else(unknown_method);
        Box::new(RequestLog::new(
            shared.ids.next(),
            shared.telemetry.clone(),
            busy,
            method,
            self.mode(tunnel),
            &self.path(),
        ))
    }

    fn mode(&self, tunnel: bool) -> &'static str {
        match (tunnel, self.method, self.target) {
            (true, _, _) | (false, Some("CONNECT"), _) => "connect",
            (false, Some(_), Some(t)) if t.starts_with('/') => "reverse",
            (false, Some(_), Some(t)) if absolute(t).is_some() => "forward",
            _ => UNKNOWN_MODE,
        }
    }

    /// The target's path without its query, as other records have it.
    fn path(&self) -> String {
        let Some(target) = self.target else {
            return String::new();
        };
        if target.starts_with('/') {
            let end = target.find(['?', '#']).unwrap_or(target.len());
            return target[..end].to_string();
        }
        absolute(target).map_or_else(String::new, |uri| uri.path().to_string())
    }
}

/// `target` as an absolute URL (the forward proxy's form).
fn absolute(target: &str) -> Option<http::Uri> {
    target
        .parse::<http::Uri>()
        .ok()
        .filter(|u| u.scheme().is_some())
}

/// The method recorded when the request line could not be read.
fn unknown_method() -> Method {
    Method::from_bytes(b"-").expect("`-` is a method token")
}

/// The answer to a head the HTTP/1.1 parser refused with `e`, or `None`
/// when the general server should read it: a head that only has more
/// fields than the fast path parses but not more than `limits` allow.
pub(crate) fn judge(e: httparse::Error, head: &[u8], limits: &HeadLimits) -> Option<RequestError> {
    use httparse::Error::*;
    let why = match e {
        TooManyHeaders => {
            let fields = field_lines(head);
            return (fields > limits.max_fields).then(|| limits.too_many_fields(fields));
        }
        Token => "the request line is not METHOD TARGET HTTP/1.1",
        Version => {
            "only HTTP/1.1 and HTTP/1.0 are read here (HTTP/2 is offered inside TLS, by ALPN)"
        }
        HeaderName => "a header field name is empty or has a character a field name may not have",
        HeaderValue => "a header field value has a control character",
        NewLine => "a line of the head does not end with CRLF",
        Status => "the request line is malformed",
    };
    Some(RequestError::MalformedHead(why))
}

/// The answer to a head with no end in the first `read` bytes.
pub(crate) fn oversized(read: usize, limits: &HeadLimits) -> RequestError {
    RequestError::HeadersTooLarge(format!(
        "the request head has more than {read} bytes, at most {} accepted",
        limits.max_bytes
    ))
}

/// The request line at the start of `buf`, when it is all there and has
/// the form `METHOD TARGET HTTP/…` with a method of at most
/// [`MAX_METHOD`] token characters; nothing is taken from any other line.
fn request_line(buf: &[u8]) -> Line<'_> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return Line::default();
    };
    let Ok(line) = std::str::from_utf8(&buf[..end]) else {
        return Line::default();
    };
    let words: Vec<&str> = line.trim_end_matches('\r').split(' ').collect();
    match words[..] {
        [method, target, version]
            if method.len() <= MAX_METHOD
                && Method::from_bytes(method.as_bytes()).is_ok()
                && !target.is_empty()
                && version.starts_with("HTTP/") =>
        {
            Line {
                method: Some(method),
                target: Some(target),
            }
        }
        _ => Line::default(),
    }
}

/// Longest method taken into a record from an unreadable head.
const MAX_METHOD: usize = 32;

/// Header field lines of a complete head: its lines less the request line
/// and the blank line that ends it.
fn field_lines(head: &[u8]) -> usize {
    let lines = head.iter().filter(|&&b| b == b'\n').count();
    lines.saturating_sub(2)
}

/// Records a head the general server's parser refused with `e` (and
/// answered with a bare 400 or 431); other connection errors are not
/// requests and are not recorded.
pub(crate) fn record_parse_error(shared: &Shared, e: &hyper::Error, tunnel: bool) {
    let answered = if e.is_parse_too_large() {
        RequestError::HeadersTooLarge(String::new())
    } else if e.is_parse() && !e.is_parse_version_h2() {
        RequestError::MalformedHead("refused by the HTTP/1.1 parser")
    } else {
        return;
    };
    let mut log = Line::default().log(shared, None, tunnel);
    log.status = answered.status().as_u16();
    log.error = Some(answered.kind());
    log.mark_complete();
    tracing::debug!(request_id = %log.id, error = %e, "unreadable request head");
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_bytes: 1024,
        max_fields: 3,
    };

    #[test]
    fn syntax_errors_are_bad_requests() {
        for e in [
            httparse::Error::Token,
            httparse::Error::Version,
            httparse::Error::HeaderName,
            httparse::Error::HeaderValue,
            httparse::Error::NewLine,
        ] {
            let answer = judge(e, b"", &LIMITS).expect("answered");
            assert_eq!(answer.status(), 400, "{e:?}");
            assert_eq!(answer.kind(), MALFORMED, "{e:?}");
        }
    }

    #[test]
    fn too_many_fields_is_431_only_past_the_limit() {
        let three = b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n";
        assert!(judge(httparse::Error::TooManyHeaders, three, &LIMITS).is_none());
        let four = b"GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n";
        let e = judge(httparse::Error::TooManyHeaders, four, &LIMITS).expect("answered");
        assert_eq!(e.status(), 431);
        assert!(e.to_string().contains("4 header fields, at most 3"), "{e}");
    }

    #[test]
    fn oversized_heads_name_the_limit() {
        let e = oversized(4096, &LIMITS);
        assert_eq!(e.status(), 431);
        assert!(e.to_string().contains("at most 1024"), "{e}");
    }

    #[test]
    fn the_request_line_is_read_as_far_as_it_goes() {
        let l = request_line(b"GET /ns/x?token=1 HTTP/1.1\r\nBad Header\r\n");
        assert_eq!((l.method, l.target), (Some("GET"), Some("/ns/x?token=1")));
        assert_eq!(l.path(), "/ns/x", "the query is never recorded");
        assert_eq!(l.mode(false), "reverse");
        assert_eq!(l.mode(true), "connect");

        let l = request_line(b"GET http://h.test:8/a/b?q HTTP/1.1\r\n");
        assert_eq!((l.mode(false), l.path().as_str()), ("forward", "/a/b"));

        let l = request_line(b"CONNECT h.test:443 HTTP/1.1\r\n");
        assert_eq!((l.mode(false), l.path().as_str()), ("connect", ""));

        // The HTTP/2 preface's target is neither a path nor a URL.
        let l = request_line(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(
            (l.method, l.mode(false), l.path().as_str()),
            (Some("PRI"), UNKNOWN_MODE, "")
        );

        // No end of line yet, not three words, no version, a method that
        // is not a token or too long: nothing is taken.
        for line in [
            &b"GET /partial"[..],
            b"\r\n",
            b"GARBAGE LINE\r\n",
            b"GET / x\r\n",
            b"GET  / HTTP/1.1\r\n",
            b"G\x01T / HTTP/1.1\r\n",
            b"GETGETGETGETGETGETGETGETGETGETGETGET / HTTP/1.1\r\n",
        ] {
            let l = request_line(line);
            assert_eq!((l.method, l.target), (None, None), "{line:?}");
            assert_eq!((l.mode(false), l.path().as_str()), (UNKNOWN_MODE, ""));
        }
    }

    #[test]
    fn an_unreadable_method_is_recorded_as_a_dash() {
        assert_eq!(unknown_method().as_str(), "-");
    }
}
