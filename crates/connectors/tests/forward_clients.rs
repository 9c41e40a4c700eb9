//! Real clients through the forward proxy of `connectors standalone`, each
//! trusting only the proxy CA: curl (`https_proxy`), pip (`--proxy`), npm
//! (the mounted `npmrc`) and kubectl (the mounted `kubeconfig`), against real
//! HTTPS servers (nginx with a test CA, pypiserver and verdaccio behind it, a
//! fake API server). The Connector's `caCertSecretRef` carries the test CA;
//! the servers' access logs show which credential reached them.

use base64::Engine;
use connectors_testkit::http::basic_auth;
use connectors_testkit::kube::{self, FakeApiServer};
use connectors_testkit::npm::{self, Verdaccio};
use connectors_testkit::process::{find_program, output_with_timeout};
use connectors_testkit::pypi::{self, PypiServer};
use connectors_testkit::{NginxTls, Site, Standalone, StandaloneOptions, TestCa};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_connectors");
const NS: &str = "team-a";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut buf)
        .unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

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

/// A Connector with `caCertSecretRef: tool-ca`; `auth` is the YAML of
/// `spec.auth` indented by four spaces.
fn connector(name: &str, class: &str, address: &str, auth: &str) -> String {
    format!(
        "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n  connectorClassName: {class}\n  address: {address}\n  caCertSecretRef:\n    name: tool-ca\n  auth:\n{auth}"
    )
}

/// The standalone process on a folder with one manifest file.
struct Env {
    _config: TempDir,
    work: TempDir,
    standalone: Standalone,
}

impl Env {
    fn start(manifests: &[String]) -> Env {
        let config = tempfile::Builder::new()
            .prefix("manifests-")
            .tempdir()
            .unwrap();
        std::fs::write(
            config.path().join("connectors.yaml"),
            manifests.join("---\n"),
        )
        .unwrap();
        let standalone = Standalone::start_with(
            BIN,
            config.path(),
            StandaloneOptions {
                probe_interval: Some("1h".into()),
                ..Default::default()
            },
        )
        .unwrap();
        Env {
            _config: config,
            work: tempfile::Builder::new().prefix("fwd-").tempdir().unwrap(),
            standalone,
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        self.standalone.cli_ok(args).unwrap()
    }

    fn wait_ready(&self, name: &str) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let out = self.cli(&["get", "connectors", "-n", NS, "-o", "json"]);
            let items: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
            let ready = items.iter().any(|c| {
                c["metadata"]["name"] == name
                    && c["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|x| x["type"] == "Ready" && x["status"] == "True")
                    })
            });
            if ready {
                return;
            }
            if Instant::now() > deadline {
                let describe = self
                    .standalone
                    .run_cli(&["describe", "connector", &format!("{NS}/{name}")])
                    .unwrap();
                panic!(
                    "Connector {name} not Ready after {READY_TIMEOUT:?}\n{}{}\nlog:\n{}",
                    String::from_utf8_lossy(&describe.stdout),
                    String::from_utf8_lossy(&describe.stderr),
                    self.standalone.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
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

    fn mount(&self, name: &str, configuration: &str) -> PathBuf {
        let out = self.work.path().join(format!("mnt-{configuration}"));
        self.cli(&[
            "mount",
            &format!("{NS}/{name}"),
            "--configuration",
            configuration,
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    }

    fn dir(&self, name: &str) -> PathBuf {
        let d = self.work.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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

#[test]
fn curl_https_proxy_injects_only_under_the_connector_address() {
    let ca = TestCa::new("curl test CA").unwrap();
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
    // Site 0: HTTPS, the Connector's origin; site 1: plain HTTP, another port.
    let nginx = NginxTls::start(&ca, &[Site::tls(echo), Site::plain(echo)]).unwrap();
    let password = format!("pw-{}", random_hex(12));
    nginx.add_user("alice", &password).unwrap();
    let address = format!("{}/api", nginx.url(0));
    let env = Env::start(&[
        ca_secret(&ca),
        basic_secret("echo-creds", "alice", &password),
        connector(
            "echo",
            "git",
            &address,
            "    name: basicAuth\n    secretRef:\n      name: echo-creds\n    params:\n      - name: repository\n        value: demo.git\n",
        ),
    ]);
    env.wait_ready("echo");
    // The server itself demands credentials (curl trusting its real CA).
    let server_ca = env.work.path().join("server-ca.crt");
    std::fs::write(&server_ca, ca.cert_pem()).unwrap();
    let (rc, codes, _) = curl(
        &env,
        &[],
        &[
            "--cacert",
            server_ca.to_str().unwrap(),
            &format!("{address}/direct"),
        ],
    );
    assert_eq!((rc, codes.as_str()), (0, "401 000"));
    let token = env.token();
    let proxy_ca = env.proxy_ca();
    let proxy_ca = proxy_ca.to_str().unwrap();
    let with_auth = env.proxy_with_auth("echo", &token);

    // Covered: the server sees alice's credential, never the token.
    let (rc, codes, body) = curl(
        &env,
        &[("https_proxy", &with_auth)],
        &["--cacert", proxy_ca, &format!("{address}/hello")],
    );
    assert_eq!((rc, codes.as_str()), (0, "200 200"), "{body}");
    assert_eq!(body, "hello alice\n");
    let log = nginx.access_log();
    let hello = lines_for(&log, "/api/hello");
    assert_eq!(hello.len(), 1, "{log}");
    assert!(
        hello[0].contains(&format!("auth=\"{}\"", basic_auth("alice", &password))),
        "{log}"
    );
    assert!(hello[0].contains("proxy_auth=\"-\""), "{log}");

    // No proxy credentials: 407 on CONNECT, nothing reaches the server.
    let before = nginx.access_log().lines().count();
    let no_auth = format!("http://{}", env.proxy_host());
    let (rc, codes, _) = curl(
        &env,
        &[("https_proxy", &no_auth)],
        &["--cacert", proxy_ca, &format!("{address}/hello")],
    );
    assert_ne!(rc, 0, "curl succeeded without proxy credentials");
    assert!(codes.ends_with(" 407"), "CONNECT answered {codes}");
    // A wrong token is refused the same way.
    let forged = env.proxy_with_auth("echo", &format!("{token}x"));
    let (rc, codes, _) = curl(
        &env,
        &[("https_proxy", &forged)],
        &["--cacert", proxy_ca, &format!("{address}/hello")],
    );
    assert_ne!(rc, 0);
    assert!(codes.ends_with(" 407"), "CONNECT answered {codes}");
    assert_eq!(nginx.access_log().lines().count(), before);

    // The same origin outside the address path: forwarded without credentials.
    let (rc, codes, body) = curl(
        &env,
        &[("https_proxy", &with_auth)],
        &["--cacert", proxy_ca, &format!("{}/other/x", nginx.url(0))],
    );
    assert_eq!((rc, codes.as_str()), (0, "401 200"), "{body}");
    // Another port (plain HTTP through http_proxy): no credentials either.
    let (rc, codes, body) = curl(
        &env,
        &[("http_proxy", &with_auth)],
        &[&format!("{}/api/hello", nginx.url(1))],
    );
    assert_eq!((rc, codes.as_str()), (0, "401 000"), "{body}");

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
    assert!(
        !log.contains(&token),
        "the token reached the server:\n{log}"
    );
    assert!(!env.standalone.log_text().contains(&password));
}

// ---------------------------------------------------------------------------
// pip
// ---------------------------------------------------------------------------

/// `python -m pip install --no-input … PKG` into a fresh target directory
/// with no pip configuration but `args`.
fn pip_install(env: &Env, target: &str, args: &[&str], pkg: &str) -> (Output, PathBuf) {
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
        .arg(pkg);
    (
        output_with_timeout(&mut cmd, CLIENT_TIMEOUT).unwrap(),
        target,
    )
}

#[test]
fn pip_installs_from_pypiserver_behind_tls_through_the_proxy() {
    let password = format!("pw-{}", random_hex(12));
    let pypi = PypiServer::start("alice", &password).unwrap();
    let value = format!("v{}", random_hex(6));
    pypi.add_wheel("peerdemo", "0.1.0", &value).unwrap();
    let ca = TestCa::new("pypi test CA").unwrap();
    let front = NginxTls::start(&ca, &[Site::tls_reverse_proxy(pypi.port())]).unwrap();
    let address = front.url(0);
    let env = Env::start(&[
        ca_secret(&ca),
        basic_secret("pypi-creds", "alice", &password),
        connector(
            "pypi-demo",
            "pypi",
            &address,
            "    name: basicAuth\n    secretRef:\n      name: pypi-creds\n",
        ),
    ]);
    env.wait_ready("pypi-demo");
    let token = env.token();
    let proxy_ca = env.proxy_ca();
    let proxy_ca = proxy_ca.to_str().unwrap();
    let index = format!("{address}/simple/");
    let proxy = env.proxy_with_auth("pypi-demo", &token);

    let (out, target) = pip_install(
        &env,
        "through-proxy",
        &["--proxy", &proxy, "--cert", proxy_ca, "--index-url", &index],
        "peerdemo",
    );
    assert!(
        out.status.success(),
        "pip through the proxy: {}",
        text(&out)
    );
    let installed = std::fs::read_to_string(target.join("peerdemo/__init__.py")).unwrap();
    assert_eq!(installed, format!("VALUE = \"{value}\"\n"));
    let log = front.access_log();
    let alice = format!("auth=\"{}\"", basic_auth("alice", &password));
    assert_fetched_with(
        &log,
        &[
            "/simple/peerdemo/",
            "/packages/peerdemo-0.1.0-py3-none-any.whl",
        ],
        &alice,
    );
    assert!(
        !log.contains(&token),
        "the token reached the server:\n{log}"
    );

    // Straight to the server (trusting its real CA) the client has no
    // credential: pypiserver answers 401 and pip finds nothing.
    let server_ca = env.work.path().join("server-ca.crt");
    std::fs::write(&server_ca, ca.cert_pem()).unwrap();
    let before = front.access_log().lines().count();
    let (out, target) = pip_install(
        &env,
        "direct",
        &["--cert", server_ca.to_str().unwrap(), "--index-url", &index],
        "peerdemo",
    );
    assert!(
        !out.status.success(),
        "pip without the proxy: {}",
        text(&out)
    );
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
    let no_auth = format!("http://{}", env.proxy_host());
    let (out, _) = pip_install(
        &env,
        "no-proxy-auth",
        &[
            "--proxy",
            &no_auth,
            "--cert",
            proxy_ca,
            "--index-url",
            &index,
        ],
        "peerdemo",
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(front.access_log().lines().count(), log.lines().count());
}

// ---------------------------------------------------------------------------
// npm
// ---------------------------------------------------------------------------

#[test]
fn npm_installs_from_verdaccio_behind_tls_with_the_mounted_npmrc() {
    let password = format!("pw-{}", random_hex(12));
    let verdaccio = Verdaccio::start("alice", &password).unwrap();
    let value = format!("v{}", random_hex(6));
    verdaccio
        .publish("alice", &password, "peer-demo", "1.0.0", &value)
        .unwrap();
    let ca = TestCa::new("npm test CA").unwrap();
    let front = NginxTls::start(&ca, &[Site::tls_reverse_proxy(verdaccio.port())]).unwrap();
    // A host name, not 127.0.0.1: npm's proxy agent verifies the tunnelled
    // certificate of an IP-literal registry against "localhost".
    let address = format!("https://localhost:{}", front.port(0));
    let env = Env::start(&[
        ca_secret(&ca),
        basic_secret("npm-creds", "alice", &password),
        connector(
            "npm-demo",
            "npm",
            &address,
            "    name: basicAuth\n    secretRef:\n      name: npm-creds\n",
        ),
    ]);
    env.wait_ready("npm-demo");
    let mount = env.mount("npm-demo", "npmrc");
    let npmrc = mount.join(".npmrc");
    let ca_cert = mount.join("ca.cert");
    let rc = std::fs::read_to_string(&npmrc).unwrap();
    assert!(rc.contains(&format!("registry={address}/")), "{rc}");
    assert!(!rc.contains(&password));
    assert_eq!(
        std::fs::read_to_string(&ca_cert).unwrap().trim(),
        std::fs::read_to_string(env.proxy_ca()).unwrap().trim()
    );
    let token = std::fs::read_to_string(mount.join("context.token"))
        .unwrap()
        .trim()
        .to_string();
    assert!(rc.contains(&token), "{rc}");

    let npm_install = |project: &str, userconfig: &Path, ca: &Path| {
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
    };

    let (out, dir) = npm_install("with-mount", &npmrc, &ca_cert);
    assert!(
        out.status.success(),
        "npm install with the mount: {}",
        text(&out)
    );
    let index = std::fs::read_to_string(dir.join("node_modules/peer-demo/index.js")).unwrap();
    assert!(index.contains(&value), "{index}");
    let log = front.access_log();
    let alice = format!("auth=\"{}\"", basic_auth("alice", &password));
    let placeholder = basic_auth("user", "password");
    assert_fetched_with(
        &log,
        &["/peer-demo ", "/peer-demo/-/peer-demo-1.0.0.tgz"],
        &alice,
    );
    assert!(
        !log.contains(&token),
        "the token reached the server:\n{log}"
    );
    assert!(
        !log.contains(&placeholder),
        "the npmrc placeholder reached the server:\n{log}"
    );

    // The registry itself, trusting its real CA, without the mount: E401.
    let server_ca = env.work.path().join("server-ca.crt");
    std::fs::write(&server_ca, ca.cert_pem()).unwrap();
    let bare = env.work.path().join("bare-npmrc");
    std::fs::write(
        &bare,
        format!("registry={address}/\naudit=false\nfund=false\n"),
    )
    .unwrap();
    let (out, dir) = npm_install("without-mount", &bare, &server_ca);
    assert!(
        !out.status.success(),
        "npm install without the mount: {}",
        text(&out)
    );
    assert!(!dir.join("node_modules/peer-demo").exists());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        text(&out)
    );
    assert!(!verdaccio.log_text().contains(&token));
}

// ---------------------------------------------------------------------------
// kubectl
// ---------------------------------------------------------------------------

#[test]
fn kubectl_with_the_mounted_kubeconfig_reaches_the_api_with_the_connector_token() {
    let ca = TestCa::new("kube test CA").unwrap();
    let sa_token = format!("sa-{}", random_hex(16));
    let api = FakeApiServer::start(&ca, &sa_token).unwrap();
    let env = Env::start(&[
        ca_secret(&ca),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: k8s-token\n  namespace: {NS}\ntype: connectors.cpaas.io/bearer-token\nstringData:\n  token: {sa_token}\n"
        ),
        connector(
            "k8s-demo",
            "k8s",
            &api.url(),
            "    name: bearerTokenAuth\n    secretRef:\n      name: k8s-token\n",
        ),
    ]);
    env.wait_ready("k8s-demo");
    let mount = env.mount("k8s-demo", "kubeconfig");
    let kubeconfig = mount.join("kubeconfig");
    let cfg = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(cfg.contains(&format!("server: {}", api.url())), "{cfg}");
    assert!(cfg.contains(&format!("@{}", env.proxy_host())), "{cfg}");
    assert!(!cfg.contains(&sa_token));
    let token = std::fs::read_to_string(mount.join("context.token"))
        .unwrap()
        .trim()
        .to_string();
    let home = env.dir("kube-home");
    // The controller's probes came before; only kubectl's requests follow.
    let before = api.access_log().lines().count();

    let out = kube::kubectl(&kubeconfig, &home, &["get", "--raw", "/version"]).unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let version: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(version["gitVersion"], kube::GIT_VERSION);

    let out = kube::kubectl(
        &kubeconfig,
        &home,
        &["get", "pods", "-n", "default", "-o", "name"],
    )
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("pod/{}", kube::POD)
    );

    let full = api.access_log();
    // kubectl's requests carry `timeout=` (from --request-timeout); the
    // controller's probes do not.
    let log = full
        .lines()
        .skip(before)
        .filter(|l| l.contains("timeout="))
        .collect::<Vec<_>>()
        .join("\n");
    let pods = lines_for(&log, "/api/v1/namespaces/default/pods");
    assert!(!pods.is_empty(), "{log}");
    assert!(!lines_for(&log, "/version").is_empty(), "{log}");
    for line in log.lines() {
        assert!(
            line.contains(&format!("auth=\"Bearer {sa_token}\"")),
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
    let ca_b64 = base64::engine::general_purpose::STANDARD.encode(ca.cert_pem());
    std::fs::write(
        &direct,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: {}\n    certificate-authority-data: {ca_b64}\ncontexts:\n- name: k\n  context: {{cluster: k, user: k}}\nusers:\n- name: k\n  user:\n    token: fake-token\ncurrent-context: k\n",
            api.url()
        ),
    )
    .unwrap();
    let out = kube::kubectl(
        &direct,
        &home,
        &["get", "--raw", "/api/v1/namespaces/default/pods"],
    )
    .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unauthorized"),
        "{}",
        text(&out)
    );
}
