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

/// User plus system CPU seconds of this process's children that have
/// ended and been waited for (a curl per download, say).
pub fn children_seconds() -> Result<f64> {
    let path = "/proc/self/stat";
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let ticks =
        parse_stat_children_ticks(&text).ok_or_else(|| anyhow!("{path} has no cutime/cstime"))?;
    Ok(ticks as f64 / clock_ticks_per_second()?)
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
        out.extend(connectors_testkit::process::children(out[i]));
        i += 1;
    }
    out
}

fn ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat_ticks(&text).ok_or_else(|| anyhow!("{path} has no utime/stime"))
}

/// The whole machine's CPU ticks so far, from the `cpu` line of
/// `/proc/stat`: all of them, those the hypervisor gave to someone else
/// while this machine wanted to run (steal), those no one used (idle and
/// iowait), and those spent on interrupts (hard and soft). On loopback,
/// most of TCP's receive work runs as soft interrupts; the kernel counts
/// it there, not in the time of the process it works for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Machine {
    pub total: u64,
    pub steal: u64,
    pub idle: u64,
    pub interrupts: u64,
}

impl Machine {
    pub fn now() -> Result<Machine> {
        let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
        parse_machine(&text).ok_or_else(|| anyhow!("/proc/stat has no cpu line"))
    }

    /// Percent of the CPU time since `before` that was stolen.
    pub fn steal_percent_since(&self, before: Machine) -> f64 {
        self.since(before).steal_percent()
    }

    /// Percent of these ticks that were stolen.
    pub fn steal_percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        100.0 * self.steal as f64 / self.total as f64
    }

    /// The ticks from `before` to `self`, field by field.
    pub fn since(self, before: Machine) -> Machine {
        Machine {
            total: self.total.saturating_sub(before.total),
            steal: self.steal.saturating_sub(before.steal),
            idle: self.idle.saturating_sub(before.idle),
            interrupts: self.interrupts.saturating_sub(before.interrupts),
        }
    }

    /// Adds `other`'s ticks, field by field.
    pub fn add(&mut self, other: Machine) {
        self.total += other.total;
        self.steal += other.steal;
        self.idle += other.idle;
        self.interrupts += other.interrupts;
    }

    /// Percent of these ticks the machine worked: neither idle nor stolen.
    pub fn busy_percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let busy = self.total.saturating_sub(self.idle + self.steal);
        100.0 * busy as f64 / self.total as f64
    }

    /// Seconds of CPU time spent on interrupts in these ticks.
    pub fn interrupt_seconds(&self) -> Result<f64> {
        Ok(self.interrupts as f64 / clock_ticks_per_second()?)
    }
}

/// `cpu  user nice system idle iowait irq softirq steal guest guest_nice`;
/// guest time is already counted in user, so it is not added again.
fn parse_machine(stat: &str) -> Option<Machine> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 8 {
        return None;
    }
    Some(Machine {
        total: v[..8].iter().sum(),
        steal: v[7],
        idle: v[3] + v[4],
        interrupts: v[5] + v[6],
    })
}

/// The sum of fields `first` and `first + 1` (numbered as in proc(5)) of
/// a `/proc/PID/stat` line; the command name in parentheses may contain
/// spaces.
fn stat_pair(stat: &str, first: usize) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state).
    let a: u64 = fields.get(first.checked_sub(3)?)?.parse().ok()?;
    let b: u64 = fields.get(first - 2)?.parse().ok()?;
    Some(a + b)
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    stat_pair(stat, 14)
}

/// cutime + cstime (fields 16 and 17) of a `/proc/PID/stat` line.
fn parse_stat_children_ticks(stat: &str) -> Option<u64> {
    stat_pair(stat, 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_name() {
        let line =
            "4242 (nginx: worker (x)) S 1 2 3 0 -1 4194304 128 0 0 0 70 30 0 0 20 0 1 0 239355";
        assert_eq!(parse_stat_ticks(line), Some(100));
        let line = "4242 (curl) S 1 2 3 0 -1 4194304 128 0 0 0 70 30 15 5 20 0 1 0 239355";
        assert_eq!(parse_stat_children_ticks(line), Some(20));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn parses_the_machine_line() {
        let stat = "cpu  100 0 50 800 10 0 20 20 7 0\ncpu0 50 0 25 400 5 0 10 10 0 0\n";
        let m = parse_machine(stat).unwrap();
        assert_eq!(
            m,
            Machine {
                total: 1000,
                steal: 20,
                idle: 810,
                interrupts: 20,
            }
        );
        let later = Machine {
            total: 1200,
            steal: 70,
            idle: 860,
            interrupts: 50,
        };
        assert!((later.steal_percent_since(m) - 25.0).abs() < 1e-9);
        assert_eq!(m.steal_percent_since(m), 0.0);
        // 200 ticks: 50 stolen, 50 idle, 100 worked (30 on interrupts).
        let mut d = later.since(m);
        assert_eq!(d.interrupts, 30);
        assert!((d.steal_percent() - 25.0).abs() < 1e-9);
        assert!((d.busy_percent() - 50.0).abs() < 1e-9);
        d.add(d);
        assert_eq!(
            (d.total, d.steal, d.idle, d.interrupts),
            (400, 100, 100, 60)
        );
        assert!((d.busy_percent() - 50.0).abs() < 1e-9);
        assert_eq!(Machine::default().busy_percent(), 0.0);
        assert_eq!(parse_machine("cpu  1 2 3\n"), None);
        assert_eq!(parse_machine("intr 5\n"), None);
        assert!(Machine::now().unwrap().total > 0);
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
        let before = children_seconds().unwrap();
        let spin = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(spin.success());
        assert!(children_seconds().unwrap() > before);
    }
}
