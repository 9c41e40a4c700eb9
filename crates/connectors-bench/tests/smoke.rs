//! The `proxy` scenario end to end, small: real nginx (given its listening
//! sockets by the bench), the `connectors` binary of this build, curl for
//! the body. The figures of a debug build mean nothing; what is checked is
//! that every mode answers and is measured, and what the report says about
//! the run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The `connectors` binary next to this build's bench, built if missing.
fn connectors_bin() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_connectors-bench"));
    let bin = bench.with_file_name("connectors");
    if !bin.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "connectors", "--bin", "connectors"])
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build -p connectors failed");
    }
    bin
}

/// `connectors-bench [global] proxy` with one short round of everything,
/// then `extra`.
fn short_proxy_run(global: &[&std::ffi::OsStr], extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_connectors-bench"))
        .args(global)
        .args([
            "proxy",
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--rounds",
            "1",
            "--connections",
            "4",
            "--no-wrk",
            "--no-haproxy",
        ])
        .args(extra)
        .output()
        .expect("running connectors-bench")
}

#[test]
fn every_mode_is_measured_and_the_senders_share_one_congestion_control() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("proxy.json");
    let bin = connectors_bin();
    let out = short_proxy_run(
        &[
            "--connectors-bin".as_ref(),
            bin.as_os_str(),
            "--json".as_ref(),
            json.as_os_str(),
        ],
        &["--body-mib", "32", "--body-repeat", "1"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the body is downloaded by curl"),
        "{stderr}"
    );
    assert!(
        stdout.contains("connectors, nginx and haproxy on their loopback connections: reno"),
        "{stdout}"
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["congestion"]["senders"], "reno");
    let modes = report["modes"].as_array().unwrap();
    let names: Vec<&str> = modes.iter().map(|m| m["mode"].as_str().unwrap()).collect();
    for want in [
        "direct",
        "direct-tls",
        "ours-reverse",
        "nginx-anchor",
        "nginx-anchor-tls",
        "ours-forward",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    let mut client_cpu = 0.0;
    for m in modes {
        let name = &m["mode"];
        assert_eq!(m["errors"], 0, "{name}");
        assert!(m["small"]["rps"].as_f64().unwrap() > 0.0, "{name}");
        assert!(m["body_mb_s"].as_f64().unwrap() > 0.0, "{name}");
        client_cpu += m["body_cpu_s_per_gib"]["client"].as_f64().unwrap();
    }
    // curl's CPU time (a child's, once it has ended) is the client's.
    assert!(client_cpu > 0.0, "{report}");
}

#[test]
fn an_unknown_body_mode_is_refused_by_name() {
    let out = short_proxy_run(&[], &["--body-modes", "direct,no-such-mode"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--body-modes: no mode is called \"no-such-mode\""),
        "{stderr}"
    );
    assert!(stderr.contains("ours-reverse"), "{stderr}");
}

/// Starts `connectors-bench proxy` with `bin` for one long round of two
/// connections, its stderr piped and its stdout discarded.
fn spawn_long_proxy_run(bin: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_connectors-bench"))
        .arg("--connectors-bin")
        .arg(bin)
        .args([
            "proxy",
            "--duration",
            "60s",
            "--warmup",
            "0s",
            "--rounds",
            "1",
        ])
        .args(["--connections", "2", "--no-wrk", "--no-haproxy"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends each line of `child`'s stderr to the returned receiver from a
/// thread that ends with the stream.
fn forward_stderr(child: &mut Child) -> (Receiver<String>, JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (rx, reader)
}

/// The lines from `lines` up to and including the one saying the first
/// timed round has begun; panics if it does not come within two minutes.
fn wait_for_first_round(lines: &Receiver<String>) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !seen
        .iter()
        .any(|l: &String| l.contains("round 1/1 direct: 2 connections"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("the first round did not begin: {seen:#?}"),
        }
    }
    seen
}

/// The working directory the bench names in `seen`.
fn working_dir(seen: &[String]) -> PathBuf {
    seen.iter()
        .find_map(|l| l.strip_prefix("[proxy] working in "))
        .map(PathBuf::from)
        .expect("the working directory is named")
}

/// Sends SIGTERM to `child` and waits up to 30 seconds for it to end.
fn terminate(child: &mut Child) -> ExitStatus {
    // SAFETY: kill(2) on the pid of `child`, a child of this test not yet
    // reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the bench did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_interrupted_run_stops_its_peers_and_removes_its_files() {
    let mut bench = spawn_long_proxy_run(&connectors_bin());
    let (lines, reader) = forward_stderr(&mut bench);

    // Every peer is up once the first timed round has begun.
    let seen = wait_for_first_round(&lines);
    let dir = working_dir(&seen);
    assert!(dir.is_dir());
    let peers = connectors_testkit::process::children(bench.id());
    assert!(peers.len() >= 3, "nginx twice and the proxy: {peers:?}");

    let status = terminate(&mut bench);
    reader.join().unwrap();
    let said: Vec<String> = lines.try_iter().collect();

    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{said:#?}");
    assert!(
        said.iter().any(|l| l.contains("interrupted by SIGTERM")),
        "{said:#?}"
    );
    for p in &peers {
        assert!(
            !connectors_testkit::process::process_alive(*p),
            "child {p} still runs"
        );
    }
    assert!(!dir.exists(), "{} was left behind", dir.display());
}
