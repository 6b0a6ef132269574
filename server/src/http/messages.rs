//! Message routes: the patient's threads with the practice
//! (`/api/v1/patients/{patient_id}/messages…`, for the patient or a proxy with the messages
//! scope) and the practice's side (`/api/v1/practice/messages…`, clinicians and admins of the
//! patient's practice). The rules, including which threads a proxy sees, live in
//! [`crate::messages`].
//!
//! Messages are not for emergencies: `/me` carries `messaging_notice` for the app to show.

use super::AppState;
use super::auth::{AccountSession, StaffSession};
use super::error::Problem;
use super::extract::ApiJson;
use crate::error::{AppError, ErrorCode};
use crate::idempotent::IdempotentCall;
use crate::messages::{
    self as domain, ReadReceipt, StaffThreadSummary, StaffThreadView, ThreadSummary, ThreadView,
};
use crate::validate::Validator;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_threads, start_thread))
        .routes(routes!(get_thread, reply, delete_thread))
        .routes(routes!(mark_read))
        .routes(routes!(queue))
        .routes(routes!(staff_get_thread, staff_reply))
        .routes(routes!(close))
}

/// The patient's threads, most recently active first, each with its count of unread practice
/// messages. Threads the patient deleted are left out; a proxy sees only threads started by a
/// proxy or by the practice.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/messages", tag = "messages",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = Vec<ThreadSummary>),
              (status = 401, body = Problem),
              (status = 403, description = "`forbidden` (a proxy without the messages scope) or `feature_disabled`", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn list_threads(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<Vec<ThreadSummary>>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    Ok(Json(
        domain::list_threads(&state.db, &actor, &facts, now).await?,
    ))
}

/// A new thread.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewThreadBody {
    /// The subject, at most 120 characters; required when the practice asks for one.
    #[serde(default)]
    pub subject: Option<String>,
    /// The message, at most the practice's `message_max_chars` (2000 by default).
    #[serde(default)]
    pub body: Option<String>,
}

/// Starts a thread with the practice. 422 names `subject` (required by the practice, or too
/// long) and `body` (empty or too long).
#[utoipa::path(post, path = "/api/v1/patients/{patient_id}/messages", tag = "messages",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    request_body = NewThreadBody,
    responses((status = 201, body = ThreadView),
              (status = 401, body = Problem),
              (status = 403, description = "`forbidden` or `feature_disabled`", body = Problem),
              (status = 404, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn start_thread(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<NewThreadBody>,
) -> Result<(StatusCode, Json<ThreadView>), AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    let (subject, body) = (body.subject, body.body);
    let call = call.as_deref();
    let view = domain::start_thread(&state.db, &actor, &facts, subject, body, now, call).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A thread with its messages, oldest first; opening it marks the practice's messages read.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/messages/{thread_id}", tag = "messages",
    params(("patient_id" = Uuid, Path, description = "The patient"),
           ("thread_id" = Uuid, Path, description = "The thread")),
    responses((status = 200, body = ThreadView),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn get_thread(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, thread_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<ThreadView>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    Ok(Json(
        domain::get_thread(&state.db, &actor, &facts, thread_id, now).await?,
    ))
}

/// A reply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The message, at most the practice's `message_max_chars` (2000 by default).
    #[serde(default)]
    pub body: Option<String>,
}

/// Replies in a thread. 409 `thread_closed` when the practice has closed it.
#[utoipa::path(post, path = "/api/v1/patients/{patient_id}/messages/{thread_id}", tag = "messages",
    params(("patient_id" = Uuid, Path, description = "The patient"),
           ("thread_id" = Uuid, Path, description = "The thread")),
    request_body = ReplyBody,
    responses((status = 201, body = ThreadView),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem),
              (status = 409, description = "`thread_closed`", body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn reply(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, thread_id)): Path<(Uuid, Uuid)>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<(StatusCode, Json<ThreadView>), AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    let call = call.as_deref();
    let view = domain::reply(&state.db, &actor, &facts, thread_id, body.body, now, call).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Deletes a thread from the patient's list (the practice keeps its copy). 403
/// `message_deletion_not_allowed` unless the practice allows it.
#[utoipa::path(delete, path = "/api/v1/patients/{patient_id}/messages/{thread_id}",
    tag = "messages",
    params(("patient_id" = Uuid, Path, description = "The patient"),
           ("thread_id" = Uuid, Path, description = "The thread")),
    responses((status = 204, description = "Deleted"),
              (status = 401, body = Problem),
              (status = 403, description = "`message_deletion_not_allowed`, `forbidden` or `feature_disabled`", body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn delete_thread(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, thread_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    domain::delete_thread(&state.db, &actor, &facts, thread_id, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks the practice's messages of a thread read. Idempotent: `marked` is 0 the second time.
#[utoipa::path(post, path = "/api/v1/patients/{patient_id}/messages/{thread_id}/read",
    tag = "messages",
    params(("patient_id" = Uuid, Path, description = "The patient"),
           ("thread_id" = Uuid, Path, description = "The thread")),
    responses((status = 200, body = ReadReceipt),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn mark_read(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, thread_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<ReadReceipt>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    Ok(Json(
        domain::mark_thread_read(&state.db, &actor, &facts, thread_id, now).await?,
    ))
}

/// Filter and size of the practice's message queue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// `open` (default) or `closed`.
    pub status: Option<String>,
    /// At most this many threads, 1 to 500 (default 100).
    pub limit: Option<String>,
}

/// The practice's threads in `status`: those with unread patient or proxy messages first, then
/// the rest, most recently active first within each. Clinicians and admins alike.
#[utoipa::path(get, path = "/api/v1/practice/messages", tag = "messages",
    params(QueueParams),
    responses((status = 200, body = Vec<StaffThreadSummary>),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn queue(
    State(state): State<AppState>,
    session: StaffSession,
    Query(params): Query<QueueParams>,
) -> Result<Json<Vec<StaffThreadSummary>>, AppError> {
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

/// A thread of the practice with every message; opening it marks the patient's and proxies'
/// messages read by the practice. Another practice's thread is 404.
#[utoipa::path(get, path = "/api/v1/practice/messages/{thread_id}", tag = "messages",
    params(("thread_id" = Uuid, Path, description = "The thread")),
    responses((status = 200, body = StaffThreadView),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn staff_get_thread(
    State(state): State<AppState>,
    session: StaffSession,
    Path(thread_id): Path<Uuid>,
) -> Result<Json<StaffThreadView>, AppError> {
    let staff = session.actor();
    let now = state.clock.now();
    Ok(Json(
        domain::staff_get_thread(&state.db, &staff, thread_id, now).await?,
    ))
}

/// Replies to the patient, who is notified (without the text). 409 `thread_closed` when the
/// thread is closed; another practice's thread is 404.
#[utoipa::path(post, path = "/api/v1/practice/messages/{thread_id}", tag = "messages",
    params(("thread_id" = Uuid, Path, description = "The thread")),
    request_body = ReplyBody,
    responses((status = 201, body = StaffThreadView),
              (status = 401, body = Problem),
              (status = 403, description = "`feature_disabled`", body = Problem),
              (status = 404, body = Problem),
              (status = 409, description = "`thread_closed`", body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn staff_reply(
    State(state): State<AppState>,
    session: StaffSession,
    Path(thread_id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<(StatusCode, Json<StaffThreadView>), AppError> {
    let staff = session.actor();
    let now = state.clock.now();
    let call = call.as_deref();
    let view = domain::staff_reply(&state.db, &staff, thread_id, body.body, now, call).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Closes a thread: no more replies either way. Closing a closed thread answers it again.
#[utoipa::path(post, path = "/api/v1/practice/messages/{thread_id}/close", tag = "messages",
    params(("thread_id" = Uuid, Path, description = "The thread")),
    responses((status = 200, body = StaffThreadView),
              (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn close(
    State(state): State<AppState>,
    session: StaffSession,
    Path(thread_id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
) -> Result<Json<StaffThreadView>, AppError> {
    let staff = session.actor();
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        domain::close(&state.db, &staff, thread_id, now, call).await?,
    ))
}
