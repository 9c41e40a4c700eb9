//! `connectors mount`.

use crate::api_client::ApiClient;
use crate::cli::MountArgs;
use anyhow::{anyhow, Context, Result};
use base64::Engine;
use connectors_api::local::{MountRequestBody, MountResponse};
use std::collections::BTreeMap;
use std::process::ExitCode;

pub fn run(args: MountArgs) -> Result<ExitCode> {
    let (ns, name) = args
        .connector
        .split_once('/')
        .ok_or_else(|| anyhow!("give the Connector as NAMESPACE/NAME, e.g. team-a/git-demo"))?;
    let params = match &args.params {
        Some(p) => Some(
            serde_json::from_str(p)
                .context("--params must be a JSON object keyed by configuration name")?,
        ),
        None => None,
    };
    let client = ApiClient::discover(&args.api.data.data, args.api.api.as_deref())?;
    let resp: MountResponse = client.post(
        &format!("/v1/namespaces/{ns}/connectors/{name}/mount"),
        &MountRequestBody {
            configurations: args.configuration.clone(),
            params,
            ttl: Some(args.ttl.clone()),
            subject: Some(args.subject.clone()),
            force: args.force,
        },
    )?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut files = BTreeMap::new();
    for (file, content) in resp.files {
        let bytes = b64
            .decode(content)
            .with_context(|| format!("file {file} came back garbled"))?;
        files.insert(file, bytes);
    }
    let sensitive = resp.sensitive.iter().cloned().collect();
    let written = crate::output::write_files(&args.out, &files, &sensitive)?;
    for (file, mode) in &written {
        eprintln!("wrote {} (mode {mode:o})", args.out.join(file).display());
    }
    eprintln!(
        "token for system:serviceaccount:{ns}:{} expires {}",
        args.subject, resp.expires_at
    );
    Ok(ExitCode::SUCCESS)
}
