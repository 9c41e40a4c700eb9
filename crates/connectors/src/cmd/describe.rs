//! `connectors describe connector`.

use crate::api_client::ApiClient;
use crate::cli::DescribeArgs;
use crate::output::{age, table};
use anyhow::{bail, Result};
use connectors_types::Connector;
use std::process::ExitCode;

pub fn run(args: DescribeArgs) -> Result<ExitCode> {
    if !matches!(args.resource.as_str(), "connector" | "connectors" | "ctr") {
        bail!(
            "unknown resource {:?}; use: describe connector NS/NAME",
            args.resource
        );
    }
    let (ns, name) =
        super::connector_id(&args.name, args.namespace.as_deref().unwrap_or("default"));
    let client = ApiClient::discover(&args.api.data.data, args.api.api.as_deref())?;
    let c: Connector = client.get(&format!("/v1/namespaces/{ns}/connectors/{name}"))?;
    print!("{}", render(&c));
    Ok(ExitCode::SUCCESS)
}

fn render(c: &Connector) -> String {
    let mut out = String::new();
    let mut field = |k: &str, v: &str| out.push_str(&format!("{:<16}{}\n", format!("{k}:"), v));
    field("Name", c.metadata.name.as_deref().unwrap_or(""));
    field("Namespace", c.metadata.namespace.as_deref().unwrap_or(""));
    field("Class", &c.spec.connector_class_name);
    field("Address", &c.spec.address);
    for ext in &c.spec.address_extensions {
        field(
            &format!("Address ({})", ext.name),
            ext.value.as_str().unwrap_or(""),
        );
    }
    let auth = match (c.spec.auth_name(), c.spec.secret_name()) {
        ("", _) => "(none)".to_string(),
        (a, Some(s)) => format!("{a} (secret {s})"),
        (a, None) => format!("{a} (no secret)"),
    };
    field("Auth", &auth);
    field("Proxy Address", c.proxy_address().unwrap_or("(none)"));
    field("Age", &age(c.metadata.creation_timestamp.as_ref()));
    if let Some(g) = c.status.as_ref().and_then(|s| s.observed_generation) {
        field(
            "Generation",
            &format!("{} (observed {g})", c.metadata.generation.unwrap_or(0)),
        );
    }
    out.push_str("Conditions:\n");
    let conditions = c
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or(&[]);
    if conditions.is_empty() {
        out.push_str("  (not checked yet)\n");
    } else {
        let mut rows = vec![vec![
            "TYPE".to_string(),
            "STATUS".to_string(),
            "REASON".to_string(),
            "LAST TRANSITION".to_string(),
            "MESSAGE".to_string(),
        ]];
        for cond in conditions {
            rows.push(vec![
                cond.type_.clone(),
                cond.status.to_string(),
                cond.reason.clone().unwrap_or_default(),
                cond.last_transition_time.clone().unwrap_or_default(),
                cond.message.clone().unwrap_or_default(),
            ]);
        }
        for line in table(&rows).lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
