//! The clinical-system integration API (`/api/v1/integration/…`), authenticated by
//! practice-scoped API keys. The GP system of record checks its key, imports batches of
//! patients, coded entries, results and record-access codes, and uploads documents; slots and
//! courses are to come. Every route acts for the key's practice only.

use super::AppState;
use super::auth::IntegrationSession;
use super::extract::ApiJson;
use crate::db::entities::practices;
use crate::error::AppError;
use crate::record::import::{self, DocumentImport, DocumentImported, ImportBatch, ImportSummary};
use axum::Json;
use axum::extract::State;
use sea_orm::EntityTrait;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(key_practice))
        .routes(routes!(import_batch))
        .routes(routes!(import_document))
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

/// Imports one batch of patients, coded entries, results and record-access codes, atomically
/// and idempotently by the clinical system's ids. A bad batch is refused whole (422 listing
/// every bad field) and nothing of it is stored.
#[utoipa::path(post, path = "/api/v1/integration/batches", tag = "integration",
    request_body = ImportBatch,
    responses((status = 200, body = ImportSummary), (status = 401, body = super::error::Problem),
              (status = 409, body = super::error::Problem),
              (status = 413, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn import_batch(
    State(state): State<AppState>,
    IntegrationSession(client): IntegrationSession,
    ApiJson(batch): ApiJson<ImportBatch>,
) -> Result<Json<ImportSummary>, AppError> {
    import::import_batch(&state.db, client, batch, state.clock.now())
        .await
        .map(Json)
}

/// Stores one document (a letter) for a patient, pending clinician review. Its type is
/// detected from the content; at most 4 MiB decoded. Idempotent by the document's external id.
#[utoipa::path(post, path = "/api/v1/integration/documents", tag = "integration",
    request_body = DocumentImport,
    responses((status = 200, body = DocumentImported), (status = 401, body = super::error::Problem),
              (status = 413, body = super::error::Problem),
              (status = 415, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn import_document(
    State(state): State<AppState>,
    IntegrationSession(client): IntegrationSession,
    ApiJson(upload): ApiJson<DocumentImport>,
) -> Result<Json<DocumentImported>, AppError> {
    import::import_document(&state.db, client, upload, state.clock.now())
        .await
        .map(Json)
}
