//! The files of one mount: built-ins plus the selected configurations of the
//! mounted Connectors' classes, merged and filtered (spec 03 §5.1).

use super::builtin::builtin_files;
use super::configuration::render_configuration;
use super::context::RenderContext;
use super::{Files, RenderError};
use connectors_types::{Connector, ConnectorClass};
use serde_json::Value;

/// What `configuration.names` selects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Configuration names to render, in order.
    pub includes: Vec<String>,
    /// File names to remove at the end.
    pub excludes: Vec<String>,
}

impl Selection {
    /// Parses a comma-separated list where `!file` excludes a file.
    pub fn parse(names: &str) -> Selection {
        let mut s = Selection::default();
        for item in names.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match item.strip_prefix('!') {
                Some(file) => s.excludes.push(file.trim().to_string()),
                None => s.includes.push(item.to_string()),
            }
        }
        s
    }
}

/// Everything one mount is rendered from.
pub struct MountRequest<'a> {
    /// Mounted Connectors in order, each with its class.
    pub connectors: Vec<(&'a Connector, &'a ConnectorClass)>,
    /// Selected configurations and excluded files.
    pub selection: Selection,
    /// Mount-time parameters keyed by configuration name.
    pub params: Option<&'a Value>,
    /// Token, CA and class proxy address.
    pub context: RenderContext,
}

/// Renders a mount. Fails when includes were given and none exists in any
/// involved class, or when a selected configuration fails to render.
pub fn render_mount(req: &MountRequest<'_>) -> Result<Files, RenderError> {
    if req.connectors.is_empty() {
        return Err(RenderError::NoConnector);
    }
    let all: Vec<&Connector> = req.connectors.iter().map(|(c, _)| *c).collect();
    let mut files = builtin_files(&all, &req.context.token, &req.context.proxy_ca_pem);

    // Group Connectors by class, classes in order of first appearance.
    let mut groups: Vec<(&ConnectorClass, Vec<&Connector>)> = Vec::new();
    for (c, class) in &req.connectors {
        match groups
            .iter_mut()
            .find(|(k, _)| k.metadata.name == class.metadata.name)
        {
            Some((_, list)) => list.push(c),
            None => groups.push((class, vec![c])),
        }
    }

    let mut found_any = false;
    for name in &req.selection.includes {
        for (class, members) in &groups {
            if class.spec.configuration(name).is_none() {
                continue;
            }
            found_any = true;
            let params = req.params.and_then(|p| p.get(name));
            let rendered = render_configuration(class, members, name, &req.context, params)?;
            files.extend(rendered);
        }
    }
    if !req.selection.includes.is_empty() && !found_any {
        return Err(RenderError::NoConfigurationFound {
            names: req.selection.includes.join(", "),
            classes: groups
                .iter()
                .map(|(c, _)| c.metadata.name.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    for file in &req.selection.excludes {
        files.remove(file);
    }
    Ok(files)
}

/// Renders a mount and tells which files carry the token (they deserve
/// mode 0600): the mount is rendered a second time with another token and
/// the files that change are the token-bearing ones.
pub fn render_mount_marked(
    req: &MountRequest<'_>,
) -> Result<(Files, std::collections::BTreeSet<String>), RenderError> {
    let files = render_mount(req)?;
    let mut context = req.context.clone();
    context.token = super::probe_token(&req.context.token);
    let probe = render_mount(&MountRequest {
        connectors: req.connectors.clone(),
        selection: req.selection.clone(),
        params: req.params,
        context,
    })?;
    let marked = super::token_dependent(&files, &probe);
    Ok((files, marked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_parses_includes_and_excludes() {
        let s = Selection::parse(" gitconfig, !context.token ,kubeconfig,,");
        assert_eq!(s.includes, vec!["gitconfig", "kubeconfig"]);
        assert_eq!(s.excludes, vec!["context.token"]);
    }
}
