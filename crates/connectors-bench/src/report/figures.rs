//! The measured figures of the `proxy` scenario's modes that the ratios,
//! checks and tables are made of.

use super::div;
use super::machine::BodyMachine;
use crate::stats::LatencySummary;
use crate::wrk::WrkResult;
use serde::Serialize;

/// One mode of the `proxy` scenario.
#[derive(Clone, Debug, Serialize)]
pub struct ModeRow {
    pub mode: String,
    /// What the client talks to.
    pub path: String,
    /// Median over the rounds of req/s, p50 and p99.
    pub small: LatencySummary,
    /// Every round's figures.
    pub rounds: Vec<LatencySummary>,
    pub errors: u64,
    pub reconnects: u64,
    /// p99 minus the p99 of this mode's direct baseline.
    pub added_p99_ms: Option<f64>,
    pub body_mb_s: Option<f64>,
    /// Every download's MB/s, in the order they ran.
    pub body_runs_mb_s: Vec<f64>,
    pub body_seconds: Option<f64>,
    pub wrk: Option<WrkResult>,
    /// CPU time per small request, in microseconds.
    pub cpu_us_per_request: CpuSplit,
    /// CPU time per GiB of streamed body, in seconds.
    pub body_cpu_s_per_gib: Option<CpuSplit>,
    /// The whole machine during the body downloads.
    pub body_machine: Option<BodyMachine>,
}

#[cfg(test)]
impl ModeRow {
    /// A row of mode `mode` with one small-request round of `rps` req/s
    /// (p50 1 ms, p99 2 ms) as its median, and nothing else measured.
    pub fn measured_nothing_but(mode: &str, rps: f64) -> ModeRow {
        ModeRow {
            mode: mode.into(),
            path: String::new(),
            small: LatencySummary::one_round(rps),
            rounds: Vec::new(),
            errors: 0,
            reconnects: 0,
            added_p99_ms: None,
            body_mb_s: None,
            body_runs_mb_s: Vec::new(),
            body_seconds: None,
            wrk: None,
            cpu_us_per_request: CpuSplit::default(),
            body_cpu_s_per_gib: None,
            body_machine: None,
        }
    }
}

/// CPU time spent by each tier: this program (the client), the proxy in
/// the middle (ours or the anchor; none for direct modes) and the
/// upstream nginx.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct CpuSplit {
    pub client: f64,
    pub middle: Option<f64>,
    pub upstream: f64,
}

impl CpuSplit {
    /// Each share divided by `units`.
    pub fn per(self, units: f64) -> CpuSplit {
        let d = |v: f64| div(v, units);
        CpuSplit {
            client: d(self.client),
            middle: self.middle.map(d),
            upstream: d(self.upstream),
        }
    }

    /// Adds `other`, share by share.
    pub fn add(&mut self, other: CpuSplit) {
        self.client += other.client;
        self.upstream += other.upstream;
        self.middle = self.middle.zip(other.middle).map(|(a, b)| a + b);
    }

    /// `self - before`, share by share.
    pub fn since(self, before: CpuSplit) -> CpuSplit {
        CpuSplit {
            client: self.client - before.client,
            middle: self.middle.zip(before.middle).map(|(a, b)| a - b),
            upstream: self.upstream - before.upstream,
        }
    }
}

/// Figures of one mode that ratios are made of.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    pub rps: f64,
    pub p99_ms: f64,
    pub body_mb_s: Option<f64>,
}

impl From<&ModeRow> for Figures {
    fn from(r: &ModeRow) -> Figures {
        Figures {
            rps: r.small.rps,
            p99_ms: r.small.p99_ms,
            body_mb_s: r.body_mb_s,
        }
    }
}

/// Everything the `proxy` ratios and checks need.
#[derive(Clone, Copy, Debug)]
pub struct ProxyFigures {
    pub direct: Figures,
    pub direct_tls: Figures,
    pub reverse: Figures,
    pub anchor: Figures,
    /// nginx terminating TLS and proxying over TLS: the like-for-like
    /// baseline of the CONNECT-intercepting forward mode.
    pub anchor_tls: Figures,
    pub forward: Figures,
    /// haproxy in TCP mode, splicing (when haproxy ran): a relay without
    /// any HTTP work, for reference.
    pub relay: Option<Figures>,
    /// haproxy in TCP mode with TLS on both legs (when haproxy ran).
    pub relay_tls: Option<Figures>,
    pub idle_rss_kib: u64,
}

impl ProxyFigures {
    /// The figures of the mode the report names `mode`; `None` for a
    /// haproxy mode when haproxy did not run.
    pub fn mode(&self, mode: &str) -> Option<Figures> {
        match mode {
            "direct" => Some(self.direct),
            "direct-tls" => Some(self.direct_tls),
            "ours-reverse" => Some(self.reverse),
            "nginx-anchor" => Some(self.anchor),
            "nginx-anchor-tls" => Some(self.anchor_tls),
            "ours-forward" => Some(self.forward),
            "haproxy-tcp" => self.relay,
            "haproxy-tls" => self.relay_tls,
            _ => None,
        }
    }
}
