//! The whole machine during each mode's body downloads: how busy it was,
//! and the CPU time per GiB of every tier together with the kernel's
//! interrupt work, which no process is charged for. Set side by side with
//! a mode's direct baseline, these say what the body ratio would be if CPU
//! time alone set the pace.

use super::figures::ModeRow;
use super::ratios::direct_baseline;
use serde::Serialize;

/// The machine during one mode's body downloads.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BodyMachine {
    /// Percent of the machine's CPU time that was used (neither idle nor
    /// stolen by the hypervisor).
    pub busy_percent: f64,
    /// Seconds per GiB spent on interrupts, machine-wide. On loopback most
    /// of TCP's receive work runs there, outside every tier's time.
    pub interrupt_s_per_gib: f64,
}

/// CPU seconds per GiB of body of every tier and the interrupts together;
/// `None` when the mode downloaded no body.
pub fn all_cpu_s_per_gib(row: &ModeRow) -> Option<f64> {
    let tiers = row.body_cpu_s_per_gib?;
    let machine = row.body_machine?;
    Some(tiers.client + tiers.middle.unwrap_or(0.0) + tiers.upstream + machine.interrupt_s_per_gib)
}

/// The body ratio over its baseline that CPU time alone would allow: the
/// baseline's CPU per GiB over the mode's. `None` for a baseline, or when
/// either did not download the body.
pub fn cpu_bound_ratio(row: &ModeRow, modes: &[ModeRow]) -> Option<(f64, &'static str)> {
    let base = direct_baseline(&row.mode)?;
    let base_row = modes.iter().find(|m| m.mode == base)?;
    let (ours, theirs) = (all_cpu_s_per_gib(row)?, all_cpu_s_per_gib(base_row)?);
    (ours > 0.0).then(|| (theirs / ours, base))
}

/// The table of the machine during the body downloads; nothing when no
/// mode downloaded the body.
pub fn render_machine_table(modes: &[ModeRow]) -> String {
    let rows: Vec<&ModeRow> = modes.iter().filter(|m| m.body_machine.is_some()).collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "The machine during the body downloads (all CPU = client + middle + upstream + interrupts;\n\
         CPU-bound ratio = the baseline's all CPU over the mode's: the body ratio if CPU time alone\n\
         set the pace, with the machine as busy in both):\n",
    );
    s.push_str(&format!(
        "{:<16} {:>7} {:>16} {:>16}   {}\n",
        "mode", "busy %", "interrupts s/GiB", "all CPU s/GiB", "CPU-bound ratio"
    ));
    for m in rows {
        let machine = m.body_machine.expect("filtered on it");
        let bound = cpu_bound_ratio(m, modes)
            .map_or_else(|| "-".to_string(), |(r, base)| format!("{r:.2}x of {base}"));
        s.push_str(&format!(
            "{:<16} {:>7.1} {:>16.2} {:>16}   {}\n",
            m.mode,
            machine.busy_percent,
            machine.interrupt_s_per_gib,
            all_cpu_s_per_gib(m).map_or_else(|| "-".to_string(), |v| format!("{v:.2}")),
            bound
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CpuSplit;

    fn row(mode: &str, tiers: Option<CpuSplit>, machine: Option<BodyMachine>) -> ModeRow {
        ModeRow {
            body_cpu_s_per_gib: tiers,
            body_machine: machine,
            ..ModeRow::measured_nothing_but(mode, 1.0)
        }
    }

    fn tiers(client: f64, middle: Option<f64>, upstream: f64) -> Option<CpuSplit> {
        Some(CpuSplit {
            client,
            middle,
            upstream,
        })
    }

    fn busy(busy_percent: f64, interrupt_s_per_gib: f64) -> Option<BodyMachine> {
        Some(BodyMachine {
            busy_percent,
            interrupt_s_per_gib,
        })
    }

    #[test]
    fn the_cpu_bound_ratio_compares_all_the_cpu_time_per_gib() {
        let modes = [
            row("direct-tls", tiers(1.25, None, 1.5), busy(86.0, 0.25)),
            row(
                "ours-forward",
                tiers(1.0, Some(1.25), 1.25),
                busy(88.0, 0.5),
            ),
            row("ours-reverse", tiers(0.5, Some(0.5), 0.5), busy(80.0, 0.5)),
        ];
        assert_eq!(all_cpu_s_per_gib(&modes[0]), Some(3.0));
        assert_eq!(all_cpu_s_per_gib(&modes[1]), Some(4.0));
        assert_eq!(
            cpu_bound_ratio(&modes[1], &modes),
            Some((0.75, "direct-tls"))
        );
        // A baseline has no ratio, nor a mode whose baseline did not run.
        assert_eq!(cpu_bound_ratio(&modes[0], &modes), None);
        assert_eq!(cpu_bound_ratio(&modes[2], &modes), None);
        // A mode that downloaded no body has no figures.
        assert_eq!(all_cpu_s_per_gib(&row("direct", None, None)), None);

        let table = render_machine_table(&modes);
        assert!(table.contains("0.75x of direct-tls"), "{table}");
        assert!(table.contains("88.0"), "{table}");
        let forward = table
            .lines()
            .find(|l| l.starts_with("ours-forward"))
            .unwrap();
        assert!(forward.contains("4.00"), "{forward}");
        assert!(render_machine_table(&[row("direct", None, None)]).is_empty());
    }
}
