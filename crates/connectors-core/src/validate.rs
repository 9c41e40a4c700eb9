//! Validation rules for Connectors, ConnectorClasses and Secrets (spec 01 §6,
//! §7). Each function returns human messages that say what is wrong and what
//! to do; none of them ever quotes a Secret value.

use crate::address::parse_tool_url;
use connectors_types::connector::ConnectorSpec;
use connectors_types::connector_class::{ConnectorClass, ConnectorClassSpec, ProxyResolver};
use connectors_types::{secret as secret_types, Connector, ParamSpec};
use k8s_openapi::api::core::v1::Secret;
use std::collections::{BTreeMap, BTreeSet};

/// Why a Secret cannot serve a Connector (feeds `SecretReady`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretProblem {
    /// The auth type needs a Secret and none is referenced.
    NotReferenced(String),
    /// The referenced Secret does not exist.
    NotFound(String),
    /// Wrong type or missing keys.
    Invalid(String),
}

impl SecretProblem {
    /// The message of the problem.
    pub fn message(&self) -> &str {
        match self {
            SecretProblem::NotReferenced(m)
            | SecretProblem::NotFound(m)
            | SecretProblem::Invalid(m) => m,
        }
    }
}

/// Checks an RFC 1123 label: at most 63 characters of `a-z`, `0-9` and `-`,
/// starting and ending with a letter or digit.
pub fn check_label(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!(
            "{what} is empty; set a lower-case name such as \"my-tool\""
        ));
    }
    if value.len() > 63 {
        return Err(format!(
            "{what} {value:?} is {} characters long; an RFC 1123 label has at most 63",
            value.len()
        ));
    }
    let ok_chars = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = value.as_bytes()[0].is_ascii_alphanumeric()
        && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric();
    if !ok_chars || !ok_ends {
        return Err(format!(
            "{what} {value:?} is not an RFC 1123 label: use lower-case letters, digits and '-', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks an RFC 1123 subdomain (Secret names): dot-separated labels, at most
/// 253 characters.
pub fn check_subdomain(what: &str, value: &str) -> Result<(), String> {
    if value.len() > 253 {
        return Err(format!("{what} is longer than 253 characters"));
    }
    if value.is_empty() {
        return Err(format!("{what} is empty"));
    }
    for part in value.split('.') {
        check_label(what, part).map_err(|_| {
            format!(
                "{what} {value:?} is not an RFC 1123 subdomain: use lower-case letters, digits, '-' and '.'"
            )
        })?;
    }
    Ok(())
}

/// Checks a Connector against its class (when known). Secret checks are
/// separate ([`secret_for_connector`]).
pub fn connector(c: &Connector, class: Option<&ConnectorClass>) -> Vec<String> {
    let mut out = Vec::new();
    let name = c.metadata.name.as_deref().unwrap_or("");
    if let Err(e) = check_label("metadata.name", name) {
        out.push(e);
    }
    if let Err(e) = check_label(
        "metadata.namespace",
        c.metadata.namespace.as_deref().unwrap_or(""),
    ) {
        out.push(e);
    }
    let spec = &c.spec;
    if spec.connector_class_name.is_empty() {
        out.push("spec.connectorClassName is empty; name the ConnectorClass, e.g. git".into());
    }
    if let Err(e) = parse_tool_url(&spec.address) {
        out.push(format!("spec.address {e}"));
    }
    if let Some(auth) = &spec.auth {
        if let Some(r) = &auth.secret_ref {
            if let Some(ns) = r.namespace.as_deref().filter(|ns| !ns.is_empty()) {
                if Some(ns) != c.metadata.namespace.as_deref() {
                    out.push(format!(
                        "spec.auth.secretRef.namespace {ns:?} differs from the Connector's namespace; Secrets are read from the Connector's own namespace, remove the field or move the Secret"
                    ));
                }
            }
        }
    }
    let Some(class) = class else {
        if !spec.connector_class_name.is_empty() {
            out.push(format!(
                "connectorclass {:?} not found; apply the ConnectorClass or fix spec.connectorClassName",
                spec.connector_class_name
            ));
        }
        return out;
    };
    let cs = &class.spec;

    check_auth_type(spec, cs, &mut out);
    check_address_extensions(spec, cs, &mut out);
    out.extend(check_params(
        "spec.params",
        &spec.params,
        &cs.params,
        &spec.connector_class_name,
    ));
    check_auth_probe_params(spec, cs, &mut out);

    // Host-form proxy addresses need `c-<name>` to stay a DNS label.
    if cs.proxy.is_some() && class.proxy_resolver() == ProxyResolver::Host && name.len() > 61 {
        out.push(format!(
            "metadata.name is {} characters; class {:?} gives each Connector a Service c-<name>, so names may have at most 61",
            name.len(),
            spec.connector_class_name
        ));
    }
    out
}

/// The Connector's auth type: present when the class needs one, one of
/// the class's, with a Secret unless the type is optional.
fn check_auth_type(spec: &ConnectorSpec, cs: &ConnectorClassSpec, out: &mut Vec<String>) {
    let types = cs.auth_types();
    let auth_name = spec.auth_name();
    if spec.auth.is_none() && !types.is_empty() {
        // No auth at all is anonymous use, fine when the class allows it.
        if !types.iter().any(|t| t.is_optional()) {
            out.push(format!(
                "spec.auth is required: class {:?} needs one of: {}",
                spec.connector_class_name,
                list(types.iter().map(|t| t.name.as_str()))
            ));
        }
    } else if !types.is_empty() || !auth_name.is_empty() {
        match cs.auth_type(auth_name) {
            Some(t) => {
                if spec.secret_name().is_none() && !t.is_optional() {
                    out.push(format!(
                        "spec.auth.secretRef is required: auth type {auth_name:?} of class {:?} is not optional",
                        spec.connector_class_name
                    ));
                }
            }
            None => out.push(format!(
                "spec.auth.name {:?} is not an auth type of class {:?}; use one of: {}",
                auth_name,
                spec.connector_class_name,
                list(types.iter().map(|t| t.name.as_str()))
            )),
        }
    }
}

/// The Connector's address extensions: declared by the class, each once,
/// each a URL other than `spec.address`, every required one given.
fn check_address_extensions(spec: &ConnectorSpec, cs: &ConnectorClassSpec, out: &mut Vec<String>) {
    let declared: BTreeMap<&str, &ParamSpec> = cs
        .address_extensions
        .iter()
        .map(|p| (p.name.as_str(), p))
        .collect();
    let mut seen = BTreeSet::new();
    for ext in &spec.address_extensions {
        if !seen.insert(ext.name.as_str()) {
            out.push(format!(
                "spec.addressExtensions: {:?} is listed twice; keep one",
                ext.name
            ));
        }
        if !declared.contains_key(ext.name.as_str()) {
            out.push(format!(
                "spec.addressExtensions: {:?} is not declared by class {:?}; declared: {}",
                ext.name,
                spec.connector_class_name,
                list(declared.keys().copied())
            ));
        }
        match ext.value.as_str() {
            Some(v) => {
                if let Err(e) = parse_tool_url(v) {
                    out.push(format!("spec.addressExtensions {:?} {e}", ext.name));
                } else if v == spec.address {
                    out.push(format!(
                        "spec.addressExtensions {:?} equals spec.address; an extension must name another address",
                        ext.name
                    ));
                }
            }
            None => out.push(format!(
                "spec.addressExtensions {:?}: value must be a URL string",
                ext.name
            )),
        }
    }
    for (name, decl) in &declared {
        if decl.is_required() && !seen.contains(name) {
            out.push(format!(
                "spec.addressExtensions: {name:?} is required by class {:?}; add {{name: {name}, value: <URL>}}",
                spec.connector_class_name
            ));
        }
    }
}

/// The parameters the class's auth probe for the Connector's auth type
/// requires.
fn check_auth_probe_params(spec: &ConnectorSpec, cs: &ConnectorClassSpec, out: &mut Vec<String>) {
    let auth_name = spec.auth_name();
    if let Some(probe) = cs.auth_probe(auth_name) {
        let given: BTreeSet<&str> = spec
            .auth
            .iter()
            .flat_map(|a| a.params.iter().map(|p| p.name.as_str()))
            .collect();
        for p in probe.params.iter().filter(|p| p.is_required()) {
            if !given.contains(p.name.as_str()) {
                out.push(format!(
                    "spec.auth.params: {:?} is required by the auth probe of {auth_name:?}; add {{name: {}, value: ...}}",
                    p.name, p.name
                ));
            }
        }
    }
}

fn check_params(
    field: &str,
    values: &[connectors_types::Param],
    decls: &[ParamSpec],
    class: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let declared: BTreeMap<&str, &ParamSpec> = decls.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut seen = BTreeSet::new();
    for p in values {
        if !seen.insert(p.name.as_str()) {
            out.push(format!("{field}: {:?} is listed twice; keep one", p.name));
        }
        let Some(decl) = declared.get(p.name.as_str()) else {
            out.push(format!(
                "{field}: {:?} is not a parameter of class {class:?}; declared: {}",
                p.name,
                list(declared.keys().copied())
            ));
            continue;
        };
        let Some(v) = p.value.as_str() else {
            if decl.type_.as_deref().unwrap_or("string") == "string" {
                out.push(format!("{field}: {:?} must be a string", p.name));
            }
            continue;
        };
        if let Some(allowed) = &decl.enum_ {
            if !allowed.iter().any(|a| a == v) {
                out.push(format!(
                    "{field}: {:?} must be one of: {}",
                    p.name,
                    list(allowed.iter().map(String::as_str))
                ));
            }
        }
    }
    for (name, decl) in declared {
        if decl.is_required() && !seen.contains(name) {
            out.push(format!(
                "{field}: {name:?} is required by class {class:?} (it has no default); add {{name: {name}, value: ...}}"
            ));
        }
    }
    out
}

/// Checks the Secret a Connector references against its auth type.
/// `secret` is `None` when the referenced Secret does not exist.
pub fn secret_for_connector(
    c: &Connector,
    class: &ConnectorClass,
    secret: Option<&Secret>,
) -> Result<(), SecretProblem> {
    let auth_name = c.spec.auth_name();
    let auth_type = class.spec.auth_type(auth_name);
    let Some(secret_name) = c.spec.secret_name() else {
        return match auth_type {
            Some(t) if !t.is_optional() => Err(SecretProblem::NotReferenced(format!(
                "auth type {auth_name:?} requires a Secret; set spec.auth.secretRef.name"
            ))),
            _ => Ok(()),
        };
    };
    let Some(secret) = secret else {
        return Err(SecretProblem::NotFound(format!(
            "secrets {secret_name:?} not found in namespace {:?}",
            c.metadata.namespace.as_deref().unwrap_or("")
        )));
    };
    let Some(auth_type) = auth_type else {
        return Ok(());
    };
    let actual = secret_types::effective_type(secret);
    if let Some(expected) = auth_type.secret_type.as_deref().filter(|t| !t.is_empty()) {
        if actual != expected {
            return Err(SecretProblem::Invalid(format!(
                "secret {secret_name:?} has type {actual:?} but auth type {auth_name:?} needs {expected:?}; recreate the Secret with type: {expected}"
            )));
        }
    }
    let data = secret_types::string_data(secret);
    let mut required: Vec<&str> = auth_type
        .params
        .iter()
        .filter(|p| p.is_required())
        .map(|p| p.name.as_str())
        .collect();
    if required.is_empty() {
        required = secret_types::required_keys(actual)
            .map(|k| k.to_vec())
            .unwrap_or_default();
    }
    let missing: Vec<&str> = required
        .into_iter()
        .filter(|k| !data.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(SecretProblem::Invalid(format!(
            "secret {secret_name:?} lacks key(s) {}; add them under data or stringData",
            list(missing.into_iter())
        )));
    }
    Ok(())
}

/// Checks a ConnectorClass on its own: unique names, references between its
/// parts, configuration file names and that every template parses and every
/// policy compiles.
pub fn connector_class(class: &ConnectorClass) -> Vec<String> {
    let mut out = Vec::new();
    let name = class.metadata.name.as_deref().unwrap_or("");
    if let Err(e) = check_label("metadata.name", name) {
        out.push(e);
    }
    let spec = &class.spec;
    check_unique_names(spec, &mut out);
    check_class_auth_types(spec, name, &mut out);
    check_auth_probe_names(spec, &mut out);
    check_configurations(spec, &mut out);
    check_class_policies(spec, name, &mut out);
    out
}

/// Names within each list of the class (address extensions, parameters,
/// auth types, configurations) are unique.
fn check_unique_names(spec: &ConnectorClassSpec, out: &mut Vec<String>) {
    dup_names(
        "spec.addressExtensions",
        spec.address_extensions.iter().map(|p| p.name.as_str()),
        out,
    );
    dup_names(
        "spec.params",
        spec.params.iter().map(|p| p.name.as_str()),
        out,
    );
    dup_names(
        "spec.auth.types",
        spec.auth_types().iter().map(|t| t.name.as_str()),
        out,
    );
    dup_names(
        "spec.configurations",
        spec.configurations.iter().map(|c| c.name.as_str()),
        out,
    );
}

/// Each auth type of class `name`: named, listing its keys when its Secret
/// type is not well known, and with a generator policy that compiles.
fn check_class_auth_types(spec: &ConnectorClassSpec, name: &str, out: &mut Vec<String>) {
    for t in spec.auth_types() {
        if t.name.is_empty() {
            out.push("spec.auth.types: an entry has no name".into());
        }
        let custom = matches!(t.secret_type.as_deref(), Some(st) if secret_types::required_keys(st).is_none());
        if custom && t.params.is_empty() {
            out.push(format!(
                "spec.auth.types {:?}: secretType {:?} is not a well-known type, so params must list the keys the Secret holds",
                t.name,
                t.secret_type.as_deref().unwrap_or("")
            ));
        }
        if let Some(g) = &t.generator {
            if let Err(e) = crate::rego::CredentialGenerator::compile(
                &g.rego,
                &format!("auth type {:?} of class {name:?}", t.name),
            ) {
                out.push(e.to_string());
            }
        }
    }
}

/// Each auth probe names one of the class's auth types.
fn check_auth_probe_names(spec: &ConnectorClassSpec, out: &mut Vec<String>) {
    for p in &spec.auth_probes {
        if spec.auth_type(&p.auth_name).is_none() {
            out.push(format!(
                "spec.authProbes: authName {:?} is not one of spec.auth.types; fix the name or add the auth type",
                p.auth_name
            ));
        }
    }
}

/// Each configuration file has a plain file name and a template that parses.
fn check_configurations(spec: &ConnectorClassSpec, out: &mut Vec<String>) {
    for conf in &spec.configurations {
        for (file, text) in &conf.data {
            if !is_plain_file_name(file) {
                out.push(format!(
                    "spec.configurations {:?}: file name {file:?} may only hold letters, digits, '-', '_' and '.'",
                    conf.name
                ));
            }
            if let Err(e) = crate::template::Template::parse(&format!("{}/{file}", conf.name), text)
            {
                out.push(format!("spec.configurations {:?}: {e}", conf.name));
            }
        }
    }
}

/// Whether `file` is a non-empty name of letters, digits, `-`, `_` and `.`
/// other than `.` and `..`.
fn is_plain_file_name(file: &str) -> bool {
    !file.is_empty()
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && file != "."
        && file != ".."
}

/// The token extractor and permission mapper policies of class `name`
/// compile.
fn check_class_policies(spec: &ConnectorClassSpec, name: &str, out: &mut Vec<String>) {
    if let Some(rego) = spec.auth_extractor() {
        if let Err(e) = crate::rego::TokenExtractor::compile(rego, &format!("class {name:?}")) {
            out.push(e.to_string());
        }
    }
    if let Some(perm) = spec.api.as_ref().and_then(|a| a.permissions.as_ref()) {
        if let Err(e) =
            crate::rego::PermissionMapper::compile(&perm.rego, &format!("class {name:?}"))
        {
            out.push(e.to_string());
        }
    }
}

/// Checks a Secret on its own.
pub fn secret(s: &Secret) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = check_subdomain("metadata.name", s.metadata.name.as_deref().unwrap_or("")) {
        out.push(e);
    }
    if let Err(e) = check_label(
        "metadata.namespace",
        s.metadata.namespace.as_deref().unwrap_or(""),
    ) {
        out.push(e);
    }
    out
}

fn dup_names<'a>(field: &str, names: impl Iterator<Item = &'a str>, out: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            out.push(format!(
                "{field}: name {n:?} is used twice; names must be unique"
            ));
        }
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
