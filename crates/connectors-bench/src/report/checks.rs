//! The targets of both scenarios and whether a run met them.

use super::div;
use super::figures::ProxyFigures;
use serde::Serialize;

/// Idle RSS target of the proxy, in MiB.
pub const IDLE_RSS_TARGET_MIB: f64 = 30.0;
/// Peak RSS target during a large clone, in MiB.
pub const CLONE_RSS_TARGET_MIB: f64 = 50.0;

/// A target, met or not.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub measured: String,
    pub target: String,
    pub pass: bool,
}

/// Target checks of the `proxy` scenario.
pub fn proxy_checks(f: &ProxyFigures) -> Vec<Check> {
    let mut out = Vec::new();
    // Each of our modes against the nginx doing the same work: plain
    // reverse proxying, and TLS termination plus TLS to the tool.
    for (mode, ours, anchor_name, anchor, base, base_name) in [
        (
            "ours-reverse",
            &f.reverse,
            "nginx-anchor",
            &f.anchor,
            &f.direct,
            "direct",
        ),
        (
            "ours-forward",
            &f.forward,
            "nginx-anchor-tls",
            &f.anchor_tls,
            &f.direct_tls,
            "direct-tls",
        ),
    ] {
        let r = div(ours.rps, anchor.rps);
        out.push(Check {
            name: format!("small-request req/s {mode} >= 1.0x {anchor_name}"),
            measured: format!("{r:.2}x"),
            target: ">= 1.00x".into(),
            pass: r >= 1.0,
        });
        let added = ours.p99_ms - base.p99_ms;
        let anchor_added = anchor.p99_ms - base.p99_ms;
        out.push(Check {
            name: format!("added p99 {mode} <= {anchor_name}'s"),
            measured: format!("{added:.3} ms"),
            target: format!("<= {anchor_added:.3} ms"),
            pass: added <= anchor_added,
        });
        if let (Some(o), Some(b)) = (ours.body_mb_s, base.body_mb_s) {
            let r = div(o, b);
            out.push(Check {
                name: format!("streamed body {mode} >= 0.9x {base_name}"),
                measured: format!("{r:.2}x"),
                target: ">= 0.90x".into(),
                pass: r >= 0.9,
            });
        }
    }
    out.push(idle_rss_check(f.idle_rss_kib));
    out
}

/// The proxy's idle RSS against [`IDLE_RSS_TARGET_MIB`].
fn idle_rss_check(idle_rss_kib: u64) -> Check {
    let idle = idle_rss_kib as f64 / 1024.0;
    Check {
        name: "idle RSS of connectors standalone".into(),
        measured: format!("{idle:.1} MiB"),
        target: format!("<= {IDLE_RSS_TARGET_MIB:.0} MiB"),
        pass: idle <= IDLE_RSS_TARGET_MIB,
    }
}

/// Target checks of the `git-clone` scenario: the clone throughput
/// `ratio` proxied / direct, and the proxy's peak RSS against
/// [`CLONE_RSS_TARGET_MIB`].
pub fn git_checks(ratio: f64, peak_rss_kib: u64) -> Vec<Check> {
    let peak = peak_rss_kib as f64 / 1024.0;
    vec![
        Check {
            name: "clone throughput proxied / direct >= 0.9".into(),
            measured: format!("{ratio:.2}x"),
            target: ">= 0.90x".into(),
            pass: ratio >= 0.9,
        },
        Check {
            name: "peak RSS of connectors standalone during the clones".into(),
            measured: format!("{peak:.1} MiB"),
            target: format!("< {CLONE_RSS_TARGET_MIB:.0} MiB"),
            pass: peak < CLONE_RSS_TARGET_MIB,
        },
    ]
}
