//! Record access controls (ADR 0002): staff routes under `/api/v1/practice/…` to set or end a
//! patient's historic access, record or end access codes, hide or unhide a record item, and
//! work the queue of patients' requests; and the patient's own route to ask for their historic
//! record. The rules are in [`crate::record::controls`] and [`crate::access`].

use super::AppState;
use super::auth::{AccountSession, StaffSession, acting_for};
use super::extract::ApiJson;
use crate::db::entities::record_access_requests::RequestStatus;
use crate::error::AppError;
use crate::idempotent::IdempotentCall;
use crate::record::controls::Decider;
use crate::record::controls::codes::{self, AccessCode, EndCode, NewCode};
use crate::record::controls::hiding::{self, HiddenFrom, HideBody, ItemHiding, ItemKind};
use crate::record::controls::historic::{self, HistoricAccess, HistoricAccessBody};
use crate::record::controls::requests::{
    self, AccessRequest, DeclineBody, GrantBody, NewRequest, QueuedRequest,
};
use crate::validate::{Invalid, Validator};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_historic, end_historic))
        .routes(routes!(list_codes, record_code))
        .routes(routes!(end_code))
        .routes(routes!(hide, unhide))
        .routes(routes!(request_queue))
        .routes(routes!(grant_request))
        .routes(routes!(decline_request))
        .routes(routes!(make_request, own_requests))
}

fn decider(session: &StaffSession) -> Decider {
    Decider {
        staff_id: session.staff_id,
        practice_id: session.practice_id,
        role: session.role,
    }
}

/// Sets a patient's historic access: a level and the first entered date shown of detailed
/// sections and letters. Clinicians and admins of the patient's practice; audited; every
/// device of the patient and their proxies is brought up to date at once.
#[utoipa::path(put, path = "/api/v1/practice/patients/{patient_id}/historic-access", tag = "practice",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    request_body = HistoricAccessBody,
    responses((status = 200, body = HistoricAccess), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn set_historic(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<HistoricAccessBody>,
) -> Result<Json<HistoricAccess>, AppError> {
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        historic::set(&state.db, &decider(&session), id, &body, now, call).await?,
    ))
}

/// Ends a patient's historic access (automatic access is untouched). Clinicians and admins.
#[utoipa::path(delete, path = "/api/v1/practice/patients/{patient_id}/historic-access", tag = "practice",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = HistoricAccess), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn end_historic(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
) -> Result<Json<HistoricAccess>, AppError> {
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        historic::end(&state.db, &decider(&session), id, now, call).await?,
    ))
}

/// The record-access codes on a patient's record, ended ones included. Clinicians and admins.
#[utoipa::path(get, path = "/api/v1/practice/patients/{patient_id}/access-codes", tag = "practice",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = Vec<AccessCode>), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn list_codes(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<AccessCode>>, AppError> {
    Ok(Json(codes::list(&state.db, &decider(&session), id).await?))
}

/// Records an access code (enhanced review indicated or not, or the patient's opt-out) from
/// today. Clinicians and admins; audited and synced at once.
#[utoipa::path(post, path = "/api/v1/practice/patients/{patient_id}/access-codes", tag = "practice",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    request_body = NewCode,
    responses((status = 200, body = AccessCode), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn record_code(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<NewCode>,
) -> Result<Json<AccessCode>, AppError> {
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        codes::record(&state.db, &decider(&session), id, &body, now, call).await?,
    ))
}

/// Ends an access code from a day (today unless given): what it blocked applies again.
/// Clinicians and admins; audited and synced at once.
#[utoipa::path(post, path = "/api/v1/practice/patients/{patient_id}/access-codes/{code_id}/end", tag = "practice",
    params(("patient_id" = Uuid, Path, description = "The patient"), ("code_id" = Uuid, Path, description = "The code")),
    request_body = EndCode,
    responses((status = 200, body = AccessCode), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn end_code(
    State(state): State<AppState>,
    session: StaffSession,
    Path((id, code_id)): Path<(Uuid, Uuid)>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<EndCode>,
) -> Result<Json<AccessCode>, AppError> {
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        codes::end(&state.db, &decider(&session), id, code_id, &body, now, call).await?,
    ))
}

/// Hides a whole coded entry, result or letter from everyone online or from proxies only.
/// Clinicians only; audited; devices that may no longer hold it lose it at once.
#[utoipa::path(put, path = "/api/v1/practice/record-items/{kind}/{id}/hidden", tag = "practice",
    params(("kind" = ItemKind, Path, description = "entries, results or documents"),
           ("id" = Uuid, Path, description = "The item")),
    request_body = HideBody,
    responses((status = 200, body = ItemHiding), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn hide(
    State(state): State<AppState>,
    session: StaffSession,
    Path((kind, id)): Path<(ItemKind, Uuid)>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<HideBody>,
) -> Result<Json<ItemHiding>, AppError> {
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        hiding::set(
            &state.db,
            &decider(&session),
            kind,
            id,
            body.from,
            now,
            call,
        )
        .await?,
    ))
}

/// Shows a hidden item again (as the access rules allow). Clinicians only; audited.
#[utoipa::path(delete, path = "/api/v1/practice/record-items/{kind}/{id}/hidden", tag = "practice",
    params(("kind" = ItemKind, Path, description = "entries, results or documents"),
           ("id" = Uuid, Path, description = "The item")),
    responses((status = 200, body = ItemHiding), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn unhide(
    State(state): State<AppState>,
    session: StaffSession,
    Path((kind, id)): Path<(ItemKind, Uuid)>,
    call: Option<Extension<IdempotentCall>>,
) -> Result<Json<ItemHiding>, AppError> {
    let now = state.clock.now();
    Ok(Json(
        hiding::set(
            &state.db,
            &decider(&session),
            kind,
            id,
            HiddenFrom::Nobody,
            now,
            call.as_deref(),
        )
        .await?,
    ))
}

/// Which requests the queue lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// `pending` (default), `granted` or `declined`.
    pub status: Option<String>,
}

/// The practice's queue of patients' requests for their historic record, oldest first.
/// Clinicians and admins.
#[utoipa::path(get, path = "/api/v1/practice/record-access-requests", tag = "practice",
    params(QueueParams),
    responses((status = 200, body = Vec<QueuedRequest>), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn request_queue(
    State(state): State<AppState>,
    session: StaffSession,
    Query(params): Query<QueueParams>,
) -> Result<Json<Vec<QueuedRequest>>, AppError> {
    let mut v = Validator::new();
    let status = v.check(
        "status",
        match params.status.as_deref() {
            None | Some("pending") => Ok(RequestStatus::Pending),
            Some("granted") => Ok(RequestStatus::Granted),
            Some("declined") => Ok(RequestStatus::Declined),
            Some(_) => Err(Invalid::new(
                "unknown_status",
                "pending, granted or declined",
            )),
        },
    );
    v.finish()?;
    let status = status.unwrap_or(RequestStatus::Pending);
    Ok(Json(
        requests::queue(&state.db, session.practice_id, status).await?,
    ))
}

/// Grants a patient's request: their historic access is set (level and from-date), and they
/// are notified. Clinicians and admins; audited.
#[utoipa::path(post, path = "/api/v1/practice/record-access-requests/{id}/grant", tag = "practice",
    params(("id" = Uuid, Path, description = "The request")),
    request_body = GrantBody,
    responses((status = 200, body = AccessRequest), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem),
              (status = 409, body = super::error::Problem), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn grant_request(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<Json<AccessRequest>, AppError> {
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        requests::grant(&state.db, &decider(&session), id, &body, now, call).await?,
    ))
}

/// Declines a patient's request with a reason they see, and notifies them. Clinicians and
/// admins; audited.
#[utoipa::path(post, path = "/api/v1/practice/record-access-requests/{id}/decline", tag = "practice",
    params(("id" = Uuid, Path, description = "The request")),
    request_body = DeclineBody,
    responses((status = 200, body = AccessRequest), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem),
              (status = 409, body = super::error::Problem), (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn decline_request(
    State(state): State<AppState>,
    session: StaffSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<DeclineBody>,
) -> Result<Json<AccessRequest>, AppError> {
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        requests::decline(&state.db, &decider(&session), id, &body, now, call).await?,
    ))
}

/// The patient asks the practice for access to their historic record; while a request is
/// pending, asking again answers it. The patient only (a proxy gets 404). Send an
/// `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/patients/{patient_id}/record-access-requests", tag = "record",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    request_body = NewRequest,
    responses((status = 200, body = AccessRequest), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn make_request(
    State(state): State<AppState>,
    session: AccountSession,
    Path(id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<NewRequest>,
) -> Result<Json<AccessRequest>, AppError> {
    let (viewer, facts) = acting_for(&state, &session, id).await?;
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        requests::request(&state.db, &viewer, &facts, &body, now, call).await?,
    ))
}

/// The patient's own requests for their historic record and the practice's answers, newest
/// first. The patient only.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/record-access-requests", tag = "record",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = Vec<AccessRequest>), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem), (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn own_requests(
    State(state): State<AppState>,
    session: AccountSession,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<AccessRequest>>, AppError> {
    let (viewer, facts) = acting_for(&state, &session, id).await?;
    if !matches!(viewer, crate::access::Viewer::Patient { .. }) {
        return Err(AppError::not_found());
    }
    Ok(Json(
        requests::for_patient(&state.db, facts.patient.id).await?,
    ))
}
