//! A tiny blocking HTTP/1.1 client for plain `http://` URLs (one request per
//! connection), enough for probing test servers.

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A response read to its end.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names (as sent) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("body is not JSON (status {}): {}", self.status, self.text()))
    }
}

/// `Basic base64(user:password)`, the value of an Authorization header.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// GET `url` with extra headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse> {
    request("GET", url, headers, &[])
}

/// Sends one request and reads the whole response.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse> {
    let target = Target::parse(url)?;
    let addr = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", target.host))?
        .next()
        .ok_or_else(|| anyhow!("{} resolves to no address", target.host))?;
    let mut stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;

    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: connectors-testkit\r\n",
        target.path, target.authority
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;

    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the response of {method} {url}"))?;
    parse_response(&raw, method == "HEAD").with_context(|| format!("{method} {url}"))
}

/// Polls `url` until it answers 200, or fails after `timeout` with the last
/// answer or connection error.
pub fn wait_for_http(url: &str, timeout: Duration) -> Result<()> {
    wait_for_status(url, &[], 200, timeout)
}

/// Polls `url` (with `headers`) until it answers `status`.
pub fn wait_for_status(
    url: &str,
    headers: &[(&str, &str)],
    status: u16,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match get(url, headers) {
            Ok(r) if r.status == status => return Ok(()),
            Ok(r) => format!("status {}: {}", r.status, r.text()),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{url} did not answer {status} within {timeout:?}; last: {last}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Target {
    host: String,
    port: u16,
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("only http:// URLs are supported, got {url}"))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            bail!("user info in URLs is not supported; pass an Authorization header");
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (h, p.parse().with_context(|| format!("bad port in {url}"))?)
            }
            _ => (authority, 80),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Target {
            host,
            port,
            authority: authority.to_string(),
            path,
        })
    }
}

fn parse_response(raw: &[u8], head_only: bool) -> Result<HttpResponse> {
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| {
        anyhow!(
            "incomplete response ({} bytes): {}",
            raw.len(),
            String::from_utf8_lossy(raw)
        )
    })?;
    let head = std::str::from_utf8(&raw[..end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or_else(|| anyhow!("truncated chunk size"))?;
        let size_text = std::str::from_utf8(&data[..line_end])?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(response: &'static [u8]) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/p?q=1", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let mut req = Vec::new();
            while find(&req, b"\r\n\r\n").is_none() {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(response).unwrap();
            String::from_utf8(req).unwrap()
        });
        (url, handle)
    }

    #[test]
    fn reads_plain_and_chunked_bodies_and_sends_headers() {
        let (url, h) =
            serve_once(b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello");
        let r = get(&url, &[("Private-Token", "t")]).unwrap();
        let req = h.join().unwrap();
        assert!(req.starts_with("GET /p?q=1 HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("\r\nPrivate-Token: t\r\n"), "{req}");
        assert_eq!(r.status, 201);
        assert_eq!(r.header("x-a"), Some("b"));
        assert_eq!(r.text(), "hello");

        let (url, h) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        );
        let r = get(&url, &[]).unwrap();
        h.join().unwrap();
        assert_eq!(r.text(), "abcde");
    }

    #[test]
    fn wait_for_http_gives_up_with_the_last_error() {
        let port = crate::ports::free_port();
        let err = wait_for_http(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(err.to_string().contains("did not answer 200"), "{err:#}");
    }

    #[test]
    fn basic_auth_encodes_user_and_password() {
        assert_eq!(basic_auth("", "tok"), "Basic OnRvaw==");
        assert_eq!(basic_auth("alice", "s3cret"), "Basic YWxpY2U6czNjcmV0");
    }
}
