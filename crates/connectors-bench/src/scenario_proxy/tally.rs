//! What a stage of the `proxy` scenario gathers for each mode: its runs,
//! the CPU time the client, the mode's middle and the upstream spent on
//! them, and the whole machine's ticks meanwhile.

use super::modes::Mode;
use super::peers::Peers;
use crate::cpu;
use crate::report::CpuSplit;
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
    /// tier and machine-wide.
    pub(super) fn measure<R>(
        &mut self,
        mode: &Mode,
        peers: &Peers,
        work: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        let (before, machine_before) = (cpu_now(mode, peers)?, cpu::Machine::now()?);
        let result = work()?;
        self.machine.add(cpu::Machine::now()?.since(machine_before));
        self.cpu.add(cpu_now(mode, peers)?.since(before));
        Ok(result)
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
