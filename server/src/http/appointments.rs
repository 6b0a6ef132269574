//! Appointment routes: a patient's (or proxy's) slot search, booking, cancelling and listing;
//! the practice's publishing, withdrawing and moving; and the clinical system's publishing.
//! Handlers resolve who acts and call one function of [`crate::appointments`], which holds every
//! rule. A patient the account may not act for is the same 404 as an unknown one.

use super::AppState;
use super::auth::{AccountSession, IntegrationSession, StaffSession};
use super::extract::ApiJson;
use crate::access::PracticeActor;
use crate::appointments::{
    self, Appointment, AppointmentList, BookingRequest, CancellationRequest, MoveRequest,
    PublishSlots, PublishedSlots, SlotCancellation, SlotSearch, SlotSearchResult, SlotWithdrawn,
};
use crate::error::AppError;
use crate::idempotent::IdempotentCall;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_slots))
        .routes(routes!(list_appointments, book))
        .routes(routes!(cancel))
        .routes(routes!(publish_slots))
        .routes(routes!(withdraw_slot))
        .routes(routes!(move_appointment))
        .routes(routes!(integration_publish_slots))
}

/// Filters of a slot search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotParams {
    /// Slots starting at or after this: a date (`YYYY-MM-DD`, UTC) or an RFC 3339 instant.
    pub from: Option<String>,
    /// Slots starting before this: an RFC 3339 instant, or a date (the whole day included).
    pub to: Option<String>,
    /// A clinician's staff id, or part of their name.
    pub clinician: Option<String>,
    /// The slot type.
    pub slot_type: Option<String>,
    /// `in_person`, `telephone` or `video`.
    pub channel: Option<String>,
}

/// Open, unbooked slots of the patient's practice from now to the end of its booking window
/// (8 weeks unless the practice chose 16), with the practice's booking guidance and reason
/// rule. `feature_disabled` when the practice does not offer online appointments; `forbidden`
/// for a proxy whose access does not include appointments.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/slots", tag = "appointments",
    params(("patient_id" = Uuid, Path, description = "The patient"), SlotParams),
    responses((status = 200, body = SlotSearchResult), (status = 401, body = super::error::Problem),
              (status = 403, description = "`forbidden` or `feature_disabled`", body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn search_slots(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
    Query(params): Query<SlotParams>,
) -> Result<Json<SlotSearchResult>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let search = SlotSearch::parse(
        params.from.as_deref(),
        params.to.as_deref(),
        params.clinician.as_deref(),
        params.slot_type.as_deref(),
        params.channel.as_deref(),
    )?;
    let now = state.clock.now();
    Ok(Json(
        appointments::search_slots(&state.db, &actor, &facts, &search, now).await?,
    ))
}

/// The patient's upcoming appointments and those of the past year, each with its slot, and
/// the practice's cancellation reasons and cut-off.
#[utoipa::path(get, path = "/api/v1/patients/{patient_id}/appointments", tag = "appointments",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    responses((status = 200, body = AppointmentList), (status = 401, body = super::error::Problem),
              (status = 403, description = "`forbidden` or `feature_disabled`", body = super::error::Problem),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn list_appointments(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
) -> Result<Json<AppointmentList>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    Ok(Json(
        appointments::list_appointments(&state.db, &actor, &facts, now).await?,
    ))
}

/// Books a slot. Refusals: `slot_taken` (someone booked it first), `slot_unavailable`
/// (withdrawn, past, outside the window or unknown), `booking_limit_reached`, and
/// `validation_failed` on `reason` (`reason_not_allowed`, `required`, `too_long`) by the
/// practice's rule.
#[utoipa::path(post, path = "/api/v1/patients/{patient_id}/appointments", tag = "appointments",
    params(("patient_id" = Uuid, Path, description = "The patient")),
    request_body = BookingRequest,
    responses((status = 201, body = Appointment), (status = 401, body = super::error::Problem),
              (status = 403, description = "`forbidden` or `feature_disabled`", body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`slot_taken`, `slot_unavailable` or `booking_limit_reached`", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn book(
    State(state): State<AppState>,
    session: AccountSession,
    Path(patient_id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<BookingRequest>,
) -> Result<(StatusCode, Json<Appointment>), AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    let call = call.as_deref();
    let appointment = appointments::book(&state.db, &actor, &facts, &body, now, call).await?;
    Ok((StatusCode::CREATED, Json(appointment)))
}

/// Cancels an appointment with a reason from the practice's list, freeing the slot.
/// Refusals: `too_late_to_cancel` within the practice's cut-off before the start,
/// `appointment_not_booked`, and `validation_failed` on `reason`
/// (`required`, `unknown_cancellation_reason`).
#[utoipa::path(delete, path = "/api/v1/patients/{patient_id}/appointments/{appointment_id}",
    tag = "appointments",
    params(("patient_id" = Uuid, Path, description = "The patient"),
           ("appointment_id" = Uuid, Path, description = "The appointment")),
    request_body = CancellationRequest,
    responses((status = 200, body = Appointment), (status = 401, body = super::error::Problem),
              (status = 403, description = "`forbidden` or `feature_disabled`", body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`too_late_to_cancel` or `appointment_not_booked`", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn cancel(
    State(state): State<AppState>,
    session: AccountSession,
    Path((patient_id, appointment_id)): Path<(Uuid, Uuid)>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<CancellationRequest>,
) -> Result<Json<Appointment>, AppError> {
    let (actor, facts) = super::auth::actor_for(&state, &session, patient_id).await?;
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        appointments::cancel_by_patient(
            &state.db,
            &actor,
            &facts,
            appointment_id,
            &body,
            now,
            call,
        )
        .await?,
    ))
}

/// Publishes slots for the staff member's practice, all or nothing (422 naming every bad
/// field, e.g. `slots[2].ends_at`). Clinicians and admins.
#[utoipa::path(post, path = "/api/v1/practice/slots", tag = "appointments",
    request_body = PublishSlots,
    responses((status = 201, body = PublishedSlots), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn publish_slots(
    State(state): State<AppState>,
    session: StaffSession,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<PublishSlots>,
) -> Result<(StatusCode, Json<PublishedSlots>), AppError> {
    let actor = PracticeActor::staff(session.staff_id, session.practice_id);
    let now = state.clock.now();
    let call = call.as_deref();
    let published = appointments::publish_slots(&state.db, &actor, &body, now, call).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// Withdraws a slot of the practice. A booked appointment on it is cancelled by the practice
/// and its patient notified. Clinicians and admins.
#[utoipa::path(post, path = "/api/v1/practice/slots/{slot_id}/cancel", tag = "appointments",
    params(("slot_id" = Uuid, Path, description = "The slot")),
    request_body = SlotCancellation,
    responses((status = 200, body = SlotWithdrawn), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn withdraw_slot(
    State(state): State<AppState>,
    session: StaffSession,
    Path(slot_id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<SlotCancellation>,
) -> Result<Json<SlotWithdrawn>, AppError> {
    let actor = PracticeActor::staff(session.staff_id, session.practice_id);
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        appointments::cancel_slot_by_practice(&state.db, &actor, slot_id, &body, now, call).await?,
    ))
}

/// Moves a booked appointment to another open slot of the practice, atomically, and notifies
/// the patient. Refusals: `slot_taken`, `slot_unavailable`, `appointment_not_booked`.
/// Clinicians and admins.
#[utoipa::path(post, path = "/api/v1/practice/appointments/{appointment_id}/move",
    tag = "appointments",
    params(("appointment_id" = Uuid, Path, description = "The appointment")),
    request_body = MoveRequest,
    responses((status = 200, body = Appointment), (status = 401, body = super::error::Problem),
              (status = 403, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 409, description = "`slot_taken`, `slot_unavailable` or `appointment_not_booked`", body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn move_appointment(
    State(state): State<AppState>,
    session: StaffSession,
    Path(appointment_id): Path<Uuid>,
    call: Option<Extension<IdempotentCall>>,
    ApiJson(body): ApiJson<MoveRequest>,
) -> Result<Json<Appointment>, AppError> {
    let actor = PracticeActor::staff(session.staff_id, session.practice_id);
    let now = state.clock.now();
    let call = call.as_deref();
    Ok(Json(
        appointments::move_appointment_by_practice(
            &state.db,
            &actor,
            appointment_id,
            &body,
            now,
            call,
        )
        .await?,
    ))
}

/// The clinical system publishes slots for its practice, idempotently by `external_id`
/// (required): a slot sent again is updated in place, or left alone when unchanged; when a
/// booked slot changes, its patient is notified.
#[utoipa::path(post, path = "/api/v1/integration/slots", tag = "appointments",
    request_body = PublishSlots,
    responses((status = 200, body = PublishedSlots), (status = 401, body = super::error::Problem),
              (status = 409, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn integration_publish_slots(
    State(state): State<AppState>,
    IntegrationSession(client): IntegrationSession,
    ApiJson(body): ApiJson<PublishSlots>,
) -> Result<Json<PublishedSlots>, AppError> {
    let actor = PracticeActor::integration(client.key_id, client.practice_id);
    let now = state.clock.now();
    Ok(Json(
        appointments::publish_slots(&state.db, &actor, &body, now, None).await?,
    ))
}
