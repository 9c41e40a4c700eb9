//! `connectors crds`, `classes` and `render` through the real binary, with
//! the results read by real git and kubectl.

mod common;

use base64::Engine;
use common::{file_names, git_config, mode, run_connectors as run, text};
use connectors_testkit::http::basic_auth;
use connectors_testkit::process::output_with_timeout;
use connectors_testkit::GitEnv;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

/// A token shaped like a ServiceAccount JWT (base64url segments).
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGVhbS1hOmRlZmF1bHQifQ.c2lnbmF0dXJlLW9mLXRoZS10ZXN0LXRva2Vu";

fn fixtures() -> PathBuf {
    common::fixtures("render")
}

fn run_ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = run(args);
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        out.status.success(),
        "connectors {} failed: {}\nstdout:\n{}\nstderr:\n{}",
        shown.join(" "),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `connectors render -f FILE --connector CONNECTOR --configuration
/// CONFIGURATION CREDENTIALS… --proxy-address PROXY --out OUT`, where
/// `credentials` are `--token…`, `--token-file…` and `--ca-file…` options.
fn render_args(
    file: &Path,
    connector: &str,
    configuration: &str,
    credentials: &[&str],
    proxy: &str,
    out: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["render".into(), "-f".into(), file.into()];
    for a in ["--connector", connector, "--configuration", configuration] {
        args.push(a.into());
    }
    args.extend(credentials.iter().map(OsString::from));
    for a in ["--proxy-address", proxy, "--out"] {
        args.push(a.into());
    }
    args.push(out.into());
    args
}

/// The first line of a captured request head (the request line).
fn request_line(head: &str) -> &str {
    head.lines().next().unwrap_or_default()
}

/// The value of the header `name` in a captured request head.
fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name}:\n{head}"))
}

/// Every YAML document of a stream, as JSON values.
fn yaml_documents(text: &str) -> Vec<serde_json::Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde_json::Value::deserialize(d).expect("valid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn printer_columns(crd: &CustomResourceDefinition) -> Vec<String> {
    crd.spec.versions[0]
        .additional_printer_columns
        .as_ref()
        .expect("printer columns")
        .iter()
        .map(|c| c.name.clone())
        .collect()
}

fn check_crds(docs: &[serde_json::Value]) {
    assert_eq!(docs.len(), 2, "two CRDs");
    let mut by_name = std::collections::BTreeMap::new();
    for doc in docs {
        assert_eq!(doc["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(doc["kind"], "CustomResourceDefinition");
        let crd: CustomResourceDefinition =
            serde_json::from_value(doc.clone()).expect("a CustomResourceDefinition");
        // Nothing of the output is lost in the typed form: no misspelled fields.
        assert_eq!(
            &serde_json::to_value(&crd).unwrap(),
            doc,
            "the CRD has fields k8s-openapi does not know"
        );
        by_name.insert(crd.metadata.name.clone().unwrap(), crd);
    }
    let conn = &by_name["connectors.connectors.alauda.io"];
    let class = &by_name["connectorclasses.connectors.alauda.io"];

    assert_eq!(conn.spec.group, "connectors.alauda.io");
    assert_eq!(conn.spec.scope, "Namespaced");
    assert_eq!(conn.spec.names.kind, "Connector");
    assert_eq!(conn.spec.names.plural, "connectors");
    assert_eq!(
        printer_columns(conn),
        ["Class", "Address", "Ready", "Reason", "Age"]
    );

    assert_eq!(class.spec.scope, "Cluster");
    assert_eq!(class.spec.names.kind, "ConnectorClass");
    assert_eq!(class.spec.names.plural, "connectorclasses");
    assert_eq!(printer_columns(class), ["Ready", "Reason", "Age"]);

    for crd in [conn, class] {
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["alauda".to_string()][..])
        );
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.served && v.storage);
        assert!(v
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some());
        assert!(v
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .is_some());
    }
}

#[test]
fn crds_parse_as_apiextensions_v1() {
    let stdout = run_ok(&["crds"]);
    check_crds(&yaml_documents(&stdout));

    // kubectl reads the stream too (offline: no API server is needed to
    // decode and re-print objects with --local).
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("crds.yaml");
    std::fs::write(&file, &stdout).unwrap();
    let file = file.to_str().unwrap();
    let label = ["label", "--local", "-f", file, "checked=yes", "-o", "json"];
    let printed = kubectl_ok(home.path(), &label);
    // kubectl prints one object after the other (older releases: a List).
    let mut items = Vec::new();
    for value in serde_json::Deserializer::from_slice(&printed).into_iter::<serde_json::Value>() {
        let value = value.expect("kubectl prints JSON");
        match value["items"].as_array() {
            Some(list) if value["kind"] == "List" => items.extend(list.iter().cloned()),
            _ => items.push(value),
        }
    }
    assert_eq!(items.len(), 2, "{}", text(&printed));
    for item in items {
        assert_eq!(item["kind"], "CustomResourceDefinition");
        assert_eq!(item["metadata"]["labels"]["checked"], "yes");
    }
}

#[test]
fn crds_output_dir_has_one_file_per_crd() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("crds");
    run_ok(&["crds", "--output", out_dir.to_str().unwrap()]);
    let mut names = file_names(&out_dir);
    names.sort();
    assert_eq!(
        names,
        [
            "connectorclasses.connectors.alauda.io.yaml",
            "connectors.connectors.alauda.io.yaml"
        ]
    );
    let mut docs = Vec::new();
    for n in &names {
        let file_docs = yaml_documents(&std::fs::read_to_string(out_dir.join(n)).unwrap());
        assert_eq!(file_docs.len(), 1, "{n} holds one CRD");
        assert_eq!(
            format!(
                "{}.yaml",
                file_docs[0]["metadata"]["name"].as_str().unwrap()
            ),
            *n
        );
        docs.extend(file_docs);
    }
    check_crds(&docs);
}

#[test]
fn classes_lists_and_shows_builtins() {
    for args in [&["classes"][..], &["classes", "list"][..]] {
        let stdout = run_ok(args);
        let first_words: Vec<&str> = stdout
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for class in ["git", "gitlab", "k8s"] {
            assert!(first_words.contains(&class), "{class} missing:\n{stdout}");
        }
    }

    let shown = run_ok(&["classes", "show", "gitlab"]);
    let docs = yaml_documents(&shown);
    assert_eq!(docs.len(), 1);
    let class = &docs[0];
    assert_eq!(class["apiVersion"], "connectors.alauda.io/v1alpha1");
    assert_eq!(class["kind"], "ConnectorClass");
    assert_eq!(class["metadata"]["name"], "gitlab");
    let confs: Vec<&str> = class["spec"]["configurations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(confs.contains(&"gitconfig"), "{confs:?}");
    assert_eq!(
        class["spec"]["auth"]["types"][0]["secretType"],
        "connectors.cpaas.io/gitlab-pat-auth"
    );

    let out = run(&["classes", "show", "no-such-class"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no-such-class") && stderr.contains("gitlab"),
        "{stderr}"
    );
}

#[test]
fn gitlab_gitconfig_has_the_seed_shape() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let out_dir = dir.path().join("out");
    let out = run(&render_args(
        &fixtures().join("gitlab.yaml"),
        "team-a/gitlab",
        "gitconfig",
        &["--token-file", token_file.to_str().unwrap()],
        "http://c-gitlab.team-a.svc",
        &out_dir,
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !printed.contains(TOKEN),
        "the token was printed:\n{printed}"
    );

    assert_eq!(mode(&out_dir), 0o700, "a created out dir is private");
    let gitconfig = out_dir.join(".gitconfig");
    assert_eq!(mode(&gitconfig), 0o600, "the file holds the token");
    assert_eq!(file_names(&out_dir), [".gitconfig"]);

    let content = std::fs::read_to_string(&gitconfig).unwrap();
    assert!(!content.contains("glpat-"), "the PAT leaked:\n{content}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!(":{TOKEN}"));
    // The shape of seed 000: [http] extraHeader, then one [url] block.
    let lines: Vec<&str> = content.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.iter().map(|l| l.trim()).collect::<Vec<_>>(),
        [
            "[http]",
            &format!("extraHeader = Authorization: Basic {b64}"),
            "[url \"http://c-gitlab.team-a.svc\"]",
            "insteadOf = https://gitlab.example.com",
        ],
        "{content}"
    );

    // What git itself reads from the file.
    let header = git_config(&gitconfig, &["--get", "http.extraHeader"]);
    assert_eq!(header.trim_end(), format!("Authorization: Basic {b64}"));
    let urls = git_config(&gitconfig, &["--get-regexp", r"url\..*\.insteadof"]);
    assert_eq!(
        urls.trim_end(),
        "url.http://c-gitlab.team-a.svc.insteadof https://gitlab.example.com"
    );
}

/// Accepts connections on 127.0.0.1 and sends the head of each request
/// into a channel, answering each with `response`.
fn capture_server(response: &'static str) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(response.as_bytes());
            if tx
                .send(String::from_utf8_lossy(&head).into_owned())
                .is_err()
            {
                return;
            }
        }
    });
    (port, rx)
}

#[test]
fn real_git_sends_the_rendered_header_to_the_proxy_address() {
    let (port, requests) =
        capture_server("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let proxy = format!("http://127.0.0.1:{port}/namespaces/team-a/connectors/gitlab");
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    run_ok(&render_args(
        &fixtures(),
        "team-a/gitlab",
        "gitconfig",
        &["--token", TOKEN],
        &proxy,
        &out_dir,
    ));
    let git = GitEnv::with_global_config(out_dir.join(".gitconfig")).unwrap();
    // The unchanged clone URL goes to the proxy address, with the token.
    let out = git
        .run(&["ls-remote", "https://gitlab.example.com/group/repo.git"])
        .unwrap();
    assert!(!out.success(), "the capture server refuses everything");
    let head = requests
        .recv_timeout(Duration::from_secs(30))
        .expect("git reached the proxy address");
    assert_eq!(
        request_line(&head),
        "GET /namespaces/team-a/connectors/gitlab/group/repo.git/info/refs?service=git-upload-pack HTTP/1.1"
    );
    assert_eq!(header(&head, "Authorization"), basic_auth("", TOKEN));
}

#[test]
fn several_configurations_and_file_exclusion() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::set_permissions(&out_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let gitlab = |configuration: &str, out: &Path| {
        run_ok(&render_args(
            &fixtures(),
            "team-a/gitlab",
            configuration,
            &["--token", TOKEN],
            "http://c-gitlab.team-a.svc",
            out,
        ))
    };
    gitlab("gitconfig,gitlabconfig", &out_dir);
    assert_eq!(mode(&out_dir), 0o755, "an existing out dir keeps its mode");
    assert!(out_dir.join(".gitconfig").exists());
    let config = std::fs::read_to_string(out_dir.join("config.yml")).unwrap();
    assert_eq!(mode(&out_dir.join("config.yml")), 0o600);
    let docs = yaml_documents(&config);
    assert_eq!(docs.len(), 1, "{config}");
    let glab = &docs[0];
    assert_eq!(glab["host"], "c-gitlab.team-a.svc");
    assert_eq!(glab["connector_address"], "https://gitlab.example.com");
    assert_eq!(glab["hosts"]["c-gitlab.team-a.svc"]["token"], TOKEN);

    let excluded = dir.path().join("excluded");
    gitlab("gitconfig,gitlabconfig,!config.yml", &excluded);
    assert!(excluded.join(".gitconfig").exists());
    assert!(
        !excluded.join("config.yml").exists(),
        "!config.yml drops the file"
    );
}

fn kubectl(home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("kubectl");
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home);
    output_with_timeout(&mut cmd, Duration::from_secs(60)).unwrap()
}

/// [`kubectl`], failing unless it exits 0; its standard output.
fn kubectl_ok(home: &Path, args: &[&str]) -> Vec<u8> {
    let out = kubectl(home, args);
    assert!(out.status.success(), "kubectl: {}", text(&out.stderr));
    out.stdout
}

fn render_kubeconfig(dir: &Path, proxy: &str) -> PathBuf {
    let out_dir = dir.join("kube");
    let ca_file = fixtures().join("ca.crt");
    run_ok(&render_args(
        &fixtures().join("k8s.yaml"),
        "team-a/prod",
        "kubeconfig",
        &["--token", TOKEN, "--ca-file", ca_file.to_str().unwrap()],
        proxy,
        &out_dir,
    ));
    out_dir.join("kubeconfig")
}

#[test]
fn k8s_kubeconfig_is_accepted_by_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = render_kubeconfig(dir.path(), "http://c-prod.team-a.svc.cluster.local");
    assert_eq!(mode(&kubeconfig), 0o600);
    let content = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        !content.contains("k8s-render-fixture"),
        "the cluster token leaked"
    );
    let kc = kubeconfig.to_str().unwrap();

    let view = ["config", "view", "--kubeconfig", kc, "-o", "json"];
    let view: serde_json::Value = serde_json::from_slice(&kubectl_ok(dir.path(), &view)).unwrap();
    assert_eq!(view["current-context"], "k8s");
    assert_eq!(view["clusters"].as_array().unwrap().len(), 1);
    let cluster = &view["clusters"][0];
    assert_eq!(cluster["name"], "k8s");
    assert_eq!(cluster["cluster"]["server"], "https://192.168.1.100:6443");
    assert_eq!(
        cluster["cluster"]["proxy-url"],
        format!("http://team-a%2Fprod:{TOKEN}@c-prod.team-a.svc.cluster.local")
    );
    assert_eq!(view["contexts"][0]["name"], "k8s");
    assert_eq!(view["contexts"][0]["context"]["cluster"], "k8s");
    assert_eq!(view["contexts"][0]["context"]["user"], "k8s");
    assert_eq!(view["users"][0]["name"], "k8s");

    let raw = ["config", "view", "--raw", "--kubeconfig", kc, "-o", "json"];
    let raw: serde_json::Value = serde_json::from_slice(&kubectl_ok(dir.path(), &raw)).unwrap();
    let ca_pem = std::fs::read(fixtures().join("ca.crt")).unwrap();
    let ca_b64 = raw["clusters"][0]["cluster"]["certificate-authority-data"]
        .as_str()
        .expect("certificate-authority-data");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(ca_b64)
        .expect("base64");
    assert_eq!(
        String::from_utf8_lossy(&decoded).trim_end(),
        String::from_utf8_lossy(&ca_pem).trim_end(),
        "certificate-authority-data is the CA passed with --ca-file"
    );
    assert_eq!(raw["users"][0]["user"]["token"], "fake-token");

    let contexts = ["config", "get-contexts", "--kubeconfig", kc];
    let table = text(&kubectl_ok(dir.path(), &contexts));
    let row = table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("k8s"))
        .unwrap_or_else(|| panic!("no context k8s:\n{table}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols, ["*", "k8s", "k8s", "k8s"], "{table}");
}

#[test]
fn kubectl_goes_through_the_rendered_proxy_with_the_token() {
    // kubectl honours proxy-url even for 127.0.0.1; the capture server sees
    // the CONNECT kubectl sends for the real API server address.
    let (port, requests) =
        capture_server("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = render_kubeconfig(dir.path(), &format!("http://127.0.0.1:{port}"));
    let out = kubectl(
        dir.path(),
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--request-timeout",
            "20s",
            "get",
            "--raw",
            "/version",
        ],
    );
    assert!(
        !out.status.success(),
        "the capture server refuses the tunnel"
    );
    let head = requests
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("kubectl never reached the proxy: {}", text(&out.stderr)));
    assert_eq!(request_line(&head), "CONNECT 192.168.1.100:6443 HTTP/1.1");
    assert_eq!(
        header(&head, "Proxy-Authorization"),
        basic_auth("team-a/prod", TOKEN)
    );
}

#[test]
fn render_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let base = |connector: &str, configuration: &str, token: &str| {
        run(&render_args(
            &fixtures(),
            connector,
            configuration,
            &["--token", token],
            "http://c-x.team-a.svc",
            &out_dir,
        ))
    };

    let out = base("team-a/absent", "gitconfig", TOKEN);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("team-a/absent"),
        "{}",
        text(&out.stderr)
    );

    let out = base("team-a/gitlab", "kubeconfig", TOKEN);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("kubeconfig") && stderr.contains("gitconfig"),
        "{stderr}"
    );

    let out = base("team-a/gitlab", "gitconfig", "  ");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("token"), "{}", text(&out.stderr));

    for out in [
        base("team-a/absent", "gitconfig", TOKEN),
        base("team-a/gitlab", "kubeconfig", TOKEN),
    ] {
        assert_ne!(out.status.code(), Some(101), "{}", text(&out.stderr));
        assert!(!text(&out.stderr).contains(TOKEN), "the token was echoed");
    }
    assert!(
        !out_dir.join(".gitconfig").exists(),
        "nothing written on errors"
    );
}
