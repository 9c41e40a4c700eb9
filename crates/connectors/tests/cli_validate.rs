//! `connectors validate` on good and broken manifests, through the real binary.

mod common;

use common::{run_connectors, text, BIN};
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Every Secret value in the validate fixtures starts with this.
const SECRET_MARK: &str = "validate-fixture-secret";

fn fixtures() -> PathBuf {
    common::fixtures("validate")
}

/// `connectors validate -f PATH…`.
fn validate(paths: &[&Path]) -> Output {
    let mut args: Vec<&OsStr> = vec!["validate".as_ref(), "-f".as_ref()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    run_connectors(&args)
}

fn assert_no_panic(out: &Output, what: &str) {
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{what}: panicked\n{stderr}");
    assert!(!stderr.contains("panicked"), "{what}: panicked\n{stderr}");
    assert!(out.status.code().is_some(), "{what}: killed by a signal");
}

fn assert_no_secret(out: &Output) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !all.contains(SECRET_MARK),
        "a Secret value was printed:\n{all}"
    );
}

#[test]
fn good_set_passes() {
    let good = fixtures().join("good");
    let out = validate(&[&good]);
    assert_no_panic(&out, "good set");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "", "no problem lines on success");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("3 connector(s)"), "{stderr}");
    assert!(stderr.contains("3 secret(s)"), "{stderr}");
    assert_no_secret(&out);

    // Files one by one are fine too (each holds its own Secret).
    for f in ["git.yaml", "gitlab.yaml", "k8s.json"] {
        let out = validate(&[&good.join(f)]);
        assert_eq!(out.status.code(), Some(0), "{f}: {}", text(&out.stdout));
    }
}

/// (file, document index, object, words the message must hold)
const BROKEN: &[(&str, usize, Option<&str>, &[&str])] = &[
    (
        "wrong-secret-type.yaml",
        1,
        Some("Connector team-a/wrong-secret-type"),
        &["\"Opaque\"", "kubernetes.io/basic-auth"],
    ),
    (
        "missing-class.yaml",
        0,
        Some("Connector team-a/missing-class"),
        &["no-such-class", "not found"],
    ),
    (
        "non-url-address.yaml",
        0,
        Some("Connector team-a/non-url-address"),
        &["spec.address", "URL"],
    ),
    (
        "bad-name.yaml",
        0,
        Some("Connector team-a/Bad_Name"),
        &["metadata.name", "RFC 1123"],
    ),
    ("malformed.yaml", 1, None, &["YAML"]),
    (
        "missing-secret-key.yaml",
        1,
        Some("Connector team-a/missing-secret-key"),
        &["no-password", "password"],
    ),
    (
        "unknown-auth.yaml",
        1,
        Some("Connector team-a/unknown-auth"),
        &["tokenAuth", "basicAuth"],
    ),
    (
        "credentials-in-address.yaml",
        0,
        Some("Connector team-a/credentials-in-address"),
        &["spec.address", "credentials"],
    ),
];

#[test]
fn each_broken_file_gives_one_line_naming_file_document_and_object() {
    for (file, doc, object, words) in BROKEN {
        let path = fixtures().join("bad").join(file);
        let out = validate(&[&path]);
        assert_no_panic(&out, file);
        assert_no_secret(&out);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{file}: exit status\nstdout:\n{stdout}\nstderr:\n{}",
            text(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{file}: one problem line expected:\n{stdout}"
        );
        let line = lines[0];
        let mut prefix = format!("{}: document {doc}: ", path.display());
        if let Some(o) = object {
            prefix.push_str(o);
            prefix.push_str(": ");
        }
        assert!(
            line.starts_with(&prefix),
            "{file}: {line:?} should start with {prefix:?}"
        );
        let message = &line[prefix.len()..];
        assert!(!message.trim().is_empty(), "{file}: empty message");
        for w in *words {
            assert!(
                message.contains(w),
                "{file}: {message:?} should mention {w:?}"
            );
        }
        assert!(
            text(&out.stderr).contains("1 problem(s)"),
            "{file}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn all_broken_files_at_once_report_every_problem() {
    let bad = fixtures().join("bad");
    let out = validate(&[&bad]);
    assert_no_panic(&out, "bad dir");
    assert_no_secret(&out);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), BROKEN.len(), "{stdout}");
    for (file, doc, _, _) in BROKEN {
        let prefix = format!("{}: document {doc}: ", bad.join(file).display());
        assert!(
            stdout.lines().any(|l| l.starts_with(&prefix)),
            "no line for {file}:\n{stdout}"
        );
    }
    // Good files next to bad ones do not hide the problems, nor add any.
    let good = fixtures().join("good");
    let out = validate(&[&good, &bad.join("missing-class.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn connector_without_its_secret_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orphan.yaml");
    std::fs::write(
        &path,
        "apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata:\n  name: orphan\n  namespace: team-a\nspec:\n  connectorClassName: k8s\n  address: https://10.0.0.1:6443\n  auth:\n    name: bearerTokenAuth\n    secretRef:\n      name: absent\n",
    )
    .unwrap();
    let out = validate(&[&path]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let prefix = format!("{}: document 0: Connector team-a/orphan: ", path.display());
    assert!(stdout.starts_with(&prefix), "{stdout}");
    assert!(stdout.contains("absent"), "{stdout}");
}

/// Writes `content` to `dir/NAME` and validates that file.
fn validate_content(dir: &Path, name: &str, content: &[u8]) -> (PathBuf, Output) {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    let out = validate(&[&path]);
    (path, out)
}

#[test]
fn empty_and_garbage_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();

    let (_, out) = validate_content(dir.path(), "empty.yaml", b"");
    assert_no_panic(&out, "empty file");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let comments = b"# nothing here\n---\n# nor here\n";
    let (_, out) = validate_content(dir.path(), "only-comments.yaml", comments);
    assert_no_panic(&out, "comments only");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let mut bytes: Vec<u8> = (0u8..=255).collect();
    bytes.extend_from_slice(b"\x00\xff\xfe: [\x01\x02{{{\n\t- :\n");
    let (binary, out) = validate_content(dir.path(), "binary.yaml", &bytes);
    assert_no_panic(&out, "binary garbage");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("{}: document 0: ", binary.display())),
        "{stdout}"
    );

    for (i, content) in odd_inputs().into_iter().enumerate() {
        let (path, out) = validate_content(dir.path(), &format!("input-{i}.yaml"), &content);
        assert_no_panic(&out, &format!("{}: {:?}", path.display(), text(&content)));
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{:?}: exit {:?}: {}",
            text(&content),
            out.status.code(),
            text(&out.stderr)
        );
        // Every problem line names the file and a document.
        for line in text(&out.stdout).lines() {
            assert!(
                line.starts_with(&format!("{}: document ", path.display())),
                "{line}"
            );
        }
    }
}

/// Shapes that are valid YAML but not objects, and small random inputs.
fn odd_inputs() -> Vec<Vec<u8>> {
    let shapes: Vec<Vec<u8>> = vec![
        b"just a string\n".to_vec(),
        b"- a\n- b\n".to_vec(),
        b"42\n".to_vec(),
        b"kind: Connector\n".to_vec(),
        b"apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nspec: 7\n".to_vec(),
        b"apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: x}\nspec: {address: {a: b}}\n".to_vec(),
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: \"not base64!\"}\n".to_vec(),
        b"apiVersion: v1\nkind: List\nitems: 5\n".to_vec(),
        b"&a [*a]\n".to_vec(),
        b"a: &x\n  b: *x\n  c: *y\n".to_vec(),
        b"{".to_vec(),
        b"---\n---\n...\n---\n".to_vec(),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut random = Vec::new();
    for _ in 0..24 {
        let len = (next(&mut seed) % 300) as usize;
        let alphabet = b"apiVersion:kind-Connector\n  []{}:,&*!|>'\"#%@`\t\x00\xc3\xa9";
        random.push(
            (0..len)
                .map(|_| alphabet[(next(&mut seed) % alphabet.len() as u64) as usize])
                .collect::<Vec<u8>>(),
        );
    }
    shapes.into_iter().chain(random).collect()
}

fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn standard_input_is_read_with_dash() {
    let text_in = std::fs::read(fixtures().join("bad/missing-class.yaml")).unwrap();
    let mut child = Command::new(BIN)
        .args(["validate", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text_in).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("<stdin>: document 0: Connector team-a/missing-class: "),
        "{stdout}"
    );
}

#[test]
fn missing_path_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist.yaml");
    let out = validate(&[&missing]);
    assert_no_panic(&out, "missing path");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("does-not-exist.yaml"),
        "{}",
        text(&out.stderr)
    );
}
