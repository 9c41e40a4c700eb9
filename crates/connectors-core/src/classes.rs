//! The built-in ConnectorClasses, embedded from `classes/*.yaml`.

use crate::manifest::{parse_manifest, DocumentContent, Object};
use connectors_types::ConnectorClass;

/// Name and YAML text of every built-in class, in name order.
pub const BUILTIN_CLASS_SOURCES: &[(&str, &str)] = &[
    ("git", include_str!("../../../classes/git.yaml")),
    ("gitlab", include_str!("../../../classes/gitlab.yaml")),
    ("k8s", include_str!("../../../classes/k8s.yaml")),
    ("npm", include_str!("../../../classes/npm.yaml")),
    ("pypi", include_str!("../../../classes/pypi.yaml")),
];

/// The YAML text of a built-in class.
pub fn builtin_class_source(name: &str) -> Option<&'static str> {
    BUILTIN_CLASS_SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
}

/// The built-in classes, parsed. The embedded YAML is checked by tests, so a
/// parse failure here is a build defect; such a class is skipped.
pub fn builtin_classes() -> Vec<ConnectorClass> {
    BUILTIN_CLASS_SOURCES
        .iter()
        .flat_map(|(_, text)| parse_manifest(text))
        .filter_map(|d| match d.content {
            DocumentContent::Object(Object::ConnectorClass(c)) => Some(*c),
            _ => None,
        })
        .collect()
}
