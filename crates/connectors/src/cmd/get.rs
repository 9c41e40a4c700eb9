//! `connectors get`.

use crate::api_client::ApiClient;
use crate::cli::{GetArgs, OutputFormat};
use crate::output::{age, table};
use anyhow::{bail, Result};
use connectors_types::{Connector, ConnectorClass};
use serde::Serialize;
use std::process::ExitCode;

pub fn run(args: GetArgs) -> Result<ExitCode> {
    let client = ApiClient::discover(&args.api.data.data, args.api.api.as_deref())?;
    match args.resource.as_str() {
        "connectors" | "connector" | "ctr" => connectors(&client, &args),
        "connectorclasses" | "connectorclass" | "ctrc" => classes(&client, &args),
        other => bail!("unknown resource {other:?}; use connectors or connectorclasses"),
    }
}

/// Prints objects as JSON or YAML; `false` when the format is a table.
fn print_structured<T: Serialize>(items: &[T], format: Option<OutputFormat>) -> Result<bool> {
    match format {
        Some(OutputFormat::Json) => println!("{}", serde_json::to_string_pretty(items)?),
        Some(OutputFormat::Yaml) => {
            for item in items {
                print!("---\n{}", serde_norway::to_string(item)?);
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn connectors(client: &ApiClient, args: &GetArgs) -> Result<ExitCode> {
    let namespace = args.namespace.as_deref().unwrap_or("default");
    let path = if args.all_namespaces {
        "/v1/connectors".to_string()
    } else {
        format!("/v1/connectors?namespace={namespace}")
    };
    let items: Vec<Connector> = client.get(&path)?;
    if print_structured(&items, args.output)? {
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        match args.all_namespaces {
            true => eprintln!("No connectors found."),
            false => eprintln!("No connectors found in namespace {namespace}."),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let wide = args.output == Some(OutputFormat::Wide);
    let mut header = vec!["NAME", "CLASS", "ADDRESS", "READY", "REASON", "AGE"];
    if args.all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    if wide {
        header.push("PROXY ADDRESS");
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for c in &items {
        let ready = c.ready_condition();
        let mut row = Vec::new();
        if args.all_namespaces {
            row.push(c.metadata.namespace.clone().unwrap_or_default());
        }
        row.extend([
            c.metadata.name.clone().unwrap_or_default(),
            c.spec.connector_class_name.clone(),
            c.spec.address.clone(),
            ready.map(|r| r.status.to_string()).unwrap_or_default(),
            ready.and_then(|r| r.reason.clone()).unwrap_or_default(),
            age(c.metadata.creation_timestamp.as_ref()),
        ]);
        if wide {
            row.push(c.proxy_address().unwrap_or("").to_string());
        }
        rows.push(row);
    }
    print!("{}", table(&rows));
    Ok(ExitCode::SUCCESS)
}

fn classes(client: &ApiClient, args: &GetArgs) -> Result<ExitCode> {
    let items: Vec<ConnectorClass> = client.get("/v1/connectorclasses")?;
    if print_structured(&items, args.output)? {
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![vec![
        "NAME".to_string(),
        "READY".to_string(),
        "REASON".to_string(),
        "AGE".to_string(),
    ]];
    for c in &items {
        let ready = c.ready_condition();
        rows.push(vec![
            c.metadata.name.clone().unwrap_or_default(),
            ready.map(|r| r.status.to_string()).unwrap_or_default(),
            ready.and_then(|r| r.reason.clone()).unwrap_or_default(),
            age(c.metadata.creation_timestamp.as_ref()),
        ]);
    }
    print!("{}", table(&rows));
    Ok(ExitCode::SUCCESS)
}
