//! Which mode a request is for (spec 02 §2): `CONNECT` → forward proxy with
//! TLS interception, absolute-form target → forward proxy, origin-form →
//! reverse proxy.

use http::{Method, Request};

/// The proxy mode of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `GET /path`: identify the Connector from path or host.
    Reverse,
    /// `GET http://host/path`: identify from `Proxy-Authorization`.
    Forward,
    /// `CONNECT host:port`: intercept TLS, then forward.
    Connect,
}

pub(crate) fn classify<B>(req: &Request<B>) -> Mode {
    if req.method() == Method::CONNECT {
        Mode::Connect
    } else if req.uri().scheme().is_some() && req.uri().authority().is_some() {
        Mode::Forward
    } else {
        Mode::Reverse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, uri: &str) -> Request<()> {
        Request::builder().method(method).uri(uri).body(()).unwrap()
    }

    #[test]
    fn modes() {
        assert_eq!(classify(&req(Method::GET, "/a?b")), Mode::Reverse);
        assert_eq!(classify(&req(Method::GET, "*")), Mode::Reverse);
        assert_eq!(classify(&req(Method::GET, "http://h/x")), Mode::Forward);
        assert_eq!(classify(&req(Method::CONNECT, "h:443")), Mode::Connect);
    }
}
