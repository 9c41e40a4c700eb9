//! The small requests of the `proxy` scenario: the check that every mode
//! answers, the rounds of load, and wrk's cross-check of them.

use super::modes::Mode;
use super::tally::{steady_rounds, Tally};
use super::{Bench, Samples};
use crate::cli::ProxyArgs;
use crate::load::{self, LoadResult};
use crate::nginx;
use crate::report::ModeRow;
use crate::stats::LatencySummary;
use crate::wrk::{self, WrkResult};
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

/// Whether wrk cross-checks the modes it can do: unless `--no-wrk`, when
/// it is on PATH (its absence is said).
pub(super) fn use_wrk(args: &ProxyArgs) -> bool {
    let use_wrk = !args.no_wrk && wrk::available();
    if !args.no_wrk && !use_wrk {
        eprintln!("[proxy] wrk is not on PATH: no cross-check (apt-get install wrk)");
    }
    use_wrk
}

impl Bench<'_> {
    /// Checks that the upstream refuses a request without credentials and
    /// that every mode answers `/small` with 200 and the small body.
    pub(super) fn check_answers(&self) -> Result<()> {
        self.rt.block_on(async {
            let mut no_auth = self.modes[0].small.clone();
            no_auth.headers.clear();
            let status = load::status_of(&no_auth).await?;
            if status != 401 {
                bail!("the upstream answered {status} without credentials; expected 401");
            }
            for m in self.modes {
                first_answer(m).await?;
            }
            Ok(())
        })?;
        eprintln!("[proxy] every mode answers /small with 200");
        Ok(())
    }

    /// Runs `--rounds` rounds of small-request load, each on every mode in
    /// turn; notes the proxy's peak RSS after each round and the steal over
    /// the rounds kept. A round that lost too much CPU time to the
    /// hypervisor is dropped and run again (see [`steady_rounds`]).
    pub(super) fn small_rounds(&self, samples: &mut Samples) -> Result<Vec<Tally<LoadResult>>> {
        let rounds = self.args.rounds.max(1);
        let mut tallies = Tally::for_modes(self.modes, self.peers);
        let steal = steady_rounds(
            "small-request",
            rounds,
            &mut tallies,
            |round, tallies| {
                for (m, tally) in self.modes.iter().zip(tallies.iter_mut()) {
                    self.small_round(m, round, rounds, tally)?;
                }
                Ok(())
            },
            |round| {
                samples.peak_rss(
                    format!("peak after small-request round {round} (VmHWM)"),
                    &self.peers.proxy,
                )
            },
        )?;
        samples
            .steal
            .push(("small-request rounds".to_string(), steal));
        Ok(tallies)
    }

    /// Round `round` of `rounds` of the load on `m`, added to `tally`.
    fn small_round(
        &self,
        m: &Mode,
        round: usize,
        rounds: usize,
        tally: &mut Tally<LoadResult>,
    ) -> Result<()> {
        let args = self.args;
        eprintln!(
            "[proxy] round {round}/{rounds} {}: {} connections, {:?} warm-up + {:?} ({})",
            m.name, args.connections, args.warmup, args.duration, m.path
        );
        let (r, _) = tally.measure(m, self.peers, || {
            self.rt
                .block_on(load::run(
                    &m.small,
                    args.connections,
                    args.warmup,
                    args.duration,
                ))
                .with_context(|| format!("load on mode {}", m.name))
        })?;
        eprintln!(
            "[proxy] round {round}/{rounds} {}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {} errors{}",
            m.name,
            r.summary.rps,
            r.summary.p50_ms,
            r.summary.p99_ms,
            r.errors,
            r.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        tally.runs.push(r);
        Ok(())
    }

    /// A report row per mode from its rounds, with wrk's cross-check when
    /// `use_wrk`; the body figures and the added p99 come later.
    pub(super) fn rows(&self, tallies: Vec<Tally<LoadResult>>, use_wrk: bool) -> Vec<ModeRow> {
        self.modes
            .iter()
            .zip(tallies)
            .map(|(m, tally)| {
                let wrk = if use_wrk { self.wrk(m) } else { None };
                row(m, tally, wrk)
            })
            .collect()
    }

    /// wrk's figures for `m`, when wrk can do this mode; its failure is
    /// said, not returned.
    fn wrk(&self, m: &Mode) -> Option<WrkResult> {
        let (url, headers) = m.wrk.as_ref()?;
        eprintln!(
            "[proxy] {}: wrk cross-check ({:?})",
            m.name, self.args.duration
        );
        match wrk::run(url, headers, self.args.connections, self.args.duration) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("[proxy] {}: wrk failed: {e:#}", m.name);
                None
            }
        }
    }
}

/// Waits for `m`'s first answer to `/small` (30 s at most) and checks that
/// it is the small body.
async fn first_answer(m: &Mode) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match load::check(&m.small).await {
            Ok(n) if n == nginx::SMALL_BODY.len() as u64 => return Ok(()),
            Ok(n) => bail!("{}: /small returned {n} bytes", m.name),
            Err(e) if Instant::now() > deadline => {
                return Err(e.context(format!("{}: the first request failed", m.name)))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// `m`'s row from its small-request rounds in `tally`.
fn row(m: &Mode, tally: Tally<LoadResult>, wrk: Option<WrkResult>) -> ModeRow {
    let results = tally.runs;
    let total: u64 = results.iter().map(|r| r.total_requests).sum();
    let summaries: Vec<LatencySummary> = results.iter().map(|r| r.summary.clone()).collect();
    ModeRow {
        mode: m.name.to_string(),
        path: m.path.clone(),
        small: LatencySummary::median_of(&summaries),
        rounds: summaries,
        errors: results.iter().map(|r| r.errors).sum(),
        reconnects: results.iter().map(|r| r.reconnects).sum(),
        added_p99_ms: None,
        body_mb_s: None,
        body_runs_mb_s: Vec::new(),
        body_seconds: None,
        wrk,
        cpu_us_per_request: tally.cpu.per(total as f64 / 1e6),
        body_cpu_s_per_gib: None,
        body_machine: None,
    }
}
