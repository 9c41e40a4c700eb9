//! The load generator: N keep-alive HTTP/1.1 connections, one request at a
//! time on each, plain, TLS or through a CONNECT tunnel; and a streamed
//! download that counts bytes.

use crate::stats::LatencySummary;
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How a connection reaches the server that answers the requests.
#[derive(Clone)]
pub enum Transport {
    /// Plain TCP.
    Plain { addr: SocketAddr },
    /// TLS straight to the server.
    Tls {
        addr: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
    },
    /// `CONNECT authority` through a proxy, then TLS inside the tunnel.
    Connect {
        proxy: SocketAddr,
        authority: String,
        proxy_authorization: String,
        tls: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
    },
}

/// One kind of request, sent again and again.
#[derive(Clone)]
pub struct RequestSpec {
    pub transport: Transport,
    /// `Host` header value.
    pub host: String,
    /// Origin-form path and query.
    pub path: String,
    /// Extra headers (e.g. `Authorization`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl RequestSpec {
    /// The same request on another path.
    pub fn with_path(&self, path: &str) -> RequestSpec {
        RequestSpec {
            path: path.to_string(),
            ..self.clone()
        }
    }

    fn request(&self) -> Result<Request<Empty<Bytes>>> {
        let mut b = Request::get(self.path.as_str()).header(HOST, self.host.as_str());
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        Ok(b.body(Empty::new())?)
    }
}

/// A TLS client configuration trusting only `ca_pem`, offering HTTP/1.1.
pub fn tls_client(ca_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &ca_pem[..]) {
        roots
            .add(cert.context("reading a CA certificate")?)
            .context("adding a CA certificate")?;
    }
    if roots.is_empty() {
        bail!("no CERTIFICATE in the CA file");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A connection's byte stream, whatever its transport.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// Opens one connection and returns its request sender (the connection
/// runs on its own task).
pub async fn connect(transport: &Transport) -> Result<SendRequest<Empty<Bytes>>> {
    let (sender, conn) = http1::handshake(TokioIo::new(open(transport).await?)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Opens the transport: TCP, TLS, or TLS inside a CONNECT tunnel.
async fn open(transport: &Transport) -> Result<Box<dyn Io>> {
    match transport {
        Transport::Plain { addr } => {
            let tcp = TcpStream::connect(addr)
                .await
                .with_context(|| format!("connecting to {addr}"))?;
            tcp.set_nodelay(true)?;
            Ok(Box::new(tcp))
        }
        Transport::Tls {
            addr,
            tls,
            server_name,
        } => {
            let tcp = TcpStream::connect(addr)
                .await
                .with_context(|| format!("connecting to {addr}"))?;
            tcp.set_nodelay(true)?;
            let stream = TlsConnector::from(tls.clone())
                .connect(server_name.clone(), tcp)
                .await
                .with_context(|| format!("TLS handshake with {addr}"))?;
            Ok(Box::new(stream))
        }
        Transport::Connect {
            proxy,
            authority,
            proxy_authorization,
            tls,
            server_name,
        } => {
            let mut tcp = TcpStream::connect(proxy)
                .await
                .with_context(|| format!("connecting to the proxy {proxy}"))?;
            tcp.set_nodelay(true)?;
            let head = format!(
                "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nProxy-Authorization: {proxy_authorization}\r\n\r\n"
            );
            tcp.write_all(head.as_bytes()).await?;
            let status = read_connect_response(&mut tcp).await?;
            if status != 200 {
                bail!("CONNECT {authority} through {proxy} answered {status}");
            }
            let stream = TlsConnector::from(tls.clone())
                .connect(server_name.clone(), tcp)
                .await
                .with_context(|| {
                    format!("TLS handshake inside the CONNECT tunnel to {authority}")
                })?;
            Ok(Box::new(stream))
        }
    }
}

/// Reads the proxy's answer to CONNECT up to the blank line (the proxy
/// sends nothing more before the client's TLS hello) and returns its status.
async fn read_connect_response(tcp: &mut TcpStream) -> Result<u16> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            bail!("the proxy closed the connection after CONNECT");
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 16 * 1024 {
            bail!("the proxy's answer to CONNECT has no end of head");
        }
    }
    parse_status_line(&buf)
}

fn parse_status_line(head: &[u8]) -> Result<u16> {
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line after CONNECT: {line:?}"))
}

/// Sends one request and reads the whole response; returns its status and
/// body length.
async fn exchange(
    sender: &mut SendRequest<Empty<Bytes>>,
    spec: &RequestSpec,
) -> Result<(u16, u64)> {
    sender.ready().await?;
    let resp = sender.send_request(spec.request()?).await?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            n += data.len() as u64;
        }
    }
    Ok((status, n))
}

/// One request that must answer 200; returns the body length.
pub async fn check(spec: &RequestSpec) -> Result<u64> {
    let mut sender = connect(&spec.transport).await?;
    let (status, n) = exchange(&mut sender, spec).await?;
    if status != 200 {
        bail!("GET {} answered {status}", spec.path);
    }
    Ok(n)
}

/// The status of one request (for checks that expect a refusal).
pub async fn status_of(spec: &RequestSpec) -> Result<u16> {
    let mut sender = connect(&spec.transport).await?;
    Ok(exchange(&mut sender, spec).await?.0)
}

/// What a load run measured.
#[derive(Clone, Debug)]
pub struct LoadResult {
    pub summary: LatencySummary,
    /// Successful requests including the warm-up (for CPU per request).
    pub total_requests: u64,
    /// Failed requests (non-200 or I/O errors) in the whole run.
    pub errors: u64,
    /// Connections opened again after the server closed one.
    pub reconnects: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

struct WorkerOutcome {
    latencies: Vec<u32>,
    ok: u64,
    errors: u64,
    reconnects: u64,
    first_error: Option<String>,
}

/// Runs `connections` workers for `warmup + duration`, recording the
/// latencies of requests started after the warm-up.
pub async fn run(
    spec: &RequestSpec,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<LoadResult> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let spec = Arc::new(spec.clone());
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        let spec = spec.clone();
        tasks.push(tokio::spawn(async move {
            worker(&spec, measure_from, end).await
        }));
    }
    let mut latencies = Vec::new();
    let (mut errors, mut reconnects, mut first_error) = (0, 0, None);
    let mut total_requests = 0;
    for t in tasks {
        let o = t.await??;
        total_requests += o.ok;
        latencies.extend(o.latencies);
        errors += o.errors;
        reconnects += o.reconnects;
        first_error = first_error.or(o.first_error);
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    if latencies.is_empty() {
        bail!(
            "no request succeeded ({errors} errors): {}",
            first_error.unwrap_or_default()
        );
    }
    Ok(LoadResult {
        summary: LatencySummary::from_micros(latencies, elapsed),
        total_requests,
        errors,
        reconnects,
        first_error,
    })
}

async fn worker(spec: &RequestSpec, measure_from: Instant, end: Instant) -> Result<WorkerOutcome> {
    let mut out = WorkerOutcome {
        latencies: Vec::with_capacity(64 * 1024),
        ok: 0,
        errors: 0,
        reconnects: 0,
        first_error: None,
    };
    let mut sender = connect(&spec.transport).await?;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        match exchange(&mut sender, spec).await {
            Ok((200, _)) => {
                out.ok += 1;
                if t0 >= measure_from {
                    let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                    out.latencies.push(us);
                }
            }
            Ok((status, _)) => {
                out.errors += 1;
                out.first_error
                    .get_or_insert_with(|| format!("GET {} answered {status}", spec.path));
            }
            Err(e) => {
                if sender.is_closed() || !sender.is_ready() {
                    // The server closed a keep-alive connection: open another.
                    out.reconnects += 1;
                    sender = connect(&spec.transport).await?;
                } else {
                    out.errors += 1;
                    out.first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
        if out.errors > 1000 && out.latencies.is_empty() {
            break;
        }
    }
    Ok(out)
}

/// One streamed download: bytes received and seconds taken.
#[derive(Clone, Debug)]
pub struct Download {
    pub bytes: u64,
    pub seconds: f64,
}

impl Download {
    /// Decimal megabytes per second.
    pub fn mb_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }
}

/// Downloads `spec` once over a fresh connection, counting body bytes as
/// they arrive; prints progress to stderr every 256 MiB. The connection
/// is opened before the clock starts.
pub async fn download(spec: &RequestSpec, label: &str, expect: u64) -> Result<Download> {
    // The connection is driven by this task too, as a download tool's one
    // thread would: no hand-over of every chunk between threads.
    // A new connection takes its first request without waiting for it.
    let (mut sender, conn) = http1::handshake(TokioIo::new(open(&spec.transport).await?)).await?;
    let t0 = Instant::now();
    let fetch = async {
        let resp = sender.send_request(spec.request()?).await?;
        if resp.status() != 200 {
            bail!("GET {} answered {}", spec.path, resp.status());
        }
        let mut body = resp.into_body();
        let mut n = 0u64;
        let mut next_report = 256u64 << 20;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                n += data.len() as u64;
                if n >= next_report {
                    eprintln!(
                        "  {label}: {} MiB of {} MiB ({:.1}s)",
                        n >> 20,
                        expect >> 20,
                        t0.elapsed().as_secs_f64()
                    );
                    next_report += 256 << 20;
                }
            }
        }
        Ok(n)
    };
    tokio::pin!(fetch, conn);
    let n = tokio::select! {
        n = &mut fetch => n?,
        // The connection ended first: what it read is still to be taken.
        done = &mut conn => {
            done.context("the connection failed during the download")?;
            fetch.await?
        }
    };
    let seconds = t0.elapsed().as_secs_f64();
    if n != expect {
        bail!("{label}: received {n} bytes, expected {expect}");
    }
    Ok(Download { bytes: n, seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_status_line() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 Connection Established\r\n\r\n").unwrap(),
            200
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.1 407 Proxy Authentication Required\r\nX: y\r\n\r\n")
                .unwrap(),
            407
        );
        assert!(parse_status_line(b"garbage\r\n\r\n").is_err());
    }
}
