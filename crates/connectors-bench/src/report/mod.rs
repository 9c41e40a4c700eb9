//! Ratios, target checks and the printed tables of both scenarios.

mod checks;
mod figures;
mod machine;
mod ratios;
mod results;
mod text;

pub use checks::proxy_checks;
pub use figures::{CpuSplit, Figures, ModeRow, ProxyFigures};
pub use machine::BodyMachine;
pub use ratios::{proxy_paired, proxy_ratios};
pub use results::{Congestion, GitReport, ProxyReport};
pub use text::STEAL_WARN_PERCENT;

/// `a / b`, or 0 when `b` is not positive.
fn div(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
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
        for (name, want) in [
            ("req/s ours-reverse / nginx-anchor", 1.1),
            ("req/s ours-forward / nginx-anchor", 0.9),
            ("req/s ours-forward / nginx-anchor-tls", 1.125),
            ("added p99 nginx-anchor-tls (vs direct-tls)", 1.0),
            ("added p99 ours-reverse (vs direct)", 1.0),
            ("added p99 nginx-anchor (vs direct)", 1.5),
            ("added p99 ours-forward (vs direct-tls)", 2.0),
            ("body MB/s ours-reverse / direct", 0.95),
            ("body MB/s ours-forward / direct-tls", 0.85),
            ("req/s haproxy-tcp / direct", 0.9),
            ("body MB/s haproxy-tcp / direct", 0.7),
            ("body MB/s haproxy-tls / direct-tls", 0.6),
        ] {
            assert!((get(name) - want).abs() < 1e-9, "{name}");
        }

        let c = proxy_checks(&f);
        let pass: Vec<bool> = c.iter().map(|c| c.pass).collect();
        // reverse vs nginx-anchor: rps ok, p99 ok (1.0 <= 1.5), body ok;
        // forward vs nginx-anchor-tls: rps ok (1.125x), p99 miss
        // (2.0 > 1.0), body miss (0.85x); idle RSS miss.
        assert_eq!(pass, vec![true, true, true, true, false, false, false]);
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
}
