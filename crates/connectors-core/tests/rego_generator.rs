//! The credential generator (`spec.auth.types[].generator.rego`).

use std::collections::BTreeMap;

use base64::Engine as _;
use connectors_core::rego::{
    CredentialGenerator, Injection, InjectionPosition, PolicyKind, RegoError, RequestInput,
};

const SECRET: &str = "glpat-S3CR3T-value";

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn req(method: &str, path: &str) -> RequestInput {
    RequestInput::from_parts(
        method,
        "gitlab.example.com",
        path,
        [("Accept", "*/*"), ("user-agent", "git/2.43")],
        None,
    )
}

fn generate(src: &str, d: &BTreeMap<String, String>, r: &RequestInput) -> Option<Injection> {
    CredentialGenerator::compile(src, "auth type t of class c")
        .unwrap()
        .generate(d, r)
        .unwrap()
}

fn header(name: &str, value: &str) -> Injection {
    Injection {
        position: InjectionPosition::Header,
        content_type: None,
        auth: BTreeMap::from([(name.to_string(), value.to_string())]),
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn bearer() {
    let src = r#"package proxy
auth = {"position": "header", "auth": {"Authorization": concat(" ", ["Bearer", input.data.token])}}
"#;
    let got = generate(src, &data(&[("token", SECRET)]), &req("GET", "/"));
    assert_eq!(
        got,
        Some(header("Authorization", &format!("Bearer {SECRET}")))
    );
}

#[test]
fn basic() {
    let src = r#"package proxy
import future.keywords.if
auth := {
  "position": "header",
  "auth": {"Authorization": concat(" ", ["Basic", base64.encode(concat(":", [input.data.username, input.data.password]))])},
} if {
  input.data.username != ""
}
"#;
    let got = generate(
        src,
        &data(&[("username", "alice"), ("password", "pa:ss")]),
        &req("GET", "/"),
    );
    assert_eq!(
        got,
        Some(header(
            "Authorization",
            &format!("Basic {}", b64("alice:pa:ss"))
        ))
    );
}

#[test]
fn query_position() {
    let src = r#"package proxy
auth := {"position": "query", "auth": {"private_token": input.data.token, "api-version": "2"}}
"#;
    let got = generate(src, &data(&[("token", SECRET)]), &req("GET", "/")).unwrap();
    assert_eq!(got.position, InjectionPosition::Query);
    assert_eq!(got.auth["private_token"], SECRET);
    assert_eq!(got.auth["api-version"], "2");
    assert_eq!(got.content_type, None);
}

#[test]
fn body_position_with_content_type() {
    let src = r#"package proxy
auth := {
  "position": "body",
  "contentType": "application/json",
  "auth": {"client_id": input.data.client_id, "client_secret": input.data.client_secret},
}
"#;
    let got = generate(
        src,
        &data(&[("client_id", "id"), ("client_secret", SECRET)]),
        &req("POST", "/oauth/token"),
    )
    .unwrap();
    assert_eq!(got.position, InjectionPosition::Body);
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    assert_eq!(got.auth.len(), 2);
    assert_eq!(got.auth["client_secret"], SECRET);
}

/// The shipped gitlab generator: Basic for git smart HTTP, PAT header for
/// the API.
const GITLAB: &str = r#"package proxy

import future.keywords.if

git_suffixes := ["/info/refs", "/git-upload-pack", "/git-receive-pack"]

git_request if {
  some suffix in git_suffixes
  endswith(input.request.path, suffix)
}

username := u if {
  u := input.data.username
  u != ""
} else := "oauth2"

# Git over HTTP authenticates with Basic and the token as password.
auth := {
  "position": "header",
  "auth": {"Authorization": concat(" ", ["Basic", base64.encode(concat(":", [username, input.data.token]))])},
} if {
  git_request
}

# Everything else is the GitLab API.
auth := {
  "position": "header",
  "auth": {"Private-Token": input.data.token},
} if {
  not git_request
}
"#;

#[test]
fn gitlab_is_path_aware() {
    let d = data(&[("token", SECRET)]);
    let basic = header(
        "Authorization",
        &format!("Basic {}", b64(&format!("oauth2:{SECRET}"))),
    );
    for path in [
        "/group/project.git/info/refs?service=git-upload-pack",
        "/group/project.git/git-upload-pack",
        "/group/sub/project.git/git-receive-pack",
    ] {
        assert_eq!(
            generate(GITLAB, &d, &req("POST", path)),
            Some(basic.clone()),
            "{path}"
        );
    }
    for path in [
        "/api/v4/projects",
        "/api/v4/user",
        "/group/project.git/info/lfs",
    ] {
        assert_eq!(
            generate(GITLAB, &d, &req("GET", path)),
            Some(header("Private-Token", SECRET)),
            "{path}"
        );
    }
    let named = data(&[("token", SECRET), ("username", "bot")]);
    assert_eq!(
        generate(GITLAB, &named, &req("GET", "/g/p.git/info/refs")),
        Some(header(
            "Authorization",
            &format!("Basic {}", b64(&format!("bot:{SECRET}")))
        ))
    );
    assert!(!CredentialGenerator::compile(GITLAB, "c")
        .unwrap()
        .reads_body());
}

#[test]
fn bearer_when_oauth_token_set() {
    let src = r#"package proxy

auth = {"position": "header", "auth": {"Authorization": concat(" ", ["Bearer", input.data.oauth_token])}} {
  input.data.oauth_token != ""
}

auth = {"position": "header", "auth": {"Authorization": concat(" ", ["Basic", base64.encode(concat(":", [input.data.username, input.data.password]))])}} {
  object.get(input.data, "oauth_token", "") == ""
}
"#;
    let oauth = data(&[
        ("oauth_token", "o-tok"),
        ("username", "u"),
        ("password", "p"),
    ]);
    assert_eq!(
        generate(src, &oauth, &req("GET", "/")),
        Some(header("Authorization", "Bearer o-tok"))
    );
    let empty = data(&[("oauth_token", ""), ("username", "u"), ("password", "p")]);
    let basic = Some(header("Authorization", &format!("Basic {}", b64("u:p"))));
    assert_eq!(generate(src, &empty, &req("GET", "/")), basic);
    let absent = data(&[("username", "u"), ("password", "p")]);
    assert_eq!(generate(src, &absent, &req("GET", "/")), basic);
}

#[test]
fn undefined_or_empty_results_inject_nothing() {
    for rule in [
        "auth := {\"position\": \"header\", \"auth\": {\"X\": \"y\"}} if false",
        "auth := {}",
        "auth := {\"position\": \"header\", \"auth\": {}}",
        "auth := {\"position\": \"header\", \"auth\": {\"X\": input.data.missing}}",
    ] {
        let src = format!("package proxy\nimport rego.v1\n{rule}\n");
        assert_eq!(generate(&src, &data(&[]), &req("GET", "/")), None, "{rule}");
    }
}

#[test]
fn missing_position_means_header() {
    let src = "package proxy\nauth := {\"auth\": {\"X-Api-Key\": input.data.key}}\n";
    assert_eq!(
        generate(src, &data(&[("key", "k")]), &req("GET", "/")),
        Some(header("X-Api-Key", "k"))
    );
}

#[test]
fn builtins_from_the_docs_work() {
    let src = r#"package proxy
import rego.v1

ts := sprintf("%d", [time.now_ns()])
sig := crypto.hmac.sha256(concat("\n", [input.request.method, input.request.path]), input.data.key)

auth := {"position": "header", "auth": {
  "X-Count": sprintf("%d", [count(input.data.key)]),
  "X-Starts": sprintf("%v", [startswith(input.request.path, "/api")]),
  "X-Ends": sprintf("%v", [endswith(input.request.path, "/user")]),
  "X-Default": object.get(input.data, "missing", "dflt"),
  "X-Json": json.marshal({"k": input.data.key}),
  "X-Regex": sprintf("%v", [regex.match(`^/api/v[0-9]+/`, input.request.path)]),
  "X-Query": urlquery.encode("a b&c"),
  "X-B64": base64.encode("k:v"),
  "X-Sig": sig,
  "X-Sha": crypto.sha256("abc"),
  "X-Ts": ts,
}}
"#;
    let got = generate(src, &data(&[("key", "Jefe")]), &req("GET", "/api/v4/user")).unwrap();
    let a = &got.auth;
    assert_eq!(a["X-Count"], "4");
    assert_eq!(a["X-Starts"], "true");
    assert_eq!(a["X-Ends"], "true");
    assert_eq!(a["X-Default"], "dflt");
    assert_eq!(a["X-Json"], r#"{"k":"Jefe"}"#);
    assert_eq!(a["X-Regex"], "true");
    assert_eq!(a["X-Query"], "a+b%26c");
    assert_eq!(a["X-B64"], "azp2");
    assert_eq!(a["X-Sig"].len(), 64);
    assert!(a["X-Sig"].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        a["X-Sha"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(a["X-Ts"].parse::<u128>().unwrap() > 1_600_000_000_000_000_000);
}

#[test]
fn wrong_shapes_are_shape_errors() {
    let cases = [
        ("auth := 1", "got a number"),
        ("auth := {\"position\": \"cookie\", \"auth\": {\"a\": \"b\"}}", "\"position\""),
        ("auth := {\"position\": 3, \"auth\": {\"a\": \"b\"}}", "got a number"),
        ("auth := {\"position\": \"header\"}", "\"auth\""),
        ("auth := {\"position\": \"header\", \"auth\": [\"a\"]}", "got an array"),
        ("auth := {\"position\": \"header\", \"auth\": {\"X-Token\": 5}}", "key \"X-Token\" is a number"),
        ("auth := {\"position\": \"header\", \"auth\": {\"X-Token\": {\"v\": input.data.token}}}", "is an object"),
        ("auth := {\"position\": \"header\", \"auth\": {1: \"a\"}}", "string keys"),
        ("auth := {\"position\": \"body\", \"contentType\": 1, \"auth\": {\"a\": \"b\"}}", "\"contentType\""),
        ("auth := {\"position\": \"header\", \"auth\": {\"Bad Header\": \"v\"}}", "not a valid header name"),
        ("auth := {\"position\": \"header\", \"auth\": {\"X\": concat(\"\", [input.data.token, \"\\r\\nEvil: 1\"])}}", "control character"),
    ];
    for (rule, needle) in cases {
        let src = format!("package proxy\n{rule}\n");
        let g = CredentialGenerator::compile(&src, "auth type t of class c").unwrap();
        let err = g
            .generate(&data(&[("token", SECRET)]), &req("GET", "/"))
            .unwrap_err();
        assert!(
            matches!(
                err,
                RegoError::Shape {
                    kind: PolicyKind::Generator,
                    ..
                }
            ),
            "{rule}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(needle), "{rule}: {msg}");
        assert!(
            msg.contains("generator policy of auth type t of class c"),
            "{msg}"
        );
        assert!(!msg.contains(SECRET), "{msg}");
    }
}

#[test]
fn secret_values_never_appear_in_errors() {
    let sources = [
        // Computed key from the secret.
        "package proxy\nauth := {\"position\": \"header\", \"auth\": {input.data.token: 1}}\n",
        // Computed position from the secret.
        "package proxy\nauth := {\"position\": input.data.token, \"auth\": {\"a\": \"b\"}}\n",
        // Conflicting values built from the secret.
        "package proxy\nauth := {\"auth\": {\"A\": input.data.token}}\nauth := {\"auth\": {\"A\": concat(\"\", [input.data.token, \"!\"])}} if true\n",
        // A function error with the secret as argument (extensions error).
        "package proxy\nimport rego.v1\nauth := {\"auth\": {\"A\": x}} if { x := input.data.token + 1 }\n",
        // Set keys computed from secrets.
        "package proxy\nimport rego.v1\nauth := {\"auth\": {\"A\": {input.data.token}}}\n",
        // Secret inside an error message built by the policy.
        "package proxy\nimport rego.v1\nauth := {\"auth\": {\"A\": json.unmarshal(input.data.token)}}\n",
        "package proxy\nimport rego.v1\nauth := {\"auth\": {\"A\": sprintf(\"%s\", input.data.token)}}\n",
        "package proxy\nimport rego.v1\nauth := {\"auth\": {\"A\": 1 / count(input.data.token) }} if { input.data.token == SECRET }\n",
    ];
    let d = data(&[("token", SECRET), ("password", "p4ssw0rd!")]);
    let r = RequestInput::from_parts(
        "GET",
        "h",
        "/?k=query-S3CR3T",
        [("Authorization", "Bearer client-S3CR3T")],
        Some(serde_json::json!({"x": "body-S3CR3T"})),
    );
    for src in sources {
        let g = match CredentialGenerator::compile(src, "c") {
            Ok(g) => g,
            Err(e) => {
                assert!(!e.to_string().contains(SECRET));
                continue;
            }
        };
        if let Err(e) = g.generate(&d, &r) {
            let text = format!("{e} {e:?}");
            for s in [
                SECRET,
                "p4ssw0rd!",
                "query-S3CR3T",
                "client-S3CR3T",
                "body-S3CR3T",
            ] {
                assert!(!text.contains(s), "{src}: {text}");
            }
        }
    }
}

#[test]
fn v0_and_v1_generators_agree() {
    let v0 = "package proxy\nauth = {\"position\": \"header\", \"auth\": {\"X\": input.data.t}} { input.data.t != \"\" }\n";
    let v1 = "package proxy\nauth := {\"position\": \"header\", \"auth\": {\"X\": input.data.t}} if { input.data.t != \"\" }\n";
    let d = data(&[("t", "v")]);
    assert_eq!(
        generate(v0, &d, &req("GET", "/")),
        generate(v1, &d, &req("GET", "/"))
    );
    assert_eq!(generate(v0, &d, &req("GET", "/")), Some(header("X", "v")));
}

#[test]
fn compile_errors_name_the_generator() {
    let err = CredentialGenerator::compile(
        "package proxy\nauth := {\n",
        "auth type patAuth of class gitlab",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "generator policy of auth type patAuth of class gitlab does not compile: line "
        ),
        "{msg}"
    );
}
