//! Staff review routes (`/api/v1/practice/…`): the practice's review queue, and a clinician's
//! release, withholding or retraction of a result or document. Staff sessions only, scoped to
//! the staff member's practice; the rules are in [`crate::record::review`].

use super::AppState;
use super::auth::StaffSession;
use super::extract::ApiJson;
use crate::db::entities::results::ReviewState;
use crate::error::AppError;
use crate::idempotent::IdempotentCall;
use crate::record::review::{
    self, Cursor, Decision, ItemKind, ItemReview, ReviewQueue, TrendPoint, WithholdReason,
};
use crate::validate::{Invalid, Validator};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(review_queue))
        .routes(routes!(result_trend))
        .routes(routes!(letter_body))
        .routes(routes!(release_result))
        .routes(routes!(withhold_result))
        .routes(routes!(retract_result))
        .routes(routes!(release_document))
        .routes(routes!(withhold_document))
        .routes(routes!(retract_document))
}

/// Paging of the review queue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
    /// `pending` (default): waiting for review; `released`: released, so open to retraction.
    pub status: Option<String>,
}

/// The practice's results and documents waiting for review (or, with `status=released`, those
/// released), oldest first. Clinicians and admins may view it.
#[utoipa::path(get, path = "/api/v1/practice/review-queue", tag = "practice",
    params(QueueParams),
    responses((status = 200, body = ReviewQueue), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn review_queue(
    State(state): State<AppState>,
    session: StaffSession,
    Query(params): Query<QueueParams>,
) -> Result<Json<ReviewQueue>, AppError> {
    let mut validator = Validator::new();
    let limit = validator.check("limit", review::parse_limit(params.limit.as_deref()));
    let after = match params.after.as_deref() {
        Some(text) => validator.check("after", Cursor::decode(text)),
        None => None,
    };
    let status = validator.check(
        "status",
        match params.status.as_deref() {
            None | Some("pending") => Ok(ReviewState::Pending),
            Some("released") => Ok(ReviewState::Released),
            Some(_) => Err(Invalid {
                code: "unknown_status",
                reason: "pending or released".to_owned(),
            }),
        },
    );
    validator.finish()?;
    let limit = limit.unwrap_or(review::DEFAULT_QUEUE_LIMIT);
    let status = status.unwrap_or(ReviewState::Pending);
    let queue = review::queue(&state.db, session.practice_id, status, limit, after).await?;
    // Seeing a queued result or letter is a read of that patient's record: it is logged.
    let seen: Vec<_> = queue
        .items
        .iter()
        .map(|item| {
            let section = match item.kind {
                review::ItemKind::Result => crate::access::Section::Results,
                review::ItemKind::Document => crate::access::Section::Documents,
            };
            (item.patient.id, section, item.id)
        })
        .collect();
    crate::record::access_log::record_staff_reads(
        &state.db,
        session.staff_id,
        &seen,
        state.clock.now(),
    )
    .await?;
    Ok(Json(queue))
}

/// Every value of the result's test for its patient, newest first, whatever their review
/// state: the trend the result is reviewed against. Clinicians and admins of the patient's
/// practice; the read is in the patient's access log.
#[utoipa::path(get, path = "/api/v1/practice/results/{id}/trend", tag = "practice",
    params(("id" = Uuid, Path, description = "The result")),
    responses((status = 200, body = Vec<TrendPoint>), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn result_trend(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<TrendPoint>>, AppError> {
    let (patient_id, points) = review::trend(&state.db, session.practice_id, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let seen: Vec<_> = points
        .iter()
        .map(|point| (patient_id, crate::access::Section::Results, point.id))
        .collect();
    crate::record::access_log::record_staff_reads(
        &state.db,
        session.staff_id,
        &seen,
        state.clock.now(),
    )
    .await?;
    Ok(Json(points))
}

/// A letter's body, whatever its review state, for the clinician reviewing it. Clinicians and
/// admins of the patient's practice; the read is in the patient's access log.
#[utoipa::path(get, path = "/api/v1/practice/documents/{id}/content", tag = "practice",
    params(("id" = Uuid, Path, description = "The document")),
    responses((status = 200, description = "The document", content_type = "application/octet-stream"),
              (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn letter_body(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
) -> Result<impl IntoResponse, AppError> {
    let letter = review::letter_body(&state.db, session.practice_id, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    crate::record::access_log::record_staff_reads(
        &state.db,
        session.staff_id,
        &[(letter.patient_id, crate::access::Section::Documents, id)],
        state.clock.now(),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, letter.content_type),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        letter.content,
    ))
}

/// A release, with an optional comment shown to the patient with the item.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    /// E.g. "Normal – no action"; at most 1000 characters; blank means none.
    #[serde(default)]
    pub comment: Option<String>,
}

/// A withholding and its reason (recorded, never shown to the patient).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithholdBody {
    /// Third-party information, or risk of serious harm. Required.
    #[serde(default)]
    pub reason: Option<WithholdReason>,
}

/// A retraction and its reason (recorded for staff, never shown to the patient).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetractBody {
    /// Why it is taken back; required, at most 1000 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

async fn decide(
    state: &AppState,
    session: &StaffSession,
    kind: ItemKind,
    id: Uuid,
    decision: Result<Decision, AppError>,
    call: Option<&IdempotentCall>,
) -> Result<Json<ItemReview>, AppError> {
    let reviewer = session.actor();
    reviewer.require_clinician(review::CLINICIAN_DECIDES)?;
    let decision = decision?;
    let now = state.clock.now();
    Ok(Json(
        review::decide(&state.db, &reviewer, kind, id, &decision, now, call).await?,
    ))
}

/// Releases a pending (or withheld) result to the patient, who is notified. Repeating the same
/// release answers the current state without a second notification. Clinicians only.
#[utoipa::path(post, path = "/api/v1/practice/results/{id}/release", tag = "practice",
    params(("id" = Uuid, Path, description = "The result")),
    request_body = ReleaseBody,
    responses((status = 200, body = ItemReview), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`not_pending`: already decided otherwise or retracted", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn release_result(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<ReleaseBody>,
) -> Result<Json<ItemReview>, AppError> {
    let decision = Decision::release(body.comment);
    decide(
        &state,
        &session,
        ItemKind::Result,
        id,
        decision,
        call.as_deref(),
    )
    .await
}

/// Withholds a pending result from the patient. Clinicians only.
#[utoipa::path(post, path = "/api/v1/practice/results/{id}/withhold", tag = "practice",
    params(("id" = Uuid, Path, description = "The result")),
    request_body = WithholdBody,
    responses((status = 200, body = ItemReview), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`not_pending`: already decided", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn withhold_result(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<WithholdBody>,
) -> Result<Json<ItemReview>, AppError> {
    let decision = Decision::withhold(body.reason);
    decide(
        &state,
        &session,
        ItemKind::Result,
        id,
        decision,
        call.as_deref(),
    )
    .await
}

/// Retracts a released result: it disappears from the patient's view and devices. Clinicians
/// only.
#[utoipa::path(post, path = "/api/v1/practice/results/{id}/retract", tag = "practice",
    params(("id" = Uuid, Path, description = "The result")),
    request_body = RetractBody,
    responses((status = 200, body = ItemReview), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`not_released`: not released", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn retract_result(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<RetractBody>,
) -> Result<Json<ItemReview>, AppError> {
    let decision = Decision::retract(body.reason);
    decide(
        &state,
        &session,
        ItemKind::Result,
        id,
        decision,
        call.as_deref(),
    )
    .await
}

/// Releases a pending (or withheld) document to the patient, who is notified. Repeating the
/// same release answers the current state without a second notification. Clinicians only.
#[utoipa::path(post, path = "/api/v1/practice/documents/{id}/release", tag = "practice",
    params(("id" = Uuid, Path, description = "The document")),
    request_body = ReleaseBody,
    responses((status = 200, body = ItemReview), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`not_pending`: already decided otherwise or retracted", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn release_document(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<ReleaseBody>,
) -> Result<Json<ItemReview>, AppError> {
    let decision = Decision::release(body.comment);
    decide(
        &state,
        &session,
        ItemKind::Document,
        id,
        decision,
        call.as_deref(),
    )
    .await
}

/// Withholds a pending document from the patient. Clinicians only.
#[utoipa::path(post, path = "/api/v1/practice/documents/{id}/withhold", tag = "practice",
    params(("id" = Uuid, Path, description = "The document")),
    request_body = WithholdBody,
    responses((status = 200, body = ItemReview), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`not_pending`: already decided", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn withhold_document(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<WithholdBody>,
) -> Result<Json<ItemReview>, AppError> {
    let decision = Decision::withhold(body.reason);
    decide(
        &state,
        &session,
        ItemKind::Document,
        id,
        decision,
        call.as_deref(),
    )
    .await
}

/// Retracts a released document: it disappears from the patient's view and devices.
/// Clinicians only.
#[utoipa::path(post, path = "/api/v1/practice/documents/{id}/retract", tag = "practice",
    params(("id" = Uuid, Path, description = "The document")),
    request_body = RetractBody,
    responses((status = 200, body = ItemReview), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`not_released`: not released", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn retract_document(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<RetractBody>,
) -> Result<Json<ItemReview>, AppError> {
    let decision = Decision::retract(body.reason);
    decide(
        &state,
        &session,
        ItemKind::Document,
        id,
        decision,
        call.as_deref(),
    )
    .await
}
