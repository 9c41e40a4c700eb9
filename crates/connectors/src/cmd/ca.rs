//! `connectors ca`: the proxy CA in the data directory.

use crate::cli::{CaAction, CaArgs};
use anyhow::{Context, Result};
use connectors_proxy::{ProxyCa, CA_CERT_FILE, CA_KEY_FILE};
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

pub fn run(args: CaArgs) -> Result<ExitCode> {
    match args.action {
        CaAction::Show { pem, data } => show(&data.data, pem),
        CaAction::Rotate { data } => rotate(&data.data),
    }
}

fn show(data: &Path, pem: bool) -> Result<ExitCode> {
    if !data.join(CA_CERT_FILE).exists() && !data.join(CA_KEY_FILE).exists() {
        anyhow::bail!(
            "no proxy CA in {} (`connectors standalone --data {}` creates one on its first start)",
            data.display(),
            data.display()
        );
    }
    let ca = ProxyCa::load(data)
        .with_context(|| format!("reading the proxy CA in {}", data.display()))?;
    if pem {
        print!("{}", ca.ca_pem());
    } else {
        print!("{}", describe(&ca));
    }
    Ok(ExitCode::SUCCESS)
}

fn rotate(data: &Path) -> Result<ExitCode> {
    let previous = ProxyCa::load(data).ok();
    let ca = ProxyCa::create_new(data)
        .with_context(|| format!("writing a new proxy CA in {}", data.display()))?;
    print!("{}", describe(&ca));
    match previous {
        Some(p) => println!("replaced:     {}", p.fingerprint()),
        None => println!("replaced:     no usable CA"),
    }
    eprintln!(
        "A running `connectors standalone --data {}` signs new intercepted connections with it \
         within its --ca-reload-interval. Clients must trust the new certificate: mount again, \
         or use `connectors ca show --pem`.",
        data.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The CA as `field: value` lines.
fn describe(ca: &ProxyCa) -> String {
    let days = ca.seconds_left(SystemTime::now()).max(0) / 86_400;
    format!(
        "certificate:  {}\nsubject:      {}\nfingerprint:  sha256 {}\nvalid until:  {} ({days} days left)\n",
        ca.cert_path().display(),
        ca.subject(),
        ca.fingerprint(),
        ca.valid_until(),
    )
}
