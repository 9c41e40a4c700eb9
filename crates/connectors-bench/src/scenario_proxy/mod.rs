//! The `proxy` scenario: small requests and a large streamed body through
//! nginx directly, our reverse proxy, an nginx reverse proxy and our
//! CONNECT-intercepting forward proxy.

mod body;
mod modes;
mod peers;
mod small;
mod tally;

use crate::cli::{CommonArgs, ProxyArgs};
use crate::proxy_process::{self, Proxy};
use crate::report::{self, Congestion, Figures, ModeRow, ProxyFigures, ProxyReport};
use anyhow::Result;
use modes::Mode;
use peers::Peers;
use std::time::Duration;
use tokio::runtime::Runtime;

/// What the stages of a run share.
struct Bench<'a> {
    rt: &'a Runtime,
    args: &'a ProxyArgs,
    peers: &'a Peers,
    /// Every mode, in the order they run.
    modes: &'a [Mode],
    /// Size of the large body.
    body_bytes: u64,
}

/// What the run notes as it goes, for the report: our proxy's memory and
/// the CPU time the hypervisor took from the machine.
#[derive(Default)]
struct Samples {
    /// The proxy's RSS in KiB, the first one at idle.
    rss: Vec<(String, u64)>,
    /// Steal in percent of the machine's CPU time, by stage.
    steal: Vec<(String, f64)>,
}

impl Samples {
    /// Notes the proxy's current RSS (VmRSS) as `label`.
    fn rss_now(&mut self, label: &str, proxy: &Proxy) -> Result<()> {
        self.rss.push((label.to_string(), proxy.rss_kib()?));
        Ok(())
    }

    /// Notes the proxy's peak RSS (VmHWM) as `label`.
    fn peak_rss(&mut self, label: impl Into<String>, proxy: &Proxy) -> Result<()> {
        self.rss.push((label.into(), proxy.peak_rss_kib()?));
        Ok(())
    }
}

/// Runs the scenario.
pub fn run(rt: &Runtime, args: &ProxyArgs, common: &CommonArgs) -> Result<ProxyReport> {
    modes::check_body_modes(&args.body_modes)?;
    let bin = proxy_process::find_binary(common.connectors_bin.as_deref())?;
    let body_bytes = args.body_mib << 20;
    let tmp = connectors_testkit::interrupt::scratch_dir("connectors-bench-proxy-")?;
    let dir = tmp.path();
    eprintln!("[proxy] working in {}", dir.display());

    let peers = Peers::start(dir, &bin, args, &common.proxy_log_level, body_bytes)?;
    let modes = modes::build(dir, &peers)?;
    let bench = Bench {
        rt,
        args,
        peers: &peers,
        modes: &modes,
        body_bytes,
    };
    std::thread::sleep(Duration::from_secs(1));
    let mut samples = Samples::default();
    samples.rss_now("idle after start (VmRSS, before any request)", &peers.proxy)?;
    bench.check_answers()?;

    let use_wrk = small::use_wrk(args);
    let tallies = bench.small_rounds(&mut samples)?;
    let mut rows = bench.rows(tallies, use_wrk);
    if use_wrk {
        samples.peak_rss("peak after wrk runs (VmHWM)", &peers.proxy)?;
    }
    if !args.no_body {
        bench.body_downloads(&mut rows, &mut samples)?;
    }
    samples.rss_now("at the end (VmRSS)", &peers.proxy)?;

    set_added_p99(&modes, &mut rows);
    let figures = figures(&rows, samples.rss[0].1);
    peers.print_log_errors();
    let tls_aes = proxy_process::aes_choice(&peers.proxy.standalone.log_text());
    // Stops the peers in the order of their fields.
    drop(peers);
    Ok(assemble(args, body_bytes, rows, samples, &figures, tls_aes))
}

/// Sets each row's p99 minus the p99 of its mode's baseline (none for the
/// baselines themselves).
fn set_added_p99(modes: &[Mode], rows: &mut [ModeRow]) {
    let p99_of = |name: &str| {
        rows.iter()
            .find(|r| r.mode == name)
            .map(|r| r.small.p99_ms)
            .unwrap_or(0.0)
    };
    let added: Vec<Option<f64>> = modes
        .iter()
        .zip(rows.iter())
        .map(|(m, r)| (m.baseline != m.name).then(|| r.small.p99_ms - p99_of(m.baseline)))
        .collect();
    for (row, a) in rows.iter_mut().zip(added) {
        row.added_p99_ms = a;
    }
}

/// The figures the ratios and the checks compare, by mode.
fn figures(rows: &[ModeRow], idle_rss_kib: u64) -> ProxyFigures {
    let some_fig = |name: &str| rows.iter().find(|r| r.mode == name).map(Figures::from);
    let fig = |name: &str| -> Figures { some_fig(name).expect("every mode has a row") };
    ProxyFigures {
        direct: fig("direct"),
        direct_tls: fig("direct-tls"),
        reverse: fig("ours-reverse"),
        anchor: fig("nginx-anchor"),
        anchor_tls: fig("nginx-anchor-tls"),
        forward: fig("ours-forward"),
        relay: some_fig("haproxy-tcp"),
        relay_tls: some_fig("haproxy-tls"),
        idle_rss_kib,
    }
}

/// The report of the run.
fn assemble(
    args: &ProxyArgs,
    body_bytes: u64,
    rows: Vec<ModeRow>,
    samples: Samples,
    figures: &ProxyFigures,
    tls_aes: Option<String>,
) -> ProxyReport {
    let paired = report::proxy_paired(&rows);
    ProxyReport {
        connections: args.connections,
        rounds: args.rounds.max(1),
        duration_s: args.duration.as_secs_f64(),
        body_bytes,
        upstream_workers: args.upstream_workers,
        anchor_workers: args.anchor_workers,
        congestion: Congestion {
            host: host_congestion_control(),
            senders: args.loopback_congestion.clone(),
        },
        tls_aes,
        modes: rows,
        rss: samples.rss,
        steal: samples.steal,
        ratios: report::proxy_ratios(figures),
        paired,
        checks: report::proxy_checks(figures),
    }
}

/// The host's default TCP congestion control, when Linux says.
fn host_congestion_control() -> Option<String> {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
