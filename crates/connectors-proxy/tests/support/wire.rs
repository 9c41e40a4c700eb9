//! Raw HTTP/1.1 on the wire: message heads and bodies as they were written,
//! and a byte stream (TCP or TLS) that writes exact bytes and reads message
//! by message.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the proxy to answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- messages

/// A message head as it was on the wire.
#[derive(Clone, Debug)]
pub struct Head {
    /// Request line or status line.
    pub start: String,
    /// Fields in order, names as written.
    pub fields: Vec<(String, String)>,
    /// The whole head, blank line included.
    pub raw: String,
}

impl Head {
    pub fn parse(raw: Vec<u8>) -> Head {
        let raw = String::from_utf8(raw).expect("head is not UTF-8");
        let mut lines = raw.split("\r\n");
        let start = lines.next().unwrap_or_default().to_string();
        let fields = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad field {l:?}"));
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        Head { start, fields, raw }
    }

    pub fn word(&self, i: usize) -> &str {
        self.start.split(' ').nth(i).unwrap_or_default()
    }

    pub fn status(&self) -> u16 {
        self.word(1).parse().expect("not a status line")
    }

    pub fn method(&self) -> &str {
        self.word(0)
    }

    pub fn target(&self) -> &str {
        self.word(1)
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }

    /// Field names, lower case.
    pub fn names(&self) -> BTreeSet<String> {
        self.fields
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect()
    }
}

/// A head with its body.
#[derive(Clone, Debug)]
pub struct Message {
    pub head: Head,
    /// The body, without its framing.
    pub body: Vec<u8>,
    /// The body as framed on the wire (chunk lines and trailers included).
    pub wire: Vec<u8>,
}

impl Deref for Message {
    type Target = Head;
    fn deref(&self) -> &Head {
        &self.head
    }
}

impl Message {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Head and framed body, as they were on the wire.
    pub fn raw(&self) -> Vec<u8> {
        [self.head.raw.as_bytes(), &self.wire].concat()
    }
}

/// How a body's end is known.
pub enum Body {
    Length(usize),
    Chunked,
    ToEnd,
}

/// What a server read next from its peer.
pub enum NextRequest {
    Request(Message),
    /// The peer closed between messages.
    Closed,
    /// The peer closed in the middle of this request's body.
    Cut(Head),
}

pub fn body_framing(head: &Head, default: Body) -> Body {
    let chunked = head
        .get("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().ends_with("chunked"));
    match head.get("content-length") {
        _ if chunked => Body::Chunked,
        Some(n) => Body::Length(n.parse().expect("bad content-length")),
        None => default,
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn contains_ignore_case(hay: &[u8], needle: &str) -> bool {
    find(
        &hay.to_ascii_lowercase(),
        needle.to_ascii_lowercase().as_bytes(),
    )
    .is_some()
}

// ---------------------------------------------------------------- wire

/// One byte stream (TCP or TLS) read message by message.
pub struct Wire<S> {
    pub io: S,
    pub buf: Vec<u8>,
}

impl Wire<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> Wire<TcpStream> {
        Wire::new(TcpStream::connect(addr).await.unwrap())
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    pub fn new(io: S) -> Wire<S> {
        Wire {
            io,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
        self.io.flush().await.unwrap();
    }

    /// Reads more; `false` at the end of the stream (or an error).
    pub async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.io.read(&mut chunk).await.unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    pub async fn take(&mut self, n: usize) -> Vec<u8> {
        self.try_take(n).await.expect("the stream ended in a body")
    }

    /// `n` bytes; `None` when the stream ends first.
    async fn try_take(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }

    /// The next line, CRLF included.
    pub async fn line(&mut self) -> Vec<u8> {
        self.try_line().await.expect("the stream ended in a line")
    }

    /// The next line; `None` when the stream ends first.
    async fn try_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(at) = find(&self.buf, b"\r\n") {
                return Some(self.buf.drain(..at + 2).collect());
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next head; `None` when the stream ends first.
    pub async fn head(&mut self) -> Option<Head> {
        loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                return Some(Head::parse(self.buf.drain(..at + 4).collect()));
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// A body and its framed bytes.
    pub async fn body(&mut self, framing: Body) -> (Vec<u8>, Vec<u8>) {
        self.try_body(framing)
            .await
            .expect("the stream ended in a body")
    }

    /// A body and its framed bytes; `None` when the stream ends first.
    pub async fn try_body(&mut self, framing: Body) -> Option<(Vec<u8>, Vec<u8>)> {
        match framing {
            Body::Length(n) => {
                let b = self.try_take(n).await?;
                Some((b.clone(), b))
            }
            Body::Chunked => self.chunked().await,
            Body::ToEnd => {
                while self.fill().await {}
                let b = std::mem::take(&mut self.buf);
                Some((b.clone(), b))
            }
        }
    }

    async fn chunked(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        let (mut body, mut wire) = (Vec::new(), Vec::new());
        loop {
            let line = self.try_line().await?;
            wire.extend_from_slice(&line);
            let size = std::str::from_utf8(&line).unwrap().trim_end();
            let size = size.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).expect("bad chunk size");
            if size == 0 {
                loop {
                    let line = self.try_line().await?;
                    wire.extend_from_slice(&line);
                    if line == b"\r\n" {
                        return Some((body, wire));
                    }
                }
            }
            let data = self.try_take(size + 2).await?;
            assert_eq!(&data[size..], b"\r\n", "chunk data must end with CRLF");
            body.extend_from_slice(&data[..size]);
            wire.extend_from_slice(&data);
        }
    }

    /// The next request (the tool's side); `None` when the proxy closed.
    pub async fn request(&mut self) -> Option<Message> {
        match self.next_request().await {
            NextRequest::Request(m) => Some(m),
            NextRequest::Closed => None,
            NextRequest::Cut(head) => panic!("the stream ended in a body:\n{}", head.raw),
        }
    }

    /// The next request, or how the stream ended.
    pub async fn next_request(&mut self) -> NextRequest {
        let Some(head) = self.head().await else {
            return NextRequest::Closed;
        };
        match self.try_body(body_framing(&head, Body::Length(0))).await {
            Some((body, wire)) => NextRequest::Request(Message { head, body, wire }),
            None => NextRequest::Cut(head),
        }
    }

    /// The next head from the proxy, within [`IO_TIMEOUT`].
    pub async fn next_head(&mut self) -> Head {
        tokio::time::timeout(IO_TIMEOUT, self.head())
            .await
            .expect("the proxy did not answer in time")
            .expect("the proxy closed the connection without an answer")
    }

    /// The next final response; informational ones are skipped.
    pub async fn response(&mut self) -> Message {
        self.read_response(false).await
    }

    /// The response to a `HEAD` request.
    pub async fn head_response(&mut self) -> Message {
        self.read_response(true).await
    }

    /// The next final response; `bodiless` for the answer to `HEAD`.
    pub async fn read_response(&mut self, bodiless: bool) -> Message {
        let head = loop {
            let head = self.next_head().await;
            if head.status() >= 200 {
                break head;
            }
        };
        let framing = match head.status() {
            _ if bodiless => Body::Length(0),
            204 | 304 => Body::Length(0),
            _ => body_framing(&head, Body::ToEnd),
        };
        let (body, wire) = tokio::time::timeout(IO_TIMEOUT, self.body(framing))
            .await
            .expect("the response body did not end in time");
        Message { head, body, wire }
    }

    /// Sends one request and reads its response.
    pub async fn exchange(&mut self, req: &[u8]) -> Message {
        self.send(req).await;
        self.read_response(req.starts_with(b"HEAD ")).await
    }

    /// Everything until the peer closes, within [`IO_TIMEOUT`].
    pub async fn until_close(&mut self) -> Vec<u8> {
        tokio::time::timeout(IO_TIMEOUT, self.body(Body::ToEnd))
            .await
            .expect("the proxy kept the connection open")
            .0
    }

    /// Whether the peer closes the connection within a short while.
    pub async fn closes(&mut self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_millis(500), self.fill()).await,
            Ok(false)
        )
    }
}

// ---------------------------------------------------------------- probe

/// A field whose name tells which server relayed a request (see [`via`]).
pub const PROBE: (&str, &str) = ("X-Probe", "1");

/// Which server relayed a request to the tool, told by the probe field's
/// name: the fast path copies names as the client wrote them, the general
/// server's HTTP library writes them in lower case.
#[derive(Debug, PartialEq, Eq)]
pub enum Via {
    Fast,
    General,
}

pub fn via(req: &Message) -> Via {
    let names: Vec<&str> = req
        .head
        .fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(PROBE.0))
        .map(|(n, _)| n.as_str())
        .collect();
    match names[..] {
        [n] if n == PROBE.0 => Via::Fast,
        [n] if n == PROBE.0.to_ascii_lowercase() => Via::General,
        _ => panic!("the probe field did not arrive once: {names:?}"),
    }
}
