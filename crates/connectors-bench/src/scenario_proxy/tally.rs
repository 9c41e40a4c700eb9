//! What a stage of the `proxy` scenario gathers for each mode: its runs,
//! and the CPU time the client, the mode's middle and the upstream spent
//! on them.

use super::modes::Mode;
use super::peers::Peers;
use crate::cpu;
use crate::report::CpuSplit;
use anyhow::Result;

/// One mode's runs in one stage, and the CPU time spent on them.
pub(super) struct Tally<T> {
    pub(super) runs: Vec<T>,
    pub(super) cpu: CpuSplit,
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
            })
            .collect()
    }

    /// Runs `work` for `mode` and adds the CPU time spent meanwhile.
    pub(super) fn measure<R>(
        &mut self,
        mode: &Mode,
        peers: &Peers,
        work: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        let before = cpu_now(mode, peers)?;
        let result = work()?;
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
