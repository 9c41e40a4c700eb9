//! `connectors validate`.

use crate::cli::ValidateArgs;
use crate::input::load_inventory;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(args: ValidateArgs) -> Result<ExitCode> {
    let inv = load_inventory(&args.paths)?;
    let findings = inv.validate();
    for s in &inv.skipped {
        eprintln!(
            "{}: skipped {} (not a Connector, ConnectorClass or Secret)",
            s.origin, s.what
        );
    }
    for f in &findings {
        println!("{f}");
    }
    let files: std::collections::BTreeSet<_> = findings
        .iter()
        .map(|f| &f.origin)
        .filter_map(|o| match o {
            connectors_core::inventory::Origin::File { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    if findings.is_empty() {
        if !args.quiet {
            let user_classes = inv
                .classes
                .values()
                .filter(|(_, o)| *o != connectors_core::inventory::Origin::BuiltIn)
                .count();
            eprintln!(
                "ok: {} connector(s), {} class(es), {} secret(s)",
                inv.connectors.len(),
                user_classes,
                inv.secrets.len()
            );
        }
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} problem(s) in {} file(s)",
            findings.len(),
            files.len().max(1)
        );
        Ok(ExitCode::from(1))
    }
}
