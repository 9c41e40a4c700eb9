//! Rendering one named configuration of a class.

use super::context::{configuration_context, RenderContext};
use super::{Files, RenderError};
use crate::template::Template;
use connectors_types::connector_class::Configuration;
use connectors_types::{Connector, ConnectorClass};
use serde_json::{Map, Value};

/// Applies a configuration's parameter declarations to the values given at
/// mount time: defaults fill gaps, parameters without default are required,
/// enums are enforced. Undeclared values pass through untouched (some classes
/// read parameters they do not declare).
pub fn resolve_params(
    conf: &Configuration,
    given: Option<&Value>,
) -> Result<Map<String, Value>, RenderError> {
    let mut out = match given {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(RenderError::BadParams {
                configuration: conf.name.clone(),
            })
        }
    };
    for decl in &conf.params {
        match out.get(&decl.name) {
            Some(v) if !v.is_null() => {
                if let (Some(allowed), Some(s)) = (&decl.enum_, v.as_str()) {
                    if !allowed.iter().any(|a| a == s) {
                        return Err(RenderError::ParamNotAllowed {
                            configuration: conf.name.clone(),
                            param: decl.name.clone(),
                            allowed: allowed.join(", "),
                        });
                    }
                }
            }
            _ => match &decl.default {
                Some(d) => {
                    out.insert(decl.name.clone(), d.clone());
                }
                None => {
                    return Err(RenderError::MissingParam {
                        configuration: conf.name.clone(),
                        param: decl.name.clone(),
                    })
                }
            },
        }
    }
    Ok(out)
}

/// Renders configuration `name` of `class` for `connectors` (all of that
/// class; the first is `.connector`). `params` are the mount-time values for
/// this configuration.
pub fn render_configuration(
    class: &ConnectorClass,
    connectors: &[&Connector],
    name: &str,
    ctx: &RenderContext,
    params: Option<&Value>,
) -> Result<Files, RenderError> {
    if connectors.is_empty() {
        return Err(RenderError::NoConnector);
    }
    let conf = class
        .spec
        .configuration(name)
        .ok_or_else(|| RenderError::UnknownConfiguration {
            class: class.metadata.name.clone().unwrap_or_default(),
            name: name.to_string(),
            available: class
                .spec
                .configurations
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let params = resolve_params(conf, params)?;
    let data = configuration_context(class, connectors, ctx, &params);
    let mut files = Files::new();
    for (file, text) in &conf.data {
        let tpl = Template::parse(&format!("{name}/{file}"), text)?;
        files.insert(file.clone(), tpl.render(&data)?.into_bytes());
    }
    Ok(files)
}
