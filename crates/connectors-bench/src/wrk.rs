//! The `wrk` cross-check: runs wrk when it is on PATH and reads its
//! requests/s and latency percentiles.

use anyhow::{anyhow, bail, Result};
use connectors_testkit::process::{find_program, output_with_timeout};
use serde::Serialize;
use std::process::Command;
use std::time::Duration;

/// What wrk reported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WrkResult {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx/3xx responses plus socket errors.
    pub errors: u64,
}

/// Whether wrk can be run.
pub fn available() -> bool {
    find_program("wrk").is_ok()
}

/// `wrk -t THREADS -c CONNS -d SECS --latency -H HEADER… URL`.
pub fn run(
    url: &str,
    headers: &[(String, String)],
    connections: usize,
    duration: Duration,
) -> Result<WrkResult> {
    let bin = find_program("wrk")?;
    let threads = connections.clamp(1, 2);
    let mut cmd = Command::new(bin);
    cmd.arg("-t")
        .arg(threads.to_string())
        .arg("-c")
        .arg(connections.to_string())
        .arg("-d")
        .arg(format!("{}s", duration.as_secs().max(1)))
        .arg("--latency");
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    cmd.arg(url);
    let out = output_with_timeout(&mut cmd, duration + Duration::from_secs(60))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse(&text)
}

/// Reads `Requests/sec:`, the `50%` and `99%` lines of `--latency`, and
/// the error counts from wrk's output.
pub fn parse(text: &str) -> Result<WrkResult> {
    let mut rps = None;
    let (mut p50, mut p99) = (None, None);
    let mut errors = 0u64;
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = t.strip_prefix("50%") {
            p50 = duration_ms(v.trim());
        } else if let Some(v) = t.strip_prefix("99%") {
            p99 = duration_ms(v.trim());
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(v) = t.strip_prefix("Socket errors:") {
            for part in v.split(',') {
                if let Some(n) = part.split_whitespace().last() {
                    errors += n.parse::<u64>().unwrap_or(0);
                }
            }
        }
    }
    Ok(WrkResult {
        rps: rps.ok_or_else(|| anyhow!("no Requests/sec in wrk output:\n{text}"))?,
        p50_ms: p50.ok_or_else(|| anyhow!("no 50% line in wrk output:\n{text}"))?,
        p99_ms: p99.ok_or_else(|| anyhow!("no 99% line in wrk output:\n{text}"))?,
        errors,
    })
}

/// `812.00us`, `1.23ms`, `2.01s`, `1.5m` in milliseconds.
fn duration_ms(v: &str) -> Option<f64> {
    let (num, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        return None;
    };
    num.trim().parse::<f64>().ok().map(|x| x * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 10s test @ http://127.0.0.1:8080/small
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.33us  301.20us  12.00ms   90.00%
    Req/Sec    19.80k     1.20k   22.00k    70.00%
  Latency Distribution
     50%  750.00us
     75%    0.90ms
     90%    1.10ms
     99%    2.50ms
  394000 requests in 10.00s, 80.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  39400.12
Transfer/sec:      8.00MB
";

    #[test]
    fn parses_wrk_output() {
        let r = parse(SAMPLE).unwrap();
        assert!((r.rps - 39400.12).abs() < 1e-6);
        assert!((r.p50_ms - 0.75).abs() < 1e-9);
        assert!((r.p99_ms - 2.5).abs() < 1e-9);
        assert_eq!(r.errors, 8);
        assert!(parse("nothing here").is_err());
    }

    #[test]
    fn duration_units() {
        assert_eq!(duration_ms("2.00s"), Some(2000.0));
        assert_eq!(duration_ms("1.50m"), Some(90_000.0));
        assert_eq!(duration_ms("abc"), None);
    }
}
