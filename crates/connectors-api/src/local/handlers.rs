//! Route handlers.

use super::model::*;
use super::LocalApiState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use connectors_catalog::Catalog;
use connectors_core::render::{render_mount_marked, MountRequest, RenderContext, Selection};
use connectors_types::common::ConditionStatus;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Default lifetime of issued tokens.
const DEFAULT_TTL: Duration = Duration::from_secs(30 * 60);

/// An error answer: a status and a message saying what to do.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

pub async fn status(State(s): State<LocalApiState>) -> Json<StatusResponse> {
    let snap = s.catalog.snapshot();
    let problems = s
        .catalog
        .problems()
        .into_iter()
        .map(|p| LoadProblemView {
            file: p.file.display().to_string(),
            document: p.document,
            message: p.message,
        })
        .collect();
    let counts = BTreeMap::from([
        ("connectors".to_string(), snap.connectors.len()),
        ("connectorclasses".to_string(), snap.classes.len()),
        ("secrets".to_string(), snap.secrets.len()),
    ]);
    Json(StatusResponse {
        generation: snap.generation,
        problems,
        proxy: s.proxy_url.clone(),
        counts,
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    namespace: Option<String>,
}

pub async fn list_connectors(
    State(s): State<LocalApiState>,
    Query(q): Query<ListQuery>,
) -> Json<Vec<connectors_types::Connector>> {
    let snap = s.catalog.snapshot();
    let items = snap
        .sorted_connectors()
        .into_iter()
        .filter(|c| match &q.namespace {
            Some(ns) => c.metadata.namespace.as_deref() == Some(ns.as_str()),
            None => true,
        })
        .map(|c| (**c).clone())
        .collect();
    Json(items)
}

pub async fn get_connector(
    State(s): State<LocalApiState>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<connectors_types::Connector>, ApiError> {
    let snap = s.catalog.snapshot();
    match snap.connector(&namespace, &name) {
        Some(c) => Ok(Json((**c).clone())),
        None => Err(error(
            StatusCode::NOT_FOUND,
            format!("connector \"{namespace}/{name}\" not found"),
        )),
    }
}

pub async fn list_classes(
    State(s): State<LocalApiState>,
) -> Json<Vec<connectors_types::ConnectorClass>> {
    let snap = s.catalog.snapshot();
    let mut items: Vec<_> = snap.classes.values().map(|c| (**c).clone()).collect();
    items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Json(items)
}

fn parse_ttl(ttl: Option<&str>) -> Result<Duration, ApiError> {
    match ttl.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(DEFAULT_TTL),
        Some(t) => humantime::parse_duration(t).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("ttl {t:?} is not a duration ({e}); write e.g. 30m or 1h"),
            )
        }),
    }
}

pub async fn issue_token(
    State(s): State<LocalApiState>,
    Json(body): Json<TokenRequestBody>,
) -> Result<Json<TokenResponse>, ApiError> {
    let ttl = parse_ttl(body.ttl.as_deref())?;
    let subject = body.subject.as_deref().unwrap_or("default");
    let t = s
        .catalog
        .issuer()
        .issue(&body.namespace, subject, ttl)
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok(Json(TokenResponse {
        token: t.token,
        expires_at: humantime::format_rfc3339_seconds(t.expires_at).to_string(),
    }))
}

pub async fn mount(
    State(s): State<LocalApiState>,
    Path((namespace, name)): Path<(String, String)>,
    Json(body): Json<MountRequestBody>,
) -> Result<Json<MountResponse>, ApiError> {
    let ttl = parse_ttl(body.ttl.as_deref())?;
    let snap = s.catalog.snapshot();
    let connector = snap.connector(&namespace, &name).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!("connector \"{namespace}/{name}\" not found"),
        )
    })?;
    let class_name = &connector.spec.connector_class_name;
    let class = snap.class(class_name).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!("connectorclass {class_name:?} of connector {namespace}/{name} not found"),
        )
    })?;
    if !body.force {
        match connector.ready_condition() {
            Some(ready) if ready.status == ConditionStatus::True => {}
            Some(ready) => {
                return Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "connector {namespace}/{name} is not ready ({}: {}); fix it (see `connectors describe connector {namespace}/{name}`) or mount with --force",
                        ready.reason.as_deref().unwrap_or("Unknown"),
                        ready.message.as_deref().unwrap_or("no detail")
                    ),
                ))
            }
            None => {
                return Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("connector {namespace}/{name} has not been checked yet; retry in a moment"),
                ))
            }
        }
    }
    let subject = body.subject.as_deref().unwrap_or("default");
    let issued = s
        .catalog
        .issuer()
        .issue(&namespace, subject, ttl)
        .map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    let request = MountRequest {
        connectors: vec![(connector.as_ref(), class.as_ref())],
        selection: Selection::parse(&body.configurations),
        params: body.params.as_ref(),
        context: RenderContext {
            token: issued.token,
            proxy_ca_pem: s.proxy_ca_pem.borrow().to_string(),
            class_proxy_address: None,
        },
    };
    let (files, sensitive) = render_mount_marked(&request)
        .map_err(|e| error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Json(MountResponse {
        files: files.into_iter().map(|(k, v)| (k, b64.encode(v))).collect(),
        expires_at: humantime::format_rfc3339_seconds(issued.expires_at).to_string(),
        sensitive: sensitive.into_iter().collect(),
    }))
}
