//! The admin token check.

use super::LocalApiState;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// Rejects requests without `Authorization: Bearer <admin token>`.
pub async fn require_admin(
    State(state): State<LocalApiState>,
    req: Request,
    next: Next,
) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let ok: bool = given.as_bytes().ct_eq(state.admin_token.as_bytes()).into();
    if !ok || given.is_empty() {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({
                "error": "missing or wrong admin token: pass the same --data directory the standalone process uses"
            })),
        )
            .into_response();
    }
    next.run(req).await
}
