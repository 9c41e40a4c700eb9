//! Streams a large body through the proxy and directly from the same
//! upstream, in the same run, and prints the ratio of throughputs.
//!
//! `cargo run --release -p connectors-proxy --example throughput [MiB]`

#[path = "../tests/support/mod.rs"]
mod support;

use connectors_types::secret::BASIC_AUTH;
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::*;

async fn download(
    addr: SocketAddr,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> (usize, Duration) {
    let mut c = Conn::open(addr).await;
    let started = Instant::now();
    let resp = c.send_raw(request("GET", target, host, headers)).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    let mut body = resp.into_body();
    let mut n = 0;
    while let Some(f) = body.frame().await {
        if let Ok(d) = f.unwrap().into_data() {
            n += d.len();
        }
    }
    (n, started.elapsed())
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Number of large downloads per path; the fastest one counts.
const ROUNDS: usize = 3;
/// Number of small requests per path.
const SMALL_REQUESTS: u32 = 2000;

/// The upstream, the proxy in front of it, and the `Authorization` value
/// the proxy accepts. Fields drop in declaration order: the proxy stops
/// before its upstream.
struct Bench {
    proxy: RunningProxy,
    up: TestUpstream,
    auth: String,
}

/// Body size in MiB: the first argument, 256 when absent or unreadable.
fn body_mib() -> usize {
    std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256)
}

/// Starts the upstream and a proxy with Connector `ns/git` (class `git`,
/// Basic credentials of Secret `ns/cred`) in front of it; token `t`
/// authenticates as `ns:sa`.
async fn start() -> Bench {
    let catalog = MemCatalog::new();
    catalog.put_class(builtin_class("git"));
    let up = TestUpstream::start().await;
    catalog.put_secret(secret(
        "ns",
        "cred",
        BASIC_AUTH,
        &[("username", "u"), ("password", "p")],
    ));
    catalog.put_connector(connector(
        "ns",
        "git",
        "git",
        &up.base(),
        "basicAuth",
        Some("cred"),
    ));
    catalog.add_token("t", "ns", "sa");
    let proxy = start_proxy(catalog, test_config()).await;
    let auth = format!("Basic {}", b64(":t"));
    Bench { proxy, up, auth }
}

/// Downloads `size` bytes straight from the upstream.
async fn direct_download(bench: &Bench, size: usize) -> Duration {
    let (n, d) = download(
        bench.up.addr,
        &format!("/download?size={size}"),
        &bench.up.addr.to_string(),
        &[],
    )
    .await;
    assert_eq!(n, size);
    d
}

/// Downloads `size` bytes from the upstream through the proxy.
async fn proxied_download(bench: &Bench, size: usize) -> Duration {
    let (n, d) = download(
        bench.proxy.addr,
        &format!("/namespaces/ns/connectors/git/download?size={size}"),
        &bench.proxy.addr.to_string(),
        &[("authorization", &bench.auth)],
    )
    .await;
    assert_eq!(n, size);
    d
}

/// Alternates direct and proxied downloads [`ROUNDS`] times; returns the
/// durations of each path.
async fn large_downloads(bench: &Bench, size: usize) -> (Vec<Duration>, Vec<Duration>) {
    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for _ in 0..ROUNDS {
        direct.push(direct_download(bench, size).await);
        proxied.push(proxied_download(bench, size).await);
    }
    (direct, proxied)
}

/// Prints the best throughput of each path and their ratio.
fn print_large(mib: usize, size: usize, direct: &[Duration], proxied: &[Duration]) {
    let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default();
    let mbps = |d: Duration| size as f64 / (1 << 20) as f64 / d.as_secs_f64();
    let (bd, bp) = (best(direct), best(proxied));
    println!("body: {mib} MiB, best of {ROUNDS}");
    println!("direct:  {:.0} MiB/s", mbps(bd));
    println!("proxied: {:.0} MiB/s", mbps(bp));
    println!(
        "ratio proxied/direct: {:.2}",
        bd.as_secs_f64() / bp.as_secs_f64()
    );
}

/// Sends [`SMALL_REQUESTS`] requests through the proxy on one keep-alive
/// connection; returns the total time.
async fn proxied_small_requests(bench: &Bench) -> Duration {
    let mut c = Conn::open(bench.proxy.addr).await;
    let started = Instant::now();
    for i in 0..SMALL_REQUESTS {
        let r = c
            .send(request(
                "GET",
                &format!("/namespaces/ns/connectors/git/x{i}"),
                &bench.proxy.addr.to_string(),
                &[("authorization", &bench.auth)],
            ))
            .await;
        assert!(r.status.is_success());
    }
    started.elapsed()
}

/// Sends [`SMALL_REQUESTS`] requests straight to the upstream on one
/// keep-alive connection; returns the total time.
async fn direct_small_requests(bench: &Bench) -> Duration {
    let mut d = Conn::open(bench.up.addr).await;
    let started = Instant::now();
    for i in 0..SMALL_REQUESTS {
        let r = d
            .send(request(
                "GET",
                &format!("/x{i}"),
                &bench.up.addr.to_string(),
                &[],
            ))
            .await;
        assert!(r.status.is_success());
    }
    started.elapsed()
}

/// Prints the mean time per small request of each path.
fn print_small(direct: Duration, proxied: Duration) {
    println!(
        "small requests: direct {:.0} µs, proxied {:.0} µs each (one keep-alive connection)",
        direct.as_micros() as f64 / SMALL_REQUESTS as f64,
        proxied.as_micros() as f64 / SMALL_REQUESTS as f64
    );
}

/// Prints the peak resident set size at start and now.
fn print_rss(rss_start: u64) {
    println!(
        "process peak RSS (upstream, client and proxy together): {} KiB at start, {} KiB at end",
        rss_start,
        peak_rss_kib()
    );
}

#[tokio::main]
async fn main() {
    let mib = body_mib();
    let size = mib << 20;
    let bench = start().await;
    let rss_start = peak_rss_kib();

    let (direct, proxied) = large_downloads(&bench, size).await;
    print_large(mib, size, &direct, &proxied);

    // Small requests: per-request cost with warm caches.
    let proxied_small = proxied_small_requests(&bench).await;
    let direct_small = direct_small_requests(&bench).await;
    print_small(direct_small, proxied_small);
    print_rss(rss_start);
}
