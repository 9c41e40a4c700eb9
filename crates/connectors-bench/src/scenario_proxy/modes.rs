//! The modes of the `proxy` scenario: the route each one's requests take
//! to the upstream, and the requests that follow from it for our load
//! generator, wrk and curl.

use super::peers::{basic_auth, Peers, PLAIN, TLS};
use crate::curl::CurlGet;
use crate::haproxy::Haproxy;
use crate::load::{self, RequestSpec, Transport};
use crate::proxy_process::NAMESPACE;
use anyhow::{bail, Result};
use http::header::{HeaderValue, AUTHORIZATION};
use rustls::pki_types::{IpAddr as PkiIp, ServerName};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every mode's name, in the order the modes run.
const MODE_NAMES: [&str; 8] = [
    "direct",
    "direct-tls",
    "ours-reverse",
    "nginx-anchor",
    "nginx-anchor-tls",
    "ours-forward",
    "haproxy-tcp",
    "haproxy-tls",
];

/// One mode: its name, what it talks to and the request it sends.
pub(super) struct Mode {
    pub(super) name: &'static str,
    pub(super) path: String,
    pub(super) small: RequestSpec,
    pub(super) big: RequestSpec,
    /// `(url, headers)` for wrk, when wrk can do this mode.
    pub(super) wrk: Option<(String, Vec<(String, String)>)>,
    /// The body's download by curl.
    pub(super) curl: CurlGet,
    /// Whether the proxy under test carries this mode's traffic.
    pub(super) ours: bool,
    /// Name of the mode whose p99 is this mode's baseline.
    pub(super) baseline: &'static str,
}

impl Mode {
    /// PID of the proxy or relay between the client and the upstream, if
    /// there is one.
    pub(super) fn middle_pid(&self, peers: &Peers) -> Option<u32> {
        match self.name {
            _ if self.ours => Some(peers.proxy.standalone.pid()),
            "nginx-anchor" | "nginx-anchor-tls" => Some(peers.anchor.pid()),
            "haproxy-tcp" | "haproxy-tls" => peers.relay.as_ref().map(Haproxy::pid),
            _ => None,
        }
    }
}

/// Refuses a `--body-modes` name that is no mode's.
pub(super) fn check_body_modes(body_modes: &[String]) -> Result<()> {
    if let Some(unknown) = body_modes
        .iter()
        .find(|b| !MODE_NAMES.contains(&b.as_str()))
    {
        bail!(
            "--body-modes: no mode is called {unknown:?} (modes: {})",
            MODE_NAMES.join(", ")
        );
    }
    Ok(())
}

/// The modes through `peers`, in the order they run (the haproxy ones
/// when haproxy runs); the CA files curl reads are written into `dir`.
pub(super) fn build(dir: &Path, peers: &Peers) -> Result<Vec<Mode>> {
    let proxy = peers.proxy.addr()?;
    let clients = Clients {
        proxy_ca: load::tls_client(&peers.proxy.ca_pem()?)?,
        upstream_ca: load::tls_client(peers.upstream_ca_pem.as_bytes())?,
        upstream_ca_file: dir.join("upstream-ca.pem"),
        proxy_ca_file: dir.join("proxy-ca.pem"),
        proxy_user: format!("{NAMESPACE}/{TLS}:{}", peers.proxy.token),
    };
    std::fs::write(&clients.upstream_ca_file, &peers.upstream_ca_pem)?;
    std::fs::write(&clients.proxy_ca_file, peers.proxy.ca_pem()?)?;

    let modes = routes(&clients, peers, proxy)
        .into_iter()
        .map(|r| clients.mode(r))
        .collect::<Result<Vec<Mode>>>()?;
    debug_assert!(modes.iter().all(|m| MODE_NAMES.contains(&m.name)));
    Ok(modes)
}

/// The route of every mode, in the order the modes run; our proxy listens
/// on `proxy`.
fn routes(clients: &Clients, peers: &Peers, proxy: SocketAddr) -> Vec<Route> {
    let upstream = loopback(peers.upstream.port);
    let tls = loopback(peers.upstream.tls_port);
    let anchor = loopback(peers.anchor.port);
    let anchor_tls = loopback(peers.anchor.tls_port);
    let basic = peers.basic.as_str();
    let mut routes = vec![
        Route::new("direct", plain(upstream))
            .path(format!("client -> nginx {upstream}"))
            .auth(basic)
            .wrk(),
        Route::new("direct-tls", clients.tls(tls))
            .path(format!("client -TLS-> nginx {tls}"))
            .auth(basic),
        Route::new("ours-reverse", plain(proxy))
            .path(format!("client -> connectors {proxy} -> nginx"))
            .prefix(&format!("/namespaces/{NAMESPACE}/connectors/{PLAIN}"))
            .auth(&format!("Bearer {}", peers.proxy.token))
            .wrk()
            .ours(),
        Route::new("nginx-anchor", plain(anchor))
            .path(format!("client -> nginx proxy {anchor} -> nginx"))
            .wrk(),
        Route::new("nginx-anchor-tls", clients.tls(anchor_tls)).path(format!(
            "client -TLS-> nginx proxy {anchor_tls} -TLS-> nginx"
        )),
        Route::new("ours-forward", clients.connect(proxy, tls))
            .path(format!(
                "client -CONNECT+TLS-> connectors -TLS-> nginx {tls}"
            ))
            .ours(),
    ];
    if let Some(relay) = &peers.relay {
        let relay_plain = loopback(relay.port);
        let relay_tls = loopback(relay.tls_port);
        routes.extend([
            Route::new("haproxy-tcp", plain(relay_plain))
                .path(format!(
                    "client -> haproxy {relay_plain} (TCP, splice) -> nginx"
                ))
                .auth(basic),
            Route::new("haproxy-tls", clients.tls(relay_tls))
                .path(format!(
                    "client -TLS-> haproxy {relay_tls} (TCP) -TLS-> nginx"
                ))
                .auth(basic),
        ]);
    }
    routes
}

/// How a mode's requests reach nginx; the mode follows from it.
struct Route {
    name: &'static str,
    /// What the client talks to, for the report.
    path: String,
    transport: Transport,
    /// The path before `/small` and `/big.bin`.
    prefix: String,
    /// The `Authorization` value of every request.
    auth: Option<String>,
    /// Whether wrk cross-checks this mode.
    wrk: bool,
    /// Whether the proxy under test carries the requests.
    ours: bool,
}

impl Route {
    /// The route of mode `name` over `transport`, with no prefix and no
    /// `Authorization`.
    fn new(name: &'static str, transport: Transport) -> Route {
        Route {
            name,
            path: String::new(),
            transport,
            prefix: String::new(),
            auth: None,
            wrk: false,
            ours: false,
        }
    }

    fn path(self, path: String) -> Route {
        Route { path, ..self }
    }

    fn prefix(self, prefix: &str) -> Route {
        let prefix = prefix.to_string();
        Route { prefix, ..self }
    }

    fn auth(self, value: &str) -> Route {
        let auth = Some(value.to_string());
        Route { auth, ..self }
    }

    fn wrk(self) -> Route {
        Route { wrk: true, ..self }
    }

    fn ours(self) -> Route {
        Route { ours: true, ..self }
    }
}

/// What the modes' clients trust, and the credentials of our forward proxy.
struct Clients {
    /// TLS client trusting the upstream's CA (nginx and haproxy show the
    /// upstream's certificate).
    upstream_ca: Arc<rustls::ClientConfig>,
    /// TLS client trusting our proxy's CA (the leaves of CONNECT).
    proxy_ca: Arc<rustls::ClientConfig>,
    /// The same CAs as files, for curl.
    upstream_ca_file: PathBuf,
    proxy_ca_file: PathBuf,
    /// `user:password` of our forward proxy's Basic auth.
    proxy_user: String,
}

impl Clients {
    /// TLS to `addr`, trusting the upstream's CA.
    fn tls(&self, addr: SocketAddr) -> Transport {
        Transport::Tls {
            addr,
            tls: self.upstream_ca.clone(),
            server_name: ip_name(),
        }
    }

    /// Our forward proxy at `proxy`, asked to CONNECT to `authority`,
    /// whose TLS it intercepts.
    fn connect(&self, proxy: SocketAddr, authority: SocketAddr) -> Transport {
        Transport::Connect {
            proxy,
            authority: authority.to_string(),
            proxy_authorization: basic_auth(&self.proxy_user),
            tls: self.proxy_ca.clone(),
            server_name: ip_name(),
        }
    }

    /// The mode that takes `route`. Its baseline is nginx itself over the
    /// same kind of client connection: `direct` for plain, `direct-tls`
    /// for TLS (straight or in a CONNECT tunnel).
    fn mode(&self, route: Route) -> Result<Mode> {
        let Route {
            name,
            path,
            transport,
            prefix,
            auth,
            wrk,
            ours,
        } = route;
        let (scheme, host, baseline) = match &transport {
            Transport::Plain { addr } => ("http", addr.to_string(), "direct"),
            Transport::Tls { addr, .. } => ("https", addr.to_string(), "direct-tls"),
            Transport::Connect { authority, .. } => ("https", authority.clone(), "direct-tls"),
        };
        let url = |file: &str| format!("{scheme}://{host}{prefix}/{file}");
        let small = RequestSpec {
            host: host.clone(),
            path: format!("{prefix}/small"),
            headers: match &auth {
                Some(a) => vec![(AUTHORIZATION, HeaderValue::from_str(a)?)],
                None => Vec::new(),
            },
            transport,
        };
        let wrk_headers = auth
            .iter()
            .map(|a| ("Authorization".to_string(), a.clone()));
        Ok(Mode {
            name,
            path,
            big: small.with_path(&format!("{prefix}/big.bin")),
            wrk: wrk.then(|| (url("small"), wrk_headers.collect())),
            curl: self.curl(&small.transport, url("big.bin"), auth.as_deref()),
            small,
            ours,
            baseline,
        })
    }

    /// curl's download of `url` over `transport`, sending `auth`.
    fn curl(&self, transport: &Transport, url: String, auth: Option<&str>) -> CurlGet {
        let (cacert, proxy) = match transport {
            Transport::Plain { .. } => (None, None),
            Transport::Tls { .. } => (Some(&self.upstream_ca_file), None),
            Transport::Connect { proxy, .. } => (
                Some(&self.proxy_ca_file),
                Some((format!("http://{proxy}"), self.proxy_user.clone())),
            ),
        };
        CurlGet {
            url,
            headers: auth
                .map(|a| format!("Authorization: {a}"))
                .into_iter()
                .collect(),
            cacert: cacert.cloned(),
            proxy,
        }
    }
}

fn plain(addr: SocketAddr) -> Transport {
    Transport::Plain { addr }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn ip_name() -> ServerName<'static> {
    ServerName::IpAddress(PkiIp::from(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST)))
}
