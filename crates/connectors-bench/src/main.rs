//! `connectors-bench`: the Connectors proxy measured against nginx in the
//! same run. See `connectors-bench --help` and `connectors-bench <scenario>
//! --help`.

mod certs;
mod cli;
mod cpu;
mod curl;
mod haproxy;
mod listeners;
mod load;
mod nginx;
mod proxy_process;
mod report;
mod scenario_git;
mod scenario_proxy;
mod stats;
mod wrk;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Scenario};
use serde::Serialize;
use std::path::Path;

fn main() {
    let cli = Cli::parse();
    // Ctrl-C or a kill stops nginx, haproxy and the proxy and removes the
    // working directories, which a plain exit would leave behind.
    if let Err(e) = connectors_testkit::interrupt::install("connectors-bench") {
        eprintln!("connectors-bench: {e:#}");
        std::process::exit(1);
    }
    if let Err(e) = run(&cli) {
        eprintln!("connectors-bench: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.scenario {
        Scenario::Proxy(args) => {
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = args.client_threads {
                rt.worker_threads(n.max(1));
            }
            let rt = rt.enable_all().build()?;
            let report = scenario_proxy::run(&rt, args, &cli.common)?;
            print!("{}", report.render());
            write_json(cli.common.json.as_deref(), &report)
        }
        Scenario::GitClone(args) => {
            let report = scenario_git::run(args, &cli.common)?;
            print!("{}", report.render());
            write_json(cli.common.json.as_deref(), &report)
        }
    }
}

fn write_json<T: Serialize>(path: Option<&Path>, value: &T) -> Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    eprintln!("results written to {}", path.display());
    Ok(())
}
