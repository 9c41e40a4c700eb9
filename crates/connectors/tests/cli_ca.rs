//! `connectors ca show` and `connectors ca rotate` on a data directory,
//! through the real binary.

mod common;

use common::{file_names, mode, run_connectors, text};
use std::path::Path;
use std::process::Output;

fn ca(args: &[&str], data: &Path) -> Output {
    let mut all = vec!["ca"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data", data.to_str().unwrap()]);
    run_connectors(&all)
}

/// The value of the `field:` line of `ca show` or `ca rotate`.
fn field(out: &Output, name: &str) -> String {
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in:\n{stdout}"))
        .trim()
        .to_string()
}

#[test]
fn show_without_a_ca_says_where_one_comes_from_and_writes_nothing() {
    let data = common::work_dir("ca-");
    let out = ca(&["show"], data.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no proxy CA in"), "{err}");
    assert!(err.contains("connectors standalone"), "{err}");
    assert!(file_names(data.path()).is_empty());
}

#[test]
fn rotate_writes_a_new_ca_that_show_describes() {
    let data = common::work_dir("ca-");
    let first = ca(&["rotate"], data.path());
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(field(&first, "replaced"), "no usable CA");
    assert_eq!(mode(&data.path().join("proxy-ca.key")), 0o600);
    assert_eq!(mode(&data.path().join("proxy-ca.crt")), 0o644);
    let mut names = file_names(data.path());
    names.sort();
    assert_eq!(names, ["proxy-ca.crt", "proxy-ca.key"]);

    let second = ca(&["rotate"], data.path());
    assert!(second.status.success());
    let fingerprint = field(&second, "fingerprint");
    assert_ne!(fingerprint, field(&first, "fingerprint"));
    assert_eq!(
        field(&second, "replaced"),
        field(&first, "fingerprint").trim_start_matches("sha256 ")
    );
    assert!(text(&second.stderr).contains("mount again"));

    let shown = ca(&["show"], data.path());
    assert!(shown.status.success());
    assert_eq!(field(&shown, "fingerprint"), fingerprint);
    assert_eq!(
        field(&shown, "subject"),
        "CN=Connectors Proxy CA, O=Connectors"
    );
    assert!(field(&shown, "valid until").ends_with("days left)"));
    let pem = ca(&["show", "--pem"], data.path());
    let file = std::fs::read_to_string(data.path().join("proxy-ca.crt")).unwrap();
    assert_eq!(text(&pem.stdout), file);
    assert!(!text(&pem.stdout).contains("PRIVATE"));
}

#[test]
fn show_names_what_is_wrong_with_a_broken_pair() {
    let a = common::work_dir("ca-");
    let b = common::work_dir("ca-");
    assert!(ca(&["rotate"], a.path()).status.success());
    assert!(ca(&["rotate"], b.path()).status.success());
    std::fs::copy(a.path().join("proxy-ca.crt"), b.path().join("proxy-ca.crt")).unwrap();
    let out = ca(&["show"], b.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("does not belong"), "{err}");
    assert!(!err.contains("PRIVATE"), "{err}");
    // Rotating repairs it.
    let out = ca(&["rotate"], b.path());
    assert!(out.status.success());
    assert_eq!(field(&out, "replaced"), "no usable CA");
    assert!(ca(&["show"], b.path()).status.success());
}

#[test]
fn standalone_warns_of_a_ca_that_expires_within_thirty_days() {
    use connectors_testkit::{Standalone, StandaloneOptions};
    let data = common::work_dir("ca-data-");
    let made = common::work_dir("ca-made-");
    let ca = common::openssl_ca(made.path(), "Short-lived CA", "ec", 10);
    common::install_ca(data.path(), &ca);
    let config = common::manifest_dir(&[]);
    let standalone = Standalone::start_with(
        common::BIN,
        config.path(),
        StandaloneOptions {
            data_dir: Some(data.path().to_path_buf()),
            ..Default::default()
        },
    )
    .unwrap();
    let warned = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        standalone.log_text().contains("the proxy CA expires soon")
    });
    let log = standalone.log_text();
    assert!(warned, "{log}");
    // Ten days from openssl's second, counted in whole days.
    let line = log
        .lines()
        .find(|l| l.contains("the proxy CA expires soon"))
        .unwrap();
    assert!(
        line.ends_with("days_left=9") || line.ends_with("days_left=10"),
        "{line}"
    );
    assert_eq!(log.matches("the proxy CA expires soon").count(), 1, "{log}");
}
