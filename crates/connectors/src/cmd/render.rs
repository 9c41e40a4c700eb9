//! `connectors render`.

use crate::cli::RenderArgs;
use crate::input::load_inventory;
use anyhow::{anyhow, bail, Context, Result};
use connectors_core::inventory::Inventory;
use connectors_core::render::{
    probe_token, render_configuration, token_dependent, Files, RenderContext, Selection,
};
use connectors_types::common::Addressable;
use connectors_types::connector::{ConnectorProxyStatus, ConnectorStatus};
use connectors_types::{Connector, ConnectorClass};
use std::process::ExitCode;

pub fn run(args: RenderArgs) -> Result<ExitCode> {
    let token = read_token(&args)?;
    connectors_core::address::parse_tool_url(&args.proxy_address)
        .map_err(|e| anyhow!("--proxy-address {e}"))?;
    let ca = read_ca(&args)?;
    let params = parse_params(&args)?;
    let inv = load_inventory(&args.paths)?;
    for f in &inv.findings {
        eprintln!("warning: {f}");
    }

    let connectors = select_connectors(&inv, &args)?;
    let selection = Selection::parse(&args.configuration);
    if selection.includes.is_empty() {
        bail!("--configuration names no configuration to render");
    }
    let ctx = RenderContext {
        token,
        proxy_ca_pem: ca,
        class_proxy_address: None,
    };
    let (mut files, probe_files) =
        render_classes(&inv, &connectors, &selection, &ctx, params.as_ref())?;
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

/// The token from `--token` or `--token-file`, trimmed; refused when neither
/// is given or it is empty.
fn read_token(args: &RenderArgs) -> Result<String> {
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
    Ok(token)
}

/// The PEM of `--ca-file`, or nothing when it is not given.
fn read_ca(args: &RenderArgs) -> Result<String> {
    Ok(match &args.ca_file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("reading CA file {}", f.display()))?,
        None => String::new(),
    })
}

/// The JSON of `--params`, when given.
fn parse_params(args: &RenderArgs) -> Result<Option<serde_json::Value>> {
    args.params
        .as_deref()
        .map(|p| {
            serde_json::from_str(p)
                .context("--params must be a JSON object keyed by configuration name")
        })
        .transpose()
}

/// The Connectors named by `--connector` (a bare name is in namespace
/// "default"), each given `--proxy-address` as its proxy address.
fn select_connectors(inv: &Inventory, args: &RenderArgs) -> Result<Vec<Connector>> {
    let mut connectors = Vec::new();
    for id in &args.connector {
        let (ns, name) = super::connector_id(id, "default");
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
    Ok(connectors)
}

/// Renders the selected configurations for every class the Connectors use,
/// once with the token and once with a probe token: the files, then the
/// probe's files.
fn render_classes(
    inv: &Inventory,
    connectors: &[Connector],
    selection: &Selection,
    ctx: &RenderContext,
    params: Option<&serde_json::Value>,
) -> Result<(Files, Files)> {
    // Group by class, render each selected configuration the class offers;
    // a second render with another token tells which files carry it.
    let probe_ctx = RenderContext {
        token: probe_token(&ctx.token),
        ..ctx.clone()
    };
    let mut files = Files::new();
    let mut probe_files = Files::new();
    for class_name in class_names(connectors) {
        let class = inv.class(class_name).ok_or_else(|| {
            anyhow!("connectorclass {class_name:?} not found; add it to the manifests or use a built-in class (connectors classes)")
        })?;
        let members: Vec<_> = connectors
            .iter()
            .filter(|c| c.spec.connector_class_name == class_name)
            .collect();
        for name in &selection.includes {
            ensure_offered(class, class_name, name)?;
            let p = params.and_then(|p| p.get(name));
            files.extend(render_configuration(class, &members, name, ctx, p)?);
            probe_files.extend(render_configuration(class, &members, name, &probe_ctx, p)?);
        }
    }
    Ok((files, probe_files))
}

/// The class names of `connectors`, each once, in the order first used.
fn class_names(connectors: &[Connector]) -> Vec<&str> {
    let mut classes: Vec<&str> = Vec::new();
    for c in connectors {
        if !classes.contains(&c.spec.connector_class_name.as_str()) {
            classes.push(&c.spec.connector_class_name);
        }
    }
    classes
}

/// Fails unless `class` offers the configuration `name`, listing the ones it
/// does.
fn ensure_offered(class: &ConnectorClass, class_name: &str, name: &str) -> Result<()> {
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
    Ok(())
}
