//! The tool's response head, turned into the client's: hop-by-hop fields
//! removed (RFC 9110 §7.6.1), a `Location` under the tool's address
//! rewritten to the proxy, and the body framing worked out (RFC 9112 §6.3).
//! A body that ends when the tool closes is passed to the client chunked,
//! so the client connection stays usable.

use super::framing::Framing;
use crate::error::RequestError;

/// Header fields read per response head.
const MAX_FIELDS: usize = 128;
/// Largest response head read, bytes.
pub(crate) const MAX_HEAD: usize = 256 * 1024;

/// A response head for the client.
#[derive(Debug)]
pub(crate) struct ClientHead {
    pub(crate) status: u16,
    /// The head to send, ending with the blank line.
    pub(crate) bytes: Vec<u8>,
    /// How the tool's body is framed.
    pub(crate) body: Framing,
    /// Whether the tool's connection can carry another request afterwards.
    pub(crate) reusable: bool,
}

/// What the start of the tool's bytes holds.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Not a whole head yet.
    Partial,
    /// An informational (1xx) response of this many bytes, to skip.
    Informational(usize),
    /// A final response head of this many bytes.
    Final(usize, ClientHead),
}

/// Reads a response head from `buf` (the answer to a `HEAD` request when
/// `head_method`). `location` rewrites a `Location` value, or leaves it.
pub(crate) fn parse(
    buf: &[u8],
    host: &str,
    head_method: bool,
    client_close: bool,
    location: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Parsed, RequestError> {
    // Left uninitialised: the parser writes the fields it finds.
    let mut fields =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        buf,
        &mut fields,
    );
    let n = match head_length(parsed, buf.len()) {
        Ok(Some(n)) => n,
        Ok(None) => return Ok(Parsed::Partial),
        Err(reason) => return Err(RequestError::upstream_failed(host, reason)),
    };
    let status = resp.code.unwrap_or(0);
    if status == 101 {
        return Err(RequestError::upstream_failed(
            host,
            "it switched protocols without being asked to",
        ));
    }
    if (100..200).contains(&status) {
        return Ok(Parsed::Informational(n));
    }
    let http10 = resp.version == Some(0);
    let fields = &*resp.headers;

    let scan = FieldScan::of(fields, http10, host)?;
    let body = scan.framing(head_method || status == 204 || status == 304);
    let reusable = !scan.close && body != Framing::Close;

    let mut out = Vec::with_capacity(n + 64);
    status_line(&mut out, status, resp.reason, host)?;
    end_to_end_fields(&mut out, fields, &scan, location);
    proxy_fields(&mut out, scan.dated, body, client_close);
    Ok(Parsed::Final(
        n,
        ClientHead {
            status,
            bytes: out,
            body,
            reusable,
        },
    ))
}

/// The size of a complete head, `None` for a partial one, or what is
/// wrong with the head.
#[inline(always)]
fn head_length(
    parsed: httparse::Result<usize>,
    buffered: usize,
) -> Result<Option<usize>, &'static str> {
    match parsed {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) if buffered > MAX_HEAD => {
            Err("its response head is too large")
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err("its response has too many header fields"),
        Err(_) => Err("its response is not valid HTTP/1.1"),
    }
}

/// What the fields of a response head say about its body and connection.
struct FieldScan<'b> {
    /// The `Content-Length`, the same in every such field.
    length: Option<u64>,
    /// The last transfer coding is `chunked`.
    chunked: bool,
    /// A `Transfer-Encoding` is present.
    coded: bool,
    /// The tool closes the connection after this response.
    close: bool,
    /// Field names listed in `Connection`.
    listed: Vec<&'b str>,
    /// A `Date` is present.
    dated: bool,
}

impl<'b> FieldScan<'b> {
    /// Reads the fields; `http10`: the response is HTTP/1.0, whose
    /// connection closes after it.
    #[inline]
    fn of(
        fields: &[httparse::Header<'b>],
        http10: bool,
        host: &str,
    ) -> Result<FieldScan<'b>, RequestError> {
        let mut scan = FieldScan {
            length: None,
            chunked: false,
            coded: false,
            close: http10,
            listed: Vec::new(),
            dated: false,
        };
        for f in fields {
            let name = f.name;
            if name.eq_ignore_ascii_case("date") {
                scan.dated = true;
            } else if name.eq_ignore_ascii_case("content-length") {
                scan.content_length(f.value, host)?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                scan.coded = true;
                scan.chunked = last_coding_is_chunked(f.value);
            } else if name.eq_ignore_ascii_case("connection") {
                scan.connection(f.value);
            }
        }
        Ok(scan)
    }

    /// Notes a `Content-Length` value: digits only, and equal to any
    /// earlier one.
    #[inline]
    fn content_length(&mut self, value: &[u8], host: &str) -> Result<(), RequestError> {
        let v = std::str::from_utf8(value)
            .map_err(|_| RequestError::upstream_failed(host, "its Content-Length is not a number"))?
            .trim();
        let v: u64 = (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse().ok())
            .flatten()
            .ok_or_else(|| {
                RequestError::upstream_failed(host, "its Content-Length is not a number")
            })?;
        if self.length.is_some_and(|l| l != v) {
            return Err(RequestError::upstream_failed(
                host,
                "its response has conflicting Content-Length fields",
            ));
        }
        self.length = Some(v);
        Ok(())
    }

    /// Notes the tokens of a `Connection` value: `close`, and the names of
    /// the other fields it lists.
    #[inline]
    fn connection(&mut self, value: &'b [u8]) {
        for t in value.split(|b| *b == b',') {
            let t = t.trim_ascii();
            if t.eq_ignore_ascii_case(b"close") {
                self.close = true;
            } else if let Ok(t) = std::str::from_utf8(t) {
                if !t.is_empty() {
                    self.listed.push(t);
                }
            }
        }
    }

    /// How the tool's body is framed (RFC 9112 §6.3); `bodiless` for a
    /// response that has none whatever its fields say.
    #[inline(always)]
    fn framing(&self, bodiless: bool) -> Framing {
        if bodiless {
            Framing::Length(0)
        } else if self.coded {
            if self.chunked {
                Framing::Chunked
            } else {
                Framing::Close
            }
        } else if let Some(l) = self.length {
            Framing::Length(l)
        } else {
            Framing::Close
        }
    }
}

/// Whether the last coding a `Transfer-Encoding` value lists is `chunked`.
#[inline(always)]
fn last_coding_is_chunked(value: &[u8]) -> bool {
    let last = value
        .rsplit(|b| *b == b',')
        .next()
        .unwrap_or(b"")
        .trim_ascii();
    last.eq_ignore_ascii_case(b"chunked")
}

/// Appends the status line: HTTP/1.1, the code, and the tool's reason
/// phrase when it is visible text, else the code's canonical one.
#[inline]
fn status_line(
    out: &mut Vec<u8>,
    status: u16,
    reason: Option<&str>,
    host: &str,
) -> Result<(), RequestError> {
    out.extend_from_slice(b"HTTP/1.1 ");
    let code = http::StatusCode::from_u16(status)
        .map_err(|_| RequestError::upstream_failed(host, "its status code is not valid"))?;
    out.extend_from_slice(code.as_str().as_bytes());
    out.push(b' ');
    let reason = reason.filter(|r| r.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)));
    let canonical = code.canonical_reason();
    out.extend_from_slice(reason.or(canonical).unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Appends the tool's fields except the hop-by-hop ones (and a
/// `Content-Length` beside a transfer coding); `location` rewrites a
/// `Location` value, or leaves it.
#[inline]
fn end_to_end_fields(
    out: &mut Vec<u8>,
    fields: &[httparse::Header<'_>],
    scan: &FieldScan<'_>,
    location: &(dyn Fn(&str) -> Option<String> + Sync),
) {
    for f in fields {
        let name = f.name;
        if hop_by_hop(name, &scan.listed)
            || (scan.coded && name.eq_ignore_ascii_case("content-length"))
        {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        let rewritten = name
            .eq_ignore_ascii_case("location")
            .then(|| std::str::from_utf8(f.value).ok().and_then(location))
            .flatten();
        match rewritten {
            Some(v) => out.extend_from_slice(v.as_bytes()),
            None => out.extend_from_slice(f.value),
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends the proxy's own fields and the blank line: `date` when the
/// tool sent none, the chunked coding for a body it frames itself, and
/// `connection: close` when the client asked for it.
#[inline]
fn proxy_fields(out: &mut Vec<u8>, dated: bool, body: Framing, client_close: bool) {
    if !dated {
        super::date::append_field(out);
    }
    if matches!(body, Framing::Chunked | Framing::Close) {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if client_close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn hop_by_hop(name: &str, listed: &[&str]) -> bool {
    const HOP: [&str; 7] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
        || (name.len() >= 6 && name.as_bytes()[..6].eq_ignore_ascii_case(b"proxy-"))
        || listed.iter().any(|l| name.eq_ignore_ascii_case(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn final_head(raw: &[u8], head: bool) -> (usize, ClientHead) {
        match parse(raw, "tool", head, false, &|l| {
            l.strip_prefix("http://tool/")
                .map(|r| format!("http://proxy/{r}"))
        })
        .unwrap()
        {
            Parsed::Final(n, h) => (n, h),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn heads_are_cleaned_and_framed() {
        let raw = b"HTTP/1.1 302 Found\r\nDate: d\r\nLocation: http://tool/next\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\nrest";
        let (n, h) = final_head(raw, false);
        assert_eq!(&raw[n..], b"rest");
        assert_eq!(
            String::from_utf8(h.bytes).unwrap(),
            "HTTP/1.1 302 Found\r\nDate: d\r\nLocation: http://proxy/next\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            (h.status, h.body, h.reusable),
            (302, Framing::Length(0), true)
        );

        let (_, h) = final_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n",
            false,
        );
        assert_eq!(h.body, Framing::Chunked);
        let text = String::from_utf8(h.bytes).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\ndate: ")
                && text.ends_with(" GMT\r\ntransfer-encoding: chunked\r\n\r\n"),
            "{text}"
        );

        let (_, h) = final_head(b"HTTP/1.0 200 OK\r\n\r\n", false);
        assert_eq!((h.body, h.reusable), (Framing::Close, false));
        let (_, h) = final_head(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true);
        assert_eq!(h.body, Framing::Length(0));
        assert!(String::from_utf8(h.bytes)
            .unwrap()
            .contains("Content-Length: 10"));
    }

    #[test]
    fn informational_and_broken_heads() {
        let r = parse(
            b"HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 200",
            "tool",
            false,
            false,
            &|_| None,
        )
        .unwrap();
        assert!(matches!(r, Parsed::Informational(37)), "{r:?}");
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nA: b", "tool", false, false, &|_| None),
            Ok(Parsed::Partial)
        ));
        for bad in [
            &b"HTTP/1.1 101 Switching\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"NOPE\r\n\r\n",
        ] {
            assert!(
                matches!(
                    parse(bad, "tool", false, false, &|_| None),
                    Err(RequestError::UpstreamFailed { .. })
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
