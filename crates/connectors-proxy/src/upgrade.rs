//! HTTP/1.1 protocol upgrades (WebSocket, SPDY for `kubectl exec`): the
//! `Connection: upgrade` and `Upgrade` headers pass through in every mode,
//! and after the tool answers `101 Switching Protocols` the client's and
//! the tool's connections are spliced byte for byte until either closes.
//! Every other hop-by-hop header is still removed.

use crate::conn::ConnState;
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_util::task::TaskTracker;

/// A client's request to switch protocols.
pub(crate) struct Upgrade {
    protocol: HeaderValue,
    client: OnUpgrade,
}

impl Upgrade {
    /// Takes the upgrade from a request whose `Connection` lists `upgrade`
    /// and that names a protocol in `Upgrade`.
    pub(crate) fn take<B>(req: &mut Request<B>) -> Option<Upgrade> {
        if req.version() != http::Version::HTTP_11 || !lists_upgrade(req.headers()) {
            return None;
        }
        let protocol = req.headers().get(UPGRADE)?.clone();
        Some(Upgrade {
            protocol,
            client: hyper::upgrade::on(req),
        })
    }

    /// Asks the tool for the upgrade again (after hop-by-hop stripping).
    pub(crate) fn restore_request(&self, headers: &mut HeaderMap) {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, self.protocol.clone());
    }

    /// When the tool switched protocols, restores the upgrade headers of
    /// the answer (which was stripped of hop-by-hop headers, `upstream_upgrade`
    /// being the tool's `Upgrade` value) and splices both connections.
    pub(crate) fn finish<B>(
        self,
        resp: &mut Response<B>,
        upstream_upgrade: Option<HeaderValue>,
        tasks: &TaskTracker,
        conn: &ConnState,
    ) {
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return;
        }
        let upstream = hyper::upgrade::on(&mut *resp);
        let h = resp.headers_mut();
        h.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(UPGRADE, upstream_upgrade.unwrap_or(self.protocol));
        conn.hand_off();
        let client = self.client;
        tasks.spawn(async move {
            let (client, upstream) = match tokio::try_join!(client, upstream) {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::debug!(error = %e, "protocol upgrade did not complete");
                    return;
                }
            };
            let mut client = TokioIo::new(client);
            let mut upstream = TokioIo::new(upstream);
            if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                tracing::debug!(error = %e, "upgraded connection ended with an error");
            }
        });
    }
}

fn lists_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_upgrades_count() {
        let mut r = Request::builder()
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "websocket")
            .body(())
            .unwrap();
        assert!(Upgrade::take(&mut r).is_some());
        let mut r = Request::builder()
            .header("upgrade", "websocket")
            .body(())
            .unwrap();
        assert!(Upgrade::take(&mut r).is_none());
        let mut r = Request::builder()
            .header("connection", "upgrade")
            .body(())
            .unwrap();
        assert!(Upgrade::take(&mut r).is_none());
    }
}
