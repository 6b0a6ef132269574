//! Repeat prescription routes: the patient's courses, orders, requests and nominated pharmacy
//! (`/api/v1/patients/{patient_id}/…`, for the patient or a proxy with the prescriptions
//! scope), the practice's queue and a clinician's approval or rejection
//! (`/api/v1/practice/prescription-requests…`), and the clinical system's course feed
//! (`PUT /api/v1/integration/courses`). The rules live in [`crate::prescriptions`].
//!
//! An order that requests no course at all is `409 nothing_ordered`: a problem+json body that
//! also carries `unsuccessful`, the same per-course list a partly successful order returns.

use super::AppState;
use super::auth::{AccountSession, IntegrationSession, StaffSession};
use super::error::Problem;
use super::extract::ApiJson;
use crate::error::{AppError, ErrorCode};
use crate::idempotent::IdempotentCall;
use crate::prescriptions::{
    self as domain, CourseView, CoursesImport, CoursesImported, DecidedItem, Decision, Order,
    OrderOutcome, OrderReceipt, PharmacyView, RefusedCourse, RequestView, StaffRequestView,
};
use crate::validate::Validator;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_courses))
        .routes(routes!(order, list_requests))
        .routes(routes!(cancel_request))
        .routes(routes!(get_pharmacy, set_pharmacy))
        .routes(routes!(queue))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(import_courses))
}

/// The patient's current courses (hidden and ended courses are left out), each with whether it
/// can be ordered now and whether a request is pending.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/courses", tag = "prescriptions",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = Vec<CourseView>),
              (status = 401, body = Problem),
              (status = 403, description = "`forbidden` (a proxy without the prescriptions scope) or `feature_disabled`", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn list_courses(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<Vec<CourseView>>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    Ok(Json(
        domain::list_courses(&state.db, &actor, &facts, now).await?,
    ))
}

/// An order of repeat courses.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    /// 1 to 50 distinct course ids.
    #[serde(default)]
    pub course_ids: Option<Vec<Uuid>>,
    /// A note to the practice, at most 500 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// `409 nothing_ordered`: problem+json plus every course and why it was refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct NothingOrderedProblem {
    /// The problem.
    #[serde(flatten)]
    pub problem: Problem,
    /// Every course of the order with its code.
    pub unsuccessful: Vec<RefusedCourse>,
}

fn nothing_ordered(unsuccessful: Vec<RefusedCourse>) -> Response {
    let code = ErrorCode::NothingOrdered;
    let body = NothingOrderedProblem {
        problem: Problem {
            problem_type: format!("urn:gp-online:problem:{}", code.as_str()),
            title: code.title(),
            status: code.status().as_u16(),
            code,
            detail: Some("no course of the order could be requested".to_owned()),
            invalid_params: Vec::new(),
        },
        unsuccessful,
    };
    let mut response = (code.status(), Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Orders repeat courses. Partial success is normal: `successful` lists the courses requested
/// (past their review date: `routed_to_clinician`), `unsuccessful` the others with
/// `already_pending`, `ordered_recently` or `not_requestable`. When no course can be requested
/// nothing is stored and the answer is 409 `nothing_ordered` with the same `unsuccessful` list.
#[utoipa::path(post, path = "/api/v1/patients/{patient_id}/prescription-requests",
    tag = "prescriptions",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    request_body = OrderBody,
    responses((status = 201, body = OrderReceipt),
              (status = 401, body = Problem),
              (status = 403, description = "`forbidden` or `feature_disabled`", body = Problem),
              (status = 404, body = Problem),
              (status = 409, description = "`nothing_ordered`", body = NothingOrderedProblem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn order(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<OrderBody>,
) -> Result<Response, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let order = Order::new(body.course_ids, body.note)?;
    let now = state.clock.now();
    match domain::order(&state.db, &actor, &facts, order, now, call.as_deref()).await? {
        OrderOutcome::Ordered(receipt) => Ok((StatusCode::CREATED, Json(receipt)).into_response()),
        OrderOutcome::NothingOrdered(unsuccessful) => Ok(nothing_ordered(unsuccessful)),
    }
}

/// The patient's prescription requests, newest first, each with its courses and their states
/// (`requested` → `approved` | `rejected` (with a reason) | `cancelled`).
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/prescription-requests",
    tag = "prescriptions",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = Vec<RequestView>),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn list_requests(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<Vec<RequestView>>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    Ok(Json(
        domain::list_requests(&state.db, &actor, &facts, now).await?,
    ))
}

/// Cancels the courses of a request that are still `requested`; they can then be ordered
/// again. 409 `request_not_pending` when none is.
#[utoipa::path(delete, path = "/api/v1/patients/{patient_id}/prescription-requests/{request_id}",
    tag = "prescriptions",
    params(("patient_id" = Uuid, Path, description = "The patient"),
           ("request_id" = Uuid, Path, description = "The request")),
    responses((status = 200, body = RequestView),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem),
              (status = 409, description = "`request_not_pending`", body = Problem)),
    security(("bearer" = [])))]
async fn cancel_request(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, request_id)): Path<(Uuid, Uuid)>,
    call: Option<Extension<IdempotentCall>>,
) -> Result<Json<RequestView>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        domain::cancel_request(&state.db, &actor, &facts, request_id, now, call).await?,
    ))
}

/// The nominated pharmacy.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/pharmacy", tag = "prescriptions",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = PharmacyView),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn get_pharmacy(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<PharmacyView>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    Ok(Json(
        domain::get_pharmacy(&state.db, &actor, &facts, now).await?,
    ))
}

/// A pharmacy nomination.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PharmacyBody {
    /// The pharmacy's ODS code: five characters starting with F, e.g. `FQ123`.
    #[serde(default)]
    pub ods_code: Option<String>,
}

/// Nominates a pharmacy; later orders go to it. A bad code is 422 naming `ods_code`.
#[utoipa::path(put, path = "/api/v1/patients/{patient_id}/pharmacy", tag = "prescriptions",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    request_body = PharmacyBody,
    responses((status = 200, body = PharmacyView),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn set_pharmacy(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
    ApiJson(body): ApiJson<PharmacyBody>,
) -> Result<Json<PharmacyView>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let pharmacy = domain::pharmacy_field(body.ods_code.as_deref())?;
    let now = state.clock.now();
    Ok(Json(
        domain::set_pharmacy(&state.db, &actor, &facts, pharmacy, now).await?,
    ))
}

/// Filter and size of the practice's queue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// `requested` (default), `approved`, `rejected` or `cancelled`.
    pub status: Option<String>,
    /// At most this many requests, 1 to 500 (default 100).
    pub limit: Option<String>,
}

/// The practice's prescription requests with a course in `status`: those routed to a clinician
/// (past a review date) first, then oldest first. Clinicians and admins may view it.
#[utoipa::path(get, path = "/api/v1/practice/prescription-requests", tag = "prescriptions",
    params(QueueParams),
    responses((status = 200, body = Vec<StaffRequestView>),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn queue(
    State(state): State<AppState>,
    session: StaffSession,
    Query(params): Query<QueueParams>,
) -> Result<Json<Vec<StaffRequestView>>, AppError> {
    let mut v = Validator::new();
    let status = v.check("status", domain::parse_status(params.status.as_deref()));
    let limit = v.check("limit", domain::parse_limit(params.limit.as_deref()));
    v.finish()?;
    let (Some(status), Some(limit)) = (status, limit) else {
        return Err(AppError::new(ErrorCode::ValidationFailed));
    };
    let staff = session.actor();
    let now = state.clock.now();
    Ok(Json(
        domain::queue(&state.db, &staff, status, limit, now).await?,
    ))
}

/// A rejection and its reason (shown to the patient).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why; required, at most 500 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Approves one requested course: it is issued today and the patient is notified. Approving
/// an approved item answers its state again. Clinicians only; another practice's request is 404.
#[utoipa::path(post,
    path = "/api/v1/practice/prescription-requests/{request_id}/items/{item_id}/approve",
    tag = "prescriptions",
    params(("request_id" = Uuid, Path, description = "The request"),
           ("item_id" = Uuid, Path, description = "The requested course")),
    responses((status = 200, body = DecidedItem),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem),
              (status = 409, description = "`request_not_pending`", body = Problem)),
    security(("bearer" = [])))]
async fn approve(
    State(state): State<AppState>,
    session: StaffSession,
    Path((request_id, item_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<DecidedItem>, AppError> {
    let staff = session.actor();
    let now = state.clock.now();
    Ok(Json(
        domain::decide(
            &state.db,
            &staff,
            request_id,
            item_id,
            &Decision::Approve,
            now,
        )
        .await?,
    ))
}

/// Rejects one requested course with a reason shown to the patient, who is notified.
/// Clinicians only; another practice's request is 404.
#[utoipa::path(post,
    path = "/api/v1/practice/prescription-requests/{request_id}/items/{item_id}/reject",
    tag = "prescriptions",
    params(("request_id" = Uuid, Path, description = "The request"),
           ("item_id" = Uuid, Path, description = "The requested course")),
    request_body = RejectBody,
    responses((status = 200, body = DecidedItem),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem),
              (status = 409, description = "`request_not_pending`", body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn reject(
    State(state): State<AppState>,
    session: StaffSession,
    Path((request_id, item_id)): Path<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Json<DecidedItem>, AppError> {
    let staff = session.actor();
    staff.require_clinician(domain::CLINICIAN_DECIDES)?;
    let decision = Decision::reject(body.reason)?;
    let now = state.clock.now();
    Ok(Json(
        domain::decide(&state.db, &staff, request_id, item_id, &decision, now).await?,
    ))
}

/// Creates or updates the practice's medication courses, matched by the patient's and the
/// course's external ids (re-sending a course updates it in place). All or nothing: a bad
/// feed is 422 naming every bad field.
#[utoipa::path(put, path = "/api/v1/integration/courses", tag = "integration",
    request_body = CoursesImport,
    responses((status = 200, body = CoursesImported), (status = 401, body = Problem),
              (status = 413, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn import_courses(
    State(state): State<AppState>,
    IntegrationSession(client): IntegrationSession,
    ApiJson(feed): ApiJson<CoursesImport>,
) -> Result<Json<CoursesImported>, AppError> {
    let now = state.clock.now();
    Ok(Json(
        domain::import_courses(&state.db, client, feed, now).await?,
    ))
}
