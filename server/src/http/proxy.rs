//! Proxy access routes: the practice's grant decisions (`/api/v1/practice/…`, staff sessions of
//! the patient's practice; admins decide, clinicians may view) and the patient's own view and
//! revocation of their proxies (`/api/v1/patients/{patient_id}/proxies`, the patient only). The
//! rules are in [`crate::proxy`].

use super::AppState;
use super::auth::{AccountSession, StaffSession};
use super::extract::ApiJson;
use crate::error::AppError;
use crate::idempotent::IdempotentCall;
use crate::proxy::{self, Decider, Grant, GrantChange, GrantRequest, GrantReview, RevokeReason};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(decide_grant))
        .routes(routes!(practice_grants))
        .routes(routes!(change_grant))
        .routes(routes!(revoke_grant))
        .routes(routes!(review_grant))
        .routes(routes!(my_proxies))
        .routes(routes!(revoke_my_proxy))
}

fn decider(session: &StaffSession) -> Decider {
    Decider {
        staff_id: session.staff_id,
        practice_id: session.practice_id,
        role: session.role,
    }
}

/// Records the practice's decision on a proxy request: granted (status `active`) or refused
/// (status `refused`, recorded too). Every invalid field is listed. Admins only.
#[utoipa::path(post, path = "/api/v1/practice/proxy-grants", tag = "proxy",
    request_body = GrantRequest,
    responses((status = 201, body = Grant), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem),
              (status = 404, description = "No such patient at this practice", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn decide_grant(
    State(state): State<AppState>,
    session: StaffSession,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<GrantRequest>,
) -> Result<(StatusCode, Json<Grant>), AppError> {
    let now = state.clock.now();
    let call = call.as_deref();
    let grant = proxy::decide(&state.db, &decider(&session), &body, now, call).await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// Every proxy grant and refused request for a patient of the practice, newest first.
/// Clinicians and admins may view.
#[utoipa::path(get, path = "/api/v1/practice/patients/{patient_id}/proxy-grants", tag = "proxy",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = Vec<Grant>), (status = 401, body = super::error::Problem),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn practice_grants(
    State(state): State<AppState>,
    session: StaffSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<Vec<Grant>>, AppError> {
    Ok(Json(
        proxy::list_for_practice(&state.db, session.practice_id, patient_id).await?,
    ))
}

/// Narrows or widens a grant's scopes, or moves its end date. Takes effect on the proxy's next
/// request. Admins only.
#[utoipa::path(patch, path = "/api/v1/practice/proxy-grants/{grant_id}", tag = "proxy",
    params(("grant_id" = Uuid, Path, description = "The grant")),
    request_body = GrantChange,
    responses((status = 200, body = Grant), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`grant_not_active`: revoked, refused or expired", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn change_grant(
    State(state): State<AppState>,
    session: StaffSession,
    Path(grant_id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<GrantChange>,
) -> Result<Json<Grant>, AppError> {
    Ok(Json(
        proxy::change(
            &state.db,
            &decider(&session),
            grant_id,
            &body,
            state.clock.now(),
            call.as_deref(),
        )
        .await?,
    ))
}

/// A revocation by the practice.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Why (recorded as a code).
    pub reason: RevokeReason,
}

/// Revokes a grant at once. Revoking it again answers its state. Admins only.
#[utoipa::path(post, path = "/api/v1/practice/proxy-grants/{grant_id}/revoke", tag = "proxy",
    params(("grant_id" = Uuid, Path, description = "The grant")),
    request_body = RevokeBody,
    responses((status = 200, body = Grant), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`grant_not_active`: refused or expired", body = super::error::Problem)),
    security(("bearer" = [])))]
async fn revoke_grant(
    State(state): State<AppState>,
    session: StaffSession,
    Path(grant_id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Json<Grant>, AppError> {
    Ok(Json(
        proxy::revoke_by_staff(
            &state.db,
            &decider(&session),
            grant_id,
            body.reason,
            state.clock.now(),
            call.as_deref(),
        )
        .await?,
    ))
}

/// The practice's review of a grant: records the young person's consent and lifts a suspension
/// of the time rules (the age review at 11–13, or the one at 16, which needs the consent).
/// Admins only.
#[utoipa::path(post, path = "/api/v1/practice/proxy-grants/{grant_id}/review", tag = "proxy",
    params(("grant_id" = Uuid, Path, description = "The grant")),
    request_body = GrantReview,
    responses((status = 200, body = Grant), (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`grant_not_active`: revoked, refused or expired", body = super::error::Problem),
              (status = 422, description = "`young_person_consent_required`: the patient is 16 or over", body = super::error::Problem)),
    security(("bearer" = [])))]
async fn review_grant(
    State(state): State<AppState>,
    session: StaffSession,
    Path(grant_id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<GrantReview>,
) -> Result<Json<Grant>, AppError> {
    Ok(Json(
        proxy::review(
            &state.db,
            &decider(&session),
            grant_id,
            &body,
            state.clock.now(),
            call.as_deref(),
        )
        .await?,
    ))
}

/// The patient's proxies: who can act for them, what each can see and do, on what basis and
/// until when (valid and suspended grants). Only the patient themself; anyone else gets 404.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/proxies", tag = "proxy",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = Vec<Grant>), (status = 401, body = super::error::Problem),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn my_proxies(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<Vec<Grant>>, AppError> {
    Ok(Json(
        proxy::list_for_patient(&state.db, &session.holder(), patient_id, state.clock.now())
            .await?,
    ))
}

/// The patient revokes a proxy at once. Needs capacity (16 or over, or competent).
#[utoipa::path(delete, path = "/api/v1/patients/{patient_id}/proxies/{grant_id}", tag = "proxy",
    params(("patient_id" = Uuid, Path, description = "The patient"),
           ("grant_id" = Uuid, Path, description = "The grant")),
    responses((status = 204, description = "Revoked"), (status = 401, body = super::error::Problem),
              (status = 403, description = "`capacity_required`", body = super::error::Problem),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn revoke_my_proxy(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, grant_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    proxy::revoke_by_patient(
        &state.db,
        &session.holder(),
        patient_id,
        grant_id,
        state.clock.now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
