//! The client-token extractor (`spec.proxy.authExtractor.rego`).

use connectors_core::rego::{PolicyKind, RegoError, RequestInput, TokenExtractor};

/// The shipped gitlab extractor, v1 syntax without imports.
const GITLAB_V1: &str = r#"package proxy

default auth := {"token": ""}

# glab and scripts send the proxy token as a GitLab PAT.
auth := {"token": token} if {
  token := input.request.headers["Private-Token"][0]
  token != ""
}
"#;

/// The same in pre-1.0 syntax, as older docs write it.
const GITLAB_V0: &str = r#"package proxy

default auth = {"token": ""}

auth = {"token": token} {
  token := input.request.headers["Private-Token"][0]
  token != ""
}
"#;

/// `if` through a future-keywords import.
const GITLAB_FUTURE: &str = r#"package proxy
import future.keywords.if

default auth = {"token": ""}

auth = {"token": token} if {
  token := input.request.headers["Private-Token"][0]
  token != ""
}
"#;

/// `import rego.v1`.
const GITLAB_REGO_V1: &str = r#"package proxy
import rego.v1

default auth := {"token": ""}

auth := {"token": token} if {
  some token in input.request.headers["Private-Token"]
  token != ""
}
"#;

fn request(headers: &[(&str, &str)]) -> RequestInput {
    RequestInput::from_parts(
        "GET",
        "c-gitlab.ns.example",
        "/api/v4/projects?per_page=10",
        headers.iter().copied(),
        None,
    )
}

#[test]
fn private_token_is_found_in_every_dialect() {
    for src in [GITLAB_V1, GITLAB_V0, GITLAB_FUTURE, GITLAB_REGO_V1] {
        let x = TokenExtractor::compile(src, "class gitlab").unwrap();
        let got = x
            .extract(&request(&[("Private-Token", "sa-token")]))
            .unwrap();
        assert_eq!(got.as_deref(), Some("sa-token"), "{src}");
    }
}

#[test]
fn absent_or_empty_header_gives_none() {
    let x = TokenExtractor::compile(GITLAB_V1, "class gitlab").unwrap();
    assert_eq!(x.extract(&request(&[])).unwrap(), None);
    assert_eq!(x.extract(&request(&[("Private-Token", "")])).unwrap(), None);
    assert_eq!(
        x.extract(&request(&[("Authorization", "Bearer x")]))
            .unwrap(),
        None
    );
    assert_eq!(x.extract(&RequestInput::default()).unwrap(), None);
}

#[test]
fn lowercase_header_from_the_wire_is_canonicalised() {
    let x = TokenExtractor::compile(GITLAB_V0, "class gitlab").unwrap();
    for name in ["private-token", "PRIVATE-TOKEN", "pRiVaTe-ToKeN"] {
        let got = x.extract(&request(&[(name, "t0k")])).unwrap();
        assert_eq!(got.as_deref(), Some("t0k"), "{name}");
    }
}

#[test]
fn undefined_rule_without_default_gives_none() {
    let src = r#"package proxy
auth := {"token": t} if { t := input.request.headers["X-Token"][0] }
"#;
    let x = TokenExtractor::compile(src, "class x").unwrap();
    assert_eq!(x.extract(&request(&[])).unwrap(), None);
    assert_eq!(
        x.extract(&request(&[("x-token", "abc")]))
            .unwrap()
            .as_deref(),
        Some("abc")
    );
}

#[test]
fn token_from_a_json_body_and_reads_body() {
    let src = r#"package proxy
import rego.v1
default auth := {"token": ""}
auth := {"token": input.request.body.token} if is_string(input.request.body.token)
"#;
    let x = TokenExtractor::compile(src, "class x").unwrap();
    assert!(x.reads_body());
    let req = RequestInput::from_parts(
        "POST",
        "h",
        "/login",
        std::iter::empty::<(&str, &str)>(),
        Some(serde_json::json!({"token": "from-body"})),
    );
    assert_eq!(x.extract(&req).unwrap().as_deref(), Some("from-body"));
    assert_eq!(x.extract(&request(&[])).unwrap(), None);

    for src in [GITLAB_V1, GITLAB_V0, GITLAB_FUTURE, GITLAB_REGO_V1] {
        let x = TokenExtractor::compile(src, "class gitlab").unwrap();
        assert!(!x.reads_body());
    }
    let whole = r#"package proxy
auth := {"token": object.get(input, ["request", "body", "t"], "")}
"#;
    assert!(TokenExtractor::compile(whole, "class x")
        .unwrap()
        .reads_body());
}

#[test]
fn query_method_path_and_host_are_visible() {
    let src = r#"package proxy
import rego.v1
auth := {"token": concat("|", [input.request.method, input.request.path, input.request.host, input.request.query.private_token[0]])}
"#;
    let x = TokenExtractor::compile(src, "class x").unwrap();
    let req = RequestInput::from_parts(
        "GET",
        "c-x.ns:8080",
        "/a%20b/c?private_token=q%2Bt",
        std::iter::empty::<(&str, &str)>(),
        None,
    );
    assert_eq!(
        x.extract(&req).unwrap().as_deref(),
        Some("GET|/a b/c|c-x.ns:8080|q+t")
    );
}

#[test]
fn syntax_error_names_label_kind_and_line() {
    let src =
        "package proxy\n\ndefault auth := {\"token\": \"\"}\nauth := {\"token\": } if { true }\n";
    let err = TokenExtractor::compile(src, "class gitlab").unwrap_err();
    assert!(matches!(
        err,
        RegoError::Compile {
            kind: PolicyKind::AuthExtractor,
            ..
        }
    ));
    let msg = err.to_string();
    assert!(
        msg.starts_with("authExtractor policy of class gitlab does not compile: line 4"),
        "{msg}"
    );
}

#[test]
fn v0_syntax_error_is_reported_in_v0_terms() {
    // Pre-1.0 text with a mistake on line 5: the v0 parser's complaint is
    // the useful one, not v1's "`if` keyword is required" on line 3.
    let src = "package proxy\ndefault auth = {\"token\": \"\"}\nauth = {\"token\": t} {\n  t := input.request.headers[\"X\"][0]\n  t != = \"\"\n}\n";
    let msg = TokenExtractor::compile(src, "class old")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 5"), "{msg}");
}

#[test]
fn semantic_errors_are_compile_errors() {
    let cases = [
        (
            "package proxy\nimport rego.v1\nauth := {\"token\": t} if { x == 1 }\n",
            "line 3",
        ),
        (
            "package other\nauth := {\"token\": \"\"}\n",
            "package proxy",
        ),
        ("package proxy\ntoken := \"\"\n", "no rule `auth`"),
        (
            "package proxy\nimport time\nauth = {\"token\": \"\"} { true }\n",
            "line 2",
        ),
        ("", "does not compile"),
        ("}}}{{{ \u{0}\u{7f} ünï", "does not compile"),
    ];
    for (src, needle) in cases {
        let err = TokenExtractor::compile(src, "class bad").unwrap_err();
        assert!(matches!(err, RegoError::Compile { .. }), "{src}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains("class bad"), "{msg}");
        assert!(msg.contains(needle), "{src}: {msg}");
    }
}

#[test]
fn wrong_shapes_are_shape_errors() {
    let cases = [
        ("auth := 42", "got a number"),
        ("auth := \"tok\"", "got a string"),
        ("auth := {\"tok\": \"x\"}", "without \"token\""),
        ("auth := {\"token\": 7}", "\"token\" is a number"),
        ("auth := {\"token\": [\"a\"]}", "\"token\" is an array"),
        ("auth := {\"token\": null}", "\"token\" is null"),
    ];
    for (rule, needle) in cases {
        let src = format!("package proxy\n{rule}\n");
        let x = TokenExtractor::compile(&src, "class shape").unwrap();
        let err = x.extract(&request(&[])).unwrap_err();
        assert!(matches!(err, RegoError::Shape { .. }), "{rule}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains("proxy.auth"), "{msg}");
        assert!(msg.contains(needle), "{rule}: {msg}");
    }
}

#[test]
fn token_values_never_appear_in_errors() {
    let token = "sa-s3cr3t-T0KEN";
    let src_shape = r#"package proxy
auth := {"token": [input.request.headers["Private-Token"][0]]}
"#;
    let src_conflict = r#"package proxy
auth := {"token": input.request.headers["Private-Token"][0]}
auth := {"token": concat("", [input.request.headers["Private-Token"][0], "x"])} if true
"#;
    let src_number = r#"package proxy
import rego.v1
auth := {"token": t} if { t := input.request.headers["Private-Token"][0] + 1 }
"#;
    let req = request(&[("private-token", token)]);
    for src in [src_shape, src_conflict, src_number] {
        let x = TokenExtractor::compile(src, "class leak").unwrap();
        match x.extract(&req) {
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.contains(token), "{msg}");
                assert!(!format!("{e:?}").contains(token));
            }
            Ok(v) => assert!(v.is_none() || v.as_deref() != Some(token), "{src}"),
        }
    }
}

#[test]
fn extractors_are_shared_across_threads() {
    let x = std::sync::Arc::new(TokenExtractor::compile(GITLAB_V1, "class gitlab").unwrap());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let x = x.clone();
            std::thread::spawn(move || {
                for j in 0..200 {
                    let t = format!("t-{i}-{j}");
                    let got = x.extract(&request(&[("private-token", &t)])).unwrap();
                    assert_eq!(got, Some(t));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
