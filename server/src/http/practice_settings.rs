//! The practice's own settings, service switches and switch-on date of automatic record access
//! (`/api/v1/practice/settings`, `/api/v1/practice/switch-on-date`): any staff member reads
//! them, admins change them. The rules are in [`crate::practice::admin`] and
//! [`crate::settings`].

use super::AppState;
use super::auth::StaffSession;
use super::error::Problem;
use super::extract::ApiJson;
use crate::error::AppError;
use crate::practice::admin::{self, Admin, PracticeView, SwitchOnBody};
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read_settings, change_settings))
        .routes(routes!(set_switch_on, clear_switch_on))
}

fn admin_of(session: &StaffSession) -> Admin {
    Admin {
        staff_id: session.staff_id,
        practice_id: session.practice_id,
        role: session.role,
    }
}

/// The practice, its settings (national defaults filled in), service switches and switch-on
/// date. Any staff member of the practice.
#[utoipa::path(get, path = "/api/v1/practice/settings", tag = "practice",
    responses((status = 200, body = PracticeView), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn read_settings(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Json<PracticeView>, AppError> {
    Ok(Json(admin::read(&state.db, session.practice_id).await?))
}

/// Changes some settings or service switches (`features`: appointments, prescriptions,
/// messages, record, documents — the letters switch); keys left out keep their value. A key
/// that is no setting, or a value outside what the rules allow (e.g. the parental review age
/// 11–13), is refused naming it, and nothing changes. Admins only; audited; `/me` and every
/// synced document of the practice's patients follow at once.
#[utoipa::path(patch, path = "/api/v1/practice/settings", tag = "practice",
    request_body(content = Object, description = "Settings to change, e.g. {\"features\": {\"messages\": false}}"),
    responses((status = 200, body = PracticeView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn change_settings(
    State(state): State<AppState>,
    session: StaffSession,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> Result<Json<PracticeView>, AppError> {
    let now = state.clock.now();
    Ok(Json(
        admin::update_settings(&state.db, &admin_of(&session), &patch, now).await?,
    ))
}

/// Sets the date automatic (prospective) record access starts at the practice. Admins only;
/// audited.
#[utoipa::path(put, path = "/api/v1/practice/switch-on-date", tag = "practice",
    request_body = SwitchOnBody,
    responses((status = 200, body = PracticeView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn set_switch_on(
    State(state): State<AppState>,
    session: StaffSession,
    ApiJson(body): ApiJson<SwitchOnBody>,
) -> Result<Json<PracticeView>, AppError> {
    let now = state.clock.now();
    Ok(Json(
        admin::set_switch_on(&state.db, &admin_of(&session), Some(&body), now).await?,
    ))
}

/// Clears the switch-on date: automatic record access is switched off at the practice
/// (access granted by hand stays). Admins only; audited.
#[utoipa::path(delete, path = "/api/v1/practice/switch-on-date", tag = "practice",
    responses((status = 200, body = PracticeView), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn clear_switch_on(
    State(state): State<AppState>,
    session: StaffSession,
) -> Result<Json<PracticeView>, AppError> {
    let now = state.clock.now();
    Ok(Json(
        admin::set_switch_on(&state.db, &admin_of(&session), None, now).await?,
    ))
}
