//! Memory use of a process, from `/proc/PID/status`.

use anyhow::{anyhow, Context, Result};

/// Peak resident set size (`VmHWM`) in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    status_field_kib(pid, "VmHWM")
}

/// Current resident set size (`VmRSS`) in KiB.
pub fn current_rss_kib(pid: u32) -> Result<u64> {
    status_field_kib(pid, "VmRSS")
}

fn status_field_kib(pid: u32, field: &str) -> Result<u64> {
    let (path, text) = read_status(pid)?;
    parse_field_kib(&text, field).ok_or_else(|| anyhow!("{path} has no {field} line"))
}

fn read_status(pid: u32) -> Result<(String, String)> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    Ok((path, text))
}

fn parse_field_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name != field {
            return None;
        }
        let mut parts = value.split_whitespace();
        let number: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            Some("kB") | None => Some(number),
            Some(_) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let text = "Name:\tx\nVmPeak:\t  20000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t     999 kB\n";
        assert_eq!(parse_field_kib(text, "VmHWM"), Some(1234));
        assert_eq!(parse_field_kib(text, "VmRSS"), Some(999));
        assert_eq!(parse_field_kib(text, "VmSwap"), None);
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(peak_rss_kib(pid).unwrap() > 0);
        assert!(current_rss_kib(pid).unwrap() > 0);
        // Other test threads allocate between two reads, so the two figures are
        // compared within one snapshot of the file, where the kernel computes
        // the peak as at least the current figure.
        let (_, text) = read_status(pid).unwrap();
        let peak = parse_field_kib(&text, "VmHWM").unwrap();
        let now = parse_field_kib(&text, "VmRSS").unwrap();
        assert!(peak >= now, "peak {peak} < current {now}");
        assert!(peak_rss_kib(u32::MAX).is_err());
    }
}
