//! The large body of the `proxy` scenario: one warm-up download, then the
//! body downloaded in each chosen mode, round after round.

use super::modes::Mode;
use super::tally::{steady_rounds, Tally};
use super::{Bench, Samples};
use crate::cli::BodyClient;
use crate::curl;
use crate::load::{self, Download};
use crate::report::{self, BodyMachine, ModeRow};
use anyhow::{bail, Context, Result};

impl Bench<'_> {
    /// Downloads the body `--body-repeat` times in every mode that
    /// `--body-modes` names (all when it names none), after one warm-up
    /// download, and fills the rows' body figures; notes the proxy's peak
    /// RSS and the steal over the rounds kept. As with the small-request
    /// rounds, a round (one download per mode) that lost too much CPU time
    /// to the hypervisor is dropped and run again (see [`steady_rounds`]).
    pub(super) fn body_downloads(&self, rows: &mut [ModeRow], samples: &mut Samples) -> Result<()> {
        let client = self.body_client()?;
        // The first long download after the small-request rounds runs at a
        // tenth of the speed of the next ones, whatever the mode, with nginx
        // spending seconds of CPU time on it (the file is in the page
        // cache): one direct download, not counted, takes that cost.
        eprintln!("[proxy] warm-up: one direct download, not counted");
        self.download(client, &self.modes[0], "warm-up")
            .context("the warm-up download")?;
        let rounds = self.args.body_repeat.max(1);
        let mut tallies = Tally::for_modes(self.modes, self.peers);
        let steal = steady_rounds(
            "body",
            rounds,
            &mut tallies,
            |round, tallies| {
                for (m, tally) in self.modes.iter().zip(tallies.iter_mut()) {
                    if self.downloads_body(m) {
                        self.body_round(client, m, round, rounds, tally)?;
                    }
                }
                Ok(())
            },
            |_| Ok(()),
        )?;
        let gib = (self.body_bytes as f64 / f64::from(1u32 << 30)) * rounds as f64;
        for (row, tally) in rows.iter_mut().zip(tallies) {
            fill_body_figures(row, tally, gib)?;
        }
        samples.peak_rss("peak after the body downloads (VmHWM)", &self.peers.proxy)?;
        samples.steal.push(("body downloads".to_string(), steal));
        Ok(())
    }

    /// The client `--body-client` names, once it is known to run.
    fn body_client(&self) -> Result<BodyClient> {
        let client = match self.args.body_client {
            BodyClient::Curl if !curl::available() => {
                bail!("curl is not on PATH: install it (apt-get install curl) or pass --body-client builtin")
            }
            c => c,
        };
        eprintln!("[proxy] the body is downloaded by {}", client.describe());
        Ok(client)
    }

    /// Whether `--body-modes` lets `m` download the body.
    fn downloads_body(&self, m: &Mode) -> bool {
        let chosen = &self.args.body_modes;
        chosen.is_empty() || chosen.iter().any(|b| b == m.name)
    }

    /// Round `round` of `rounds` of `m`'s body download, added to `tally`;
    /// when our proxy fails it, the end of the proxy's log is printed.
    fn body_round(
        &self,
        client: BodyClient,
        m: &Mode,
        round: usize,
        rounds: usize,
        tally: &mut Tally<Download>,
    ) -> Result<()> {
        eprintln!(
            "[proxy] {}: downloading {} MiB (round {round}/{rounds})",
            m.name,
            self.body_bytes >> 20
        );
        let (d, machine) = tally.measure(m, self.peers, || {
            self.download(client, m, m.name).map_err(|e| {
                if m.ours {
                    eprintln!(
                        "[proxy] last lines of the proxy's log:\n{}",
                        tail(&self.peers.proxy.standalone.log_text(), 40)
                    );
                }
                e.context(format!("body download on mode {}", m.name))
            })
        })?;
        eprintln!(
            "[proxy] {}: {:.0} MB/s ({:.2}s, steal {:.1}%)",
            m.name,
            d.mb_per_s(),
            d.seconds,
            machine.steal_percent()
        );
        tally.runs.push(d);
        Ok(())
    }

    /// One download of the body in mode `m` by `client`; `label` names it
    /// in the built-in client's progress lines and errors.
    fn download(&self, client: BodyClient, m: &Mode, label: &str) -> Result<Download> {
        match client {
            BodyClient::Curl => m.curl.download(self.body_bytes),
            BodyClient::Builtin => self
                .rt
                .block_on(load::download(&m.big, label, self.body_bytes)),
        }
    }
}

/// Sets `row`'s body figures from its downloads in `tally`; `gib` is what
/// a mode downloads over all the rounds, in GiB.
fn fill_body_figures(row: &mut ModeRow, tally: Tally<Download>, gib: f64) -> Result<()> {
    if !tally.runs.is_empty() {
        row.body_cpu_s_per_gib = Some(tally.cpu.per(gib));
        row.body_machine = Some(BodyMachine {
            busy_percent: tally.machine.busy_percent(),
            interrupt_s_per_gib: tally.machine.interrupt_seconds()? / gib,
        });
    }
    let mb: Vec<f64> = tally.runs.iter().map(Download::mb_per_s).collect();
    let secs: Vec<f64> = tally.runs.iter().map(|d| d.seconds).collect();
    row.body_mb_s = report::median(&mb);
    row.body_runs_mb_s = mb;
    row.body_seconds = report::median(&secs);
    Ok(())
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
