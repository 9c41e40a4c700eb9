//! A rotated proxy CA is taken without a restart: the CA files under the
//! data directory are replaced while tunnels are open, and clients that
//! trust only the new CA get through, clients that trust only the old one
//! no longer do, and tunnels opened before keep working. Files that cannot
//! be used leave the CA in use in place.

mod support;

use http::StatusCode;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

const BEARER: &str = "cluster-bearer-5c0d";
const TOKEN: &str = "tok-ca-reload-61b7";
const H1: &[&[u8]] = &[b"http/1.1"];
const PERIOD: Duration = Duration::from_millis(20);

/// A CA of an organisation: another subject than the proxy's own CA.
struct ForeignCa {
    key_pem: String,
    cert_pem: String,
    der: Vec<u8>,
}

impl ForeignCa {
    fn new(key: &rcgen::KeyPair, cert: &rcgen::Certificate) -> ForeignCa {
        ForeignCa {
            key_pem: key.serialize_pem(),
            cert_pem: cert.pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// The parameters of an organisation's CA certificate named `common_name`.
fn ca_params(common_name: &str) -> rcgen::CertificateParams {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose};
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.distinguished_name
        .push(DnType::OrganizationName, "Acme Platform Team");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn foreign_ca(common_name: &str) -> ForeignCa {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = ca_params(common_name).self_signed(&key).unwrap();
    ForeignCa::new(&key, &cert)
}

/// Writes `content` to `dir/name` the way a rotation should: a temporary
/// file with its final mode, renamed into place.
fn put(dir: &Path, name: &str, content: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = dir.join(format!(".{name}.new"));
    std::fs::write(&tmp, content).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

struct Env {
    tool: TlsUpstream,
    proxy: RunningProxy,
    replaced: Arc<Mutex<Vec<String>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Env {
    /// The proxy with a Connector for an HTTPS tool, its CA files looked at
    /// every 20 ms.
    async fn start() -> Env {
        let pki = pki();
        let tool = TlsUpstream::start(&pki).await;
        let catalog = MemCatalog::with_classes(&["k8s"]);
        catalog.put_secret(bearer_token_secret("team-a", "kube", BEARER));
        catalog.put_secret(ca_secret("team-a", "tool-ca", &pki.ca_pem));
        let address = format!("https://127.0.0.1:{}", tool.addr.port());
        let c = k8s_connector("team-a", "k8s", &address, Some("kube"));
        catalog.put_connector(with_ca_secret(c, "tool-ca"));
        catalog.add_token(TOKEN, "team-a", "builder");
        let proxy = start_proxy(catalog, test_config()).await;
        let replaced = Arc::new(Mutex::new(Vec::new()));
        let seen = replaced.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(proxy.proxy.clone().watch_ca_files(
            proxy.data_dir().to_path_buf(),
            PERIOD,
            move |ca| seen.lock().unwrap().push(ca.ca_pem().to_string()),
            async move {
                let _ = stopped.await;
            },
        ));
        Env {
            tool,
            proxy,
            replaced,
            _stop: stop,
        }
    }

    fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.tool.addr.port())
    }

    async fn open(&self, trust: &[u8]) -> std::io::Result<Opened> {
        let pa = proxy_auth("team-a/k8s", TOKEN);
        let opts = TunnelOptions {
            proxy_auth: Some(&pa),
            trust,
            alpn: H1,
            server_name: None,
        };
        open_tunnel(self.proxy.addr, &self.authority(), opts).await
    }

    /// A request through a new tunnel trusting only `trust` reaches the
    /// tool with the Connector's credential.
    async fn assert_trusted(&self, trust: &[u8]) {
        let mut t = self.open(trust).await.expect("TLS with the proxy").tunnel();
        let r = t.get(&self.authority(), "/api", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let auth = self.tool.last().headers["authorization"].clone();
        assert_eq!(auth, format!("Bearer {BEARER}").as_str());
    }

    /// The proxy's certificate fails verification against `trust` alone,
    /// and the proxy counts the client's refusal.
    async fn assert_rejected(&self, trust: &[u8]) {
        let before = self.rejections();
        match self.open(trust).await {
            Err(e) => assert!(
                e.to_string().contains("certificate"),
                "not a certificate error: {e}"
            ),
            Ok(_) => panic!("a client trusting only the other CA got through"),
        }
        for _ in 0..100 {
            if self.rejections() == before + 1 {
                return;
            }
            tokio::time::sleep(PERIOD).await;
        }
        panic!("the refusal was not counted");
    }

    /// `connectors_proxy_certificate_rejections_total`.
    fn rejections(&self) -> u64 {
        let text = self.proxy.proxy.metrics_text();
        text.lines()
            .find_map(|l| l.strip_prefix("connectors_proxy_certificate_rejections_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no rejection counter in:\n{text}"))
    }

    fn fingerprint(&self) -> String {
        self.proxy.proxy.ca().fingerprint().to_string()
    }

    /// Waits until the proxy signs with the CA whose DER is `der`.
    async fn wait_for_ca(&self, der: &[u8]) {
        for _ in 0..500 {
            if self.proxy.proxy.ca().ca_der() == der {
                return;
            }
            tokio::time::sleep(PERIOD).await;
        }
        panic!("the proxy did not take the new CA");
    }

    /// Lets the watcher look at the files several times.
    async fn let_it_look(&self) {
        tokio::time::sleep(PERIOD * 15).await;
    }
}

#[tokio::test]
async fn a_rotated_ca_signs_new_tunnels_and_open_ones_keep_theirs() {
    let env = Env::start().await;
    let old = env.proxy.proxy.ca().ca_der().to_vec();
    env.assert_trusted(&old).await;
    let mut before = env.open(&old).await.unwrap().tunnel();

    // The organisation's CA, another subject than the proxy's own.
    let new = foreign_ca("Acme Interception CA");
    let dir = env.proxy.data_dir();
    put(dir, "proxy-ca.key", &new.key_pem, 0o600);
    put(dir, "proxy-ca.crt", &new.cert_pem, 0o644);
    env.wait_for_ca(&new.der).await;

    env.assert_trusted(&new.der).await;
    env.assert_rejected(&old).await;
    let leaf = env.open(&new.der).await.unwrap().tunnel().leaf;
    assert!(
        leaf.windows(b"Acme Interception CA".len())
            .any(|w| w == b"Acme Interception CA"),
        "the leaf does not name the new CA as its issuer"
    );
    // The tunnel opened before the rotation keeps its certificate.
    let r = before.get(&env.authority(), "/still-open", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        *env.replaced.lock().unwrap(),
        vec![new.cert_pem],
        "the new PEM is handed on once"
    );
}

#[tokio::test]
async fn a_key_without_its_certificate_is_not_taken_until_the_pair_matches() {
    let env = Env::start().await;
    let old = env.proxy.proxy.ca().ca_der().to_vec();
    let fingerprint = env.fingerprint();
    let new = foreign_ca("Acme Interception CA 2");
    let dir = env.proxy.data_dir();
    put(dir, "proxy-ca.key", &new.key_pem, 0o600);
    env.let_it_look().await;
    assert_eq!(
        env.fingerprint(),
        fingerprint,
        "a half-written pair was taken"
    );
    env.assert_trusted(&old).await;

    put(dir, "proxy-ca.crt", &new.cert_pem, 0o644);
    env.wait_for_ca(&new.der).await;
    env.assert_trusted(&new.der).await;
}

#[tokio::test]
async fn unusable_files_leave_the_ca_in_use() {
    let env = Env::start().await;
    let old = env.proxy.proxy.ca().ca_der().to_vec();
    let fingerprint = env.fingerprint();
    let dir = env.proxy.data_dir().to_path_buf();

    // Not a certificate.
    put(&dir, "proxy-ca.crt", "not a certificate\n", 0o644);
    env.let_it_look().await;
    assert_eq!(env.fingerprint(), fingerprint);
    env.assert_trusted(&old).await;

    // A certificate that is no CA, with its key.
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let not_ca = rcgen::CertificateParams::new(vec!["host.example".to_string()])
        .unwrap()
        .self_signed(&leaf_key)
        .unwrap();
    put(&dir, "proxy-ca.key", &leaf_key.serialize_pem(), 0o600);
    put(&dir, "proxy-ca.crt", &not_ca.pem(), 0o644);
    env.let_it_look().await;
    assert_eq!(env.fingerprint(), fingerprint);

    // A key that others may read.
    let other = foreign_ca("Acme Interception CA 3");
    put(&dir, "proxy-ca.key", &other.key_pem, 0o644);
    put(&dir, "proxy-ca.crt", &other.cert_pem, 0o644);
    env.let_it_look().await;
    assert_eq!(env.fingerprint(), fingerprint);

    // Both files gone: nothing is created in their place.
    std::fs::remove_file(dir.join("proxy-ca.key")).unwrap();
    std::fs::remove_file(dir.join("proxy-ca.crt")).unwrap();
    env.let_it_look().await;
    assert_eq!(env.fingerprint(), fingerprint);
    assert!(!dir.join("proxy-ca.key").exists());
    env.assert_trusted(&old).await;
    assert!(env.replaced.lock().unwrap().is_empty());

    // Fixing the mode of the readable key is enough for it to be taken.
    put(&dir, "proxy-ca.key", &other.key_pem, 0o644);
    put(&dir, "proxy-ca.crt", &other.cert_pem, 0o644);
    env.let_it_look().await;
    assert_eq!(env.fingerprint(), fingerprint);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("proxy-ca.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    env.wait_for_ca(&other.der).await;
    env.assert_trusted(&other.der).await;
}

/// An organisation's root CA and an intermediate CA it signed (the one
/// given to the proxy).
struct Pkchain {
    root_der: Vec<u8>,
    root_pem: String,
    intermediate: ForeignCa,
}

fn intermediate_under_a_root() -> Pkchain {
    use rcgen::{Issuer, KeyPair};
    let root_key = KeyPair::generate().unwrap();
    let root = ca_params("Acme Root CA").self_signed(&root_key).unwrap();
    let issuer = Issuer::new(ca_params("Acme Root CA"), root_key);
    let key = KeyPair::generate().unwrap();
    let cert = ca_params("Acme Proxy Intermediate CA")
        .signed_by(&key, &issuer)
        .unwrap();
    Pkchain {
        root_der: root.der().to_vec(),
        root_pem: root.pem(),
        intermediate: ForeignCa::new(&key, &cert),
    }
}

#[tokio::test]
async fn an_intermediate_ca_is_presented_with_its_chain_for_clients_that_trust_the_root() {
    let env = Env::start().await;
    let pki = intermediate_under_a_root();
    let dir = env.proxy.data_dir();
    let ca = &pki.intermediate;

    // The intermediate alone: a client trusting only the root cannot
    // build a chain.
    put(dir, "proxy-ca.key", &ca.key_pem, 0o600);
    put(dir, "proxy-ca.crt", &ca.cert_pem, 0o644);
    env.wait_for_ca(&ca.der).await;
    env.assert_trusted(&ca.der).await;
    env.assert_rejected(&pki.root_der).await;

    // With the root after it in the file, leaves come with the chain.
    let chain = format!("{}{}", ca.cert_pem, pki.root_pem);
    put(dir, "proxy-ca.crt", &chain, 0o644);
    for _ in 0..500 {
        if env.replaced.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(PERIOD).await;
    }
    assert_eq!(env.replaced.lock().unwrap().last(), Some(&chain));
    env.assert_trusted(&pki.root_der).await;
    env.assert_trusted(&ca.der).await;
}
