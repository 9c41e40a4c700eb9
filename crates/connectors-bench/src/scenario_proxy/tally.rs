//! What a stage of the `proxy` scenario gathers for each mode: its runs,
//! the CPU time the client, the mode's middle and the upstream spent on
//! them, and the whole machine's ticks meanwhile.

use super::modes::Mode;
use super::peers::Peers;
use crate::cpu;
use crate::report::{CpuSplit, STEAL_WARN_PERCENT};
use anyhow::Result;

/// One mode's runs in one stage, and the CPU time spent on them.
pub(super) struct Tally<T> {
    pub(super) runs: Vec<T>,
    pub(super) cpu: CpuSplit,
    pub(super) machine: cpu::Machine,
}

impl<T> Tally<T> {
    /// An empty tally for each of `modes`; a mode with nothing in the
    /// middle has no middle share.
    pub(super) fn for_modes(modes: &[Mode], peers: &Peers) -> Vec<Tally<T>> {
        modes
            .iter()
            .map(|m| Tally {
                runs: Vec::new(),
                cpu: CpuSplit {
                    middle: m.middle_pid(peers).map(|_| 0.0),
                    ..CpuSplit::default()
                },
                machine: cpu::Machine::default(),
            })
            .collect()
    }

    /// Where the tally stands, for [`rewind`](Self::rewind).
    pub(super) fn mark(&self) -> (usize, CpuSplit, cpu::Machine) {
        (self.runs.len(), self.cpu, self.machine)
    }

    /// Forgets the runs and CPU time added since `mark`.
    pub(super) fn rewind(&mut self, (runs, cpu, machine): (usize, CpuSplit, cpu::Machine)) {
        self.runs.truncate(runs);
        self.cpu = cpu;
        self.machine = machine;
    }

    /// Runs `work` for `mode` and adds the CPU time spent meanwhile, by
    /// tier and machine-wide; returns `work`'s result and the machine's
    /// ticks over it.
    pub(super) fn measure<R>(
        &mut self,
        mode: &Mode,
        peers: &Peers,
        work: impl FnOnce() -> Result<R>,
    ) -> Result<(R, cpu::Machine)> {
        let (before, machine_before) = (cpu_now(mode, peers)?, cpu::Machine::now()?);
        let result = work()?;
        let machine = cpu::Machine::now()?.since(machine_before);
        self.machine.add(machine);
        self.cpu.add(cpu_now(mode, peers)?.since(before));
        Ok((result, machine))
    }
}

/// Runs rounds 1 to `rounds` of a stage, each by `one_round(round,
/// tallies)`, and returns the mean steal of the rounds kept. A round in
/// which the hypervisor took more than [`STEAL_WARN_PERCENT`] of the
/// machine's CPU time measures other tenants more than the programs: what
/// it added to `tallies` is forgotten and it runs again, at most `rounds`
/// times in all. `kept(round)` runs after each round kept; `stage` names
/// the rounds in the progress lines.
pub(super) fn steady_rounds<T>(
    stage: &str,
    rounds: usize,
    tallies: &mut [Tally<T>],
    one_round: impl FnMut(usize, &mut [Tally<T>]) -> Result<()>,
    kept: impl FnMut(usize) -> Result<()>,
) -> Result<f64> {
    let rounds = Rounds {
        stage,
        rounds,
        machine: cpu::Machine::now,
    };
    rounds.run(tallies, one_round, kept)
}

/// Rounds of a stage, and where the machine's ticks are read from.
struct Rounds<'a, M> {
    stage: &'a str,
    rounds: usize,
    machine: M,
}

impl<M: FnMut() -> Result<cpu::Machine>> Rounds<'_, M> {
    /// See [`steady_rounds`].
    fn run<T>(
        mut self,
        tallies: &mut [Tally<T>],
        mut one_round: impl FnMut(usize, &mut [Tally<T>]) -> Result<()>,
        mut kept: impl FnMut(usize) -> Result<()>,
    ) -> Result<f64> {
        let (stage, rounds) = (self.stage, self.rounds);
        let (mut repeats_left, mut kept_steal) = (rounds, Vec::with_capacity(rounds));
        let mut round = 1;
        while round <= rounds {
            let marks: Vec<_> = tallies.iter().map(Tally::mark).collect();
            let start = (self.machine)()?;
            one_round(round, tallies)?;
            let steal = (self.machine)()?.steal_percent_since(start);
            if steal > STEAL_WARN_PERCENT && repeats_left > 0 {
                repeats_left -= 1;
                eprintln!(
                    "[proxy] {stage} round {round}/{rounds}: the hypervisor took {steal:.1}% of the CPU time; the round is dropped and run again"
                );
                for (tally, mark) in tallies.iter_mut().zip(marks) {
                    tally.rewind(mark);
                }
                continue;
            }
            kept_steal.push(steal);
            kept(round)?;
            round += 1;
        }
        Ok(kept_steal.iter().sum::<f64>() / kept_steal.len().max(1) as f64)
    }
}

/// The CPU time so far of this program and its children (the client), of
/// `mode`'s middle and of the upstream.
fn cpu_now(mode: &Mode, peers: &Peers) -> Result<CpuSplit> {
    Ok(CpuSplit {
        client: cpu::self_seconds()? + cpu::children_seconds()?,
        middle: mode.middle_pid(peers).map(cpu::tree_seconds).transpose()?,
        upstream: cpu::tree_seconds(peers.upstream.pid())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_that_lost_cpu_time_to_the_hypervisor_are_run_again() {
        // The machine's readings, two per round (before, after): every
        // round takes 100 ticks; the steal of each round in turn is given.
        let steals = [0, 10, 1, 30, 30, 30];
        let mut readings = Vec::new();
        let mut total = 0;
        let mut stolen = 0;
        for s in steals {
            readings.push(cpu::Machine {
                total,
                steal: stolen,
                ..cpu::Machine::default()
            });
            total += 100;
            stolen += s;
            readings.push(cpu::Machine {
                total,
                steal: stolen,
                ..cpu::Machine::default()
            });
        }
        let mut readings = readings.into_iter();
        let rounds = Rounds {
            stage: "test",
            rounds: 3,
            machine: || Ok(readings.next().expect("a reading per call")),
        };
        let mut tallies: Vec<Tally<usize>> = vec![Tally {
            runs: Vec::new(),
            cpu: CpuSplit::default(),
            machine: cpu::Machine::default(),
        }];
        let (mut ran, mut kept) = (Vec::new(), Vec::new());
        let steal = rounds
            .run(
                &mut tallies,
                |round, t| {
                    ran.push(round);
                    t[0].runs.push(round);
                    Ok(())
                },
                |round| {
                    kept.push(round);
                    Ok(())
                },
            )
            .unwrap();
        // Round 2 lost 10% and ran again (1%); round 3 lost 30% three
        // times: the budget of 3 repeats was spent by then (one on round
        // 2, two on round 3), so its third run is kept as it is.
        assert_eq!(ran, [1, 2, 2, 3, 3, 3]);
        assert_eq!(kept, [1, 2, 3]);
        assert_eq!(tallies[0].runs, [1, 2, 3]);
        assert!((steal - (0.0 + 1.0 + 30.0) / 3.0).abs() < 1e-9, "{steal}");
    }

    #[test]
    fn rewinding_forgets_what_a_dropped_round_added() {
        let mut t: Tally<u32> = Tally {
            runs: vec![1],
            cpu: CpuSplit {
                client: 1.0,
                middle: Some(2.0),
                upstream: 3.0,
            },
            machine: cpu::Machine::default(),
        };
        let mark = t.mark();
        t.runs.push(2);
        t.cpu.add(CpuSplit {
            client: 0.5,
            middle: Some(0.5),
            upstream: 0.5,
        });
        t.machine.add(cpu::Machine {
            total: 10,
            ..cpu::Machine::default()
        });
        assert_eq!(t.cpu.client, 1.5);
        t.rewind(mark);
        assert_eq!(t.machine, cpu::Machine::default());
        assert_eq!(t.runs, [1]);
        assert_eq!(t.cpu.client, 1.0);
        assert_eq!(t.cpu.middle, Some(2.0));
        assert_eq!(t.cpu.upstream, 3.0);
    }
}
