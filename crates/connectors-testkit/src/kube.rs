//! A fake Kubernetes API server for kubectl: nginx with TLS (a certificate
//! of a [`TestCa`]) answering discovery (`/api`, `/api/v1`, `/apis`),
//! `/version` and the pods of namespace `default` (one pod, [`POD`]) with
//! static JSON. Everything but `/version` (anonymous, like a real server's
//! liveness endpoint) requires `Authorization: Bearer <token>`; anything
//! else gets a 401 `Status`.

use crate::process::{find_program, output_with_timeout};
use crate::tls::{NginxTls, Site, TestCa};
use anyhow::{bail, Result};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// Name of the one pod in namespace `default`.
pub const POD: &str = "demo-pod";
/// `gitVersion` of `/version`.
pub const GIT_VERSION: &str = "v1.33.0-connectors-test";

/// A running fake API server; stopped on drop.
#[derive(Debug)]
pub struct FakeApiServer {
    nginx: NginxTls,
}

impl FakeApiServer {
    /// Starts nginx with a certificate of `ca`, accepting only `token`
    /// (`[A-Za-z0-9._-]+`).
    pub fn start(ca: &TestCa, token: &str) -> Result<FakeApiServer> {
        if token.is_empty()
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            bail!("the fake API server token must use only A-Z a-z 0-9 - _ .");
        }
        let nginx = NginxTls::start(ca, &[Site::tls(server_body(token))])?;
        Ok(FakeApiServer { nginx })
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.nginx.url(0)
    }

    /// The nginx access log (format in [`crate::tls`]).
    pub fn access_log(&self) -> String {
        self.nginx.access_log()
    }

    /// The underlying nginx.
    pub fn nginx(&self) -> &NginxTls {
        &self.nginx
    }
}

const UNAUTHORIZED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;

fn server_body(token: &str) -> String {
    let version = format!(
        r#"{{"major":"1","minor":"33","gitVersion":"{GIT_VERSION}","gitCommit":"0000000000000000000000000000000000000000","gitTreeState":"clean","buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.24.0","compiler":"gc","platform":"linux/amd64"}}"#
    );
    let api = r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}"#;
    let apis = r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#;
    let v1 = r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"],"shortNames":["po"]},{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["get","list"],"shortNames":["ns"]}]}"#;
    let pods = format!(
        r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"1"}},"items":[{{"metadata":{{"name":"{POD}","namespace":"default","uid":"00000000-0000-0000-0000-000000000001","resourceVersion":"1","creationTimestamp":"2026-01-01T00:00:00Z"}},"spec":{{"containers":[{{"name":"main","image":"busybox"}}]}},"status":{{"phase":"Running"}}}}]}}"#
    );
    let guarded = |path: &str, body: &str| {
        format!(
            r#"
    location = {path} {{
      default_type application/json;
      if ($http_authorization != "Bearer {token}") {{ return 401 '{UNAUTHORIZED}'; }}
      return 200 '{body}';
    }}"#
        )
    };
    let mut s = format!(
        r#"
    location = /version {{
      default_type application/json;
      return 200 '{version}';
    }}
    location / {{
      default_type application/json;
      if ($http_authorization != "Bearer {token}") {{ return 401 '{UNAUTHORIZED}'; }}
      return 404 '{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","reason":"NotFound","code":404}}';
    }}"#
    );
    s.push_str(&guarded("/api", api));
    s.push_str(&guarded("/apis", apis));
    s.push_str(&guarded("/api/v1", v1));
    s.push_str(&guarded("/api/v1/namespaces/default/pods", &pods));
    s
}

/// Runs `kubectl ARGS` with `kubeconfig` only: an isolated `HOME`, no
/// `KUBECONFIG` or proxy variables, the discovery cache under `home`.
pub fn kubectl(kubeconfig: &Path, home: &Path, args: &[&str]) -> Result<Output> {
    let mut cmd = Command::new(find_program("kubectl")?);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(home.join(".kube-cache"))
        .arg("--request-timeout")
        .arg("20s")
        .args(args);
    output_with_timeout(&mut cmd, Duration::from_secs(60))
}
