//! End to end on one machine: a real Git server (nginx + git http-backend),
//! the real `connectors standalone`, and plain git clients that hold only a
//! mounted `.gitconfig` with a short-lived token.

mod common;

use common::{mode, random_hex, NS};
use connectors_testkit::http::{basic_auth, get};
use connectors_testkit::{GitEnv, GitServer, GitServerOptions, Standalone};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const GIT: &str = "git-demo";
const GITLAB: &str = "gitlab-demo";
const REPO: &str = "demo.git";

struct Env {
    server: GitServer,
    config: TempDir,
    work: TempDir,
    standalone: Standalone,
    alice_password: String,
    pat: String,
    seed_commit: String,
}

fn git_manifest(address: &str, password: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: git-creds
  namespace: {NS}
type: kubernetes.io/basic-auth
stringData:
  username: alice
  password: {password}
---
apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata:
  name: {GIT}
  namespace: {NS}
spec:
  connectorClassName: git
  address: {address}
  auth:
    name: basicAuth
    secretRef:
      name: git-creds
    params:
      - name: repository
        value: git/{REPO}
"#
    )
}

fn gitlab_manifest(address: &str, pat: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: gitlab-pat
  namespace: {NS}
type: connectors.cpaas.io/gitlab-pat-auth
stringData:
  token: {pat}
---
apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata:
  name: {GITLAB}
  namespace: {NS}
spec:
  connectorClassName: gitlab
  address: {address}
  auth:
    name: patAuth
    secretRef:
      name: gitlab-pat
"#
    )
}

/// Writes a file the way editors and `kubectl`-style tools do: a temporary
/// (hidden, so never read half-written) file renamed into place.
fn write_atomic(path: &Path, content: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

impl Env {
    /// Git server with `demo.git`, users alice and oauth2 (the PAT), the
    /// fake GitLab API, both Connectors, and the standalone process with
    /// both Connectors Ready.
    fn start() -> Env {
        let alice_password = format!("alice-pw-{}", random_hex(12));
        let pat = format!("glpat-{}", random_hex(10));
        let server = GitServer::start(GitServerOptions {
            gitlab_token: Some(pat.clone()),
            ..Default::default()
        })
        .unwrap();
        server.add_user("alice", &alice_password).unwrap();
        server.add_user("oauth2", &pat).unwrap();
        let seed_commit = server.create_repo(REPO).unwrap();

        let config = common::manifest_dir(&[
            (
                "git-demo.yaml",
                &git_manifest(&server.url(), &alice_password),
            ),
            ("gitlab-demo.yaml", &gitlab_manifest(&server.url(), &pat)),
        ]);
        let standalone = common::start_standalone(config.path());
        let env = Env {
            server,
            config,
            work: common::work_dir("e2e-"),
            standalone,
            alice_password,
            pat,
            seed_commit,
        };
        env.wait_ready(&[GIT, GITLAB]);
        env
    }

    fn cli(&self, args: &[&str]) -> String {
        self.standalone.cli_ok(args).unwrap()
    }

    fn connectors_json(&self) -> Vec<serde_json::Value> {
        common::connectors_json(&self.standalone)
    }

    fn wait_ready(&self, names: &[&str]) {
        common::wait_ready(&self.standalone, names);
    }

    /// `connectors mount NS/NAME --configuration gitconfig --out DIR`.
    fn mount(&self, connector: &str, dir_name: &str) -> PathBuf {
        let out = self.work.path().join(dir_name);
        common::mount(&self.standalone, connector, "gitconfig", &out);
        out
    }

    /// git whose only configuration is the `.gitconfig` of a fresh mount of
    /// `connector` in `<work>/DIR_NAME`.
    fn git_with_mount(&self, connector: &str, dir_name: &str) -> GitEnv {
        let mount = self.mount(connector, dir_name);
        GitEnv::with_global_config(mount.join(".gitconfig")).unwrap()
    }

    fn issue_token(&self, namespace: &str, ttl: &str) -> String {
        let out = self.cli(&["token", "issue", "--namespace", namespace, "--ttl", ttl]);
        let token = out.trim().to_string();
        assert_eq!(
            out.lines().count(),
            1,
            "token issue prints only the token:\n{out}"
        );
        assert!(!token.is_empty() && !token.contains(char::is_whitespace));
        token
    }

    /// The proxy address of the git Connector's demo repository.
    fn proxied_repo(&self, connector: &str) -> String {
        format!(
            "{}/{REPO}",
            self.standalone.connector_proxy_url(NS, connector)
        )
    }

    /// Status of `GET info/refs` through the proxy with `Authorization`.
    fn proxy_status(&self, connector: &str, auth: Option<&str>) -> u16 {
        let url = format!(
            "{}/info/refs?service=git-upload-pack",
            self.proxied_repo(connector)
        );
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
        get(&url, &headers).unwrap().status
    }

    /// Clones the proxied repository by hand (no mount) sending `token`, and
    /// returns git's result with curl tracing on (so stderr shows statuses).
    fn clone_by_hand(&self, connector: &str, token: Option<&str>, dir: &str) -> (bool, String) {
        let mut git = GitEnv::new().unwrap();
        git.set_env("GIT_TRACE_CURL", "1");
        git.set_env("GIT_TRACE_CURL_NO_DATA", "1");
        let mut args: Vec<String> = Vec::new();
        if let Some(t) = token {
            args.push("-c".into());
            args.push(format!(
                "http.extraHeader=Authorization: {}",
                basic_auth("", t)
            ));
        }
        args.extend([
            "clone".into(),
            "-q".into(),
            self.proxied_repo(connector),
            dir.into(),
        ]);
        let out = git.run(&args).unwrap();
        (out.success(), out.stderr)
    }

    /// Status of `GET info/refs` of the git Connector through the proxy,
    /// with `token` as the Basic password.
    fn token_status(&self, token: &str) -> u16 {
        self.proxy_status(GIT, Some(&basic_auth("", token)))
    }

    /// Cloning the git Connector's repository by hand with `token` fails
    /// (`what` says how it would have succeeded), and git shows the proxy's
    /// `status`.
    fn assert_clone_refused(&self, token: Option<&str>, dir: &str, status: &str, what: &str) {
        let (ok, stderr) = self.clone_by_hand(GIT, token, dir);
        assert!(!ok, "{what}");
        assert!(
            stderr.contains(status),
            "git should show the {}:\n{stderr}",
            status.trim()
        );
    }

    /// Direct, authenticated `git ls-remote` of main on the server.
    fn server_main(&self) -> String {
        let git = GitEnv::new().unwrap();
        let url = self
            .server
            .repo_url_with_credentials(REPO, "alice", &self.alice_password);
        let out = git
            .run(&["ls-remote", &url, "refs/heads/main"])
            .unwrap()
            .ok("direct git ls-remote")
            .unwrap();
        out.stdout
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

/// Clones the original URL with the mounted `.gitconfig` only, pushes a
/// commit through the proxy, and checks the commit landed on the server.
fn clone_and_push_through_mount(env: &Env, connector: &str) {
    let git = env.git_with_mount(connector, &format!("mnt-{connector}"));
    let original = env.server.repo_url(REPO);
    let clone = git.clone_repo(&original, "clone").unwrap();
    let head = git.run_in(&clone, &["rev-parse", "HEAD"]).unwrap();
    assert!(head.success());
    let remote = git
        .run_in(&clone, &["config", "--get", "remote.origin.url"])
        .unwrap();
    assert_eq!(
        remote.stdout.trim(),
        original,
        "the clone keeps the original URL"
    );

    let before = env.server_main();
    assert_eq!(head.stdout.trim(), before);
    let pushed = git
        .commit_file(
            &clone,
            &format!("{connector}.txt"),
            &format!("pushed through {connector}\n"),
            &format!("change through {connector}"),
        )
        .unwrap();
    git.run_in(&clone, &["push", "-q", "origin", "main"])
        .unwrap()
        .ok(&format!("git push through {connector}"))
        .unwrap();
    assert_eq!(env.server_main(), pushed, "the push landed on the server");
    assert!(env.server.has_commit(REPO, &pushed).unwrap());
}

/// Every file the CSI driver mounts is there; the folder is private, and the
/// files that hold the token are readable by their owner only.
fn assert_mount_files_and_modes(mount: &Path) {
    for f in [
        ".gitconfig",
        "context.token",
        "ca.crt",
        "ca.cert",
        "context.proxy.caCert",
        "connector.status.proxyAddress",
        ".env",
        "http.proxy",
        "https.proxy",
    ] {
        assert!(mount.join(f).is_file(), "{f} missing from the mount");
    }
    assert_eq!(mode(mount), 0o700, "a created mount dir is private");
    for f in [
        ".gitconfig",
        "context.token",
        ".env",
        "http.proxy",
        "https.proxy",
    ] {
        assert_eq!(mode(&mount.join(f)), 0o600, "{f} holds the token");
    }
    assert_eq!(mode(&mount.join("ca.crt")), 0o644);
}

#[test]
fn git_connector_clone_and_push_through_mount() {
    let env = Env::start();
    assert_eq!(env.server_main(), env.seed_commit);

    let items = env.connectors_json();
    let c = items
        .iter()
        .find(|c| c["metadata"]["name"] == GIT)
        .expect("git-demo listed");
    assert_eq!(
        c["status"]["proxy"]["httpAddress"]["url"],
        env.standalone.connector_proxy_url(NS, GIT)
    );
    let wide = env.cli(&["get", "connectors", "-n", NS, "-o", "wide"]);
    assert!(
        wide.contains(&env.standalone.connector_proxy_url(NS, GIT)),
        "{wide}"
    );
    let describe = env.cli(&["describe", "connector", &format!("{NS}/{GIT}")]);
    assert!(
        describe.contains(GIT) && describe.contains("Ready"),
        "{describe}"
    );

    // The files the CSI driver mounts.
    let mount = env.mount(GIT, "mnt-files");
    assert_mount_files_and_modes(&mount);
    let read = |f: &str| std::fs::read_to_string(mount.join(f)).unwrap();
    let proxy_url = env.standalone.connector_proxy_url(NS, GIT);
    assert_eq!(read("connector.status.proxyAddress").trim(), proxy_url);
    assert!(read("ca.crt").contains("BEGIN CERTIFICATE"));
    let token = read("context.token").trim().to_string();
    let cfg = mount.join(".gitconfig");
    let header = common::git_config(&cfg, &["--get", "http.extraHeader"]);
    assert_eq!(
        header.trim_end(),
        format!("Authorization: {}", basic_auth("", &token))
    );
    let urls = common::git_config(&cfg, &["--get-regexp", r"url\..*\.insteadof"]);
    assert_eq!(
        urls.trim_end(),
        format!("url.{proxy_url}.insteadof {}", env.server.url())
    );

    clone_and_push_through_mount(&env, GIT);
}

#[test]
fn gitlab_connector_clone_and_push_through_mount() {
    let env = Env::start();
    clone_and_push_through_mount(&env, GITLAB);
    // The proxy used the PAT towards the server: git over HTTP as oauth2.
    let log = env.server.access_log();
    assert!(
        log.lines()
            .any(|l| l.contains(" oauth2 [") && l.contains("git-receive-pack")),
        "no push by oauth2 in the access log:\n{log}"
    );
}

#[test]
fn clone_without_the_mount_is_refused_with_401() {
    let env = Env::start();
    // Requests other than the reconciler's probes (which may run at any time).
    let server_requests = || {
        env.server
            .access_log()
            .lines()
            .filter(|l| !l.contains("connectors-probe/"))
            .count()
    };
    let before = server_requests();
    assert_eq!(env.proxy_status(GIT, None), 401);
    env.assert_clone_refused(None, "no-mount", " 401", "clone without a token succeeded");
    // The server itself was never asked: the proxy refused first.
    assert_eq!(server_requests(), before, "{}", env.server.access_log());
}

#[test]
fn token_of_another_namespace_gets_403() {
    let env = Env::start();
    let own = env.issue_token(NS, "30m");
    assert_eq!(env.token_status(&own), 200);
    let (ok, stderr) = env.clone_by_hand(GIT, Some(&own), "own-namespace");
    assert!(ok, "a team-a token must clone:\n{stderr}");

    let other = env.issue_token("team-b", "30m");
    assert_eq!(env.token_status(&other), 403);
    let what = "a team-b token cloned a team-a Connector";
    env.assert_clone_refused(Some(&other), "other-namespace", "403", what);
}

#[test]
fn expired_token_gets_401() {
    let env = Env::start();
    let short = env.issue_token(NS, "1s");
    // Wait for expiry by watching the proxy's answer, not the clock.
    let auth = basic_auth("", &short);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = env.proxy_status(GIT, Some(&auth));
        if status == 401 {
            break;
        }
        assert!(
            status == 200,
            "a not yet expired token got {status} instead of 200"
        );
        assert!(
            Instant::now() < deadline,
            "a 1s token was still accepted after 120s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    env.assert_clone_refused(Some(&short), "expired", " 401", "an expired token cloned");
    // A fresh token still works: the refusal was about expiry.
    let fresh = env.issue_token(NS, "30m");
    assert_eq!(env.token_status(&fresh), 200);
}

/// `token` with one character of its signature replaced.
fn tamper_signature(token: &str) -> String {
    let sig_start = token.rfind('.').map(|i| i + 1).unwrap_or(0);
    let sig_len = token.len() - sig_start;
    assert!(sig_len >= 8, "token has no signature segment: {token}");
    // Middle of the signature: every bit of such a character is significant
    // (the last base64 character may carry padding bits).
    let pos = sig_start + sig_len / 2;
    let old = token.as_bytes()[pos];
    let new = if old == b'A' { b'B' } else { b'A' };
    let mut bytes = token.as_bytes().to_vec();
    bytes[pos] = new;
    String::from_utf8(bytes).unwrap()
}

#[test]
fn tampered_token_signature_gets_401() {
    let env = Env::start();
    let token = env.issue_token(NS, "30m");
    assert_eq!(env.token_status(&token), 200);
    let forged = tamper_signature(&token);
    assert_ne!(forged, token);
    assert_eq!(env.token_status(&forged), 401);
    // Bearer form too.
    assert_eq!(
        env.proxy_status(GIT, Some(&format!("Bearer {forged}"))),
        401
    );
    env.assert_clone_refused(Some(&forged), "forged", " 401", "a forged token cloned");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn assert_absent(secret: &str, what: &str, haystack: &str) {
    assert!(!haystack.contains(secret), "a secret appears in {what}");
}

#[test]
fn secrets_never_reach_clients_or_logs() {
    let env = Env::start();
    let secrets = [env.alice_password.as_str(), env.pat.as_str()];

    for connector in [GIT, GITLAB] {
        let mount = env.mount(connector, &format!("leak-{connector}"));
        for file in files_under(&mount) {
            let content = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            for s in secrets {
                assert_absent(s, &file.display().to_string(), &content);
            }
        }
        let git = GitEnv::with_global_config(mount.join(".gitconfig")).unwrap();
        for (k, v) in git.env_vars() {
            for s in secrets {
                assert_absent(s, &format!("git's environment ({k})"), &v);
            }
        }
        let clone = git.clone_repo(&env.server.repo_url(REPO), "clone").unwrap();
        let git_config = std::fs::read_to_string(clone.join(".git/config")).unwrap();
        for s in secrets {
            assert_absent(s, "the clone's .git/config", &git_config);
        }
    }
    for args in [
        &["get", "connectors", "-n", NS, "-o", "json"][..],
        &["get", "connectors", "-n", NS, "-o", "yaml"][..],
        &["describe", "connector", "team-a/git-demo"][..],
        &["describe", "connector", "team-a/gitlab-demo"][..],
    ] {
        let out = env.cli(args);
        for s in secrets {
            assert_absent(s, &format!("connectors {}", args.join(" ")), &out);
        }
    }
    let log = env.standalone.log_text();
    assert!(
        log.contains("DEBUG") || log.contains("debug"),
        "the log should be at debug level"
    );
    for s in secrets {
        assert_absent(s, "the standalone log", &log);
    }
    // Workload tokens are credentials too.
    let token =
        std::fs::read_to_string(env.work.path().join("leak-git-demo/context.token")).unwrap();
    assert_absent(token.trim(), "the standalone log", &log);
}

#[test]
fn password_rotation_applies_without_restart() {
    let env = Env::start();
    let pid = env.standalone.pid();
    let git = env.git_with_mount(GIT, "mnt-rotation");
    let original = env.server.repo_url(REPO);
    git.clone_repo(&original, "before").unwrap();

    // The server's password changes: the proxy still sends the old one.
    let new_password = format!("alice-rotated-{}", random_hex(12));
    env.server.set_password("alice", &new_password).unwrap();
    let stale = git
        .run(&[
            "clone",
            "-q",
            &original,
            &git.home.path().join("stale").display().to_string(),
        ])
        .unwrap();
    assert!(!stale.success(), "the old password still worked");

    // The Secret on disk changes: the next clone works, nothing restarted.
    let generation = env.standalone.generation().unwrap();
    write_atomic(
        &env.config.path().join("git-demo.yaml"),
        &git_manifest(&env.server.url(), &new_password),
    );
    env.standalone
        .wait_for_generation_change(generation, Duration::from_secs(60))
        .unwrap();
    git.clone_repo(&original, "after").unwrap_or_else(|e| {
        panic!(
            "clone after rotation: {e:#}\nlog:\n{}",
            env.standalone.log_text()
        )
    });
    assert_eq!(env.standalone.pid(), pid);
    let log = env.standalone.log_text();
    assert_absent(&new_password, "the standalone log", &log);
    assert_absent(&env.alice_password, "the standalone log", &log);
}

fn problems(env: &Env) -> Vec<serde_json::Value> {
    env.standalone.status().unwrap()["problems"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits (60 s at most) until the status reports a problem in each of the
/// manifest files `first` and `second`, and returns both problems.
fn wait_for_problems(
    env: &Env,
    first: &str,
    second: &str,
) -> (serde_json::Value, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ps = problems(env);
        let find = |name: &str| {
            ps.iter()
                .find(|p| p["file"].as_str().is_some_and(|f| f.ends_with(name)))
                .cloned()
        };
        if let (Some(a), Some(b)) = (find(first), find(second)) {
            return (a, b);
        }
        assert!(
            Instant::now() < deadline,
            "problems not reported: {ps:?}\nlog:\n{}",
            env.standalone.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn bad_manifest_is_reported_and_connectors_keep_working() {
    let env = Env::start();
    assert!(problems(&env).is_empty(), "{:?}", problems(&env));

    // Document 1 is not a Connector; document 0 is fine.
    let broken = env.config.path().join("zz-broken.yaml");
    write_atomic(
        &broken,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: extra\n  namespace: {NS}\ntype: Opaque\nstringData:\n  k: v\n---\napiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata:\n  name: broken\n  namespace: {NS}\nspec: not-a-mapping\n"
        ),
    );
    // Not even YAML.
    let garbage = env.config.path().join("zz-garbage.yaml");
    write_atomic(&garbage, "key: [unclosed\n  - {\n");

    let (broken_problem, garbage_problem) =
        wait_for_problems(&env, "zz-broken.yaml", "zz-garbage.yaml");
    assert_eq!(broken_problem["document"], 1, "{broken_problem}");
    assert!(
        !broken_problem["message"].as_str().unwrap_or("").is_empty(),
        "{broken_problem}"
    );
    assert_eq!(garbage_problem["document"], 0, "{garbage_problem}");

    // The existing Connectors are still Ready and still serve.
    env.wait_ready(&[GIT, GITLAB]);
    let git = env.git_with_mount(GIT, "mnt-after-broken");
    git.clone_repo(&env.server.repo_url(REPO), "still-works")
        .unwrap();

    // Removing the files clears the problems.
    std::fs::remove_file(&broken).unwrap();
    std::fs::remove_file(&garbage).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !problems(&env).is_empty() {
        assert!(
            Instant::now() < deadline,
            "problems stay after the files are gone: {:?}",
            problems(&env)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
