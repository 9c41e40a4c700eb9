//! The API permission mapping (`spec.api.permissions.rego`).

use connectors_core::rego::{ApiVerb, PermissionMapper, PolicyKind, RegoError, RequestInput};

const GIT: &str = r#"package permissions

import rego.v1

default result := {"verb": ""}

result := {"verb": "read"} if {
  input.request.method == "POST"
  endswith(input.request.path, "/git-upload-pack")
}

result := {"verb": "read"} if {
  input.request.method == "GET"
  endswith(input.request.path, "/info/refs")
}

result := {"verb": "write"} if {
  input.request.method == "POST"
  endswith(input.request.path, "/git-receive-pack")
}

result := {"verb": "delete"} if input.request.method == "DELETE"
"#;

/// The same mapping in pre-1.0 syntax.
const GIT_V0: &str = r#"package permissions

default result = {"verb": ""}

result = {"verb": "read"} {
  input.request.method == "POST"
  endswith(input.request.path, "/git-upload-pack")
}

result = {"verb": "delete"} {
  input.request.method == "DELETE"
}
"#;

fn req(method: &str, path: &str) -> RequestInput {
    RequestInput::from_parts(method, "h", path, std::iter::empty::<(&str, &str)>(), None)
}

#[test]
fn git_upload_pack_is_read() {
    for src in [GIT, GIT_V0] {
        let m = PermissionMapper::compile(src, "class git").unwrap();
        assert_eq!(
            m.verb(&req("POST", "/g/p.git/git-upload-pack")).unwrap(),
            ApiVerb::Read
        );
        assert_eq!(
            m.verb(&req("DELETE", "/api/v4/projects/1")).unwrap(),
            ApiVerb::Delete
        );
        assert_eq!(
            m.verb(&req("PUT", "/api/v4/projects/1")).unwrap(),
            ApiVerb::Unspecified
        );
        assert_eq!(
            m.verb(&RequestInput::default()).unwrap(),
            ApiVerb::Unspecified
        );
        assert!(!m.reads_body());
    }
    let m = PermissionMapper::compile(GIT, "class git").unwrap();
    assert_eq!(
        m.verb(&req("GET", "/g/p.git/info/refs?service=git-upload-pack"))
            .unwrap(),
        ApiVerb::Read
    );
    assert_eq!(
        m.verb(&req("POST", "/g/p.git/git-receive-pack")).unwrap(),
        ApiVerb::Write
    );
}

#[test]
fn undefined_result_is_unspecified() {
    let src =
        "package permissions\nresult := {\"verb\": \"read\"} if input.request.method == \"GET\"\n";
    let m = PermissionMapper::compile(src, "class x").unwrap();
    assert_eq!(m.verb(&req("POST", "/")).unwrap(), ApiVerb::Unspecified);
    assert_eq!(m.verb(&req("GET", "/")).unwrap(), ApiVerb::Read);
}

#[test]
fn wrong_package_or_rule_does_not_compile() {
    let err = PermissionMapper::compile("package proxy\nresult := {\"verb\": \"\"}\n", "class x")
        .unwrap_err();
    assert!(matches!(
        err,
        RegoError::Compile {
            kind: PolicyKind::Permissions,
            ..
        }
    ));
    assert!(err.to_string().contains("package permissions"), "{err}");
    let err = PermissionMapper::compile("package permissions\nauth := 1\n", "class x").unwrap_err();
    assert!(err.to_string().contains("no rule `result`"), "{err}");
}

#[test]
fn wrong_shapes_are_shape_errors() {
    for (rule, needle) in [
        ("result := \"read\"", "got a string"),
        ("result := {\"verb\": \"admin\"}", "another string"),
        ("result := {\"verbs\": \"read\"}", "without \"verb\""),
        ("result := {\"verb\": true}", "a boolean"),
    ] {
        let src = format!("package permissions\n{rule}\n");
        let m = PermissionMapper::compile(&src, "class x").unwrap();
        let err = m.verb(&req("GET", "/")).unwrap_err();
        assert!(matches!(err, RegoError::Shape { .. }), "{rule}: {err:?}");
        assert!(err.to_string().contains(needle), "{rule}: {err}");
        assert!(err.to_string().contains("permissions.result"), "{err}");
    }
}

#[test]
fn body_aware_mapping() {
    let src = r#"package permissions
import rego.v1
default result := {"verb": ""}
result := {"verb": "read"} if input.request.body.query != null
"#;
    let m = PermissionMapper::compile(src, "class graphql").unwrap();
    assert!(m.reads_body());
    let r = RequestInput::from_parts(
        "POST",
        "h",
        "/graphql",
        std::iter::empty::<(&str, &str)>(),
        Some(serde_json::json!({"query": "{ viewer { login } }"})),
    );
    assert_eq!(m.verb(&r).unwrap(), ApiVerb::Read);
    assert_eq!(
        m.verb(&req("POST", "/graphql")).unwrap(),
        ApiVerb::Unspecified
    );
}
