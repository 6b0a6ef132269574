//! The clinical-system integration API (`/api/v1/integration/…`), authenticated by
//! practice-scoped API keys. It lets the GP system of record check its key and will carry the
//! import of patients, coded entries, results, documents, slots and courses.

use super::AppState;
use super::auth::IntegrationSession;
use crate::db::entities::practices;
use crate::error::AppError;
use axum::Json;
use axum::extract::State;
use sea_orm::EntityTrait;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(key_practice))
}

/// The practice an integration key acts for.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyPractice {
    /// ODS code.
    pub ods_code: String,
    /// Name.
    pub name: String,
    /// Whether online services are live.
    pub live: bool,
}

/// The practice this key is scoped to: a clinical system's check that its key works.
#[utoipa::path(get, path = "/api/v1/integration/practice", tag = "integration",
    responses((status = 200, body = KeyPractice), (status = 401, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn key_practice(
    State(state): State<AppState>,
    IntegrationSession(client): IntegrationSession,
) -> Result<Json<KeyPractice>, AppError> {
    let practice = practices::Entity::find_by_id(client.practice_id)
        .one(&state.db)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(Json(KeyPractice {
        ods_code: practice.ods_code,
        name: practice.name,
        live: practice.live,
    }))
}
