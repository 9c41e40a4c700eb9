//! The results of both scenarios: what the tables print and what is
//! written as JSON (field order is key order).

use super::checks::{git_checks, Check};
use super::figures::ModeRow;
use super::ratios::{Paired, Ratio};
use super::{div, median};
use serde::Serialize;

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
            checks: git_checks(ratio, peak_rss_kib),
        }
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
    /// Whose AES-GCM the proxy's TLS took, and the figures it timed at
    /// start, as its log said (`None` when it did not say).
    pub tls_aes: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
