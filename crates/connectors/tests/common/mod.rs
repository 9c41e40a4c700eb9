//! Helpers shared by the integration tests of the `connectors` binary:
//! running it, reading what git makes of a rendered file, and running
//! `connectors standalone` on a folder of manifests.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use connectors_testkit::process::output_with_timeout;
use connectors_testkit::{GitEnv, Standalone, StandaloneOptions};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_connectors");
/// The namespace of the test Connectors.
pub const NS: &str = "team-a";
/// How long a Connector may take to become Ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A random lower-case hex string (credentials unique to one test run).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut buf)
        .unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Output bytes as text (lossy UTF-8).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `tests/fixtures/<kind>` of this crate.
pub fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

/// Runs the binary with `args`, without the caller's log settings, for 60 s
/// at most.
pub fn run_connectors<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("CONNECTORS_LOG")
        .env_remove("RUST_LOG");
    output_with_timeout(&mut cmd, Duration::from_secs(60)).unwrap()
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The names of the entries of `dir`, in the order the file system lists
/// them.
pub fn file_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `git config -f FILE ARGS…` in a clean git environment: what git itself
/// reads from the file (its standard output; git must succeed).
pub fn git_config(file: &Path, args: &[&str]) -> String {
    let mut all = vec!["config", "-f", file.to_str().unwrap()];
    all.extend_from_slice(args);
    GitEnv::new()
        .unwrap()
        .run(&all)
        .unwrap()
        .ok("git config")
        .unwrap()
        .stdout
}

/// A private folder holding the manifest files `(file name, content)`.
pub fn manifest_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("manifests-")
        .tempdir()
        .unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    dir
}

/// A scratch folder for what the clients write.
pub fn work_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

/// `connectors standalone` on the manifests in `config`, probing once an
/// hour: nothing but manifest changes should move the generation.
pub fn start_standalone(config: &Path) -> Standalone {
    start_standalone_with(config, &[])
}

/// [`start_standalone`] with more arguments.
pub fn start_standalone_with(config: &Path, extra_args: &[&str]) -> Standalone {
    Standalone::start_with(
        BIN,
        config,
        StandaloneOptions {
            probe_interval: Some("1h".into()),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        },
    )
    .unwrap()
}

/// `connectors get connectors -n NS -o json`.
pub fn connectors_json(standalone: &Standalone) -> Vec<serde_json::Value> {
    let out = standalone
        .cli_ok(&["get", "connectors", "-n", NS, "-o", "json"])
        .unwrap();
    serde_json::from_str::<Vec<serde_json::Value>>(&out)
        .unwrap_or_else(|e| panic!("get connectors -o json is not a JSON list ({e}):\n{out}"))
}

/// The status of a Connector's `Ready` condition.
pub fn ready_status(c: &serde_json::Value) -> Option<String> {
    c["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|cond| cond["type"] == "Ready")
        .and_then(|cond| cond["status"].as_str())
        .map(str::to_string)
}

/// Waits until the Connectors `names` of NS are all Ready; after
/// [`READY_TIMEOUT`] fails with their `describe` and the standalone log.
pub fn wait_ready(standalone: &Standalone, names: &[&str]) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let items = connectors_json(standalone);
        let ready = names.iter().all(|n| {
            items
                .iter()
                .any(|c| c["metadata"]["name"] == *n && ready_status(c).as_deref() == Some("True"))
        });
        if ready {
            return;
        }
        if Instant::now() > deadline {
            let describe: Vec<String> = names
                .iter()
                .map(|n| {
                    let out = standalone
                        .run_cli(&["describe", "connector", &format!("{NS}/{n}")])
                        .unwrap();
                    format!("{}{}", text(&out.stdout), text(&out.stderr))
                })
                .collect();
            panic!(
                "Connectors {names:?} not Ready after {READY_TIMEOUT:?}\n{}\nstandalone log:\n{}",
                describe.join("\n"),
                standalone.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `connectors mount NS/CONNECTOR --configuration CONFIGURATION --out OUT`.
pub fn mount(standalone: &Standalone, connector: &str, configuration: &str, out: &Path) {
    standalone
        .cli_ok(&[
            "mount",
            &format!("{NS}/{connector}"),
            "--configuration",
            configuration,
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
}

/// A CA as an organisation makes it with openssl (`kind`: `ec` or `rsa`),
/// valid for `days`: `(key file, certificate file)` in `dir`.
pub fn openssl_ca(dir: &Path, name: &str, kind: &str, days: u32) -> (PathBuf, PathBuf) {
    let (key, crt) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.crt")),
    );
    let newkey: &[&str] = match kind {
        "ec" => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        _ => &["-newkey", "rsa:2048"],
    };
    let out = Command::new(connectors_testkit::process::find_program("openssl").unwrap())
        .args(["req", "-x509", "-nodes", "-days", &days.to_string()])
        .args(newkey)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .args(["-subj", &format!("/O=Acme/CN={name}")])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {}", text(&out.stderr));
    (key, crt)
}

/// Replaces the proxy CA files of `data` the way a rotation does: each
/// file written next to its place with its final mode, then renamed.
pub fn install_ca(data: &Path, (key, crt): &(PathBuf, PathBuf)) {
    for (from, name, mode) in [(key, "proxy-ca.key", 0o600), (crt, "proxy-ca.crt", 0o644)] {
        let tmp = data.join(format!(".{name}.new"));
        std::fs::copy(from, &tmp).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).unwrap();
        std::fs::rename(&tmp, data.join(name)).unwrap();
    }
}
