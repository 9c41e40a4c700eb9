//! Start-up failures of the standalone wrapper are reported with the log.

use connectors_testkit::Standalone;

#[test]
fn a_binary_that_exits_is_reported_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fake-connectors");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"fake standalone got: $*\" >&2\nexit 3\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = Standalone::start(&script, dir.path()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("did not become healthy"), "{msg}");
    // The arguments of the documented command line reach the binary.
    for arg in [
        "standalone --config",
        "--data",
        "--proxy-listen 127.0.0.1:",
        "--api-listen 127.0.0.1:",
        "--log-level debug",
    ] {
        assert!(msg.contains(arg), "{arg:?} missing from: {msg}");
    }
}

#[test]
fn a_missing_binary_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Standalone::start(dir.path().join("absent"), dir.path()).unwrap_err();
    assert!(err.to_string().contains("cargo build"), "{err:#}");
}
