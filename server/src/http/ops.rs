//! Operational endpoints: liveness (`/healthz`), readiness (`/readyz`, the database answers) and
//! Prometheus metrics (`/metrics`).

use super::AppState;
use crate::error::AppError;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Status of a health or readiness probe.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: &'static str,
    /// The database backend in use, on readiness only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The server is up", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        database: None,
    })
}

/// Readiness: the database is reachable.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready to serve", body = Health),
    (status = 503, description = "The database is unreachable", body = super::error::Problem)))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    // The cause is logged with the 503, which carries `Retry-After` like every other 503.
    state
        .db
        .ping()
        .await
        .map_err(|error| AppError::unavailable(error).with_detail("the database is unreachable"))?;
    Ok(Json(Health {
        status: "ready",
        database: Some(crate::db::backend_name(&state.db)),
    }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        super::metrics::render(),
    )
}
