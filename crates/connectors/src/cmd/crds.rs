//! `connectors crds`.

use crate::cli::CrdsArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;

pub fn run(args: CrdsArgs) -> Result<ExitCode> {
    let crds = connectors_types::crd::crds();
    match args.output {
        None => {
            for crd in &crds {
                print!("---\n{}", serde_norway::to_string(crd)?);
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in &crds {
                let name = crd.metadata.name.clone().unwrap_or_default();
                let path = dir.join(format!("{name}.yaml"));
                std::fs::write(&path, serde_norway::to_string(crd)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
