//! Rendering of the built-in classes' configurations and probes.

use base64::Engine;
use connectors_core::classes::builtin_classes;
use connectors_core::manifest::{parse_manifest, DocumentContent, Object};
use connectors_core::render::{
    builtin_files, forward_proxy_url, render_configuration, render_http_probe, render_mount,
    render_mount_marked, MountRequest, RenderContext, RenderError, Selection,
};
use connectors_types::common::Addressable;
use connectors_types::connector::{ConnectorProxyStatus, ConnectorStatus};
use connectors_types::{Connector, ConnectorClass};
use k8s_openapi::api::core::v1::Secret;

const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

fn class(name: &str) -> ConnectorClass {
    builtin_classes()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .unwrap()
}

fn objects(yaml: &str) -> Vec<Object> {
    parse_manifest(yaml)
        .into_iter()
        .map(|d| match d.content {
            DocumentContent::Object(o) => o,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn connector(yaml: &str, proxy: &str) -> Connector {
    let mut c = match objects(yaml).remove(0) {
        Object::Connector(c) => *c,
        other => panic!("{other:?}"),
    };
    c.status = Some(ConnectorStatus {
        proxy: Some(ConnectorProxyStatus {
            http_address: Some(Addressable {
                url: Some(proxy.into()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    });
    c
}

fn secret(yaml: &str) -> Secret {
    match objects(yaml).remove(0) {
        Object::Secret(s) => *s,
        other => panic!("{other:?}"),
    }
}

fn ctx() -> RenderContext {
    RenderContext {
        token: TOKEN.into(),
        proxy_ca_pem: CA.into(),
        class_proxy_address: None,
    }
}

const GITLAB: &str = "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: gitlab-connector, namespace: gitlab-connector-demo}\nspec:\n  connectorClassName: gitlab\n  address: https://gitlab.com\n  auth: {name: patAuth, secretRef: {name: gitlab-secret}}\n";
const K8S: &str = "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: k8s-connector, namespace: connector-namespace}\nspec:\n  connectorClassName: k8s\n  address: https://192.168.1.100:6443\n  auth: {name: bearerTokenAuth, secretRef: {name: k8s-secret}}\n";
const GIT: &str = "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: git-demo, namespace: team-a}\nspec:\n  connectorClassName: git\n  address: http://127.0.0.1:18080/git\n  auth:\n    name: basicAuth\n    secretRef: {name: git-creds}\n    params: [{name: repository, value: git/demo.git}]\n";

#[test]
fn builtin_classes_parse_and_validate() {
    let classes = builtin_classes();
    let names: Vec<_> = classes
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["git", "gitlab", "k8s", "npm", "pypi"]);
    for c in &classes {
        let problems = connectors_core::validate::connector_class(c);
        assert!(problems.is_empty(), "{:?}: {problems:?}", c.metadata.name);
    }
}

#[test]
fn gitlab_gitconfig_matches_the_quick_start_shape() {
    let c = connector(
        GITLAB,
        "http://c-gitlab-connector.gitlab-connector-demo.svc",
    );
    let files = render_configuration(&class("gitlab"), &[&c], "gitconfig", &ctx(), None).unwrap();
    let text = String::from_utf8(files[".gitconfig"].clone()).unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(":{TOKEN}"));
    assert_eq!(
        text,
        format!(
            "[http]\n    extraHeader = Authorization: Basic {basic}\n[url \"http://c-gitlab-connector.gitlab-connector-demo.svc\"]\n    insteadOf = https://gitlab.com\n"
        )
    );
}

#[test]
fn git_gitconfig_adds_ssl_verify_only_when_disabled() {
    let mut c = connector(
        GIT,
        "http://127.0.0.1:7480/namespaces/team-a/connectors/git-demo",
    );
    let files = render_configuration(&class("git"), &[&c], "gitconfig", &ctx(), None).unwrap();
    let text = String::from_utf8(files[".gitconfig"].clone()).unwrap();
    assert!(!text.contains("sslVerify"), "{text}");
    assert!(text.contains(
        "[url \"http://127.0.0.1:7480/namespaces/team-a/connectors/git-demo\"]\n    insteadOf = http://127.0.0.1:18080/git\n"
    ));
    c.spec.params = vec![connectors_types::Param::string("sslVerify", "false")];
    let files = render_configuration(&class("git"), &[&c], "gitconfig", &ctx(), None).unwrap();
    let text = String::from_utf8(files[".gitconfig"].clone()).unwrap();
    assert!(text.contains("\n    sslVerify = false\n"), "{text}");
}

#[test]
fn k8s_kubeconfig_matches_the_seed_shape() {
    let c = connector(
        K8S,
        "http://c-k8s-connector.connector-namespace.svc.cluster.local",
    );
    let files = render_configuration(&class("k8s"), &[&c], "kubeconfig", &ctx(), None).unwrap();
    let text = String::from_utf8(files["kubeconfig"].clone()).unwrap();
    let v: serde_json::Value = serde_norway::from_str(&text).unwrap();
    let cluster = &v["clusters"][0]["cluster"];
    assert_eq!(cluster["server"], "https://192.168.1.100:6443");
    assert_eq!(
        cluster["proxy-url"],
        format!("http://connector-namespace%2Fk8s-connector:{TOKEN}@c-k8s-connector.connector-namespace.svc.cluster.local")
    );
    assert_eq!(
        cluster["certificate-authority-data"],
        base64::engine::general_purpose::STANDARD.encode(CA)
    );
    assert_eq!(v["users"][0]["user"]["token"], "fake-token");
    assert_eq!(v["current-context"], "k8s");
    assert_eq!(v["contexts"][0]["context"]["cluster"], "k8s");
}

#[test]
fn gitlabconfig_points_glab_at_the_proxy_host() {
    let c = connector(
        GITLAB,
        "http://c-gitlab-connector.gitlab-connector-demo.svc",
    );
    let files =
        render_configuration(&class("gitlab"), &[&c], "gitlabconfig", &ctx(), None).unwrap();
    let v: serde_json::Value = serde_norway::from_slice(&files["config.yml"]).unwrap();
    let host = "c-gitlab-connector.gitlab-connector-demo.svc";
    assert_eq!(v["host"], host);
    assert_eq!(v["connector_address"], "https://gitlab.com");
    assert_eq!(v["hosts"][host]["token"], TOKEN);
    assert_eq!(v["hosts"][host]["api_protocol"], "http");
}

#[test]
fn unknown_configuration_is_a_clear_error() {
    let c = connector(GITLAB, "http://x");
    let err = render_configuration(&class("gitlab"), &[&c], "kubeconfig", &ctx(), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no configuration \"kubeconfig\""), "{err}");
    assert!(err.contains("gitconfig, gitlabconfig"), "{err}");
}

#[test]
fn git_auth_probe_uses_repository_and_basic_auth_only_with_a_secret() {
    let c = connector(GIT, "http://p");
    let probe = class("git").spec.auth_probes[0].probe.http.clone().unwrap();
    let s = secret("apiVersion: v1\nkind: Secret\nmetadata: {name: git-creds, namespace: team-a}\ntype: kubernetes.io/basic-auth\nstringData: {username: alice, password: s3cret}\n");
    let req = render_http_probe(&probe, &c, Some(&s), "authProbe").unwrap();
    assert_eq!(
        req.url,
        "http://127.0.0.1:18080/git/demo.git/info/refs?service=git-upload-pack"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    assert_eq!(
        req.headers,
        vec![("Authorization".to_string(), format!("Basic {basic}"))]
    );
    let anon = render_http_probe(&probe, &c, None, "authProbe").unwrap();
    assert!(anon.headers.is_empty());
}

#[test]
fn gitlab_and_k8s_probes_keep_the_address_path() {
    let mut c = connector(GITLAB, "http://p");
    c.spec.address = "https://internal-tool.com/gitlab/".into();
    let probe = class("gitlab").spec.auth_probes[0]
        .probe
        .http
        .clone()
        .unwrap();
    let s = secret("apiVersion: v1\nkind: Secret\nmetadata: {name: gitlab-secret, namespace: gitlab-connector-demo}\ntype: connectors.cpaas.io/gitlab-pat-auth\nstringData: {token: glpat-abc}\n");
    let req = render_http_probe(&probe, &c, Some(&s), "authProbe").unwrap();
    assert_eq!(req.url, "https://internal-tool.com/gitlab/api/v4/user");
    assert_eq!(
        req.headers,
        vec![("Private-Token".to_string(), "glpat-abc".to_string())]
    );

    let mut k = connector(K8S, "http://p");
    k.spec.address = "https://platform.example.com/kubernetes/global".into();
    let live = class("k8s").spec.liveness_probe.unwrap().http.unwrap();
    let req = render_http_probe(&live, &k, None, "livenessProbe").unwrap();
    assert_eq!(
        req.url,
        "https://platform.example.com/kubernetes/global/version"
    );
}

#[test]
fn mount_writes_builtins_and_applies_exclusions() {
    let c = connector(
        GIT,
        "http://127.0.0.1:7480/namespaces/team-a/connectors/git-demo",
    );
    let git = class("git");
    let req = MountRequest {
        connectors: vec![(&c, &git)],
        selection: Selection::parse("gitconfig,!ca.cert"),
        params: None,
        context: ctx(),
    };
    let files = render_mount(&req).unwrap();
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            ".env",
            ".gitconfig",
            "ca.crt",
            "connector.status.proxyAddress",
            "context.proxy.caCert",
            "context.token",
            "http.proxy",
            "https.proxy"
        ]
    );
    let fwd = format!("http://team-a%2Fgit-demo:{TOKEN}@127.0.0.1:7480");
    assert_eq!(files["http.proxy"], fwd.as_bytes());
    assert_eq!(files["context.token"], TOKEN.as_bytes());
    let env = String::from_utf8(files[".env"].clone()).unwrap();
    assert!(env.contains(&format!("https_proxy={fwd}\n")));
    assert!(env.contains("no_proxy=localhost,127.0.0.1\n"));

    let none = MountRequest {
        connectors: vec![(&c, &git)],
        selection: Selection::parse("kubeconfig"),
        params: None,
        context: ctx(),
    };
    assert!(matches!(
        render_mount(&none),
        Err(RenderError::NoConfigurationFound { .. })
    ));
}

#[test]
fn forward_proxy_url_lists_connectors() {
    let a = connector(GIT, "http://p:80");
    let b = connector(K8S, "http://p");
    assert_eq!(
        forward_proxy_url(
            &[&a, &b],
            "t",
            "http://proxy.example:8080/namespaces/x/connectors/y"
        )
        .unwrap(),
        "http://team-a%2Fgit-demo,connector-namespace%2Fk8s-connector:t@proxy.example:8080"
    );
    let files = builtin_files(&[&a], "t", CA);
    assert!(files.contains_key("ca.cert"));
}

#[test]
fn configuration_params_defaults_required_and_enum() {
    let mut class = class("git");
    class.spec.configurations[0].params = vec![
        connectors_types::ParamSpec {
            name: "mirror".into(),
            default: Some(serde_json::json!("none")),
            enum_: Some(vec!["none".into(), "all".into()]),
            ..Default::default()
        },
        connectors_types::ParamSpec {
            name: "repo".into(),
            ..Default::default()
        },
    ];
    class.spec.configurations[0].data.insert(
        "p.txt".into(),
        "{{ .configurations.mirror }}-{{ .configurations.repo }}".into(),
    );
    let c = connector(GIT, "http://p");
    let err = render_configuration(&class, &[&c], "gitconfig", &ctx(), None).unwrap_err();
    assert!(matches!(err, RenderError::MissingParam { ref param, .. } if param == "repo"));
    let ok = render_configuration(
        &class,
        &[&c],
        "gitconfig",
        &ctx(),
        Some(&serde_json::json!({"repo": "r1"})),
    )
    .unwrap();
    assert_eq!(ok["p.txt"], b"none-r1");
    let bad = render_configuration(
        &class,
        &[&c],
        "gitconfig",
        &ctx(),
        Some(&serde_json::json!({"repo": "r", "mirror": "some"})),
    )
    .unwrap_err();
    assert!(matches!(bad, RenderError::ParamNotAllowed { .. }));
}

#[test]
fn token_bearing_files_are_marked_even_when_the_token_is_encoded() {
    let c = connector(
        GIT,
        "http://127.0.0.1:7480/namespaces/team-a/connectors/git-demo",
    );
    let git = class("git");
    let req = MountRequest {
        connectors: vec![(&c, &git)],
        selection: Selection::parse("gitconfig"),
        params: None,
        context: ctx(),
    };
    let (files, marked) = render_mount_marked(&req).unwrap();
    assert!(!String::from_utf8_lossy(&files[".gitconfig"]).contains(TOKEN));
    let marked: Vec<&str> = marked.iter().map(String::as_str).collect();
    assert_eq!(
        marked,
        [
            ".env",
            ".gitconfig",
            "context.token",
            "http.proxy",
            "https.proxy"
        ]
    );
}

const NPM: &str = "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: npm-demo, namespace: team-a}\nspec:\n  connectorClassName: npm\n  address: https://registry.example.com/repository/npm/\n  auth: {name: basicAuth, secretRef: {name: npm-creds}}\n";
const PYPI: &str = "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: pypi-demo, namespace: team-a}\nspec:\n  connectorClassName: pypi\n  address: https://pypi.example.com\n  auth: {name: basicAuth, secretRef: {name: pypi-creds}}\n";

#[test]
fn npmrc_keeps_the_real_registry_and_uses_the_forward_proxy() {
    let mut c = connector(
        NPM,
        "http://127.0.0.1:7480/namespaces/team-a/connectors/npm-demo",
    );
    let files = render_configuration(&class("npm"), &[&c], "npmrc", &ctx(), None).unwrap();
    let text = String::from_utf8(files[".npmrc"].clone()).unwrap();
    let fake = base64::engine::general_purpose::STANDARD.encode("user:password");
    assert!(
        text.starts_with("registry=https://registry.example.com/repository/npm/\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "//registry.example.com/repository/npm/:_auth={fake}\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "https-proxy=http://team-a%2Fnpm-demo:{TOKEN}@127.0.0.1:7480\n"
        )),
        "{text}"
    );
    assert!(text.contains("strict-ssl=true\n"), "{text}");
    assert_eq!(files["ca.cert"], CA.as_bytes());
    c.spec.params = vec![connectors_types::Param::string("strict-ssl", "false")];
    let files = render_configuration(&class("npm"), &[&c], "npmrc", &ctx(), None).unwrap();
    assert!(String::from_utf8_lossy(&files[".npmrc"]).contains("strict-ssl=false\n"));
}

#[test]
fn pipconf_points_pip_at_the_reverse_proxy_in_both_address_forms() {
    for (proxy, index) in [
        (
            "http://c-pypi-demo.team-a.svc.cluster.local",
            format!("http://team-a-pypi-demo:{TOKEN}@c-pypi-demo.team-a.svc.cluster.local/simple/"),
        ),
        (
            "http://127.0.0.1:7480/namespaces/team-a/connectors/pypi-demo",
            format!("http://team-a-pypi-demo:{TOKEN}@127.0.0.1:7480/namespaces/team-a/connectors/pypi-demo/simple/"),
        ),
    ] {
        let c = connector(PYPI, proxy);
        let files = render_configuration(&class("pypi"), &[&c], "pipconf", &ctx(), None).unwrap();
        let text = String::from_utf8(files["pip.conf"].clone()).unwrap();
        assert!(text.contains(&format!("index-url = {index}\n")), "{text}");
        let host = url::Url::parse(proxy).unwrap().host_str().unwrap().to_string();
        assert!(text.contains(&format!("trusted-host = {host}\n")), "{text}");
    }
}
