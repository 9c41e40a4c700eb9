//! The fast path's connection to the tool: one per client connection,
//! opened on first use and kept while the client's requests go to the same
//! tool (same scheme, authority and trusted CA set), HTTP/1.1 over TCP or
//! TLS. The connect timeout covers TCP and TLS together; TLS is verified
//! against the system roots plus the Connector's CA, as on the general
//! path.

use crate::error::RequestError;
use crate::read_ahead::ReadAhead;
use crate::route::UpstreamTarget;
use crate::target::ForwardTarget;
use crate::tls::upstream::CaSet;
use crate::Shared;
use bytes::BytesMut;
use rustls::pki_types::ServerName;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Where a request goes.
pub(crate) struct Destination {
    pub(crate) https: bool,
    /// Host name, or IP address (IPv6 without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host[:port]` as sent in `Host`.
    pub(crate) authority: String,
    /// `host:port` for messages and logs.
    pub(crate) label: String,
    /// Extra CA certificates trusted for this tool.
    pub(crate) ca: Option<Arc<CaSet>>,
}

impl Destination {
    /// A Connector's `spec.address`.
    pub(crate) fn of_upstream(t: &UpstreamTarget, ca: Option<Arc<CaSet>>) -> Option<Destination> {
        let host = match t.base.host()? {
            url::Host::Domain(d) => d.to_string(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        Some(Destination {
            https: t.scheme == http::uri::Scheme::HTTPS,
            host,
            port: t.base.port_or_known_default()?,
            authority: t.authority.as_str().to_string(),
            label: t.host.clone(),
            ca,
        })
    }

    /// A forward-mode target (in a tunnel: always `https`).
    pub(crate) fn of_forward(t: &ForwardTarget, ca: Option<Arc<CaSet>>) -> Destination {
        Destination {
            https: t.scheme == http::uri::Scheme::HTTPS,
            host: t
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: t.port,
            authority: t.authority.as_str().to_string(),
            label: t.host_port(),
            ca,
        }
    }
}

/// A byte stream to the tool.
pub(crate) enum UpIo {
    Plain(TcpStream),
    Tls(Box<TlsStream<ReadAhead<TcpStream>>>),
}

/// An open connection and what it is for.
pub(crate) struct UpConn {
    pub(crate) io: UpIo,
    /// Bytes read from the tool and not yet used.
    pub(crate) buf: BytesMut,
    /// Requests already answered on this connection.
    pub(crate) served: u64,
    /// When the last request on this connection started.
    pub(crate) last_used: std::time::Instant,
    key: Key,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    https: bool,
    authority: String,
    ca: Option<[u8; 32]>,
}

impl UpConn {
    /// Whether this connection goes where `dest` goes.
    pub(crate) fn serves(&self, dest: &Destination) -> bool {
        self.key.https == dest.https
            && self.key.authority == dest.authority
            && self.key.ca == dest.ca.as_ref().map(|c| c.fingerprint)
    }

    /// Whether the tool has closed this kept connection (or sent bytes
    /// nobody asked for): one non-blocking read.
    pub(crate) async fn closed_meanwhile(&mut self) -> bool {
        let mut probe = [0u8; 1];
        std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut probe);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Pending => Poll::Ready(false),
                Poll::Ready(_) => Poll::Ready(true),
            }
        })
        .await
    }

    /// Opens a connection to `dest`.
    pub(crate) async fn open(shared: &Shared, dest: &Destination) -> Result<UpConn, RequestError> {
        let limit = shared.config.connect_timeout;
        let io = match tokio::time::timeout(limit, open_io(shared, dest)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(RequestError::UpstreamTimeout {
                    host: dest.label.clone(),
                    what: "accept a connection",
                    after: limit,
                })
            }
        };
        Ok(UpConn {
            io,
            buf: BytesMut::with_capacity(8 * 1024),
            served: 0,
            last_used: std::time::Instant::now(),
            key: Key {
                https: dest.https,
                authority: dest.authority.clone(),
                ca: dest.ca.as_ref().map(|c| c.fingerprint),
            },
        })
    }
}

async fn open_io(shared: &Shared, dest: &Destination) -> Result<UpIo, RequestError> {
    let unreachable = |reason: String| RequestError::UpstreamUnreachable {
        host: dest.label.clone(),
        reason,
    };
    let port = dest.port;
    let (addrs, name): (Vec<SocketAddr>, ServerName<'static>) =
        match dest.host.parse::<std::net::IpAddr>() {
            Ok(ip) => (
                vec![SocketAddr::new(ip, port)],
                ServerName::IpAddress(ip.into()),
            ),
            Err(_) => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((dest.host.as_str(), port))
                    .await
                    .map_err(|_| unreachable("its name does not resolve".into()))?
                    .collect();
                let name = ServerName::try_from(dest.host.clone())
                    .map_err(|_| unreachable("its name is not a valid TLS server name".into()))?;
                (addrs, name)
            }
        };
    let mut last: Option<io::Error> = None;
    let mut tcp = None;
    for a in &addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                tcp = Some((s, *a));
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some((tcp, peer)) = tcp else {
        let reason = match last {
            Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                "connection refused".to_string()
            }
            Some(e) => format!("{}", e.kind()),
            None => "its name does not resolve".to_string(),
        };
        return Err(unreachable(reason));
    };
    let _ = tcp.set_nodelay(true);
    crate::loopback::tune(&tcp, peer, shared.config.loopback_congestion.as_deref());
    let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(
        &socket2::TcpKeepalive::new().with_time(std::time::Duration::from_secs(60)),
    );
    if !dest.https {
        return Ok(UpIo::Plain(tcp));
    }
    let connector = tokio_rustls::TlsConnector::from(shared.upstream.tls_http1(dest.ca.as_deref()));
    match connector.connect(name, ReadAhead::new(tcp)).await {
        Ok(mut s) => {
            s.get_mut()
                .1
                .set_buffer_limit(Some(crate::tls::SEND_BUFFER));
            Ok(UpIo::Tls(Box::new(s)))
        }
        Err(e) => {
            let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
            let reason = tls.map_or_else(
                || format!("handshake failed: {}", e.kind()),
                |t| t.to_string(),
            );
            Err(RequestError::upstream_tls(&dest.label, tls, reason))
        }
    }
}

impl UpIo {
    /// Gives back the TLS read-ahead buffer (the connection goes idle).
    pub(crate) fn shed(&mut self) {
        if let UpIo::Tls(s) = self {
            s.get_mut().0.shed();
        }
    }
}

impl AsyncRead for UpIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpIo::Plain(s) => Pin::new(s).poll_flush(cx),
            UpIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
