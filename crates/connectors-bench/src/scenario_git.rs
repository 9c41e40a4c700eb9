//! The `git-clone` scenario: a repository with a large pack cloned
//! directly from nginx and through the proxy, alternating.

use crate::cli::{CommonArgs, GitArgs};
use crate::proxy_process::{self, Proxy, NAMESPACE};
use crate::report::GitReport;
use anyhow::{bail, Context, Result};
use connectors_testkit::process::output_with_timeout;
use connectors_testkit::{GitEnv, GitServer, GitServerOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const USER: &str = "bench";
const PASSWORD: &str = "bench-password-0123";
const REPO: &str = "bench.git";
const CONNECTOR: &str = "git";
/// Size of one random file of the repository.
const FILE_BYTES: u64 = 8 << 20;
/// Longest one clone may take.
const CLONE_TIMEOUT: Duration = Duration::from_secs(900);

/// Runs the scenario.
pub fn run(args: &GitArgs, common: &CommonArgs) -> Result<GitReport> {
    let bin = proxy_process::find_binary(common.connectors_bin.as_deref())?;
    let server = GitServer::start(GitServerOptions {
        nginx_workers: args.nginx_workers,
        ..GitServerOptions::default()
    })
    .context("starting the Git server (nginx, fcgiwrap and git are needed; scripts/test --deps-only installs them)")?;
    server.add_user(USER, PASSWORD)?;
    eprintln!(
        "[git-clone] git server on {} ({} nginx worker(s))",
        server.root_url(),
        args.nginx_workers
    );

    let tmp = connectors_testkit::interrupt::scratch_dir("connectors-bench-git-")?;
    let git = GitEnv::new()?;
    let t0 = Instant::now();
    let (commit, pack_bytes) = create_repo(
        &git,
        &server.repo_path(REPO),
        tmp.path(),
        args.size_mb << 20,
    )?;
    eprintln!(
        "[git-clone] repository {REPO}: commit {commit}, pack {:.1} MB, made in {:.1}s",
        pack_bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );

    let manifests = vec![
        proxy_process::basic_auth_secret("bench-git-creds", USER, PASSWORD),
        proxy_process::git_connector(CONNECTOR, &server.url(), "bench-git-creds", None),
    ];
    let proxy = Proxy::start(
        &bin,
        &tmp.path().join("manifests"),
        &manifests,
        &common.proxy_log_level,
        0,
        &[],
    )?;
    eprintln!(
        "[git-clone] connectors standalone (pid {}) on {}",
        proxy.standalone.pid(),
        proxy.standalone.proxy_url()
    );
    std::thread::sleep(Duration::from_secs(1));
    let idle = proxy.rss_kib()?;

    let direct_url = server.repo_url_with_credentials(REPO, USER, PASSWORD);
    let proxied_url = format!(
        "{}/{REPO}",
        proxy.standalone.connector_proxy_url(NAMESPACE, CONNECTOR)
    );
    let extra_header = format!("http.extraHeader=Authorization: Bearer {}", proxy.token);
    let checkout = if args.checkout {
        "--checkout"
    } else {
        "--no-checkout"
    };

    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for i in 1..=args.repeat.max(1) {
        for mode in ["direct", "proxied"] {
            let dest = tmp.path().join(format!("clone-{mode}-{i}"));
            let dest_s = dest.to_str().context("non-UTF-8 temporary path")?;
            let mut cmd = git.command();
            if mode == "proxied" {
                cmd.args(["-c", &extra_header]);
                cmd.args(["clone", "-q", checkout, &proxied_url, dest_s]);
            } else {
                cmd.args(["clone", "-q", checkout, &direct_url, dest_s]);
            }
            eprintln!("[git-clone] run {i}/{} {mode}: cloning", args.repeat);
            let start = Instant::now();
            let out = output_with_timeout(&mut cmd, CLONE_TIMEOUT)?;
            let secs = start.elapsed().as_secs_f64();
            if !out.status.success() {
                bail!(
                    "git clone ({mode}) failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let head = git
                .run(&["-C", dest_s, "rev-parse", "HEAD"])?
                .ok("git rev-parse HEAD")?;
            if head.stdout.trim() != commit {
                bail!(
                    "the {mode} clone has HEAD {}, expected {commit}",
                    head.stdout.trim()
                );
            }
            std::fs::remove_dir_all(&dest)?;
            eprintln!(
                "[git-clone] run {i}/{} {mode}: {secs:.2}s ({:.1} MB/s)",
                args.repeat,
                pack_bytes as f64 / 1e6 / secs
            );
            if mode == "direct" {
                direct.push(secs);
            } else {
                proxied.push(secs);
            }
        }
    }
    let peak = proxy.peak_rss_kib()?;
    Ok(GitReport::new(pack_bytes, direct, proxied, idle, peak))
}

/// Makes bare repository `bare` (HEAD `main`) with one commit of
/// random files totalling `bytes`, packed without compression or deltas. Returns
/// the commit id and the size of the pack.
fn create_repo(git: &GitEnv, bare: &Path, tmp: &Path, bytes: u64) -> Result<(String, u64)> {
    let bare_s = bare.to_str().context("non-UTF-8 repository path")?;
    git.run(&["init", "-q", "--bare", "-b", "main", bare_s])?
        .ok("git init --bare")?;
    let work = tmp.join("seed");
    std::fs::create_dir_all(&work)?;
    let work_s = work.to_str().context("non-UTF-8 temporary path")?;
    std::fs::write(
        work.join("README.md"),
        format!("# {REPO}\n\n{bytes} random bytes.\n"),
    )?;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    let mut left = bytes;
    let mut i = 0;
    let mut buf = vec![0u8; FILE_BYTES as usize];
    while left > 0 {
        let n = left.min(FILE_BYTES) as usize;
        rng.fill(&mut buf[..n]);
        let mut f = std::fs::File::create(work.join(format!("data-{i:04}.bin")))?;
        f.write_all(&buf[..n])?;
        left -= n as u64;
        i += 1;
    }
    let tree = ["--git-dir", bare_s, "--work-tree", work_s];
    let run = |extra: &[&str], what: &str| -> Result<()> {
        // No compression, no delta search (random data has none to find),
        // and large blobs go straight into a pack: seconds, not minutes.
        let mut a: Vec<&str> = vec![
            "-c",
            "core.compression=0",
            "-c",
            "pack.compression=0",
            "-c",
            "core.bigFileThreshold=1m",
        ];
        a.extend_from_slice(extra);
        git.run(&a)?.ok(what)?;
        Ok(())
    };
    run(&[&tree[..], &["add", "-A"]].concat(), "git add")?;
    run(
        &[&tree[..], &["commit", "-q", "-m", "random content"]].concat(),
        "git commit",
    )?;
    run(
        &[
            "--git-dir",
            bare_s,
            "repack",
            "-a",
            "-d",
            "-q",
            "--window=0",
        ],
        "git repack",
    )?;
    run(&["--git-dir", bare_s, "prune"], "git prune")?;
    std::fs::remove_dir_all(&work)?;
    let commit = git
        .run(&["--git-dir", bare_s, "rev-parse", "refs/heads/main"])?
        .ok("git rev-parse")?
        .stdout
        .trim()
        .to_string();
    let mut pack_bytes = 0;
    for e in std::fs::read_dir(bare.join("objects/pack"))? {
        let e = e?;
        if e.path().extension().is_some_and(|x| x == "pack") {
            pack_bytes += e.metadata()?.len();
        }
    }
    if pack_bytes == 0 {
        bail!("git repack left no pack in {}", bare.display());
    }
    Ok((commit, pack_bytes))
}

/// xorshift64*: fast, incompressible-enough bytes (no need for crypto).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
