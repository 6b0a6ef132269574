//! Routes of the signed-in staff member about themselves and their practice
//! (`/api/v1/practice/…`): who they are, signing out, finding a patient, one patient's online
//! access, and the diary of slots and bookings. Staff sessions only, scoped to the staff
//! member's practice; the read models are in [`crate::practice`].

use super::AppState;
use super::auth::StaffSession;
use super::error::Problem;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::error::AppError;
use crate::practice::{
    self, AwaitingReview, DiarySlot, PatientListing, PatientOverview, StaffMember,
};
use crate::validate::{Invalid, Validator, parse_date};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{Days, NaiveDate};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The longest diary one request may ask for.
const MAX_DIARY_DAYS: u64 = 31;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(sign_out))
        .routes(routes!(search_patients))
        .routes(routes!(patient_overview))
        .routes(routes!(diary))
        .routes(routes!(proxy_reviews))
}

/// The signed-in staff member, their role and practice.
#[utoipa::path(get, path = "/api/v1/practice/me", tag = "practice",
    responses((status = 200, body = StaffMember), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn me(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Json<StaffMember>, AppError> {
    Ok(Json(
        practice::staff_member(&state.db, &session.actor()).await?,
    ))
}

/// Signs the staff member out: this session's tokens stop working at once.
#[utoipa::path(delete, path = "/api/v1/practice/session", tag = "practice",
    responses((status = 204, description = "Signed out"), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn sign_out(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<StatusCode, AppError> {
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    crate::identity::sessions::revoke_family(&txn, session.session_id, "signed_out", now).await?;
    AuditEvent::new("staff.sign_out", ActorKind::Staff, Outcome::Success)
        .actor(session.staff_id)
        .practice(session.practice_id)
        .target("session", session.session_id)
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What to look for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// An NHS number (ten digits, spaces allowed) or the start of a name, at least two
    /// characters.
    pub q: Option<String>,
}

/// Finds patients of the practice by NHS number or name (at most 20). Clinicians and admins.
/// Audited with the number of matches, never the query.
#[utoipa::path(get, path = "/api/v1/practice/patients", tag = "practice",
    params(SearchParams),
    responses((status = 200, body = Vec<PatientListing>), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn search_patients(
    State(state): State<AppState>,
    session: StaffSession,
    Query(params): Query<SearchParams>,
) -> Result<Json<Vec<PatientListing>>, AppError> {
    let query = params.q.unwrap_or_default();
    let length = query.trim().chars().count();
    if !(2..=100).contains(&length) {
        return Err(AppError::invalid_field(
            "q",
            Invalid {
                code: "length",
                reason: "from 2 to 100 characters".to_owned(),
            },
        ));
    }
    let found = practice::search_patients(&state.db, &session.actor(), &query).await?;
    AuditEvent::new(
        "practice.patient_search",
        ActorKind::Staff,
        Outcome::Success,
    )
    .actor(session.staff_id)
    .practice(session.practice_id)
    .detail(serde_json::json!({"matches": found.len()}))
    .record(&state.db, state.clock.now())
    .await?;
    Ok(Json(found))
}

/// One patient's online access: record access level and date, access codes, hidden items,
/// linkage details issued, accounts and devices. Clinicians and admins of the patient's
/// practice; anyone else gets 404. Audited.
#[utoipa::path(get, path = "/api/v1/practice/patients/{patient_id}", tag = "practice",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = PatientOverview), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn patient_overview(
    State(state): State<AppState>,
    session: StaffSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<PatientOverview>, AppError> {
    let overview = practice::patient_overview(&state.db, &session.actor(), patient_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    AuditEvent::new("practice.patient_view", ActorKind::Staff, Outcome::Success)
        .actor(session.staff_id)
        .practice(session.practice_id)
        .acting_for(patient_id)
        .target("patient", patient_id)
        .record(&state.db, state.clock.now())
        .await?;
    Ok(Json(overview))
}

/// The days of the diary.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiaryParams {
    /// First day, `YYYY-MM-DD` (default today, UTC).
    pub from: Option<String>,
    /// Day after the last, `YYYY-MM-DD` (default seven days after `from`; at most 31 days).
    pub to: Option<String>,
}

/// The practice's slots in a range of days with their bookings, earliest first (at most 500).
/// Clinicians and admins.
#[utoipa::path(get, path = "/api/v1/practice/slots", tag = "appointments",
    params(DiaryParams),
    responses((status = 200, body = Vec<DiarySlot>), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn diary(
    State(state): State<AppState>,
    session: StaffSession,
    Query(params): Query<DiaryParams>,
) -> Result<Json<Vec<DiarySlot>>, AppError> {
    let today = state.clock.now().date_naive();
    let mut validator = Validator::new();
    let from = match params.from.as_deref() {
        Some(text) => validator.check("from", parse_date(text)),
        None => Some(today),
    };
    let to = match (params.to.as_deref(), from) {
        (Some(text), _) => validator.check("to", parse_date(text)),
        (None, Some(from)) => from.checked_add_days(Days::new(7)),
        (None, None) => None,
    };
    if let (Some(from), Some(to)) = (from, to) {
        let days = (to - from).num_days();
        validator.check(
            "to",
            if days < 1 || days > MAX_DIARY_DAYS as i64 {
                Err(Invalid {
                    code: "out_of_range",
                    reason: format!("from 1 to {MAX_DIARY_DAYS} days after `from`"),
                })
            } else {
                Ok(())
            },
        );
    }
    validator.finish()?;
    let (Some(from), Some(to)) = (from, to) else {
        return Err(AppError::new(crate::error::ErrorCode::ValidationFailed));
    };
    let start = |day: NaiveDate| day.and_time(chrono::NaiveTime::MIN).and_utc();
    Ok(Json(
        practice::diary(&state.db, &session.actor(), start(from), start(to)).await?,
    ))
}

/// The practice's suspended proxy grants waiting for review (age reviews, 16th birthdays),
/// oldest first. Clinicians and admins may view; admins review them.
#[utoipa::path(get, path = "/api/v1/practice/proxy-reviews", tag = "proxy",
    responses((status = 200, body = Vec<AwaitingReview>), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn proxy_reviews(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Json<Vec<AwaitingReview>>, AppError> {
    Ok(Json(
        practice::grants_awaiting_review(&state.db, &session.actor()).await?,
    ))
}
