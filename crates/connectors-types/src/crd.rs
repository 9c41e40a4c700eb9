//! CRD generation from the Rust types, and schema helpers for free-form fields.

use crate::{Connector, ConnectorClass};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use schemars::{json_schema, Schema, SchemaGenerator};

/// The CustomResourceDefinitions of both kinds, ConnectorClass first.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![ConnectorClass::crd(), Connector::crd()]
}

/// Schema of a field that may hold any JSON value.
pub fn any_value(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// Schema of a field that holds a free-form JSON object.
pub fn any_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// Schema of an RFC 3339 timestamp string.
pub fn date_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "format": "date-time" })
}
