//! Command-line flags of `connectors-bench`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Benchmarks of the Connectors proxy. Each scenario measures a baseline
/// and the proxy in the same run and prints ratios against it; targets are
/// reported as PASS/MISS lines and never make the program fail.
///
/// Progress goes to stderr, the result table to stdout. nginx, htpasswd,
/// git and fcgiwrap must be installed (`scripts/test --deps-only` installs
/// them). The proxy is the release binary `connectors` next to this
/// program (build it with `cargo build --release -p connectors`) unless
/// --connectors-bin names another.
///
/// Examples:
///   cargo build --release -p connectors
///   cargo run --release -p connectors-bench -- proxy
///   cargo run --release -p connectors-bench -- git-clone --json git.json
#[derive(Parser, Debug)]
#[command(name = "connectors-bench", max_term_width = 100, verbatim_doc_comment)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Flags every scenario takes.
#[derive(Args, Debug)]
pub struct CommonArgs {
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE", global = true)]
    pub json: Option<PathBuf>,
    /// The `connectors` binary to run as `connectors standalone`
    /// (default: `connectors` next to this program, i.e. target/release).
    #[arg(long, value_name = "PATH", global = true)]
    pub connectors_bin: Option<PathBuf>,
    /// `--log-level` given to `connectors standalone` (the default adds
    /// the line saying whose AES-GCM its TLS took, shown in the report).
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "warn,connectors_proxy::tls=info",
        global = true
    )]
    pub proxy_log_level: String,
}

#[derive(Subcommand, Debug)]
pub enum Scenario {
    /// Small requests and a streamed 1 GiB body: nginx direct, our reverse
    /// proxy, an nginx reverse proxy (the anchor) and our forward proxy with
    /// CONNECT interception.
    ///
    /// An upstream nginx is configured in a temporary directory on
    /// 127.0.0.1: `/small` answers ~100 bytes, `/big.bin` is a sparse 1 GiB
    /// file, both behind Basic auth from an `htpasswd -s` ({SHA}) file, on a
    /// plain HTTP port and a TLS port (certificate from a throw-away CA;
    /// TLS 1.2 and 1.3 on every nginx listener and upstream, where nginx
    /// 1.22 would offer only up to 1.2).
    ///
    /// Modes, each measured with the built-in load generator (N keep-alive
    /// HTTP/1.1 connections, one request at a time per connection):
    ///   direct        client -> nginx, sends the real Authorization (baseline)
    ///   direct-tls    client -> nginx TLS port, real Authorization
    ///                 (baseline of the CONNECT mode)
    ///   ours-reverse  client -> connectors standalone, path
    ///                 /namespaces/bench/connectors/plain/..., Bearer token
    ///   nginx-anchor  client -> second nginx with proxy_pass, a static
    ///                 Authorization (proxy_set_header) and upstream keepalive 64
    ///                 (baseline of ours-reverse)
    ///   nginx-anchor-tls  client -TLS-> the same nginx, TLS to the upstream's
    ///                 TLS port, same header and keepalive (baseline of
    ///                 ours-forward: the same TLS work on both sides)
    ///   ours-forward  client -> CONNECT through connectors standalone
    ///                 (Proxy-Authorization: Basic bench/tls:TOKEN), TLS to
    ///                 the proxy's leaf certificate, requests inside the tunnel
    ///
    /// Reference relays, when `haproxy` is on PATH (apt-get install haproxy;
    /// --no-haproxy skips them): haproxy in TCP mode reads no HTTP and only
    /// moves bytes, with as many threads as the anchor has workers, so its
    /// body MB/s over direct shows what any relay can reach on this machine:
    ///   haproxy-tcp   client -> haproxy -> nginx, spliced through a 1 MiB
    ///                 pipe (as our reverse proxy does for long bodies);
    ///                 the client sends the real Authorization
    ///   haproxy-tls   client -TLS-> haproxy -TLS-> nginx TLS port (the same
    ///                 cryptographic work as ours-forward)
    ///
    /// Printed per mode: requests/s, p50 and p99 latency of small requests
    /// (the median of --rounds rounds; modes take turns within a round),
    /// the added p99 over its direct baseline (direct, or direct-tls for
    /// ours-forward), the median MB/s of the 1 GiB body (--body-repeat
    /// downloads per mode, streamed and counted, never buffered; the file
    /// is read once beforehand so every mode is served from the page
    /// cache); when `wrk` is on PATH, its req/s, p50 and p99 for direct,
    /// ours-reverse and nginx-anchor as a cross-check. Then the RSS of the
    /// proxy process (VmRSS when idle after start, VmHWM after each phase),
    /// CPU time (user+system, from /proc) per small request and per GiB of
    /// body for each tier: client (this program), middle (our proxy or the
    /// anchor) and upstream nginx,
    /// ratios (also round by round, each over its baseline of the same round,
    /// to show their spread), and PASS/MISS target lines on the medians:
    /// small-request req/s >= 1.0x the anchor doing the same work
    /// (nginx-anchor for ours-reverse, nginx-anchor-tls for ours-forward),
    /// added p99 <= that anchor's, body MB/s >= 0.9x direct (direct-tls for
    /// ours-forward), idle RSS <= 30 MiB.
    /// On a virtual machine, the share of the machine's CPU time the
    /// hypervisor gave to other tenants (steal, from /proc/stat) is shown
    /// for each phase and after each download, with a warning above 2%:
    /// such a run measures the host's load more than the programs.
    /// Then a table of the machine during each mode's body downloads: how
    /// busy it was, the CPU time per GiB spent on interrupts (loopback TCP's
    /// receive work, charged to no process), all the CPU time per GiB, and
    /// the body ratio over the mode's direct baseline that CPU time alone
    /// would allow (the baseline's CPU per GiB over the mode's).
    /// The header says which TCP congestion control the host uses and which
    /// one every sender of the run uses on its loopback connections: the
    /// proxy, nginx and haproxy (--loopback-congestion; the load generator
    /// and curl only send requests).
    /// The proxy gets as many worker threads as the anchor has workers.
    ///
    /// The load generator runs in this process on a multi-threaded runtime;
    /// on a small machine client, proxy and upstream share the cores, so
    /// compare ratios, not absolute numbers. Both nginx instances default to
    /// one worker process each, which makes the anchor comparable to one
    /// proxy process.
    #[command(verbatim_doc_comment)]
    Proxy(ProxyArgs),
    /// `git clone` of a repository with a large pack, directly from nginx
    /// and through the proxy, alternating.
    ///
    /// A testkit Git server (nginx + fcgiwrap + git http-backend, Basic
    /// auth) serves a bare repository of random, incompressible files
    /// committed once and packed with pack.compression=0 (so the server
    /// streams the stored pack). Runs alternate: direct (credentials in the
    /// URL), then proxied (`http.extraHeader: Authorization: Bearer TOKEN`
    /// and the proxy URL /namespaces/bench/connectors/git/bench.git);
    /// each clone is deleted after its run.
    ///
    /// Printed: the actual pack size, every run's seconds, the median
    /// seconds and MB/s (pack bytes / seconds) per mode, the throughput
    /// ratio proxied/direct, the proxy's idle RSS and peak RSS (VmHWM of
    /// the one standalone process, so it covers start-up and every proxied
    /// clone), and PASS/MISS lines: ratio >= 0.9, peak RSS < 50 MiB.
    #[command(verbatim_doc_comment)]
    GitClone(GitArgs),
}

/// Flags of the `proxy` scenario.
#[derive(Args, Debug, Clone)]
pub struct ProxyArgs {
    /// Measured duration of the small-request load per mode.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Warm-up before each measurement (same load, not recorded).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Rounds of small-request load; every round runs all modes in turn
    /// (so drift hits them alike) and the median round is reported. A round
    /// in which the hypervisor took more than 2% of the CPU time (steal) is
    /// dropped and run again, at most N times in all.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub rounds: usize,
    /// Concurrent keep-alive connections of the small-request load.
    #[arg(long, short = 'c', value_name = "N", default_value_t = 32)]
    pub connections: usize,
    /// Size of the streamed body in MiB (a sparse file: no disk used).
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub body_mib: u64,
    /// Downloads of the body per mode (modes alternate, one download per
    /// mode a round); the median MB/s is reported. A round in which the
    /// hypervisor took more than 2% of the CPU time (steal) is dropped and
    /// run again, at most N times in all.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub body_repeat: usize,
    /// nginx worker processes of the upstream.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub upstream_workers: usize,
    /// nginx worker processes of the anchor (the nginx reverse proxy); the
    /// proxy under test gets as many worker threads (`--proxy-workers`).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub anchor_workers: usize,
    /// Worker threads of this program's runtime (the load generator);
    /// default: one per CPU.
    #[arg(long, value_name = "N")]
    pub client_threads: Option<usize>,
    /// Skip the `wrk` cross-check even when wrk is on PATH.
    #[arg(long)]
    pub no_wrk: bool,
    /// Skip the large-body downloads.
    #[arg(long)]
    pub no_body: bool,
    /// Download the body only in these modes (comma-separated names as the
    /// report prints them, e.g. `direct,ours-reverse`); default: every mode.
    #[arg(long, value_name = "MODE,...", value_delimiter = ',')]
    pub body_modes: Vec<String>,
    /// Skip the haproxy reference relays even when haproxy is on PATH.
    #[arg(long)]
    pub no_haproxy: bool,
    /// What downloads the large body: `curl` (a curl process per download,
    /// timed by curl from its ready request to the last byte) or `builtin`
    /// (this program's HTTP client, on one thread).
    #[arg(long, value_enum, default_value_t = BodyClient::Curl)]
    pub body_client: BodyClient,
    /// TCP congestion control of every sender in the run: the proxy (passed
    /// on as `connectors standalone --loopback-congestion`), and nginx and
    /// haproxy, whose listening sockets this program makes with it and
    /// hands over. `host`: everyone keeps the host's default.
    #[arg(long, value_name = "NAME|host", default_value = "reno")]
    pub loopback_congestion: String,
}

/// The client of the large-body downloads.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyClient {
    Curl,
    Builtin,
}

impl BodyClient {
    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            BodyClient::Curl => "curl (one process per download, body to /dev/null)",
            BodyClient::Builtin => "this program's HTTP client (one thread)",
        }
    }
}

/// Flags of the `git-clone` scenario.
#[derive(Args, Debug, Clone)]
pub struct GitArgs {
    /// Size of the repository content in MiB (random, incompressible);
    /// the pack is slightly larger.
    #[arg(long, value_name = "MIB", default_value_t = 220)]
    pub size_mb: u64,
    /// Clones per mode (direct and proxied alternate).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub repeat: usize,
    /// Also check out the work tree (default: `--no-checkout`, so the
    /// figure is transfer plus index-pack, not file writes).
    #[arg(long)]
    pub checkout: bool,
    /// nginx worker processes of the Git server.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub nginx_workers: usize,
}
