//! Patient-facing record routes: the signed-in account's profiles with their capabilities,
//! record sections (each with its own status, so one failing section does not fail the rest),
//! results with their trend, document downloads and the access log. Each route resolves the
//! viewer (an unknown patient and a patient the account may not act for get the same 404) and
//! calls one function of [`crate::record::reads`], which filters through [`crate::access`].

use super::AppState;
use super::auth::{AccountSession, acting_for};
use crate::access::{Section, Viewer};
use crate::error::AppError;
use crate::record::access_log::{self, AccessLogLine};
use crate::record::reads::{self, Me, RecordView, SectionView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(whole_record))
        .routes(routes!(record_section))
        .routes(routes!(document_content))
        .routes(routes!(access_log_list))
}

/// The account and its profiles (self and linked), each with its capabilities.
#[utoipa::path(get, path = "/api/v1/me", tag = "record",
    responses((status = 200, body = Me), (status = 401, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn me(State(state): State<AppState>, session: AccountSession) -> Result<Json<Me>, AppError> {
    let today = state.clock.now().date_naive();
    Ok(Json(
        reads::me(&state.reads, &session.holder(), today).await?,
    ))
}

/// Every record section the app shows, each with its own status.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/record", tag = "record",
    params(("patient_id" = Uuid, Path)),
    responses((status = 200, body = RecordView), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn whole_record(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<RecordView>, AppError> {
    let (viewer, facts) = acting_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    Ok(Json(
        reads::whole_record(
            &state.db,
            &state.live_writes,
            &viewer,
            &facts,
            Some(session.device_id),
            now,
        )
        .await,
    ))
}

/// One record section.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/record/{section}", tag = "record",
    params(("patient_id" = Uuid, Path), ("section" = String, Path,
        description = "allergies, medications, immunisations, problems, consultations, results or documents")),
    responses((status = 200, body = SectionView), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn record_section(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, section)): Path<(Uuid, String)>,
) -> Result<Json<SectionView>, AppError> {
    let section = Section::parse(&section).ok_or_else(AppError::not_found)?;
    let (viewer, facts) = acting_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    Ok(Json(
        reads::section(
            &state.db,
            &viewer,
            &facts,
            section,
            Some(session.device_id),
            now,
        )
        .await?,
    ))
}

/// A released document's body, with its content type.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/documents/{document_id}/content", tag = "record",
    params(("patient_id" = Uuid, Path), ("document_id" = Uuid, Path)),
    responses((status = 200, description = "The document", content_type = "application/octet-stream"),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn document_content(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, document_id)): Path<(Uuid, Uuid)>,
) -> Result<impl IntoResponse, AppError> {
    let (viewer, facts) = acting_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    let (content_type, content) = reads::document_body(
        &state.db,
        &viewer,
        &facts,
        document_id,
        Some(session.device_id),
        now,
    )
    .await?
    .ok_or_else(AppError::not_found)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
            (header::CONTENT_DISPOSITION, "attachment".to_owned()),
        ],
        content,
    ))
}

/// Who has read the patient's record: shown to the patient only, never to proxies.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/access-log", tag = "record",
    params(("patient_id" = Uuid, Path)),
    responses((status = 200, body = [AccessLogLine]), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn access_log_list(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<Vec<AccessLogLine>>, AppError> {
    let (viewer, _) = acting_for(&state, &session, patient_id).await?;
    if !matches!(viewer, Viewer::Patient { .. }) {
        return Err(AppError::not_found());
    }
    Ok(Json(access_log::list(&state.db, patient_id, 500).await?))
}
