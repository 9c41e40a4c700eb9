//! `connectors classes`.

use crate::cli::{ClassesAction, ClassesArgs};
use anyhow::{bail, Result};
use connectors_core::classes::{builtin_class_source, builtin_classes, BUILTIN_CLASS_SOURCES};
use connectors_types::metadata::DISPLAY_NAME_ANNOTATION;
use std::process::ExitCode;

pub fn run(args: ClassesArgs) -> Result<ExitCode> {
    match args.action.unwrap_or(ClassesAction::List) {
        ClassesAction::List => list(),
        ClassesAction::Show { name } => match builtin_class_source(&name) {
            Some(text) => {
                print!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            None => bail!(
                "no built-in class {name:?}; built-in classes: {}",
                BUILTIN_CLASS_SOURCES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}

fn list() -> Result<ExitCode> {
    let mut rows = vec![vec![
        "NAME".to_string(),
        "DISPLAY NAME".to_string(),
        "AUTH TYPES".to_string(),
        "CONFIGURATIONS".to_string(),
        "PROXY".to_string(),
    ]];
    for c in builtin_classes() {
        let display = c
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DISPLAY_NAME_ANNOTATION))
            .cloned()
            .unwrap_or_default();
        let auth = c
            .spec
            .auth_types()
            .iter()
            .map(|t| t.name.clone())
            .collect::<Vec<_>>()
            .join(",");
        let confs = c
            .spec
            .configurations
            .iter()
            .map(|t| t.name.clone())
            .collect::<Vec<_>>()
            .join(",");
        let proxy = if c.spec.proxy.is_some() { "yes" } else { "no" };
        rows.push(vec![
            c.metadata.name.clone().unwrap_or_default(),
            display,
            auth,
            confs,
            proxy.to_string(),
        ]);
    }
    print!("{}", crate::output::table(&rows));
    Ok(ExitCode::SUCCESS)
}
