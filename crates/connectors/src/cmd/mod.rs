//! One module per command.

mod ca;
mod classes;
mod crds;
mod describe;
mod get;
mod mount;
mod render;
mod standalone;
mod token;
mod validate;

use crate::cli::Command;
use anyhow::Result;
use std::process::ExitCode;

/// Runs a command; `Ok` carries the exit code (validation problems exit 1
/// without being an error of the tool itself).
pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Crds(a) => crds::run(a),
        Command::Classes(a) => classes::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Render(a) => render::run(a),
        Command::Standalone(a) => standalone::run(a),
        Command::Token(a) => token::run(a),
        Command::Ca(a) => ca::run(a),
        Command::Get(a) => get::run(a),
        Command::Describe(a) => describe::run(a),
        Command::Mount(a) => mount::run(a),
    }
}

/// A Connector named `NAMESPACE/NAME`, or `NAME` in `namespace`.
fn connector_id<'a>(id: &'a str, namespace: &'a str) -> (&'a str, &'a str) {
    id.split_once('/').unwrap_or((namespace, id))
}

#[cfg(test)]
mod tests {
    #[test]
    fn connector_ids_with_and_without_namespace() {
        assert_eq!(
            super::connector_id("team-a/git", "default"),
            ("team-a", "git")
        );
        assert_eq!(super::connector_id("git", "default"), ("default", "git"));
    }
}
