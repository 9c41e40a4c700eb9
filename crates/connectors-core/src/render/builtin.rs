//! Files every mount carries besides the class configurations (spec 03 §5.2).

use super::Files;
use connectors_types::Connector;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Names of the built-in files.
pub const BUILTIN_FILE_NAMES: [&str; 8] = [
    ".env",
    "http.proxy",
    "https.proxy",
    "context.token",
    "context.proxy.caCert",
    "ca.crt",
    "ca.cert",
    "connector.status.proxyAddress",
];

/// Characters Go's `url.QueryEscape` leaves alone.
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The forward-proxy URL with embedded credentials:
/// `http://<ns>%2F<name>[,…]:<token>@<proxy-host>`. `None` when the proxy
/// address cannot be parsed.
pub fn forward_proxy_url(
    connectors: &[&Connector],
    token: &str,
    proxy_address: &str,
) -> Option<String> {
    let url = url::Url::parse(proxy_address).ok()?;
    let host = crate::address::authority(&url);
    if host.is_empty() {
        return None;
    }
    let users: Vec<String> = connectors
        .iter()
        .map(|c| {
            let id = format!(
                "{}/{}",
                c.metadata.namespace.as_deref().unwrap_or(""),
                c.metadata.name.as_deref().unwrap_or("")
            );
            utf8_percent_encode(&id, QUERY_ESCAPE).to_string()
        })
        .collect();
    let token = utf8_percent_encode(token, QUERY_ESCAPE).to_string();
    Some(format!(
        "{}://{}:{}@{}",
        url.scheme(),
        users.join(","),
        token,
        host
    ))
}

/// The built-in files for a mount of `connectors` (in mount order). The
/// proxy-derived files use the last Connector's proxy address and are left
/// out when it has none.
pub fn builtin_files(connectors: &[&Connector], token: &str, proxy_ca_pem: &str) -> Files {
    let mut files = Files::new();
    files.insert("context.token".into(), token.as_bytes().to_vec());
    for name in ["context.proxy.caCert", "ca.crt", "ca.cert"] {
        files.insert(name.into(), proxy_ca_pem.as_bytes().to_vec());
    }
    let Some(address) = connectors.last().and_then(|c| c.proxy_address()) else {
        return files;
    };
    files.insert(
        "connector.status.proxyAddress".into(),
        address.as_bytes().to_vec(),
    );
    if let Some(fwd) = forward_proxy_url(connectors, token, address) {
        let no_proxy = "localhost,127.0.0.1";
        let env = format!(
            "http_proxy={fwd}\nhttps_proxy={fwd}\nno_proxy={no_proxy}\nHTTP_PROXY={fwd}\nHTTPS_PROXY={fwd}\nNO_PROXY={no_proxy}\n"
        );
        files.insert(".env".into(), env.into_bytes());
        files.insert("http.proxy".into(), fwd.clone().into_bytes());
        files.insert("https.proxy".into(), fwd.into_bytes());
    }
    files
}
