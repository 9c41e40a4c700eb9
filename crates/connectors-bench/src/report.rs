//! Ratios, target checks and the printed tables of both scenarios.

use crate::stats::LatencySummary;
use crate::wrk::WrkResult;
use serde::Serialize;

/// One mode of the `proxy` scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ModeRow {
    pub mode: String,
    /// What the client talks to.
    pub path: String,
    /// Median over the rounds of req/s, p50 and p99.
    pub small: LatencySummary,
    /// Every round's figures.
    pub rounds: Vec<LatencySummary>,
    pub errors: u64,
    pub reconnects: u64,
    /// p99 minus the p99 of this mode's direct baseline.
    pub added_p99_ms: Option<f64>,
    pub body_mb_s: Option<f64>,
    /// Every download's MB/s, in the order they ran.
    pub body_runs_mb_s: Vec<f64>,
    pub body_seconds: Option<f64>,
    pub wrk: Option<WrkResult>,
    /// CPU time per small request, in microseconds.
    pub cpu_us_per_request: CpuSplit,
    /// CPU time per GiB of streamed body, in seconds.
    pub body_cpu_s_per_gib: Option<CpuSplit>,
}

/// CPU time spent by each tier: this program (the client), the proxy in
/// the middle (ours or the anchor; none for direct modes) and the
/// upstream nginx.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CpuSplit {
    pub client: f64,
    pub middle: Option<f64>,
    pub upstream: f64,
}

impl CpuSplit {
    /// Each share divided by `units`.
    pub fn per(self, units: f64) -> CpuSplit {
        let d = |v: f64| div(v, units);
        CpuSplit {
            client: d(self.client),
            middle: self.middle.map(d),
            upstream: d(self.upstream),
        }
    }

    /// Adds `other`, share by share.
    pub fn add(&mut self, other: CpuSplit) {
        self.client += other.client;
        self.upstream += other.upstream;
        self.middle = self.middle.zip(other.middle).map(|(a, b)| a + b);
    }

    /// `self - before`, share by share.
    pub fn since(self, before: CpuSplit) -> CpuSplit {
        CpuSplit {
            client: self.client - before.client,
            middle: self.middle.zip(before.middle).map(|(a, b)| a - b),
            upstream: self.upstream - before.upstream,
        }
    }
}

/// Figures of one mode that ratios are made of.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    pub rps: f64,
    pub p99_ms: f64,
    pub body_mb_s: Option<f64>,
}

impl From<&ModeRow> for Figures {
    fn from(r: &ModeRow) -> Figures {
        Figures {
            rps: r.small.rps,
            p99_ms: r.small.p99_ms,
            body_mb_s: r.body_mb_s,
        }
    }
}

/// Everything the `proxy` ratios and checks need.
#[derive(Clone, Copy, Debug)]
pub struct ProxyFigures {
    pub direct: Figures,
    pub direct_tls: Figures,
    pub reverse: Figures,
    pub anchor: Figures,
    /// nginx terminating TLS and proxying over TLS: the like-for-like
    /// baseline of the CONNECT-intercepting forward mode.
    pub anchor_tls: Figures,
    pub forward: Figures,
    /// haproxy in TCP mode, splicing (when haproxy ran): a relay without
    /// any HTTP work, for reference.
    pub relay: Option<Figures>,
    /// haproxy in TCP mode with TLS on both legs (when haproxy ran).
    pub relay_tls: Option<Figures>,
    pub idle_rss_kib: u64,
}

/// A derived figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ratio {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

/// A target, met or not.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub measured: String,
    pub target: String,
    pub pass: bool,
}

fn ratio(name: &str, value: f64, unit: &'static str) -> Ratio {
    Ratio {
        name: name.to_string(),
        value,
        unit,
    }
}

fn div(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// A ratio taken round by round (or download by download): each value
/// divides one of ours by its baseline measured in the same round, next to
/// it in time, so the machine's drift between rounds cancels out; the
/// spread of the values shows how far one run's ratio can be trusted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Paired {
    pub name: String,
    pub values: Vec<f64>,
    pub median: f64,
}

/// Paired ratios of `ours` over `base`, round by round; `None` without
/// any pair.
pub fn paired(name: &str, ours: &[f64], base: &[f64]) -> Option<Paired> {
    let values: Vec<f64> = ours
        .iter()
        .zip(base)
        .filter(|(_, b)| **b > 0.0)
        .map(|(a, b)| a / b)
        .collect();
    Some(Paired {
        name: name.to_string(),
        median: median(&values)?,
        values,
    })
}

/// The paired ratios of the `proxy` scenario: small-request req/s of each
/// of our modes over its anchor, body MB/s over its direct baseline.
pub fn proxy_paired(modes: &[ModeRow]) -> Vec<Paired> {
    let row = |name: &str| modes.iter().find(|m| m.mode == name);
    let rps = |name: &str| -> Vec<f64> {
        row(name).map_or_else(Vec::new, |m| m.rounds.iter().map(|r| r.rps).collect())
    };
    let body =
        |name: &str| -> Vec<f64> { row(name).map_or_else(Vec::new, |m| m.body_runs_mb_s.clone()) };
    [
        paired(
            "req/s ours-reverse / nginx-anchor",
            &rps("ours-reverse"),
            &rps("nginx-anchor"),
        ),
        paired(
            "req/s ours-forward / nginx-anchor-tls",
            &rps("ours-forward"),
            &rps("nginx-anchor-tls"),
        ),
        paired(
            "body MB/s ours-reverse / direct",
            &body("ours-reverse"),
            &body("direct"),
        ),
        paired(
            "body MB/s ours-forward / direct-tls",
            &body("ours-forward"),
            &body("direct-tls"),
        ),
        paired(
            "body MB/s haproxy-tcp / direct",
            &body("haproxy-tcp"),
            &body("direct"),
        ),
        paired(
            "body MB/s haproxy-tls / direct-tls",
            &body("haproxy-tls"),
            &body("direct-tls"),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Idle RSS target of the proxy, in MiB.
pub const IDLE_RSS_TARGET_MIB: f64 = 30.0;
/// Peak RSS target during a large clone, in MiB.
pub const CLONE_RSS_TARGET_MIB: f64 = 50.0;

/// Ratios of the `proxy` scenario.
pub fn proxy_ratios(f: &ProxyFigures) -> Vec<Ratio> {
    let mut out = vec![
        ratio(
            "req/s ours-reverse / nginx-anchor",
            div(f.reverse.rps, f.anchor.rps),
            "x",
        ),
        ratio(
            "req/s ours-forward / nginx-anchor-tls",
            div(f.forward.rps, f.anchor_tls.rps),
            "x",
        ),
        ratio(
            "req/s ours-forward / nginx-anchor",
            div(f.forward.rps, f.anchor.rps),
            "x",
        ),
        ratio(
            "req/s ours-forward / direct-tls",
            div(f.forward.rps, f.direct_tls.rps),
            "x",
        ),
        ratio(
            "added p99 ours-reverse (vs direct)",
            f.reverse.p99_ms - f.direct.p99_ms,
            "ms",
        ),
        ratio(
            "added p99 nginx-anchor (vs direct)",
            f.anchor.p99_ms - f.direct.p99_ms,
            "ms",
        ),
        ratio(
            "added p99 nginx-anchor-tls (vs direct-tls)",
            f.anchor_tls.p99_ms - f.direct_tls.p99_ms,
            "ms",
        ),
        ratio(
            "added p99 ours-forward (vs direct-tls)",
            f.forward.p99_ms - f.direct_tls.p99_ms,
            "ms",
        ),
    ];
    let body = |name: &str, a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(ratio(name, div(a, b), "x")),
        _ => None,
    };
    out.extend(body(
        "body MB/s ours-reverse / direct",
        f.reverse.body_mb_s,
        f.direct.body_mb_s,
    ));
    out.extend(body(
        "body MB/s nginx-anchor / direct",
        f.anchor.body_mb_s,
        f.direct.body_mb_s,
    ));
    out.extend(body(
        "body MB/s nginx-anchor-tls / direct-tls",
        f.anchor_tls.body_mb_s,
        f.direct_tls.body_mb_s,
    ));
    out.extend(body(
        "body MB/s ours-forward / direct-tls",
        f.forward.body_mb_s,
        f.direct_tls.body_mb_s,
    ));
    if let Some(relay) = f.relay {
        out.push(ratio(
            "req/s haproxy-tcp / direct",
            div(relay.rps, f.direct.rps),
            "x",
        ));
        out.extend(body(
            "body MB/s haproxy-tcp / direct",
            relay.body_mb_s,
            f.direct.body_mb_s,
        ));
    }
    if let Some(relay) = f.relay_tls {
        out.extend(body(
            "body MB/s haproxy-tls / direct-tls",
            relay.body_mb_s,
            f.direct_tls.body_mb_s,
        ));
    }
    out
}

/// Target checks of the `proxy` scenario.
pub fn proxy_checks(f: &ProxyFigures) -> Vec<Check> {
    let mut out = Vec::new();
    // Each of our modes against the nginx doing the same work: plain
    // reverse proxying, and TLS termination plus TLS to the tool.
    for (mode, ours, anchor_name, anchor, base, base_name) in [
        (
            "ours-reverse",
            &f.reverse,
            "nginx-anchor",
            &f.anchor,
            &f.direct,
            "direct",
        ),
        (
            "ours-forward",
            &f.forward,
            "nginx-anchor-tls",
            &f.anchor_tls,
            &f.direct_tls,
            "direct-tls",
        ),
    ] {
        let r = div(ours.rps, anchor.rps);
        out.push(Check {
            name: format!("small-request req/s {mode} >= 1.0x {anchor_name}"),
            measured: format!("{r:.2}x"),
            target: ">= 1.00x".into(),
            pass: r >= 1.0,
        });
        let added = ours.p99_ms - base.p99_ms;
        let anchor_added = anchor.p99_ms - base.p99_ms;
        out.push(Check {
            name: format!("added p99 {mode} <= {anchor_name}'s"),
            measured: format!("{added:.3} ms"),
            target: format!("<= {anchor_added:.3} ms"),
            pass: added <= anchor_added,
        });
        if let (Some(o), Some(b)) = (ours.body_mb_s, base.body_mb_s) {
            let r = div(o, b);
            out.push(Check {
                name: format!("streamed body {mode} >= 0.9x {base_name}"),
                measured: format!("{r:.2}x"),
                target: ">= 0.90x".into(),
                pass: r >= 0.9,
            });
        }
    }
    let idle = f.idle_rss_kib as f64 / 1024.0;
    out.push(Check {
        name: "idle RSS of connectors standalone".into(),
        measured: format!("{idle:.1} MiB"),
        target: format!("<= {IDLE_RSS_TARGET_MIB:.0} MiB"),
        pass: idle <= IDLE_RSS_TARGET_MIB,
    });
    out
}

/// Median of a non-empty list (mean of the middle two for even lengths).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Result of the `git-clone` scenario.
#[derive(Clone, Debug, Serialize)]
pub struct GitReport {
    pub pack_bytes: u64,
    pub direct_seconds: Vec<f64>,
    pub proxied_seconds: Vec<f64>,
    pub direct_median_s: f64,
    pub proxied_median_s: f64,
    pub direct_mb_s: f64,
    pub proxied_mb_s: f64,
    /// Throughput proxied / direct.
    pub ratio: f64,
    pub idle_rss_kib: u64,
    pub peak_rss_kib: u64,
    pub checks: Vec<Check>,
}

impl GitReport {
    /// Medians, throughput and checks from the runs.
    pub fn new(
        pack_bytes: u64,
        direct_seconds: Vec<f64>,
        proxied_seconds: Vec<f64>,
        idle_rss_kib: u64,
        peak_rss_kib: u64,
    ) -> GitReport {
        let d = median(&direct_seconds).unwrap_or(0.0);
        let p = median(&proxied_seconds).unwrap_or(0.0);
        let mb = pack_bytes as f64 / 1e6;
        let ratio = div(d, p);
        let peak = peak_rss_kib as f64 / 1024.0;
        let checks = vec![
            Check {
                name: "clone throughput proxied / direct >= 0.9".into(),
                measured: format!("{ratio:.2}x"),
                target: ">= 0.90x".into(),
                pass: ratio >= 0.9,
            },
            Check {
                name: "peak RSS of connectors standalone during the clones".into(),
                measured: format!("{peak:.1} MiB"),
                target: format!("< {CLONE_RSS_TARGET_MIB:.0} MiB"),
                pass: peak < CLONE_RSS_TARGET_MIB,
            },
        ];
        GitReport {
            pack_bytes,
            direct_mb_s: div(mb, d),
            proxied_mb_s: div(mb, p),
            direct_seconds,
            proxied_seconds,
            direct_median_s: d,
            proxied_median_s: p,
            ratio,
            idle_rss_kib,
            peak_rss_kib,
            checks,
        }
    }

    /// The result table.
    pub fn render(&self) -> String {
        let secs = |v: &[f64]| {
            v.iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut s = String::new();
        s.push_str(&format!(
            "git clone: pack {:.1} MB ({} bytes)\n\n",
            self.pack_bytes as f64 / 1e6,
            self.pack_bytes
        ));
        s.push_str(&format!(
            "{:<10} {:>10} {:>10}  {}\n",
            "mode", "median s", "MB/s", "runs (s)"
        ));
        s.push_str(&format!(
            "{:<10} {:>10.2} {:>10.1}  {}\n",
            "direct",
            self.direct_median_s,
            self.direct_mb_s,
            secs(&self.direct_seconds)
        ));
        s.push_str(&format!(
            "{:<10} {:>10.2} {:>10.1}  {}\n\n",
            "proxied",
            self.proxied_median_s,
            self.proxied_mb_s,
            secs(&self.proxied_seconds)
        ));
        s.push_str(&format!(
            "throughput ratio proxied/direct: {:.3}\n",
            self.ratio
        ));
        s.push_str(&format!(
            "proxy RSS: idle {:.1} MiB, peak (VmHWM, whole process life) {:.1} MiB\n\n",
            self.idle_rss_kib as f64 / 1024.0,
            self.peak_rss_kib as f64 / 1024.0
        ));
        s.push_str(&render_checks(&self.checks));
        s
    }
}

/// Result of the `proxy` scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ProxyReport {
    pub connections: usize,
    pub rounds: usize,
    pub duration_s: f64,
    pub body_bytes: u64,
    pub upstream_workers: usize,
    pub anchor_workers: usize,
    pub congestion: Congestion,
    pub modes: Vec<ModeRow>,
    /// (phase, VmRSS or VmHWM in KiB) of the proxy process.
    pub rss: Vec<(String, u64)>,
    /// (phase, percent of the machine's CPU time the hypervisor stole).
    pub steal: Vec<(String, f64)>,
    pub ratios: Vec<Ratio>,
    /// The same ratios round by round.
    pub paired: Vec<Paired>,
    pub checks: Vec<Check>,
}

/// TCP congestion control during a run.
#[derive(Clone, Debug, Serialize)]
pub struct Congestion {
    /// The host's default (`None` when it cannot be read).
    pub host: Option<String>,
    /// What the proxy, nginx and haproxy were given for their loopback
    /// connections (`host`: the default).
    pub senders: String,
}

impl Congestion {
    fn render(&self) -> String {
        let host = self.host.as_deref().unwrap_or("unknown");
        let senders = match self.senders.as_str() {
            "host" => format!("the host's default ({host})"),
            other => other.to_string(),
        };
        format!(
            "TCP congestion control: host default {host}; connectors, nginx and haproxy on their loopback connections: {senders}\n\n"
        )
    }
}

/// Steal above this share of a phase makes its figures a measure of the
/// host's other tenants more than of the programs under test.
pub const STEAL_WARN_PERCENT: f64 = 2.0;

/// The steal lines of a report, with a warning when a phase lost more
/// than [`STEAL_WARN_PERCENT`]; nothing when no phase was measured.
fn render_steal(steal: &[(String, f64)]) -> String {
    let mut s = String::new();
    if steal.is_empty() {
        return s;
    }
    s.push_str("\nCPU time taken by the hypervisor (steal, share of the machine's):\n");
    for (phase, pct) in steal {
        s.push_str(&format!("  {phase:<50} {pct:>7.1} %\n"));
    }
    if steal.iter().any(|(_, p)| *p > STEAL_WARN_PERCENT) {
        s.push_str(&format!(
            "  WARNING: more than {STEAL_WARN_PERCENT:.0}% stolen: other tenants of the host took CPU during the run; ratios are less reliable, run again\n"
        ));
    }
    s
}

impl ProxyReport {
    /// The result tables.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "proxy: {} connections, {} round(s) of {:.0}s per mode (median shown), body {} MiB, nginx workers: upstream {}, anchor {}\n\n",
            self.connections,
            self.rounds,
            self.duration_s,
            self.body_bytes >> 20,
            self.upstream_workers,
            self.anchor_workers
        ));
        s.push_str(&self.congestion.render());
        s.push_str(&format!(
            "{:<16} {:>10} {:>9} {:>9} {:>10} {:>7} {:>9}   {:>10} {:>9} {:>9}\n",
            "mode",
            "req/s",
            "p50 ms",
            "p99 ms",
            "+p99 ms",
            "errors",
            "body MB/s",
            "wrk req/s",
            "wrk p50",
            "wrk p99"
        ));
        for m in &self.modes {
            let opt = |v: Option<f64>, prec: usize| {
                v.map(|x| format!("{x:.prec$}"))
                    .unwrap_or_else(|| "-".into())
            };
            s.push_str(&format!(
                "{:<16} {:>10.0} {:>9.3} {:>9.3} {:>10} {:>7} {:>9}   {:>10} {:>9} {:>9}\n",
                m.mode,
                m.small.rps,
                m.small.p50_ms,
                m.small.p99_ms,
                opt(m.added_p99_ms, 3),
                m.errors,
                opt(m.body_mb_s, 0),
                opt(m.wrk.as_ref().map(|w| w.rps), 0),
                opt(m.wrk.as_ref().map(|w| w.p50_ms), 3),
                opt(m.wrk.as_ref().map(|w| w.p99_ms), 3),
            ));
        }
        s.push('\n');
        s.push_str(&format!(
            "{:<16} {:>28}   {:>28}\n{:<16} {:>8} {:>9} {:>9}   {:>8} {:>9} {:>9}\n",
            "CPU (u+s)",
            "per small request (us)",
            "per GiB of body (s)",
            "mode",
            "client",
            "middle",
            "upstream",
            "client",
            "middle",
            "upstream"
        ));
        for m in &self.modes {
            let opt = |v: Option<f64>, prec: usize| {
                v.map(|x| format!("{x:.prec$}"))
                    .unwrap_or_else(|| "-".into())
            };
            let c = m.cpu_us_per_request;
            let b = m.body_cpu_s_per_gib;
            s.push_str(&format!(
                "{:<16} {:>8.1} {:>9} {:>9.1}   {:>8} {:>9} {:>9}\n",
                m.mode,
                c.client,
                opt(c.middle, 1),
                c.upstream,
                opt(b.map(|b| b.client), 2),
                opt(b.and_then(|b| b.middle), 2),
                opt(b.map(|b| b.upstream), 2),
            ));
        }
        s.push('\n');
        s.push_str("RSS of connectors standalone:\n");
        for (phase, kib) in &self.rss {
            s.push_str(&format!(
                "  {:<50} {:>7.1} MiB\n",
                phase,
                *kib as f64 / 1024.0
            ));
        }
        s.push_str(&render_steal(&self.steal));
        s.push_str("\nratios:\n");
        for r in &self.ratios {
            let v = if r.unit == "x" {
                format!("{:.3}x", r.value)
            } else {
                format!("{:+.3} {}", r.value, r.unit)
            };
            s.push_str(&format!("  {:<46} {:>10}\n", r.name, v));
        }
        if !self.paired.is_empty() {
            s.push_str("\nround by round (each over its baseline of the same round):\n");
            for p in &self.paired {
                let values: Vec<String> = p.values.iter().map(|v| format!("{v:.2}")).collect();
                s.push_str(&format!(
                    "  {:<46} median {:.3}x of {}\n",
                    p.name,
                    p.median,
                    values.join(" ")
                ));
            }
        }
        s.push('\n');
        s.push_str(&render_checks(&self.checks));
        s
    }
}

fn render_checks(checks: &[Check]) -> String {
    let mut s = String::from("targets:\n");
    for c in checks {
        s.push_str(&format!(
            "  {} {:<54} {:>12} (target {})\n",
            if c.pass { "PASS" } else { "MISS" },
            c.name,
            c.measured,
            c.target
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(rps: f64, p99_ms: f64, body: f64) -> Figures {
        Figures {
            rps,
            p99_ms,
            body_mb_s: Some(body),
        }
    }

    fn row(mode: &str, rps: &[f64], body: &[f64]) -> ModeRow {
        let round = |rps: f64| LatencySummary {
            requests: 1,
            rps,
            p50_ms: 1.0,
            p99_ms: 2.0,
            max_ms: 3.0,
        };
        ModeRow {
            mode: mode.into(),
            path: String::new(),
            small: round(0.0),
            rounds: rps.iter().map(|r| round(*r)).collect(),
            errors: 0,
            reconnects: 0,
            added_p99_ms: None,
            body_mb_s: None,
            body_runs_mb_s: body.to_vec(),
            body_seconds: None,
            wrk: None,
            cpu_us_per_request: CpuSplit::default(),
            body_cpu_s_per_gib: None,
        }
    }

    #[test]
    fn paired_ratios_divide_within_each_round() {
        let modes = [
            row("direct", &[], &[100.0, 200.0, 400.0]),
            row("ours-reverse", &[90.0, 120.0, 100.0], &[90.0, 150.0, 300.0]),
            row("nginx-anchor", &[100.0, 100.0, 100.0], &[]),
            row("haproxy-tcp", &[], &[50.0, 100.0, 300.0]),
        ];
        let p = proxy_paired(&modes);
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "req/s ours-reverse / nginx-anchor",
                "body MB/s ours-reverse / direct",
                "body MB/s haproxy-tcp / direct"
            ]
        );
        assert_eq!(p[2].values, [0.5, 0.5, 0.75]);
        assert_eq!(p[0].values, [0.9, 1.2, 1.0]);
        assert_eq!(p[0].median, 1.0);
        assert_eq!(p[1].values, [0.9, 0.75, 0.75]);
        assert_eq!(p[1].median, 0.75);
        // A baseline of zero (a failed round) makes no pair.
        assert_eq!(paired("x", &[1.0, 2.0], &[0.0, 4.0]).unwrap().values, [0.5]);
        assert!(paired("x", &[1.0], &[]).is_none());
    }

    #[test]
    fn proxy_ratios_and_checks() {
        let f = ProxyFigures {
            direct: fig(40_000.0, 1.0, 2000.0),
            direct_tls: fig(30_000.0, 1.5, 1000.0),
            reverse: fig(22_000.0, 2.0, 1900.0),
            anchor: fig(20_000.0, 2.5, 1500.0),
            anchor_tls: fig(16_000.0, 2.5, 700.0),
            forward: fig(18_000.0, 3.5, 850.0),
            relay: Some(fig(36_000.0, 1.5, 1400.0)),
            relay_tls: Some(fig(25_000.0, 2.0, 600.0)),
            idle_rss_kib: 31 * 1024,
        };
        let r = proxy_ratios(&f);
        let get = |name: &str| r.iter().find(|x| x.name == name).unwrap().value;
        assert!((get("req/s ours-reverse / nginx-anchor") - 1.1).abs() < 1e-9);
        assert!((get("req/s ours-forward / nginx-anchor") - 0.9).abs() < 1e-9);
        assert!((get("req/s ours-forward / nginx-anchor-tls") - 1.125).abs() < 1e-9);
        assert!((get("added p99 nginx-anchor-tls (vs direct-tls)") - 1.0).abs() < 1e-9);
        assert!((get("added p99 ours-reverse (vs direct)") - 1.0).abs() < 1e-9);
        assert!((get("added p99 nginx-anchor (vs direct)") - 1.5).abs() < 1e-9);
        assert!((get("added p99 ours-forward (vs direct-tls)") - 2.0).abs() < 1e-9);
        assert!((get("body MB/s ours-reverse / direct") - 0.95).abs() < 1e-9);
        assert!((get("body MB/s ours-forward / direct-tls") - 0.85).abs() < 1e-9);
        assert!((get("req/s haproxy-tcp / direct") - 0.9).abs() < 1e-9);
        assert!((get("body MB/s haproxy-tcp / direct") - 0.7).abs() < 1e-9);
        assert!((get("body MB/s haproxy-tls / direct-tls") - 0.6).abs() < 1e-9);

        let c = proxy_checks(&f);
        let pass: Vec<bool> = c.iter().map(|c| c.pass).collect();
        // reverse vs nginx-anchor: rps ok, p99 ok (1.0 <= 1.5), body ok;
        // forward vs nginx-anchor-tls: rps ok (1.125x), p99 miss
        // (2.0 > 1.0), body miss (0.85x); idle RSS miss.
        assert_eq!(pass, vec![true, true, true, true, false, false, false]);
    }

    #[test]
    fn steal_is_shown_and_warned_about_above_the_limit() {
        assert_eq!(render_steal(&[]), "");
        let quiet = render_steal(&[("body downloads".into(), 0.4)]);
        assert!(quiet.contains("body downloads"), "{quiet}");
        assert!(quiet.contains("0.4 %"), "{quiet}");
        assert!(!quiet.contains("WARNING"), "{quiet}");
        let busy = render_steal(&[
            ("small-request rounds".into(), 0.1),
            ("body downloads".into(), 12.5),
        ]);
        assert!(busy.contains("12.5 %"), "{busy}");
        assert!(busy.contains("WARNING"), "{busy}");
    }

    #[test]
    fn checks_skip_missing_bodies() {
        let none = Figures {
            rps: 1.0,
            p99_ms: 1.0,
            body_mb_s: None,
        };
        let f = ProxyFigures {
            direct: none,
            direct_tls: none,
            reverse: none,
            anchor: none,
            anchor_tls: none,
            forward: none,
            relay: None,
            relay_tls: None,
            idle_rss_kib: 1024,
        };
        assert_eq!(proxy_checks(&f).len(), 5);
        assert!(proxy_checks(&f).iter().all(|c| c.pass));
        assert_eq!(proxy_ratios(&f).len(), 8);
    }

    #[test]
    fn git_medians_and_ratio() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let r = GitReport::new(
            200_000_000,
            vec![2.0, 2.2, 1.8],
            vec![2.5, 2.4, 2.6],
            10 * 1024,
            60 * 1024,
        );
        assert!((r.direct_mb_s - 100.0).abs() < 1e-9);
        assert!((r.ratio - 0.8).abs() < 1e-9);
        assert!(!r.checks[0].pass);
        assert!(!r.checks[1].pass);
        assert!(r.render().contains("MISS"));
    }

    #[test]
    fn congestion_line_names_both_choices() {
        let c = Congestion {
            host: Some("bbr".into()),
            senders: "reno".into(),
        };
        let line = c.render();
        assert!(line.contains("host default bbr"), "{line}");
        assert!(line.ends_with("loopback connections: reno\n\n"), "{line}");
        let c = Congestion {
            host: None,
            senders: "host".into(),
        };
        let line = c.render();
        assert!(line.contains("host default unknown"), "{line}");
        assert!(line.contains("the host's default (unknown)"), "{line}");
    }
}
