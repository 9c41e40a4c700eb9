//! Ratios of the `proxy` scenario: from the median figures of the run, and
//! paired round by round.

use super::figures::{ModeRow, ProxyFigures};
use super::{div, median};
use serde::Serialize;

/// A derived figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ratio {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
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

/// Each proxy with the direct mode it adds to: the same upstream, over
/// plain HTTP or over TLS.
const OVER_DIRECT: [(&str, &str); 4] = [
    ("ours-reverse", "direct"),
    ("nginx-anchor", "direct"),
    ("nginx-anchor-tls", "direct-tls"),
    ("ours-forward", "direct-tls"),
];

/// Each haproxy relay with the direct mode it adds to.
const RELAYS_OVER_DIRECT: [(&str, &str); 2] =
    [("haproxy-tcp", "direct"), ("haproxy-tls", "direct-tls")];

/// The direct mode that `mode` (a proxy or a relay) adds to; `None` for a
/// direct mode.
pub(super) fn direct_baseline(mode: &str) -> Option<&'static str> {
    OVER_DIRECT
        .iter()
        .chain(&RELAYS_OVER_DIRECT)
        .find(|(m, _)| *m == mode)
        .map(|(_, base)| *base)
}

/// Ratios of the `proxy` scenario.
pub fn proxy_ratios(f: &ProxyFigures) -> Vec<Ratio> {
    use Compare::{AddedP99, Body, Rps};
    let mut wanted = vec![
        (Rps, "ours-reverse", "nginx-anchor"),
        (Rps, "ours-forward", "nginx-anchor-tls"),
        (Rps, "ours-forward", "nginx-anchor"),
        (Rps, "ours-forward", "direct-tls"),
    ];
    wanted.extend(OVER_DIRECT.map(|(ours, base)| (AddedP99, ours, base)));
    wanted.extend(OVER_DIRECT.map(|(ours, base)| (Body, ours, base)));
    // The haproxy relays, when haproxy ran.
    wanted.push((Rps, "haproxy-tcp", "direct"));
    wanted.extend(RELAYS_OVER_DIRECT.map(|(relay, base)| (Body, relay, base)));
    wanted
        .into_iter()
        .filter_map(|(what, ours, base)| mode_ratio(f, what, ours, base))
        .collect()
}

/// What a ratio of two modes compares.
#[derive(Clone, Copy)]
enum Compare {
    /// Small-request req/s, ours over the base's.
    Rps,
    /// The p99 ours adds to the base's, in ms.
    AddedP99,
    /// Streamed body MB/s, ours over the base's.
    Body,
}

/// The ratio `what` of mode `ours` to mode `base`; `None` when either did
/// not run or, for bodies, either body was not measured.
fn mode_ratio(f: &ProxyFigures, what: Compare, ours: &str, base: &str) -> Option<Ratio> {
    let (o, b) = (f.mode(ours)?, f.mode(base)?);
    let (name, value, unit) = match what {
        Compare::Rps => (format!("req/s {ours} / {base}"), div(o.rps, b.rps), "x"),
        Compare::AddedP99 => (
            format!("added p99 {ours} (vs {base})"),
            o.p99_ms - b.p99_ms,
            "ms",
        ),
        Compare::Body => (
            format!("body MB/s {ours} / {base}"),
            div(o.body_mb_s?, b.body_mb_s?),
            "x",
        ),
    };
    Some(Ratio { name, value, unit })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::LatencySummary;

    fn row(mode: &str, rps: &[f64], body: &[f64]) -> ModeRow {
        ModeRow {
            rounds: rps.iter().map(|r| LatencySummary::one_round(*r)).collect(),
            body_runs_mb_s: body.to_vec(),
            ..ModeRow::measured_nothing_but(mode, 0.0)
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
}
