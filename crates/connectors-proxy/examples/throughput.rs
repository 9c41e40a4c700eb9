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

#[tokio::main]
async fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let size = mib << 20;
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
    let rss_start = peak_rss_kib();

    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for _ in 0..3 {
        let (n, d) = download(
            up.addr,
            &format!("/download?size={size}"),
            &up.addr.to_string(),
            &[],
        )
        .await;
        assert_eq!(n, size);
        direct.push(d);
        let (n, d) = download(
            proxy.addr,
            &format!("/namespaces/ns/connectors/git/download?size={size}"),
            &proxy.addr.to_string(),
            &[("authorization", &auth)],
        )
        .await;
        assert_eq!(n, size);
        proxied.push(d);
    }
    let best = |v: &[Duration]| v.iter().min().copied().unwrap_or_default();
    let mbps = |d: Duration| size as f64 / (1 << 20) as f64 / d.as_secs_f64();
    let (bd, bp) = (best(&direct), best(&proxied));
    println!("body: {mib} MiB, best of 3");
    println!("direct:  {:.0} MiB/s", mbps(bd));
    println!("proxied: {:.0} MiB/s", mbps(bp));
    println!(
        "ratio proxied/direct: {:.2}",
        bd.as_secs_f64() / bp.as_secs_f64()
    );

    // Small requests: per-request cost with warm caches.
    let mut c = Conn::open(proxy.addr).await;
    let n = 2000;
    let started = Instant::now();
    for i in 0..n {
        let r = c
            .send(request(
                "GET",
                &format!("/namespaces/ns/connectors/git/x{i}"),
                &proxy.addr.to_string(),
                &[("authorization", &auth)],
            ))
            .await;
        assert!(r.status.is_success());
    }
    let proxied_small = started.elapsed();
    let mut d = Conn::open(up.addr).await;
    let started = Instant::now();
    for i in 0..n {
        let r = d
            .send(request("GET", &format!("/x{i}"), &up.addr.to_string(), &[]))
            .await;
        assert!(r.status.is_success());
    }
    let direct_small = started.elapsed();
    println!(
        "small requests: direct {:.0} µs, proxied {:.0} µs each (one keep-alive connection)",
        direct_small.as_micros() as f64 / n as f64,
        proxied_small.as_micros() as f64 / n as f64
    );
    println!(
        "process peak RSS (upstream, client and proxy together): {} KiB at start, {} KiB at end",
        rss_start,
        peak_rss_kib()
    );
}
