//! `connectors token issue`.

use crate::cli::{TokenAction, TokenArgs};
use anyhow::{Context, Result};
use connectors_catalog::local::TokenIssuer;
use std::process::ExitCode;

pub fn run(args: TokenArgs) -> Result<ExitCode> {
    match args.action {
        TokenAction::Issue {
            namespace,
            subject,
            ttl,
            data,
        } => {
            let issuer = TokenIssuer::load(&data.data)
                .with_context(|| format!("loading the signing key from {}", data.data.display()))?;
            let t = issuer.issue(&namespace, &subject, ttl)?;
            println!("{}", t.token);
            eprintln!(
                "token for system:serviceaccount:{namespace}:{subject}, expires {}",
                humantime::format_rfc3339_seconds(t.expires_at)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
