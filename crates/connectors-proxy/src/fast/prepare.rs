//! From a client's request head to the head sent to the tool, for the
//! reverse-mode requests the fast path carries: the same checks, in the
//! same order, as [`reverse`](crate::reverse) — identify the Connector,
//! read the token, authenticate, authorise — and the same header rules:
//! hop-by-hop fields, `Host`, every client credential and every field
//! carrying the client's token are dropped; the Connector's `Authorization`
//! is added.
//!
//! Whatever the fast path does not carry (protocol upgrades, `Expect`,
//! HTTP/1.0, absolute-form and CONNECT requests, classes with a token
//! extractor or a credential generator, unusual framing, heads over a
//! limit) is handed to the general server, which answers it as before.

use super::framing::Framing;
use super::upconn::Destination;
use crate::audit::{connector_label, RequestLog};
use crate::auth_cache::TokenHash;
use crate::error::RequestError;
use crate::identify::{identify, Format, Target};
use crate::inject::carries_token;
use crate::reverse::log_upstream;
use crate::route::{Credential, Forward, Route};
use crate::server::ConnCtx;
use crate::token::{self, ClientToken};
use crate::Shared;
use connectors_core::address::join_path;
use http::uri::PathAndQuery;
use http::Method;
use std::sync::Arc;

/// Header fields parsed per request head; more goes to the general server.
const MAX_FIELDS: usize = 64;

/// What to do with one request head.
pub(crate) enum Prepared {
    /// Give the connection, this head included, to the general server.
    HandOff,
    /// Answer with this error; `body` is the request body still to come.
    Refuse {
        log: Box<RequestLog>,
        error: RequestError,
        body: Framing,
        client_close: bool,
    },
    /// Send `head` to the tool.
    Go(Box<Plan>),
}

/// A request ready for the tool.
pub(crate) struct Plan {
    pub(crate) log: Box<RequestLog>,
    pub(crate) dest: Arc<Destination>,
    /// The request head for the tool, ending with the blank line.
    pub(crate) head: Vec<u8>,
    pub(crate) body: Framing,
    /// `HEAD`: the response has no body whatever its fields say.
    pub(crate) head_method: bool,
    /// The client asked to close after this response.
    pub(crate) client_close: bool,
    /// Reverse mode: for rewriting a `Location` from the tool.
    pub(crate) redirect: Option<(Arc<Route>, Redirect)>,
}

/// How the client named the Connector, for `Location` rewriting (the
/// Connector itself is the route's).
pub(crate) struct Redirect {
    pub(crate) format: Format,
    pub(crate) client_host: Option<String>,
    /// Path and query sent to the tool.
    pub(crate) sent: String,
}

/// A parsed request head the fast path can carry.
pub(crate) struct Head<'a> {
    pub(crate) method: Method,
    pub(crate) pq: PathAndQuery,
    pub(crate) fields: &'a [httparse::Header<'a>],
    pub(crate) scan: Scan<'a>,
}

impl Head<'_> {
    /// A log record for this request.
    pub(crate) fn log(
        &self,
        shared: &Shared,
        ctx: &ConnCtx,
        mode: &'static str,
        path: &str,
    ) -> Box<RequestLog> {
        Box::new(RequestLog::new(
            shared.ids.next(),
            shared.telemetry.clone(),
            Some(ctx.state.busy()),
            self.method.clone(),
            mode,
            path,
        ))
    }

    /// Answer with `error`.
    pub(crate) fn refuse(&self, log: Box<RequestLog>, error: RequestError) -> Prepared {
        Prepared::Refuse {
            log,
            error,
            body: self.scan.body,
            client_close: self.scan.close,
        }
    }
}

/// Looks at one complete request head (`head` ends with its blank line);
/// `buffered` bytes of what follows have been read already.
///
/// Only requests whose body is already read whole are carried: the tool
/// may answer before it has read a longer body, and the general server
/// streams both directions at once.
///
/// The decision to hand a request to the general server is made before a
/// log record exists: each request is recorded once, by whoever answers it.
pub(crate) async fn prepare(
    shared: &Shared,
    ctx: &ConnCtx,
    head: &[u8],
    buffered: usize,
    memo: &mut Memo,
) -> Prepared {
    // Left uninitialised: the parser writes the fields it finds.
    let mut fields =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, &mut fields) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Err(e) => return unreadable(shared, ctx, head, e),
        _ => return Prepared::HandOff,
    }
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Prepared::HandOff;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Prepared::HandOff;
    };
    if method == Method::CONNECT || !target.starts_with('/') {
        return Prepared::HandOff;
    }
    let Ok(pq) = PathAndQuery::try_from(target) else {
        return Prepared::HandOff;
    };
    let fields = &*req.headers;
    if fields.len() > shared.limits.max_fields
        || head_bytes(&method, target, fields) > shared.limits.max_bytes
    {
        return Prepared::HandOff;
    }
    let Some(scan) = Scan::of(fields) else {
        return Prepared::HandOff;
    };
    match scan.body {
        Framing::Length(n) if n <= buffered as u64 => {}
        _ => return Prepared::HandOff,
    }
    let head = Head {
        method,
        pq,
        fields,
        scan,
    };
    match &ctx.tunnel {
        None => reverse(shared, ctx, &head, memo).await,
        Some(tunnel) => super::tunnel::plan(shared, ctx, tunnel, &head, memo).await,
    }
}

/// A head the parser refused: answered here unless it only has more
/// fields than the fast path parses (see [`crate::unreadable`]).
fn unreadable(shared: &Shared, ctx: &ConnCtx, head: &[u8], e: httparse::Error) -> Prepared {
    let Some(error) = crate::unreadable::judge(e, head, &shared.limits) else {
        return Prepared::HandOff;
    };
    Prepared::Refuse {
        log: crate::unreadable::log_of(shared, ctx, head),
        error,
        // What follows a head that cannot be read cannot be framed.
        body: Framing::Close,
        client_close: true,
    }
}

/// A reverse-mode request: the Connector named by path or host.
async fn reverse(shared: &Shared, ctx: &ConnCtx, head: &Head<'_>, memo: &mut Memo) -> Prepared {
    let Head {
        method, pq, scan, ..
    } = head;
    let target = match identify(pq.path(), scan.host) {
        Ok(t) => t,
        Err(e) => return head.refuse(head.log(shared, ctx, "reverse", pq.path()), e),
    };
    let route = memo.route(shared, target.namespace, target.name);
    // Unknown Connectors, token extractors and generators: the general path.
    let Some(route) = route else {
        return Prepared::HandOff;
    };
    if runs_policies(&route) {
        return Prepared::HandOff;
    }
    let mut log = head.log(shared, ctx, "reverse", pq.path());
    log.connector = Some(connector_label(target.namespace, target.name));

    let token = match authorized_token(shared, head, &target, memo, &mut log).await {
        Ok(t) => t,
        Err(e) => return head.refuse(log, e),
    };
    log.class = Some(route.class_label.clone());
    let (forward, dest) = match forwarding(&route, memo) {
        Ok(f) => f,
        Err(e) => return head.refuse(log, e),
    };

    let upstream = &forward.upstream;
    let sent = join_path(&upstream.base, target.rest, pq.query());
    let authorization = header_credential(&forward.credential);
    let out = upstream_head(
        head,
        &sent,
        upstream.authority.as_str(),
        &token,
        true,
        authorization,
    );
    log_upstream(&mut log, upstream, &sent);
    let redirect = Redirect {
        format: target.format,
        client_host: scan.host.map(str::to_string),
        sent,
    };
    Prepared::Go(Box::new(Plan {
        log,
        dest,
        head: out,
        body: scan.body,
        head_method: *method == Method::HEAD,
        client_close: scan.close,
        redirect: Some((route, redirect)),
    }))
}

/// The client's token, once it is authenticated (the caller is recorded)
/// and the caller may use the Connector `target` names.
async fn authorized_token(
    shared: &Shared,
    head: &Head<'_>,
    target: &Target<'_>,
    memo: &mut Memo,
    log: &mut RequestLog,
) -> Result<ClientToken, RequestError> {
    let token = match token::from_values(head.scan.authorization(head.fields)) {
        Ok(Some(t)) => t,
        Ok(None) => return Err(RequestError::NoToken),
        Err(e) => return Err(e),
    };
    let hash = memo.hash(&token);
    let caller = shared.auth.authenticate_hashed(hash, &token).await?;
    log.subject = Some(caller.identity.clone());
    shared
        .auth
        .authorize(&caller, target.namespace, target.name, &head.method)
        .await?;
    Ok(token)
}

/// How the route forwards, and where its requests go (with the
/// Connector's CA set for an HTTPS tool), made once per route.
#[inline]
fn forwarding<'r>(
    route: &'r Arc<Route>,
    memo: &mut Memo,
) -> Result<(&'r Forward, Arc<Destination>), RequestError> {
    let forward = route.forward.as_ref().map_err(Clone::clone)?;
    let upstream = &forward.upstream;
    let ca = if upstream.scheme == http::uri::Scheme::HTTPS {
        route.ca.clone()?
    } else {
        None
    };
    let Some(dest) = memo.destination(route, || Destination::of_upstream(upstream, ca)) else {
        return Err(RequestError::UpstreamUnreachable {
            host: upstream.host.clone(),
            reason: "the address has no host or port".into(),
        });
    };
    Ok((forward, dest))
}

/// The `Authorization` value of a credential sent as that header.
#[inline]
pub(crate) fn header_credential(credential: &Credential) -> Option<&[u8]> {
    match credential {
        Credential::Header(v) => Some(v.as_bytes()),
        _ => None,
    }
}

/// What the last request of a connection looked up, for the next one:
/// clients send the same token to the same Connector request after request.
///
/// The token's hash (hashing is the costliest part of an auth cache hit);
/// kept as long as the connection, whose buffers hold the token anyway.
/// The route, while the catalog snapshot it came from is current (any
/// change to any object makes a new generation).
#[derive(Default)]
pub(crate) struct Memo {
    token: Option<(String, TokenHash)>,
    route: Option<(String, String, u64, Arc<Route>)>,
    /// Where the last route's requests go.
    destination: Option<(Arc<Route>, Arc<Destination>)>,
}

impl Memo {
    pub(crate) fn hash(&mut self, token: &ClientToken) -> TokenHash {
        match &self.token {
            Some((t, h)) if t == token.expose() => *h,
            _ => {
                let h = TokenHash::of(token.expose());
                self.token = Some((token.expose().to_string(), h));
                h
            }
        }
    }

    fn route(&mut self, shared: &Shared, namespace: &str, name: &str) -> Option<Arc<Route>> {
        let snap = shared.catalog.snapshot();
        if let Some((ns, n, generation, route)) = &self.route {
            if *generation == snap.generation && ns == namespace && n == name {
                return Some(route.clone());
            }
        }
        let route = shared.routes.lookup(&snap, namespace, name);
        self.route = route
            .clone()
            .map(|r| (namespace.to_string(), name.to_string(), snap.generation, r));
        route
    }

    /// The destination of `route`'s requests, made once per route.
    fn destination(
        &mut self,
        route: &Arc<Route>,
        make: impl FnOnce() -> Option<Destination>,
    ) -> Option<Arc<Destination>> {
        if let Some((r, d)) = &self.destination {
            if Arc::ptr_eq(r, route) {
                return Some(d.clone());
            }
        }
        let d = Arc::new(make()?);
        self.destination = Some((route.clone(), d.clone()));
        Some(d)
    }
}

/// Whether requests for this Connector run class policies (a token
/// extractor or a credential generator): the general server does that.
pub(crate) fn runs_policies(route: &Route) -> bool {
    route.extractor.is_some()
        || matches!(
            route.forward,
            Ok(ref f) if matches!(f.credential, Credential::Generator { .. })
        )
}

/// The size of a head as [`HeadLimits`](crate::limits::HeadLimits)
/// counts it.
fn head_bytes(method: &Method, target: &str, fields: &[httparse::Header<'_>]) -> usize {
    let line = method.as_str().len() + target.len() + 12;
    fields
        .iter()
        .fold(line, |n, f| n + f.name.len() + f.value.len() + 4)
}

/// What the fields of a request head say about framing, connection and
/// the Connector's host.
pub(crate) struct Scan<'b> {
    pub(crate) host: Option<&'b str>,
    pub(crate) body: Framing,
    pub(crate) close: bool,
    /// Field names listed in `Connection`.
    listed: Vec<&'b str>,
}

impl<'b> Scan<'b> {
    /// `None` when the head needs the general server.
    fn of(fields: &[httparse::Header<'b>]) -> Option<Scan<'b>> {
        let mut host = None;
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        let mut listed = Vec::new();
        for f in fields {
            let n = f.name;
            if n.eq_ignore_ascii_case("host") {
                if host.is_some() {
                    return None;
                }
                host = Some(visible_ascii(f.value)?);
            } else if n.eq_ignore_ascii_case("content-length") {
                let v = visible_ascii(f.value)?.trim();
                if length.is_some()
                    || v.is_empty()
                    || v.len() > 18
                    || !v.bytes().all(|b| b.is_ascii_digit())
                {
                    return None;
                }
                length = Some(v.parse::<u64>().ok()?);
            } else if n.eq_ignore_ascii_case("transfer-encoding") {
                if chunked
                    || !visible_ascii(f.value)?
                        .trim()
                        .eq_ignore_ascii_case("chunked")
                {
                    return None;
                }
                chunked = true;
            } else if n.eq_ignore_ascii_case("upgrade") || n.eq_ignore_ascii_case("expect") {
                return None;
            } else if n.eq_ignore_ascii_case("connection") {
                for t in visible_ascii(f.value)?.split(',') {
                    let t = t.trim();
                    if t.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if t.eq_ignore_ascii_case("upgrade") {
                        return None;
                    } else if !t.is_empty() {
                        listed.push(t);
                    }
                }
            }
        }
        let body = match (length, chunked) {
            (Some(_), true) => return None,
            (Some(n), false) => Framing::Length(n),
            (None, true) => Framing::Chunked,
            (None, false) => Framing::Length(0),
        };
        Some(Scan {
            host,
            body,
            close,
            listed,
        })
    }

    pub(crate) fn authorization<'a>(
        &'a self,
        fields: &'a [httparse::Header<'b>],
    ) -> impl Iterator<Item = &'b [u8]> + 'a {
        fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("authorization"))
            .map(|f| f.value)
    }

    /// Whether a client field stays off the upstream request: hop-by-hop
    /// fields, `Host`, framing (written anew), and with `credentials` the
    /// client's credentials.
    fn dropped(&self, name: &str, credentials: bool) -> bool {
        const DROPPED: [&str; 8] = [
            "host",
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "content-length",
        ];
        DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d))
            || starts_with_ignore_case(name, "proxy-")
            || (credentials
                && (name.eq_ignore_ascii_case("authorization")
                    || name.eq_ignore_ascii_case("private-token")))
            || self.listed.iter().any(|l| name.eq_ignore_ascii_case(l))
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// A field value as text when it is visible ASCII (and tabs), as
/// `HeaderValue::to_str` accepts.
fn visible_ascii(v: &[u8]) -> Option<&str> {
    if v.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        std::str::from_utf8(v).ok()
    } else {
        None
    }
}

/// The request head for the tool. `strip_credentials`: every client
/// credential goes (the Connector's replaces it); otherwise only fields
/// carrying the client's token do.
pub(crate) fn upstream_head(
    head: &Head<'_>,
    path_and_query: &str,
    authority: &str,
    token: &ClientToken,
    strip_credentials: bool,
    authorization: Option<&[u8]>,
) -> Vec<u8> {
    let Head {
        method,
        fields,
        scan,
        ..
    } = head;
    let mut h = Vec::with_capacity(
        256 + fields
            .iter()
            .map(|f| f.name.len() + f.value.len() + 4)
            .sum::<usize>(),
    );
    h.extend_from_slice(method.as_str().as_bytes());
    h.push(b' ');
    h.extend_from_slice(path_and_query.as_bytes());
    h.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    h.extend_from_slice(authority.as_bytes());
    h.extend_from_slice(b"\r\n");
    for f in fields.iter() {
        if scan.dropped(f.name, strip_credentials) || carries_token(f.value, token.expose()) {
            continue;
        }
        h.extend_from_slice(f.name.as_bytes());
        h.extend_from_slice(b": ");
        h.extend_from_slice(f.value);
        h.extend_from_slice(b"\r\n");
    }
    if let Some(v) = authorization {
        h.extend_from_slice(b"authorization: ");
        h.extend_from_slice(v);
        h.extend_from_slice(b"\r\n");
    }
    match scan.body {
        Framing::Chunked => h.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Length(n) if n > 0 || has_length(fields) => {
            h.extend_from_slice(b"content-length: ");
            h.extend_from_slice(n.to_string().as_bytes());
            h.extend_from_slice(b"\r\n");
        }
        _ => {}
    }
    h.extend_from_slice(b"\r\n");
    h
}

fn has_length(fields: &[httparse::Header<'_>]) -> bool {
    fields
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case("content-length"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Source;

    fn parse<'b>(
        head: &'b [u8],
        out: &'b mut [httparse::Header<'b>],
    ) -> &'b [httparse::Header<'b>] {
        let mut req = httparse::Request::new(out);
        assert!(req.parse(head).unwrap().is_complete());
        req.headers
    }

    #[test]
    fn upstream_head_drops_credentials_and_hop_by_hop_fields() {
        let head = b"POST /x HTTP/1.1\r\nHost: proxy:80\r\nAuthorization: Bearer tok\r\nX-Mine: Bearer tok\r\nPrivate-Token: p\r\nProxy-Authorization: Basic a\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nContent-Length: 3\r\nAccept: */*\r\n\r\n";
        let mut f = [httparse::EMPTY_HEADER; 32];
        let fields = parse(head, &mut f);
        let scan = Scan::of(fields).unwrap();
        assert_eq!(scan.body, Framing::Length(3));
        assert_eq!(scan.host, Some("proxy:80"));
        let token = ClientToken::new("tok".into(), Source::Bearer);
        let head = Head {
            method: Method::POST,
            pq: PathAndQuery::from_static("/x"),
            fields,
            scan,
        };
        let out = upstream_head(
            &head,
            "/base/x",
            "tool:8080",
            &token,
            true,
            Some(b"Basic c2VjcmV0"),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /base/x HTTP/1.1\r\nhost: tool:8080\r\nAccept: */*\r\nauthorization: Basic c2VjcmV0\r\ncontent-length: 3\r\n\r\n"
        );
    }

    #[test]
    fn unusual_heads_go_to_the_general_server() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            b"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            b"PUT / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"PUT / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
        ] {
            let mut f = [httparse::EMPTY_HEADER; 32];
            let fields = parse(head, &mut f);
            assert!(
                Scan::of(fields).is_none(),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        let mut f = [httparse::EMPTY_HEADER; 32];
        let fields = parse(
            b"PUT / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n",
            &mut f,
        );
        let scan = Scan::of(fields).unwrap();
        assert_eq!((scan.body, scan.close), (Framing::Chunked, true));
    }
}
