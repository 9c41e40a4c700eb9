//! One deadline over the whole opening of a connection to a tool: TCP
//! connect and, for `https`, the TLS handshake. (The TCP connector's own
//! timeout covers only the TCP part, so a tool that accepts and then stays
//! silent would otherwise hold the request until the response timeout.)

use http::Uri;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps a connector; a connection not ready within `limit` fails with an
/// I/O `TimedOut` error.
#[derive(Clone, Debug)]
pub(crate) struct BoundedConnect<C> {
    inner: C,
    limit: Duration,
}

impl<C> BoundedConnect<C> {
    pub(crate) fn new(inner: C, limit: Duration) -> BoundedConnect<C> {
        BoundedConnect { inner, limit }
    }
}

impl<C> Service<Uri> for BoundedConnect<C>
where
    C: Service<Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(r) => r.map_err(Into::into),
                Err(_) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "opening the connection timed out",
                )) as BoxError),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::{pending, ready};

    #[derive(Clone)]
    struct Never;

    impl Service<Uri> for Never {
        type Response = ();
        type Error = std::io::Error;
        type Future = Pin<Box<dyn Future<Output = Result<(), std::io::Error>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, uri: Uri) -> Self::Future {
            if uri.host() == Some("fast") {
                Box::pin(ready(Ok(())))
            } else {
                Box::pin(pending())
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_connections_time_out() {
        let mut c = BoundedConnect::new(Never, Duration::from_millis(300));
        assert!(c.call("http://fast/".parse().unwrap()).await.is_ok());
        let e = c.call("http://slow/".parse().unwrap()).await.unwrap_err();
        let io = e.downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    }
}
