//! CPU time of processes (and their children), from `/proc/PID/stat`, so a
//! run can say how much CPU each tier spent per request.

use anyhow::{anyhow, Context, Result};

/// User plus system CPU seconds of `pid` and all its descendants (an
/// nginx master and its workers, say). Processes that vanish are skipped.
pub fn tree_seconds(pid: u32) -> Result<f64> {
    let mut total = 0u64;
    for p in tree(pid) {
        if let Ok(t) = ticks(p) {
            total += t;
        }
    }
    Ok(total as f64 / clock_ticks_per_second()?)
}

/// User plus system CPU seconds of this process.
pub fn self_seconds() -> Result<f64> {
    Ok(ticks(std::process::id())? as f64 / clock_ticks_per_second()?)
}

fn clock_ticks_per_second() -> Result<f64> {
    // SAFETY: sysconf(3) has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return Err(anyhow!("sysconf(_SC_CLK_TCK) failed"));
    }
    Ok(hz as f64)
}

/// `pid` and its descendants, from `/proc/PID/task/TID/children`.
fn tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                let text = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
                out.extend(
                    text.split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
        i += 1;
    }
    out
}

fn ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat_ticks(&text).ok_or_else(|| anyhow!("{path} has no utime/stime"))
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line; the
/// command name in parentheses may contain spaces.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_name() {
        let line =
            "4242 (nginx: worker (x)) S 1 2 3 0 -1 4194304 128 0 0 0 70 30 0 0 20 0 1 0 239355";
        assert_eq!(parse_stat_ticks(line), Some(100));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn this_process_has_cpu_time() {
        // Spin for 100 ms of wall time (ticks are 10 ms apart).
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(x > 0);
        assert!(self_seconds().unwrap() > 0.0);
        assert!(tree_seconds(std::process::id()).unwrap() > 0.0);
    }
}
