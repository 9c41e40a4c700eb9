//! A cheap monotonic clock for deadlines and cache lifetimes. Reading
//! `CLOCK_MONOTONIC_COARSE` is a load from memory the kernel updates every
//! tick (1–10 ms), where the precise clock reads the time-stamp counter or
//! the hypervisor's clock; the hot path reads it several times per request.
//! Nothing measured in milliseconds or finer (request durations, latency
//! histograms) uses it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// More than the coarse clock can be off (two ticks at the slowest kernel
/// tick rate, 100 Hz): what a deadline that must not be late gives away.
pub(crate) const MARGIN: Duration = Duration::from_millis(20);

/// Now, give or take a kernel tick.
pub(crate) fn coarse() -> Instant {
    static BASE: OnceLock<(Instant, Duration)> = OnceLock::new();
    let (base, at) = *BASE.get_or_init(|| (Instant::now(), monotonic_coarse()));
    base + monotonic_coarse().saturating_sub(at)
}

/// [`coarse`] for tokio timers; in unit tests, tokio's clock, which tests
/// may pause and advance.
pub(crate) fn coarse_tokio() -> tokio::time::Instant {
    #[cfg(test)]
    {
        tokio::time::Instant::now()
    }
    #[cfg(not(test))]
    {
        tokio::time::Instant::from_std(coarse())
    }
}

#[cfg(target_os = "linux")]
fn monotonic_coarse() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill; the
    // clock id is a constant the kernel knows.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if r != 0 {
        return precise_since_start();
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn monotonic_coarse() -> Duration {
    precise_since_start()
}

/// Elsewhere (or if the coarse clock fails): the precise clock.
fn precise_since_start() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_precise_clock_within_a_tick() {
        let first = coarse();
        for _ in 0..50 {
            let before = Instant::now();
            let c = coarse();
            let after = Instant::now();
            assert!(c.saturating_duration_since(after) < Duration::from_millis(50));
            assert!(before.saturating_duration_since(c) < Duration::from_millis(50));
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(coarse() - first >= Duration::from_millis(50));
    }
}
