//! The standalone process's local API.

mod auth;
mod handlers;
mod model;

pub use model::{
    LoadProblemView, MountRequestBody, MountResponse, StatusResponse, TokenRequestBody,
    TokenResponse,
};

use axum::routing::{get, post};
use axum::Router;
use connectors_catalog::local::LocalCatalog;
use std::sync::Arc;

/// What the API serves from.
#[derive(Clone)]
pub struct LocalApiState {
    /// The local catalog (objects, statuses, token issuer, load problems).
    pub catalog: Arc<LocalCatalog>,
    /// PEM of the proxy CA written into mounts: the CA in use now (it
    /// changes when the CA is rotated).
    pub proxy_ca_pem: tokio::sync::watch::Receiver<Arc<String>>,
    /// Base URL of the proxy listener.
    pub proxy_url: String,
    /// The admin bearer token every route but `/healthz` requires.
    pub admin_token: Arc<String>,
}

/// The router of the local API.
pub fn router(state: LocalApiState) -> Router {
    let protected = Router::new()
        .route("/v1/status", get(handlers::status))
        .route("/v1/connectors", get(handlers::list_connectors))
        .route(
            "/v1/namespaces/{namespace}/connectors/{name}",
            get(handlers::get_connector),
        )
        .route(
            "/v1/namespaces/{namespace}/connectors/{name}/mount",
            post(handlers::mount),
        )
        .route("/v1/connectorclasses", get(handlers::list_classes))
        .route("/v1/tokens", post(handlers::issue_token))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(protected)
        .with_state(state)
}
