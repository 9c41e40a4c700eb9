//! The printed tables of both scenarios.

use super::checks::Check;
use super::figures::ModeRow;
use super::machine::render_machine_table;
use super::ratios::{Paired, Ratio};
use super::results::{Congestion, GitReport, ProxyReport};

/// Steal above this share of a phase makes its figures a measure of the
/// host's other tenants more than of the programs under test.
pub const STEAL_WARN_PERCENT: f64 = 2.0;

impl GitReport {
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

impl ProxyReport {
    /// The result tables.
    pub fn render(&self) -> String {
        let mut s = self.render_heading();
        s.push_str(&self.congestion.render());
        if let Some(aes) = &self.tls_aes {
            s.push_str(&format!("TLS of the proxy: {aes}\n\n"));
        }
        s.push_str(&render_mode_table(&self.modes));
        s.push('\n');
        s.push_str(&render_cpu_table(&self.modes));
        s.push('\n');
        let machine = render_machine_table(&self.modes);
        if !machine.is_empty() {
            s.push_str(&machine);
            s.push('\n');
        }
        s.push_str(&render_rss(&self.rss));
        s.push_str(&render_steal(&self.steal));
        s.push_str(&render_ratios(&self.ratios));
        s.push_str(&render_paired(&self.paired));
        s.push('\n');
        s.push_str(&render_checks(&self.checks));
        s
    }

    /// The first line: how the run was set up.
    fn render_heading(&self) -> String {
        format!(
            "proxy: {} connections, {} round(s) of {:.0}s per mode (median shown), body {} MiB, nginx workers: upstream {}, anchor {}\n\n",
            self.connections,
            self.rounds,
            self.duration_s,
            self.body_bytes >> 20,
            self.upstream_workers,
            self.anchor_workers
        )
    }
}

impl Congestion {
    /// The line naming the host's congestion control and the senders'.
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

/// `v` with `prec` decimals.
fn fixed(v: f64, prec: usize) -> String {
    format!("{v:.prec$}")
}

/// `v` with `prec` decimals, or `-` when it was not measured.
fn fixed_or_dash(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| fixed(x, prec))
}

/// The table of every mode's small-request latencies, body throughput and
/// wrk's cross-check.
fn render_mode_table(modes: &[ModeRow]) -> String {
    let mut s = mode_table_line([
        "mode",
        "req/s",
        "p50 ms",
        "p99 ms",
        "+p99 ms",
        "errors",
        "body MB/s",
        "wrk req/s",
        "wrk p50",
        "wrk p99",
    ]);
    for m in modes {
        s.push_str(&render_mode_line(m));
    }
    s
}

/// One mode's line of the mode table.
fn render_mode_line(m: &ModeRow) -> String {
    let wrk = m.wrk.as_ref();
    mode_table_line([
        &m.mode,
        &fixed(m.small.rps, 0),
        &fixed(m.small.p50_ms, 3),
        &fixed(m.small.p99_ms, 3),
        &fixed_or_dash(m.added_p99_ms, 3),
        &m.errors.to_string(),
        &fixed_or_dash(m.body_mb_s, 0),
        &fixed_or_dash(wrk.map(|w| w.rps), 0),
        &fixed_or_dash(wrk.map(|w| w.p50_ms), 3),
        &fixed_or_dash(wrk.map(|w| w.p99_ms), 3),
    ])
}

/// A line of the mode table: the heading or a mode's cells, each in its
/// column's width; wrk's columns stand apart.
fn mode_table_line(cells: [&str; 10]) -> String {
    let [mode, rps, p50, p99, added, errors, body, wrk_rps, wrk_p50, wrk_p99] = cells;
    format!(
        "{mode:<16} {rps:>10} {p50:>9} {p99:>9} {added:>10} {errors:>7} {body:>9}   {wrk_rps:>10} {wrk_p50:>9} {wrk_p99:>9}\n"
    )
}

/// The table of every mode's CPU time per tier, per small request and per
/// GiB of body.
fn render_cpu_table(modes: &[ModeRow]) -> String {
    let mut s = format!(
        "{:<16} {:>28}   {:>28}\n",
        "CPU (u+s)", "per small request (us)", "per GiB of body (s)"
    );
    s.push_str(&cpu_table_line([
        "mode", "client", "middle", "upstream", "client", "middle", "upstream",
    ]));
    for m in modes {
        s.push_str(&render_cpu_line(m));
    }
    s
}

/// One mode's line of the CPU table.
fn render_cpu_line(m: &ModeRow) -> String {
    let c = m.cpu_us_per_request;
    let b = m.body_cpu_s_per_gib;
    cpu_table_line([
        &m.mode,
        &fixed(c.client, 1),
        &fixed_or_dash(c.middle, 1),
        &fixed(c.upstream, 1),
        &fixed_or_dash(b.map(|b| b.client), 2),
        &fixed_or_dash(b.and_then(|b| b.middle), 2),
        &fixed_or_dash(b.map(|b| b.upstream), 2),
    ])
}

/// A line of the CPU table: the heading or a mode's cells, each in its
/// column's width; the body's columns stand apart.
fn cpu_table_line(cells: [&str; 7]) -> String {
    let [mode, client, middle, upstream, body_client, body_middle, body_upstream] = cells;
    format!(
        "{mode:<16} {client:>8} {middle:>9} {upstream:>9}   {body_client:>8} {body_middle:>9} {body_upstream:>9}\n"
    )
}

/// The proxy's RSS at each phase of the run, in MiB.
fn render_rss(rss: &[(String, u64)]) -> String {
    let mut s = String::from("RSS of connectors standalone:\n");
    for (phase, kib) in rss {
        s.push_str(&format!(
            "  {:<50} {:>7.1} MiB\n",
            phase,
            *kib as f64 / 1024.0
        ));
    }
    s
}

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

/// The ratios of the median figures, one a line.
fn render_ratios(ratios: &[Ratio]) -> String {
    let mut s = String::from("\nratios:\n");
    for r in ratios {
        s.push_str(&format!("  {:<46} {:>10}\n", r.name, ratio_value(r)));
    }
    s
}

/// A ratio's value: `1.234x` for a factor, else signed with its unit
/// (`+0.123 ms`).
fn ratio_value(r: &Ratio) -> String {
    if r.unit == "x" {
        format!("{:.3}x", r.value)
    } else {
        format!("{:+.3} {}", r.value, r.unit)
    }
}

/// The round-by-round ratios with every round's value; nothing when there
/// are none.
fn render_paired(paired: &[Paired]) -> String {
    let mut s = String::new();
    if paired.is_empty() {
        return s;
    }
    s.push_str("\nround by round (each over its baseline of the same round):\n");
    for p in paired {
        let values: Vec<String> = p.values.iter().map(|v| format!("{v:.2}")).collect();
        s.push_str(&format!(
            "  {:<46} median {:.3}x of {}\n",
            p.name,
            p.median,
            values.join(" ")
        ));
    }
    s
}

/// The `targets:` table: each check, PASS or MISS.
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
