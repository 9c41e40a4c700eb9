//! The `proxy` scenario end to end, small: real nginx (given its listening
//! sockets by the bench), the `connectors` binary of this build, curl for
//! the body. The figures of a debug build mean nothing; what is checked is
//! that every mode answers and is measured, and what the report says about
//! the run.

use std::path::PathBuf;
use std::process::Command;

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

#[test]
fn an_interrupted_run_stops_its_peers_and_removes_its_files() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let bin = connectors_bin();
    let mut bench = Command::new(env!("CARGO_BIN_EXE_connectors-bench"))
        .arg("--connectors-bin")
        .arg(&bin)
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
        .unwrap();
    let pid = bench.id();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = bench.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    // Every peer is up once the first timed round has begun.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !seen
        .iter()
        .any(|l: &String| l.contains("round 1/1 direct: 2 connections"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("the first round did not begin: {seen:#?}"),
        }
    }
    let dir = seen
        .iter()
        .find_map(|l| l.strip_prefix("[proxy] working in "))
        .map(std::path::PathBuf::from)
        .expect("the working directory is named");
    assert!(dir.is_dir());
    let peers = connectors_testkit::process::children(pid);
    assert!(peers.len() >= 3, "nginx twice and the proxy: {peers:?}");

    // SAFETY: kill(2) on the bench's pid, a child of this test not yet
    // reaped.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = bench.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the bench did not end");
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    let said: Vec<String> = rx.try_iter().collect();
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
