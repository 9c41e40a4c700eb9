//! Latency percentiles and throughput of one load run.

use serde::Serialize;
use std::time::Duration;

/// Summary of the latencies (in microseconds) recorded in one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Requests recorded.
    pub requests: u64,
    /// Requests per second over the measured window.
    pub rps: f64,
    /// Median latency in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: f64,
    /// Largest latency in milliseconds.
    pub max_ms: f64,
}

impl LatencySummary {
    /// Sorts `micros` and summarises it over a window of `elapsed`.
    pub fn from_micros(mut micros: Vec<u32>, elapsed: Duration) -> LatencySummary {
        micros.sort_unstable();
        let secs = elapsed.as_secs_f64();
        let ms = |v: Option<u32>| v.map(|us| f64::from(us) / 1000.0).unwrap_or(0.0);
        LatencySummary {
            requests: micros.len() as u64,
            rps: if secs > 0.0 {
                micros.len() as f64 / secs
            } else {
                0.0
            },
            p50_ms: ms(percentile(&micros, 50.0)),
            p99_ms: ms(percentile(&micros, 99.0)),
            max_ms: ms(micros.last().copied()),
        }
    }
}

#[cfg(test)]
impl LatencySummary {
    /// A round of `rps` req/s for tests: one request, p50 1 ms, p99 2 ms,
    /// max 3 ms.
    pub fn one_round(rps: f64) -> LatencySummary {
        LatencySummary {
            requests: 1,
            rps,
            p50_ms: 1.0,
            p99_ms: 2.0,
            max_ms: 3.0,
        }
    }
}

impl LatencySummary {
    /// Median of each figure over several runs (requests are summed).
    pub fn median_of(runs: &[LatencySummary]) -> LatencySummary {
        let med = |f: fn(&LatencySummary) -> f64| {
            let v: Vec<f64> = runs.iter().map(f).collect();
            crate::report::median(&v).unwrap_or(0.0)
        };
        LatencySummary {
            requests: runs.iter().map(|r| r.requests).sum(),
            rps: med(|r| r.rps),
            p50_ms: med(|r| r.p50_ms),
            p99_ms: med(|r| r.p99_ms),
            max_ms: runs.iter().map(|r| r.max_ms).fold(0.0, f64::max),
        }
    }
}

/// Nearest-rank percentile `p` (0 < p <= 100) of an ascending slice: the
/// smallest value with at least p% of the values at or below it.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.1), Some(1));
        let few = [10, 20, 30];
        assert_eq!(percentile(&few, 50.0), Some(20));
        assert_eq!(percentile(&few, 99.0), Some(30));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn summary_sorts_and_scales() {
        let mut v: Vec<u32> = (1..=1000).map(|i| i * 1000).collect();
        v.reverse();
        let s = LatencySummary::from_micros(v, Duration::from_secs(2));
        assert_eq!(s.requests, 1000);
        assert!((s.rps - 500.0).abs() < 1e-9);
        assert!((s.p50_ms - 500.0).abs() < 1e-9);
        assert!((s.p99_ms - 990.0).abs() < 1e-9);
        assert!((s.max_ms - 1000.0).abs() < 1e-9);

        let run = |rps: f64, p99_ms: f64| LatencySummary {
            requests: 10,
            rps,
            p50_ms: 1.0,
            p99_ms,
            max_ms: p99_ms,
        };
        let m = LatencySummary::median_of(&[run(100.0, 9.0), run(300.0, 2.0), run(200.0, 3.0)]);
        assert_eq!(m.requests, 30);
        assert!((m.rps - 200.0).abs() < 1e-9);
        assert!((m.p99_ms - 3.0).abs() < 1e-9);
        assert!((m.max_ms - 9.0).abs() < 1e-9);
    }
}
