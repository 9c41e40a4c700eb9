//! `connectors render`.

use crate::cli::RenderArgs;
use crate::input::load_inventory;
use anyhow::{anyhow, bail, Context, Result};
use connectors_core::render::{
    probe_token, render_configuration, token_dependent, RenderContext, Selection,
};
use connectors_types::common::Addressable;
use connectors_types::connector::{ConnectorProxyStatus, ConnectorStatus};
use std::process::ExitCode;

pub fn run(args: RenderArgs) -> Result<ExitCode> {
    let token = match (&args.token, &args.token_file) {
        (Some(t), _) => t.trim().to_string(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("reading token file {}", f.display()))?
            .trim()
            .to_string(),
        (None, None) => bail!("give --token or --token-file"),
    };
    if token.is_empty() {
        bail!("the token is empty; pass a token issued for the workload");
    }
    connectors_core::address::parse_tool_url(&args.proxy_address)
        .map_err(|e| anyhow!("--proxy-address {e}"))?;
    let ca = match &args.ca_file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("reading CA file {}", f.display()))?,
        None => String::new(),
    };
    let params: Option<serde_json::Value> = match &args.params {
        Some(p) => Some(
            serde_json::from_str(p)
                .context("--params must be a JSON object keyed by configuration name")?,
        ),
        None => None,
    };
    let inv = load_inventory(&args.paths)?;
    for f in &inv.findings {
        eprintln!("warning: {f}");
    }

    let mut connectors = Vec::new();
    for id in &args.connector {
        let (ns, name) = match id.split_once('/') {
            Some((ns, name)) => (ns, name),
            None => ("default", id.as_str()),
        };
        let mut c = inv
            .connector(ns, name)
            .cloned()
            .ok_or_else(|| anyhow!("connector {ns}/{name} not found in the given manifests"))?;
        let status = c.status.get_or_insert_with(ConnectorStatus::default);
        status.proxy = Some(ConnectorProxyStatus {
            http_address: Some(Addressable {
                url: Some(args.proxy_address.clone()),
                ..Default::default()
            }),
        });
        connectors.push(c);
    }
    let selection = Selection::parse(&args.configuration);
    if selection.includes.is_empty() {
        bail!("--configuration names no configuration to render");
    }
    let ctx = RenderContext {
        token: token.clone(),
        proxy_ca_pem: ca,
        class_proxy_address: None,
    };

    // Group by class, render each selected configuration the class offers;
    // a second render with another token tells which files carry it.
    let probe_ctx = RenderContext {
        token: probe_token(&token),
        ..ctx.clone()
    };
    let mut files = std::collections::BTreeMap::new();
    let mut probe_files = std::collections::BTreeMap::new();
    let mut classes: Vec<&str> = Vec::new();
    for c in &connectors {
        if !classes.contains(&c.spec.connector_class_name.as_str()) {
            classes.push(&c.spec.connector_class_name);
        }
    }
    for class_name in &classes {
        let class = inv.class(class_name).ok_or_else(|| {
            anyhow!("connectorclass {class_name:?} not found; add it to the manifests or use a built-in class (connectors classes)")
        })?;
        let members: Vec<_> = connectors
            .iter()
            .filter(|c| c.spec.connector_class_name == *class_name)
            .collect();
        for name in &selection.includes {
            if class.spec.configuration(name).is_none() {
                bail!(
                    "class {class_name:?} has no configuration {name:?}; it offers: {}",
                    class
                        .spec
                        .configurations
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let p = params.as_ref().and_then(|p| p.get(name));
            files.extend(render_configuration(class, &members, name, &ctx, p)?);
            probe_files.extend(render_configuration(class, &members, name, &probe_ctx, p)?);
        }
    }
    for f in &selection.excludes {
        files.remove(f);
    }
    let sensitive = token_dependent(&files, &probe_files);
    let written = crate::output::write_files(&args.out, &files, &sensitive)?;
    for (name, mode) in written {
        eprintln!("wrote {} (mode {:o})", args.out.join(name).display(), mode);
    }
    Ok(ExitCode::SUCCESS)
}
