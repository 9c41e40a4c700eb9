//! Congestion control and send queues of loopback connections.
//!
//! A connection whose peer is a loopback address crosses no network: there
//! is no link to share and no queue to keep short. The host's default
//! algorithm may still pace what it sends. BBR does, with a timer per burst
//! when the device has no fair-queue discipline, and loopback has none. On
//! a loopback relay that pacing costs CPU time on every hop and caps its
//! throughput (see the README's performance notes for figures). The
//! proxy's own loopback connections (to clients and to tools on the same
//! machine) therefore use the algorithm of
//! [`crate::ProxyConfig::loopback_congestion`], Reno by default: it never
//! paces, every Linux kernel has it built in, and every process may choose
//! it. Other connections keep the host's choice.
//!
//! Loopback also delivers a connection's segments out of order when they
//! are sent from two CPUs: each CPU's segments wait in that CPU's own
//! backlog. A relay sends from two CPUs whenever it writes more than the
//! congestion window lets out at once: the rest waits in the socket, and
//! the client's acknowledgements, handled on the client's CPU, send it
//! from there while the relay sends the next write from its own. The
//! receiver then takes the reordering for loss, and a loss-based algorithm
//! such as Reno halves its window again and again (in one measured run,
//! 887 retransmitted segments for 5 GiB relayed, all of them spurious).
//! Loopback connections therefore keep at most [`LOOPBACK_NOTSENT_LOWAT`]
//! bytes queued but not yet sent (`TCP_NOTSENT_LOWAT`): a write takes no
//! more than that beyond what can leave at once, and what leaves, leaves
//! from the writer's CPU.

use crate::read_ahead::ReadAhead;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use tower_service::Service;

/// The congestion control of loopback connections when not configured.
pub const DEFAULT_LOOPBACK_CONGESTION: &str = "reno";

/// Unsent bytes a loopback connection may queue (see the module's notes).
pub const LOOPBACK_NOTSENT_LOWAT: u32 = 16 * 1024;

/// Whether `addr` is a loopback address (IPv4-mapped IPv6 included).
fn is_loopback(addr: SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => ip
            .to_ipv4_mapped()
            .map_or(ip.is_loopback(), |v4| v4.is_loopback()),
    }
}

/// When `stream`'s `peer` is a loopback address: sets `algorithm` (`None`:
/// the host's default stays) and the unsent-bytes limit. Failures are
/// logged (at debug level) and otherwise ignored: the connection then
/// keeps the host's defaults.
pub(crate) fn tune(stream: &TcpStream, peer: SocketAddr, algorithm: Option<&str>) {
    if !is_loopback(peer) {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let socket = socket2::SockRef::from(stream);
        if let Err(e) = socket.set_tcp_notsent_lowat(LOOPBACK_NOTSENT_LOWAT) {
            tracing::debug!(error = %e, "the unsent-bytes limit of a loopback connection was left as it was");
        }
        if let Some(algorithm) = algorithm {
            if let Err(e) = socket.set_tcp_congestion(algorithm.as_bytes()) {
                tracing::debug!(algorithm, error = %e, "the congestion control of a loopback connection was left as it was");
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (stream, algorithm);
}

/// Whether this process may give its TCP connections `algorithm` (tried
/// on a fresh socket), so that a name the kernel does not know or will not
/// allow is refused at start instead of being ignored on every connection.
pub fn check_congestion(algorithm: &str) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
        socket.set_tcp_congestion(algorithm.as_bytes())?;
    }
    let _ = algorithm;
    Ok(())
}

/// The upstream TCP connector of the general server, tuning loopback
/// connections as they open; reads go through [`ReadAhead`], which
/// engages only under TLS (see there).
#[derive(Clone)]
pub(crate) struct TunedConnector {
    inner: HttpConnector,
    algorithm: Option<Arc<str>>,
}

impl TunedConnector {
    pub(crate) fn new(inner: HttpConnector, algorithm: Option<&str>) -> TunedConnector {
        TunedConnector {
            inner,
            algorithm: algorithm.map(Arc::from),
        }
    }
}

type Connecting = Pin<
    Box<
        dyn Future<
                Output = Result<
                    TokioIo<ReadAhead<TcpStream>>,
                    <HttpConnector as Service<http::Uri>>::Error,
                >,
            > + Send,
    >,
>;

impl Service<http::Uri> for TunedConnector {
    type Response = TokioIo<ReadAhead<TcpStream>>;
    type Error = <HttpConnector as Service<http::Uri>>::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let algorithm = self.algorithm.clone();
        Box::pin(async move {
            let io = connecting.await?;
            let tcp = io.into_inner();
            if let Ok(peer) = tcp.peer_addr() {
                tune(&tcp, peer, algorithm.as_deref());
            }
            Ok(TokioIo::new(ReadAhead::new(tcp)))
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    fn algorithm(s: &TcpStream) -> String {
        let name = socket2::SockRef::from(s).tcp_congestion().unwrap();
        String::from_utf8_lossy(&name)
            .trim_end_matches('\0')
            .to_string()
    }

    fn notsent_lowat(s: &TcpStream) -> u32 {
        socket2::SockRef::from(s).tcp_notsent_lowat().unwrap()
    }

    #[tokio::test]
    async fn loopback_connections_get_the_algorithm_and_none_keeps_the_hosts() {
        let (client, server) = pair().await;
        let (to_server, to_client) = (client.peer_addr().unwrap(), server.peer_addr().unwrap());
        let host_default = algorithm(&client);
        // The peer decides: an address of another machine changes nothing.
        tune(&server, "10.0.0.1:80".parse().unwrap(), Some("reno"));
        assert_eq!(algorithm(&server), host_default);
        assert_ne!(notsent_lowat(&server), LOOPBACK_NOTSENT_LOWAT);
        // Without an algorithm only the unsent-bytes limit is set.
        tune(&server, to_client, None);
        assert_eq!(algorithm(&server), host_default);
        assert_eq!(notsent_lowat(&server), LOOPBACK_NOTSENT_LOWAT);
        tune(&client, to_server, Some("reno"));
        tune(&server, to_client, Some("reno"));
        assert_eq!(
            (algorithm(&client), algorithm(&server)),
            ("reno".into(), "reno".into())
        );
        // An algorithm the kernel does not have changes nothing.
        tune(&server, to_client, Some("no-such-algorithm"));
        assert_eq!(algorithm(&server), "reno");
    }

    #[test]
    fn unknown_algorithms_are_refused_at_start() {
        check_congestion(DEFAULT_LOOPBACK_CONGESTION).unwrap();
        let e = check_congestion("no-such-algorithm").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
    }

    #[test]
    fn loopback_addresses() {
        for (addr, lo) in [
            ("127.0.0.1:1", true),
            ("127.3.4.5:1", true),
            ("[::1]:1", true),
            ("[::ffff:127.0.0.1]:1", true),
            ("10.0.0.1:1", false),
            ("[::ffff:10.0.0.1]:1", false),
            ("[2001:db8::1]:1", false),
        ] {
            assert_eq!(is_loopback(addr.parse().unwrap()), lo, "{addr}");
        }
    }
}
