//! Real clients through the forward proxy of `connectors standalone`, each
//! trusting only the proxy CA: curl (`https_proxy`), pip (`--proxy`), npm
//! (the mounted `npmrc`) and kubectl (the mounted `kubeconfig`), against real
//! HTTPS servers (nginx with a test CA, pypiserver and verdaccio behind it, a
//! fake API server). The Connector's `caCertSecretRef` carries the test CA;
//! the servers' access logs show which credential reached them.

mod common;

use base64::Engine;
use common::{random_hex, text, NS};
use connectors_testkit::http::basic_auth;
use connectors_testkit::kube::{self, FakeApiServer};
use connectors_testkit::npm::{self, Verdaccio};
use connectors_testkit::process::{find_program, output_with_timeout};
use connectors_testkit::pypi::{self, PypiServer};
use connectors_testkit::{NginxTls, Site, Standalone, TestCa};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use tempfile::TempDir;

const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// `    KEY: |` followed by `text` indented for a Secret's `stringData`.
fn block(key: &str, text: &str) -> String {
    let mut s = format!("  {key}: |\n");
    for line in text.lines() {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// A Secret `tool-ca` holding the test CA, for `caCertSecretRef`.
fn ca_secret(ca: &TestCa) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tool-ca\n  namespace: {NS}\ntype: Opaque\nstringData:\n{}",
        block("ca.crt", ca.cert_pem())
    )
}

fn basic_secret(name: &str, user: &str, password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {NS}\ntype: kubernetes.io/basic-auth\nstringData:\n  username: {user}\n  password: {password}\n"
    )
}

fn bearer_secret(name: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {NS}\ntype: connectors.cpaas.io/bearer-token\nstringData:\n  token: {token}\n"
    )
}

/// A Connector with `caCertSecretRef: tool-ca`; `auth` is the YAML of
/// `spec.auth` indented by four spaces.
fn connector(name: &str, class: &str, address: &str, auth: &str) -> String {
    format!(
        "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n  connectorClassName: {class}\n  address: {address}\n  caCertSecretRef:\n    name: tool-ca\n  auth:\n{auth}"
    )
}

/// A Connector that authenticates as alice (`basicAuth`) with the Secret
/// `secret`, which holds her `password`.
#[derive(Default)]
struct AliceConnector<'a> {
    name: &'a str,
    class: &'a str,
    address: &'a str,
    secret: &'a str,
    password: &'a str,
    /// The items of `spec.auth.params` (YAML indented by six spaces), if any.
    params: &'a str,
    /// More arguments for `connectors standalone`.
    extra_args: &'a [&'a str],
}

impl AliceConnector<'_> {
    /// The standalone process with this Connector, trusting `ca` for its
    /// address, once the Connector is Ready.
    fn start(&self, ca: &TestCa) -> Env {
        let mut auth = format!(
            "    name: basicAuth\n    secretRef:\n      name: {}\n",
            self.secret
        );
        if !self.params.is_empty() {
            auth.push_str("    params:\n");
            auth.push_str(self.params);
        }
        let env = Env::start_with(
            &[
                ca_secret(ca),
                basic_secret(self.secret, "alice", self.password),
                connector(self.name, self.class, self.address, &auth),
            ],
            self.extra_args,
        );
        env.wait_ready(self.name);
        env
    }
}

/// The standalone process on a folder with one manifest file.
struct Env {
    _config: TempDir,
    work: TempDir,
    standalone: Standalone,
}

impl Env {
    fn start(manifests: &[String]) -> Env {
        Env::start_with(manifests, &[])
    }

    fn start_with(manifests: &[String], extra_args: &[&str]) -> Env {
        let config = common::manifest_dir(&[("connectors.yaml", &manifests.join("---\n"))]);
        let standalone = common::start_standalone_with(config.path(), extra_args);
        Env {
            _config: config,
            work: common::work_dir("fwd-"),
            standalone,
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        self.standalone.cli_ok(args).unwrap()
    }

    fn wait_ready(&self, name: &str) {
        common::wait_ready(&self.standalone, &[name]);
    }

    fn token(&self) -> String {
        let out = self.cli(&["token", "issue", "--namespace", NS, "--ttl", "30m"]);
        out.trim().to_string()
    }

    /// `<data>/proxy-ca.crt`, the only CA the clients trust.
    fn proxy_ca(&self) -> PathBuf {
        let p = self.standalone.data_dir().join("proxy-ca.crt");
        assert!(p.is_file(), "{} missing", p.display());
        p
    }

    /// `<work>/server-ca.crt`: `ca`, for a client that goes straight to the
    /// server.
    fn server_ca(&self, ca: &TestCa) -> PathBuf {
        let p = self.work.path().join("server-ca.crt");
        std::fs::write(&p, ca.cert_pem()).unwrap();
        p
    }

    /// `127.0.0.1:PORT` of the proxy.
    fn proxy_host(&self) -> String {
        self.standalone
            .proxy_url()
            .trim_start_matches("http://")
            .to_string()
    }

    /// `http://NS%2FNAME:TOKEN@127.0.0.1:PORT`.
    fn proxy_with_auth(&self, name: &str, token: &str) -> String {
        format!("http://{NS}%2F{name}:{token}@{}", self.proxy_host())
    }

    /// `http://127.0.0.1:PORT`: the proxy without credentials.
    fn proxy_without_auth(&self) -> String {
        format!("http://{}", self.proxy_host())
    }

    fn mount(&self, name: &str, configuration: &str) -> PathBuf {
        let out = self.work.path().join(format!("mnt-{configuration}"));
        common::mount(&self.standalone, name, configuration, &out);
        out
    }

    fn dir(&self, name: &str) -> PathBuf {
        let d = self.work.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

/// The token a mount holds (`context.token`).
fn mounted_token(mount: &Path) -> String {
    read_trimmed(&mount.join("context.token"))
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

/// A client's exit status and both of its outputs.
fn output_text(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn assert_success(out: &Output, what: &str) {
    assert!(out.status.success(), "{what}: {}", output_text(out));
}

fn assert_failure(out: &Output, what: &str) {
    assert!(!out.status.success(), "{what}: {}", output_text(out));
}

fn assert_stderr_contains(out: &Output, needle: &str) {
    assert!(text(&out.stderr).contains(needle), "{}", output_text(out));
}

/// The access-log field of a request that carried `user`'s Basic credential.
fn auth_field(user: &str, password: &str) -> String {
    format!("auth=\"{}\"", basic_auth(user, password))
}

fn assert_token_absent(log: &str, token: &str) {
    assert!(!log.contains(token), "the token reached the server:\n{log}");
}

/// The lines of `log` whose request line contains `path`.
fn lines_for<'a>(log: &'a str, path: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.split('"').nth(1).is_some_and(|r| r.contains(path)))
        .collect()
}

/// Every path was requested, and every request for it got 200 and
/// carried `auth` (an access-log `auth="…"` field).
fn assert_fetched_with(log: &str, paths: &[&str], auth: &str) {
    for path in paths {
        let lines = lines_for(log, path);
        assert!(
            !lines.is_empty()
                && lines
                    .iter()
                    .all(|l| l.contains(" 200 ") && l.contains(auth)),
            "{path} not fetched with alice's credential:\n{log}"
        );
    }
}

// ---------------------------------------------------------------------------
// curl
// ---------------------------------------------------------------------------

/// curl with only `vars` in its environment (plus PATH and an empty HOME).
/// Returns (curl's exit code, "%{http_code} %{http_connect}", body).
fn curl(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let home = env.dir("curl-home");
    let body = home.join("body");
    let _ = std::fs::remove_file(&body);
    let mut cmd = Command::new(find_program("curl").unwrap());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .envs(vars.iter().copied())
        .args(["-sS", "--max-time", "30", "-o"])
        .arg(&body)
        .args(["-w", "%{http_code} %{http_connect}"])
        .args(args);
    let out = output_with_timeout(&mut cmd, CLIENT_TIMEOUT).unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(&body).unwrap_or_default(),
    )
}

/// curl through `proxy` (as `https_proxy`), trusting only `proxy_ca`.
fn curl_through(env: &Env, proxy_ca: &Path, proxy: &str, url: &str) -> (i32, String, String) {
    curl(
        env,
        &[("https_proxy", proxy)],
        &["--cacert", proxy_ca.to_str().unwrap(), url],
    )
}

/// curl failed because the proxy answered its CONNECT with 407.
fn assert_connect_refused((rc, codes, _): &(i32, String, String), what: &str) {
    assert_ne!(*rc, 0, "curl succeeded {what}");
    assert!(codes.ends_with(" 407"), "CONNECT answered {codes}");
}

/// nginx answering `hello $remote_user` to alice with `password` (basic
/// auth) on every path but `/`: site 0 over HTTPS with a certificate of `ca`,
/// site 1 plain HTTP on another port.
fn start_echo_nginx(ca: &TestCa, password: &str) -> NginxTls {
    let echo = r#"location = / { return 200 "up\n"; }
    location / {
      auth_basic "echo";
      auth_basic_user_file @DIR@/htpasswd;
      # `return` alone would answer before the access phase checks auth.
      try_files /.none @echo;
    }
    location @echo {
      default_type text/plain;
      return 200 "hello $remote_user\n";
    }"#;
    let nginx = NginxTls::start(ca, &[Site::tls(echo), Site::plain(echo)]).unwrap();
    nginx.add_user("alice", password).unwrap();
    nginx
}

/// `path` was requested once, with `auth` and without proxy credentials.
fn assert_requested_once_with(log: &str, path: &str, auth: &str) {
    let lines = lines_for(log, path);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains(auth), "{log}");
    assert!(lines[0].contains("proxy_auth=\"-\""), "{log}");
}

/// One request reached `/other/x` of site 0 and one reached site 1, and
/// both got 401 without any credential.
fn assert_uncovered_targets_got_no_credentials(nginx: &NginxTls) {
    let log = nginx.access_log();
    let other = lines_for(&log, "/other/x");
    assert_eq!(other.len(), 1, "{log}");
    let port1 = nginx.port(1).to_string();
    let plain: Vec<&str> = log.lines().filter(|l| l.starts_with(&port1)).collect();
    assert_eq!(plain.len(), 1, "{log}");
    for line in other.iter().chain(&plain) {
        assert!(
            line.contains(" 401 auth=\"-\" proxy_auth=\"-\""),
            "credentials reached an uncovered target: {line}"
        );
    }
}

/// The echo nginx (see [`start_echo_nginx`]) and the standalone process
/// (run with `extra_args`) with the git Connector `echo`, whose address is
/// `/api` of the HTTPS site.
struct EchoSetup {
    ca: TestCa,
    password: String,
    nginx: NginxTls,
    address: String,
    env: Env,
}

fn echo_setup(extra_args: &[&str]) -> EchoSetup {
    let ca = TestCa::new("echo test CA").unwrap();
    let password = format!("pw-{}", random_hex(12));
    // Site 0: HTTPS, the Connector's origin; site 1: plain HTTP, another port.
    let nginx = start_echo_nginx(&ca, &password);
    let address = format!("{}/api", nginx.url(0));
    let env = AliceConnector {
        name: "echo",
        class: "git",
        address: &address,
        secret: "echo-creds",
        password: &password,
        params: "      - name: repository\n        value: demo.git\n",
        extra_args,
    }
    .start(&ca);
    EchoSetup {
        ca,
        password,
        nginx,
        address,
        env,
    }
}

#[test]
fn curl_https_proxy_injects_only_under_the_connector_address() {
    let EchoSetup {
        ca,
        password,
        nginx,
        address,
        env,
    } = echo_setup(&[]);
    // The server itself demands credentials (curl trusting its real CA).
    let server_ca = env.server_ca(&ca);
    let direct = format!("{address}/direct");
    let direct_args = ["--cacert", server_ca.to_str().unwrap(), &direct];
    let (rc, codes, _) = curl(&env, &[], &direct_args);
    assert_eq!((rc, codes.as_str()), (0, "401 000"));
    let token = env.token();
    let proxy_ca = env.proxy_ca();
    let with_auth = env.proxy_with_auth("echo", &token);
    let hello = format!("{address}/hello");

    // Covered: the server sees alice's credential, never the token.
    let (rc, codes, body) = curl_through(&env, &proxy_ca, &with_auth, &hello);
    assert_eq!((rc, codes.as_str()), (0, "200 200"), "{body}");
    assert_eq!(body, "hello alice\n");
    let alice = auth_field("alice", &password);
    assert_requested_once_with(&nginx.access_log(), "/api/hello", &alice);

    // No proxy credentials: 407 on CONNECT, nothing reaches the server.
    let before = nginx.access_log().lines().count();
    let no_auth = env.proxy_without_auth();
    let refused = curl_through(&env, &proxy_ca, &no_auth, &hello);
    assert_connect_refused(&refused, "without proxy credentials");
    // A wrong token is refused the same way.
    let forged = env.proxy_with_auth("echo", &format!("{token}x"));
    let refused = curl_through(&env, &proxy_ca, &forged, &hello);
    assert_connect_refused(&refused, "with a wrong token");
    assert_eq!(nginx.access_log().lines().count(), before);

    // The same origin outside the address path: forwarded without credentials.
    let other = format!("{}/other/x", nginx.url(0));
    let (rc, codes, body) = curl_through(&env, &proxy_ca, &with_auth, &other);
    assert_eq!((rc, codes.as_str()), (0, "401 200"), "{body}");
    // Another port (plain HTTP through http_proxy): no credentials either.
    let plain = format!("{}/api/hello", nginx.url(1));
    let (rc, codes, body) = curl(&env, &[("http_proxy", &with_auth)], &[&plain]);
    assert_eq!((rc, codes.as_str()), (0, "401 000"), "{body}");

    assert_uncovered_targets_got_no_credentials(&nginx);
    assert_token_absent(&nginx.access_log(), &token);
    assert!(!env.standalone.log_text().contains(&password));
}

// ---------------------------------------------------------------------------
// CA rotation
// ---------------------------------------------------------------------------

/// curl through the proxy trusting only `trust`, retried for up to 20 s
/// until it gets `want` ("200 200").
fn curl_until(env: &Env, trust: &Path, proxy: &str, url: &str, want: &str) {
    let mut last = (0, String::new(), String::new());
    for _ in 0..100 {
        last = curl_through(env, trust, proxy, url);
        if last.1 == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "curl trusting {} never got {want}: {last:?}",
        trust.display()
    );
}

#[test]
fn curl_trusts_a_rotated_proxy_ca_made_by_openssl_without_a_restart() {
    let EchoSetup {
        password,
        address,
        env,
        nginx: _nginx,
        ca: _ca,
    } = echo_setup(&["--ca-reload-interval", "100ms"]);
    let token = env.token();
    let proxy = env.proxy_with_auth("echo", &token);
    let hello = format!("{address}/hello");
    let first = env.dir("cas").join("first.crt");
    std::fs::copy(env.proxy_ca(), &first).unwrap();
    let (rc, codes, body) = curl_through(&env, &first, &proxy, &hello);
    assert_eq!(
        (rc, codes.as_str(), body.as_str()),
        (0, "200 200", "hello alice\n")
    );
    let pid = env.standalone.pid();

    // The organisation's EC CA: taken while running, the first one is
    // no longer accepted (curl: 60, the certificate cannot be verified).
    let acme = common::openssl_ca(&env.dir("cas"), "Acme Interception CA", "ec", 30);
    common::install_ca(env.standalone.data_dir(), &acme);
    curl_until(&env, &acme.1, &proxy, &hello, "200 200");
    let (rc, _, _) = curl_through(&env, &first, &proxy, &hello);
    assert_eq!(rc, 60, "a client trusting only the replaced CA got through");
    // The proxy says so (curl's alert: unknown CA).
    let refused = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        env.standalone
            .log_text()
            .contains("a client refused the intercepted connection")
    });
    assert!(refused, "{}", env.standalone.log_text());
    // New mounts carry the new CA.
    let mount = env.mount("echo", "gitconfig");
    let acme_pem = std::fs::read_to_string(&acme.1).unwrap();
    assert_eq!(read_trimmed(&mount.join("ca.crt")), acme_pem.trim());
    let metrics =
        connectors_testkit::http::get(&format!("{}/metrics", env.standalone.metrics_url()), &[])
            .unwrap()
            .text();
    let expiry = metrics
        .lines()
        .find_map(|l| l.strip_prefix("connectors_proxy_ca_expiry_timestamp_seconds "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no CA expiry in the metrics:\n{metrics}"));
    let rejections = metrics
        .lines()
        .find_map(|l| l.strip_prefix("connectors_proxy_certificate_rejections_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(rejections >= Some(1), "{metrics}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!((now + 29 * 86_400..=now + 31 * 86_400).contains(&expiry));

    // Then an RSA CA.
    let rsa = common::openssl_ca(&env.dir("cas"), "Acme RSA Interception CA", "rsa", 30);
    common::install_ca(env.standalone.data_dir(), &rsa);
    curl_until(&env, &rsa.1, &proxy, &hello, "200 200");

    // A broken certificate file is reported and changes nothing.
    std::fs::write(env.standalone.data_dir().join("proxy-ca.crt"), "garbage\n").unwrap();
    let log = env.standalone.log_path();
    let reported = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("hold no usable CA")
    });
    assert!(reported, "{}", env.standalone.log_text());
    let (rc, codes, _) = curl_through(&env, &rsa.1, &proxy, &hello);
    assert_eq!((rc, codes.as_str()), (0, "200 200"));

    // `connectors ca rotate` repairs it with a new CA of its own.
    env.cli(&["ca", "rotate"]);
    let pem = env.dir("cas").join("rotated.crt");
    std::fs::write(&pem, env.cli(&["ca", "show", "--pem"])).unwrap();
    curl_until(&env, &pem, &proxy, &hello, "200 200");
    assert_eq!(env.standalone.pid(), pid);
    let log = env.standalone.log_text();
    let changes = log.matches("the proxy CA changed on disk").count();
    assert_eq!(changes, 3, "{log}");
    assert!(!log.contains(&password));
    assert!(!log.contains("PRIVATE KEY"));
}

// ---------------------------------------------------------------------------
// pip
// ---------------------------------------------------------------------------

/// `python -m pip install --no-input … peerdemo` into a fresh target
/// directory with no pip configuration but `args`.
fn pip_install(env: &Env, target: &str, args: &[&str]) -> (Output, PathBuf) {
    let home = env.dir("pip-home");
    let target = env.work.path().join(target);
    let mut cmd = Command::new(pypi::venv_python().unwrap());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .args(["-m", "pip", "install", "--no-input", "--no-cache-dir"])
        .args(["--timeout", "20", "--retries", "0", "--target"])
        .arg(&target)
        .args(args)
        .arg("peerdemo");
    (
        output_with_timeout(&mut cmd, CLIENT_TIMEOUT).unwrap(),
        target,
    )
}

/// [`pip_install`] from `index` through `proxy`, trusting only `proxy_ca`.
fn pip_install_through(
    env: &Env,
    target: &str,
    proxy: &str,
    proxy_ca: &Path,
    index: &str,
) -> (Output, PathBuf) {
    let cert = proxy_ca.to_str().unwrap();
    let args = ["--proxy", proxy, "--cert", cert, "--index-url", index];
    pip_install(env, target, &args)
}

/// pypiserver (alice with `password`) holding `peerdemo` 0.1.0, whose
/// `VALUE` is `value`, behind nginx with a certificate of `ca`.
fn start_pypi_behind_tls(ca: &TestCa, password: &str, value: &str) -> (PypiServer, NginxTls) {
    let pypi = PypiServer::start("alice", password).unwrap();
    pypi.add_wheel("peerdemo", "0.1.0", value).unwrap();
    let front = NginxTls::start(ca, &[Site::tls_reverse_proxy(pypi.port())]).unwrap();
    (pypi, front)
}

#[test]
fn pip_installs_from_pypiserver_behind_tls_through_the_proxy() {
    let password = format!("pw-{}", random_hex(12));
    let value = format!("v{}", random_hex(6));
    let ca = TestCa::new("pypi test CA").unwrap();
    let (_pypi, front) = start_pypi_behind_tls(&ca, &password, &value);
    let address = front.url(0);
    let env = AliceConnector {
        name: "pypi-demo",
        class: "pypi",
        address: &address,
        secret: "pypi-creds",
        password: &password,
        ..Default::default()
    }
    .start(&ca);
    let token = env.token();
    let proxy_ca = env.proxy_ca();
    let index = format!("{address}/simple/");
    let proxy = env.proxy_with_auth("pypi-demo", &token);

    let (out, target) = pip_install_through(&env, "through-proxy", &proxy, &proxy_ca, &index);
    assert_success(&out, "pip through the proxy");
    let installed = std::fs::read_to_string(target.join("peerdemo/__init__.py")).unwrap();
    assert_eq!(installed, format!("VALUE = \"{value}\"\n"));
    let log = front.access_log();
    let wheel = "/packages/peerdemo-0.1.0-py3-none-any.whl";
    let alice = auth_field("alice", &password);
    assert_fetched_with(&log, &["/simple/peerdemo/", wheel], &alice);
    assert_token_absent(&log, &token);

    // Straight to the server (trusting its real CA) the client has no
    // credential: pypiserver answers 401 and pip finds nothing.
    let server_ca = env.server_ca(&ca);
    let before = front.access_log().lines().count();
    let direct_args = ["--cert", server_ca.to_str().unwrap(), "--index-url", &index];
    let (out, target) = pip_install(&env, "direct", &direct_args);
    assert_failure(&out, "pip without the proxy");
    assert!(!target.join("peerdemo").exists());
    let log = front.access_log();
    let direct: Vec<&str> = log.lines().skip(before).collect();
    assert!(
        direct
            .iter()
            .any(|l| l.contains("/simple/peerdemo/") && l.contains(" 401 auth=\"-\"")),
        "{log}"
    );

    // Through the proxy without proxy credentials: refused by the proxy.
    let no_auth = env.proxy_without_auth();
    let (out, _) = pip_install_through(&env, "no-proxy-auth", &no_auth, &proxy_ca, &index);
    assert_failure(&out, "pip without proxy credentials");
    assert_eq!(front.access_log().lines().count(), log.lines().count());
}

// ---------------------------------------------------------------------------
// npm
// ---------------------------------------------------------------------------

/// verdaccio (alice with `password`) holding `peer-demo` 1.0.0, whose
/// `index.js` holds `value`, behind nginx with a certificate of `ca`.
fn start_verdaccio_behind_tls(ca: &TestCa, password: &str, value: &str) -> (Verdaccio, NginxTls) {
    let verdaccio = Verdaccio::start("alice", password).unwrap();
    verdaccio
        .publish("alice", password, "peer-demo", "1.0.0", value)
        .unwrap();
    let front = NginxTls::start(ca, &[Site::tls_reverse_proxy(verdaccio.port())]).unwrap();
    (verdaccio, front)
}

/// `npm install peer-demo@1.0.0` in a fresh project `<work>/PROJECT` with
/// only `userconfig` and the extra CA `ca`.
fn npm_install(env: &Env, project: &str, userconfig: &Path, ca: &Path) -> (Output, PathBuf) {
    let home = env.dir(&format!("{project}-home"));
    let dir = env.dir(project);
    std::fs::write(dir.join("package.json"), r#"{"private":true}"#).unwrap();
    let mut cmd = npm::npm_command(&home).unwrap();
    cmd.current_dir(&dir)
        .env("NODE_EXTRA_CA_CERTS", ca)
        .args(["install", "--no-package-lock", "--no-save", "--userconfig"])
        .arg(userconfig)
        .arg("peer-demo@1.0.0");
    (output_with_timeout(&mut cmd, CLIENT_TIMEOUT).unwrap(), dir)
}

#[test]
fn npm_installs_from_verdaccio_behind_tls_with_the_mounted_npmrc() {
    let password = format!("pw-{}", random_hex(12));
    let value = format!("v{}", random_hex(6));
    let ca = TestCa::new("npm test CA").unwrap();
    let (verdaccio, front) = start_verdaccio_behind_tls(&ca, &password, &value);
    // A host name, not 127.0.0.1: npm's proxy agent verifies the tunnelled
    // certificate of an IP-literal registry against "localhost".
    let address = format!("https://localhost:{}", front.port(0));
    let env = AliceConnector {
        name: "npm-demo",
        class: "npm",
        address: &address,
        secret: "npm-creds",
        password: &password,
        ..Default::default()
    }
    .start(&ca);
    let mount = env.mount("npm-demo", "npmrc");
    let npmrc = mount.join(".npmrc");
    let ca_cert = mount.join("ca.cert");
    let rc = std::fs::read_to_string(&npmrc).unwrap();
    assert!(rc.contains(&format!("registry={address}/")), "{rc}");
    assert!(!rc.contains(&password));
    assert_eq!(read_trimmed(&ca_cert), read_trimmed(&env.proxy_ca()));
    let token = mounted_token(&mount);
    assert!(rc.contains(&token), "{rc}");

    let (out, dir) = npm_install(&env, "with-mount", &npmrc, &ca_cert);
    assert_success(&out, "npm install with the mount");
    let index = std::fs::read_to_string(dir.join("node_modules/peer-demo/index.js")).unwrap();
    assert!(index.contains(&value), "{index}");
    let log = front.access_log();
    let tarball = "/peer-demo/-/peer-demo-1.0.0.tgz";
    let alice = auth_field("alice", &password);
    assert_fetched_with(&log, &["/peer-demo ", tarball], &alice);
    assert_token_absent(&log, &token);
    assert!(
        !log.contains(&basic_auth("user", "password")),
        "the npmrc placeholder reached the server:\n{log}"
    );

    // The registry itself, trusting its real CA, without the mount: E401.
    let server_ca = env.server_ca(&ca);
    let bare = env.work.path().join("bare-npmrc");
    let bare_rc = format!("registry={address}/\naudit=false\nfund=false\n");
    std::fs::write(&bare, bare_rc).unwrap();
    let (out, dir) = npm_install(&env, "without-mount", &bare, &server_ca);
    assert_failure(&out, "npm install without the mount");
    assert!(!dir.join("node_modules/peer-demo").exists());
    assert_stderr_contains(&out, "401");
    assert!(!verdaccio.log_text().contains(&token));
}

// ---------------------------------------------------------------------------
// kubectl
// ---------------------------------------------------------------------------

/// The standalone process with the Ready Connector `k8s-demo` for the API
/// server at `api_url` (certificate of `ca`), holding `sa_token`.
fn start_k8s_connector(ca: &TestCa, api_url: &str, sa_token: &str) -> Env {
    let env = Env::start(&[
        ca_secret(ca),
        bearer_secret("k8s-token", sa_token),
        connector(
            "k8s-demo",
            "k8s",
            api_url,
            "    name: bearerTokenAuth\n    secretRef:\n      name: k8s-token\n",
        ),
    ]);
    env.wait_ready("k8s-demo");
    env
}

/// The requests kubectl sent after the first `skip` lines of the access log:
/// they carry `timeout=` (from --request-timeout), the controller's probes
/// do not.
fn kubectl_requests(api: &FakeApiServer, skip: usize) -> String {
    api.access_log()
        .lines()
        .skip(skip)
        .filter(|l| l.contains("timeout="))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A kubeconfig at `path` for the API server at `server`, trusting `ca`,
/// with the placeholder token `fake-token` and no proxy.
fn write_direct_kubeconfig(path: &Path, server: &str, ca: &TestCa) {
    let ca_b64 = base64::engine::general_purpose::STANDARD.encode(ca.cert_pem());
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca_b64}\ncontexts:\n- name: k\n  context: {{cluster: k, user: k}}\nusers:\n- name: k\n  user:\n    token: fake-token\ncurrent-context: k\n"
        ),
    )
    .unwrap();
}

#[test]
fn kubectl_with_the_mounted_kubeconfig_reaches_the_api_with_the_connector_token() {
    let ca = TestCa::new("kube test CA").unwrap();
    let sa_token = format!("sa-{}", random_hex(16));
    let api = FakeApiServer::start(&ca, &sa_token).unwrap();
    let env = start_k8s_connector(&ca, &api.url(), &sa_token);
    let mount = env.mount("k8s-demo", "kubeconfig");
    let kubeconfig = mount.join("kubeconfig");
    let cfg = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(cfg.contains(&format!("server: {}", api.url())), "{cfg}");
    assert!(cfg.contains(&format!("@{}", env.proxy_host())), "{cfg}");
    assert!(!cfg.contains(&sa_token));
    let token = mounted_token(&mount);
    let home = env.dir("kube-home");
    // The controller's probes came before; only kubectl's requests follow.
    let before = api.access_log().lines().count();

    let out = kube::kubectl(&kubeconfig, &home, &["get", "--raw", "/version"]).unwrap();
    assert_success(&out, "kubectl get --raw /version");
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(version["gitVersion"], kube::GIT_VERSION);
    let get_pods = ["get", "pods", "-n", "default", "-o", "name"];
    let out = kube::kubectl(&kubeconfig, &home, &get_pods).unwrap();
    assert_success(&out, "kubectl get pods");
    let pods = text(&out.stdout);
    assert_eq!(pods.trim(), format!("pod/{}", kube::POD));

    let log = kubectl_requests(&api, before);
    let pods = lines_for(&log, "/api/v1/namespaces/default/pods");
    assert!(!pods.is_empty(), "{log}");
    assert!(!lines_for(&log, "/version").is_empty(), "{log}");
    let bearer = format!("auth=\"Bearer {sa_token}\"");
    for line in log.lines() {
        assert!(
            line.contains(&bearer),
            "a request without the Connector's token: {line}\n{log}"
        );
    }
    assert!(
        !log.contains(&token),
        "the workload token reached the server"
    );
    assert!(
        !log.contains("fake-token"),
        "the placeholder reached the server"
    );

    // The same kubeconfig without the proxy (server CA trusted, placeholder
    // token): the server refuses.
    let direct = env.work.path().join("direct-kubeconfig");
    write_direct_kubeconfig(&direct, &api.url(), &ca);
    let list_pods = ["get", "--raw", "/api/v1/namespaces/default/pods"];
    let out = kube::kubectl(&direct, &home, &list_pods).unwrap();
    assert_failure(&out, "kubectl without the proxy");
    assert_stderr_contains(&out, "Unauthorized");
}
