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
use std::process::Command;
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
    let server = start_server(args.nginx_workers)?;
    let tmp = connectors_testkit::interrupt::scratch_dir("connectors-bench-git-")?;
    let git = GitEnv::new()?;
    let (commit, pack_bytes) = create_served_repo(&git, &server, tmp.path(), args.size_mb)?;
    let proxy = start_proxy(&bin, &server, tmp.path(), &common.proxy_log_level)?;
    std::thread::sleep(Duration::from_secs(1));
    let idle = proxy.rss_kib()?;

    let plan = ClonePlan {
        git: &git,
        dir: tmp.path(),
        direct_url: server.repo_url_with_credentials(REPO, USER, PASSWORD),
        proxied_url: format!(
            "{}/{REPO}",
            proxy.standalone.connector_proxy_url(NAMESPACE, CONNECTOR)
        ),
        extra_header: format!("http.extraHeader=Authorization: Bearer {}", proxy.token),
        checkout: if args.checkout {
            "--checkout"
        } else {
            "--no-checkout"
        },
        commit: &commit,
        pack_bytes,
        repeat: args.repeat,
    };
    let (direct, proxied) = plan.run_all()?;
    let peak = proxy.peak_rss_kib()?;
    Ok(GitReport::new(pack_bytes, direct, proxied, idle, peak))
}

/// Starts the testkit Git server with `nginx_workers` nginx workers and
/// the bench user.
fn start_server(nginx_workers: usize) -> Result<GitServer> {
    let server = GitServer::start(GitServerOptions {
        nginx_workers,
        ..GitServerOptions::default()
    })
    .context("starting the Git server (nginx, fcgiwrap and git are needed; scripts/test --deps-only installs them)")?;
    server.add_user(USER, PASSWORD)?;
    eprintln!(
        "[git-clone] git server on {} ({} nginx worker(s))",
        server.root_url(),
        nginx_workers
    );
    Ok(server)
}

/// Creates the repository served by `server` with `size_mb` MiB of
/// content and prints its commit, pack size and how long it took. Returns
/// the commit id and the size of the pack.
fn create_served_repo(
    git: &GitEnv,
    server: &GitServer,
    tmp: &Path,
    size_mb: u64,
) -> Result<(String, u64)> {
    let t0 = Instant::now();
    let (commit, pack_bytes) = create_repo(git, &server.repo_path(REPO), tmp, size_mb << 20)?;
    eprintln!(
        "[git-clone] repository {REPO}: commit {commit}, pack {:.1} MB, made in {:.1}s",
        pack_bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    Ok((commit, pack_bytes))
}

/// Starts `connectors standalone` (binary `bin`, manifests under `tmp`)
/// with the Git connector to `server` and its credentials.
fn start_proxy(bin: &Path, server: &GitServer, tmp: &Path, log_level: &str) -> Result<Proxy> {
    let manifests = vec![
        proxy_process::basic_auth_secret("bench-git-creds", USER, PASSWORD),
        proxy_process::git_connector(CONNECTOR, &server.url(), "bench-git-creds", None),
    ];
    let proxy = Proxy::start(bin, &tmp.join("manifests"), &manifests, log_level, 0, &[])?;
    eprintln!(
        "[git-clone] connectors standalone (pid {}) on {}",
        proxy.standalone.pid(),
        proxy.standalone.proxy_url()
    );
    Ok(proxy)
}

/// What the clones of a run need: where they go, where they come from
/// directly and through the proxy, and what they must end up with.
struct ClonePlan<'a> {
    git: &'a GitEnv,
    /// Each clone goes into its own directory under this one.
    dir: &'a Path,
    /// The repository on the Git server, credentials in the URL.
    direct_url: String,
    /// The repository through the proxy's Git connector.
    proxied_url: String,
    /// The `-c` setting that gives proxied clones the proxy's token.
    extra_header: String,
    /// `--checkout` or `--no-checkout`.
    checkout: &'static str,
    /// The commit every clone must have as HEAD.
    commit: &'a str,
    pack_bytes: u64,
    /// Clones per mode, as asked for (and printed).
    repeat: usize,
}

impl ClonePlan<'_> {
    /// Clones `repeat` times (at least once) per mode, direct and proxied
    /// alternating. Returns the seconds of the direct clones and of the
    /// proxied ones.
    fn run_all(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        let mut direct = Vec::new();
        let mut proxied = Vec::new();
        for i in 1..=self.repeat.max(1) {
            for mode in ["direct", "proxied"] {
                let secs = self.clone_once(i, mode)?;
                if mode == "direct" {
                    direct.push(secs);
                } else {
                    proxied.push(secs);
                }
            }
        }
        Ok((direct, proxied))
    }

    /// Run `i` of `mode`: clones, checks the clone's HEAD, deletes the
    /// clone and prints its time. Returns the seconds the clone took.
    fn clone_once(&self, i: usize, mode: &str) -> Result<f64> {
        let dest = self.dir.join(format!("clone-{mode}-{i}"));
        let dest_s = dest.to_str().context("non-UTF-8 temporary path")?;
        let mut cmd = self.clone_command(mode, dest_s);
        eprintln!("[git-clone] run {i}/{} {mode}: cloning", self.repeat);
        let secs = timed_clone(&mut cmd, mode)?;
        self.check_head(mode, dest_s)?;
        std::fs::remove_dir_all(&dest)?;
        eprintln!(
            "[git-clone] run {i}/{} {mode}: {secs:.2}s ({:.1} MB/s)",
            self.repeat,
            self.pack_bytes as f64 / 1e6 / secs
        );
        Ok(secs)
    }

    /// `git clone` into `dest` in `mode`: from the server directly, or
    /// through the proxy with its token.
    fn clone_command(&self, mode: &str, dest: &str) -> Command {
        let mut cmd = self.git.command();
        if mode == "proxied" {
            cmd.args(["-c", &self.extra_header]);
            cmd.args(["clone", "-q", self.checkout, &self.proxied_url, dest]);
        } else {
            cmd.args(["clone", "-q", self.checkout, &self.direct_url, dest]);
        }
        cmd
    }

    /// Fails unless the clone in `dest` has the expected commit as HEAD.
    fn check_head(&self, mode: &str, dest: &str) -> Result<()> {
        let head = self
            .git
            .run(&["-C", dest, "rev-parse", "HEAD"])?
            .ok("git rev-parse HEAD")?;
        if head.stdout.trim() != self.commit {
            bail!(
                "the {mode} clone has HEAD {}, expected {}",
                head.stdout.trim(),
                self.commit
            );
        }
        Ok(())
    }
}

/// Runs the clone `cmd` of `mode`, failing with git's output when it
/// fails. Returns the seconds it took.
fn timed_clone(cmd: &mut Command, mode: &str) -> Result<f64> {
    let start = Instant::now();
    let out = output_with_timeout(cmd, CLONE_TIMEOUT)?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "git clone ({mode}) failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(secs)
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
    write_seed_files(&work, bytes)?;
    commit_and_repack(git, bare_s, work_s)?;
    std::fs::remove_dir_all(&work)?;
    let commit = main_commit(git, bare_s)?;
    let pack_bytes = pack_size(bare)?;
    Ok((commit, pack_bytes))
}

/// Writes into `work` a README and random files of up to `FILE_BYTES`
/// each, totalling `bytes`.
fn write_seed_files(work: &Path, bytes: u64) -> Result<()> {
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
    Ok(())
}

/// Commits the work tree `work_s` into the bare repository `bare_s`,
/// then repacks it into one pack without delta search and prunes loose
/// objects.
fn commit_and_repack(git: &GitEnv, bare_s: &str, work_s: &str) -> Result<()> {
    let tree = ["--git-dir", bare_s, "--work-tree", work_s];
    run_uncompressed(git, &[&tree[..], &["add", "-A"]].concat(), "git add")?;
    run_uncompressed(
        git,
        &[&tree[..], &["commit", "-q", "-m", "random content"]].concat(),
        "git commit",
    )?;
    run_uncompressed(
        git,
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
    run_uncompressed(git, &["--git-dir", bare_s, "prune"], "git prune")
}

/// Runs git with `args`, compression off and large blobs packed
/// directly, failing with `what` unless it succeeds.
fn run_uncompressed(git: &GitEnv, args: &[&str], what: &str) -> Result<()> {
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
    a.extend_from_slice(args);
    git.run(&a)?.ok(what)?;
    Ok(())
}

/// The commit id of `refs/heads/main` in the bare repository `bare_s`.
fn main_commit(git: &GitEnv, bare_s: &str) -> Result<String> {
    Ok(git
        .run(&["--git-dir", bare_s, "rev-parse", "refs/heads/main"])?
        .ok("git rev-parse")?
        .stdout
        .trim()
        .to_string())
}

/// The total size of the packs of bare repository `bare`; fails if it
/// has none.
fn pack_size(bare: &Path) -> Result<u64> {
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
    Ok(pack_bytes)
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
