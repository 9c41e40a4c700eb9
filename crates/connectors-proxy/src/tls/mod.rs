//! TLS on both sides of an intercepted tunnel: leaf certificates presented
//! to clients ([`leaf`]) and verified connections to tools ([`upstream`]).

pub(crate) mod aes;
pub(crate) mod leaf;
pub(crate) mod upstream;

use crate::read_ahead::ReadAhead;
pub use aes::{AesGcm, AesLib};
use leaf::LeafCache;
use rustls::crypto::CryptoProvider;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

/// The crypto provider of every TLS configuration the proxy builds:
/// aws-lc's, with the AES-GCM of the library [`aes`] chose and
/// AES-128-GCM preferred. AES-128 takes fewer rounds than AES-256. Both AES
/// suites are offered to tools, and chosen for clients (see [`leaf`]),
/// before ChaCha20-Poly1305. Everything else in the process (probes, the
/// standalone process default) stays on ring.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            Arc::new(CryptoProvider {
                cipher_suites: suites(choose_aes(AesGcm::Auto)),
                ..rustls::crypto::aws_lc_rs::default_provider()
            })
        })
        .clone()
}

/// The AES-GCM implementation of the proxy's TLS: `wanted` resolved on
/// the first call (see [`aes`]), and that answer on every later one.
pub(crate) fn choose_aes(wanted: AesGcm) -> AesLib {
    static CHOSEN: OnceLock<AesLib> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let (chosen, figures) = aes::resolve(wanted);
        match figures {
            Some((ring, aws_lc)) => tracing::info!(
                aes_gcm = %chosen,
                ring_gb_per_s = format!("{ring:.1}"),
                aws_lc_gb_per_s = format!("{aws_lc:.1}"),
                "TLS uses the faster AES-GCM of this machine (AES-128-GCM, 16 KiB records)"
            ),
            None => tracing::info!(aes_gcm = %chosen, "TLS uses the AES-GCM named by --tls-aes"),
        }
        chosen
    })
}

/// The cipher suites in the proxy's order, from `lib`.
fn suites(lib: AesLib) -> Vec<rustls::SupportedCipherSuite> {
    macro_rules! ordered {
        ($lib:ident) => {{
            use rustls::crypto::$lib::cipher_suite as s;
            vec![
                s::TLS13_AES_128_GCM_SHA256,
                s::TLS13_AES_256_GCM_SHA384,
                s::TLS13_CHACHA20_POLY1305_SHA256,
                s::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                s::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                s::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                s::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                s::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                s::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            ]
        }};
    }
    match lib {
        AesLib::Ring => ordered!(ring),
        AesLib::AwsLc => ordered!(aws_lc_rs),
    }
}

/// How much encrypted data a TLS stream of the proxy holds before it must
/// be written (rustls' default is 64 KiB). A long body then leaves in
/// writes of up to 16 records, and four times fewer of them end in a short
/// segment, than with the default's 4-record writes.
pub(crate) const SEND_BUFFER: usize = 256 * 1024;

/// Why an intercepted tunnel was closed before any request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AcceptError {
    #[error("the client did not complete a TLS handshake within {0:?}")]
    Timeout(Duration),
    #[error("the client's TLS handshake failed: {0}")]
    Handshake(std::io::Error),
    #[error("the client rejected the proxy's certificate (TLS alert {0:?}): it does not trust the proxy CA")]
    Distrusted(rustls::AlertDescription),
    #[error("the client asked (SNI) for another host than its CONNECT target")]
    SniMismatch,
    #[error("{0}")]
    Leaf(#[from] leaf::LeafError),
}

/// Terminates the client's TLS for the CONNECT host `host` (no brackets),
/// presenting the cached leaf. A client whose SNI names another host is
/// refused. The whole handshake is bounded by `timeout`.
pub(crate) async fn accept<IO>(
    io: IO,
    host: &str,
    leaves: &LeafCache,
    timeout: Duration,
) -> Result<TlsStream<ReadAhead<IO>>, AcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let io = ReadAhead::new(io);
    let handshake = async {
        let start = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io)
            .await
            .map_err(AcceptError::Handshake)?;
        if let Some(sni) = start.client_hello().server_name() {
            if !sni.trim_end_matches('.').eq_ignore_ascii_case(host) {
                return Err(AcceptError::SniMismatch);
            }
        }
        let leaf = leaves.get(host).await?;
        start
            .into_stream(leaf.config.clone())
            .await
            .map_err(handshake_error)
    };
    let mut tls = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| AcceptError::Timeout(timeout))??;
    tls.get_mut().1.set_buffer_limit(Some(SEND_BUFFER));
    Ok(tls)
}

/// A failed handshake, told apart when the client's alert says that it
/// does not trust the certificate (OpenSSL: unknown CA; Go: bad
/// certificate; Java: certificate unknown).
fn handshake_error(e: std::io::Error) -> AcceptError {
    use rustls::AlertDescription as A;
    let alert = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|r| match r {
            rustls::Error::AlertReceived(
                d @ (A::UnknownCA
                | A::BadCertificate
                | A::CertificateUnknown
                | A::UnsupportedCertificate
                | A::CertificateExpired),
            ) => Some(*d),
            _ => None,
        });
    match alert {
        Some(d) => AcceptError::Distrusted(d),
        None => AcceptError::Handshake(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::ProxyCa;
    use rustls::pki_types::CertificateDer;
    use std::io;
    use std::pin::Pin;

    #[test]
    fn both_libraries_offer_the_same_suites_in_the_same_order() {
        let names = |aes| suites(aes).iter().map(|s| s.suite()).collect::<Vec<_>>();
        let ring = names(AesLib::Ring);
        assert_eq!(ring, names(AesLib::AwsLc));
        assert_eq!(ring[0], rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        assert_eq!(ring.len(), 9);
        // Each list's suites come from its own library (equality of
        // suites compares only their names).
        let at = |s: rustls::SupportedCipherSuite| match s {
            rustls::SupportedCipherSuite::Tls13(t) => t as *const _,
            rustls::SupportedCipherSuite::Tls12(_) => std::ptr::null(),
        };
        use rustls::crypto::{aws_lc_rs, ring};
        let first = |aes| at(suites(aes)[0]);
        assert_eq!(
            first(AesLib::Ring),
            at(ring::cipher_suite::TLS13_AES_128_GCM_SHA256)
        );
        assert_eq!(
            first(AesLib::AwsLc),
            at(aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256)
        );
        assert_ne!(first(AesLib::Ring), first(AesLib::AwsLc));
    }
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};

    /// A stream that counts the writes reaching it (each would be one
    /// system call on a socket) and takes vectored writes whole.
    struct Counting {
        inner: tokio::io::DuplexStream,
        writes: Arc<AtomicUsize>,
    }

    impl AsyncRead for Counting {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Counting {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let r = Pin::new(&mut self.inner).poll_write(cx, buf);
            if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
                self.writes.fetch_add(1, Ordering::Relaxed);
            }
            r
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let whole: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            self.poll_write(cx, &whole)
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    #[tokio::test]
    async fn a_long_write_to_a_client_leaves_in_one_piece() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(ProxyCa::load_or_create(dir.path()).unwrap());
        let leaves = LeafCache::new(ca.clone(), 4);
        let (client_end, server_end) = tokio::io::duplex(4 << 20);
        let writes = Arc::new(AtomicUsize::new(0));
        let server = Counting {
            inner: server_end,
            writes: writes.clone(),
        };

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.ca_der().to_vec()))
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from("tool.example").unwrap();
        let (client, server) = tokio::join!(
            connector.connect(name, client_end),
            accept(server, "tool.example", &leaves, Duration::from_secs(5)),
        );
        let (mut client, mut server) = (client.unwrap(), server.unwrap());

        let body = vec![7u8; SEND_BUFFER];
        let before = writes.load(Ordering::Relaxed);
        server.write_all(&body).await.unwrap();
        server.flush().await.unwrap();
        // 16 records in one write; rustls' default buffer would take four.
        assert_eq!(writes.load(Ordering::Relaxed) - before, 1);
        let mut got = vec![0u8; body.len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, body);
    }
}
