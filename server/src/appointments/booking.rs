//! Booking and cancelling by the patient or a proxy: the practice's booking rules, the slot won
//! by the unique index inside the booking transaction, cancellation reasons and cut-offs, and
//! the appointment list.

use super::*;
use crate::idempotent::{self, IdempotentCall};

/// A booking.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingRequest {
    /// The slot to book.
    pub slot_id: Uuid,
    /// Why, when the practice asks for it (see `booking_reason` in the slot search).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Applies the practice's reason rule and limit; blank means none.
pub(super) fn booking_reason(
    settings: &PracticeSettings,
    reason: Option<&str>,
) -> Result<Option<String>, Invalid> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match (settings.booking_reason, reason) {
        (BookingReasonRule::NotAllowed, Some(_)) => Err(Invalid::new(
            "reason_not_allowed",
            "the practice does not take a booking reason",
        )),
        (BookingReasonRule::Mandatory, None) => Err(Invalid::new(
            "required",
            "the practice asks for a booking reason",
        )),
        (_, Some(reason))
            if reason.chars().count() > settings.booking_reason_max_chars as usize =>
        {
            Err(Invalid::new(
                "too_long",
                format!("at most {} characters", settings.booking_reason_max_chars),
            ))
        }
        (_, reason) => Ok(reason.map(str::to_owned)),
    }
}

/// Whether a slot can be booked by this practice's patients at `now`.
pub(super) fn bookable(
    slot: &slots::Model,
    practice_id: Uuid,
    window_ends_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    slot.practice_id == practice_id
        && slot.status == SlotStatus::Open
        && slot.starts_at > now
        && slot.starts_at < window_ends_at
}

pub(super) fn slot_unavailable() -> AppError {
    AppError::new(ErrorCode::SlotUnavailable)
}

pub(super) fn slot_taken() -> AppError {
    AppError::new(ErrorCode::SlotTaken)
}

/// Booked appointments of the patient that start after `now`.
pub(super) async fn future_booked(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let future_slots = Query::select()
        .column(slots::Column::Id)
        .from(slots::Entity)
        .and_where(Expr::col(slots::Column::StartsAt).gt(now))
        .to_owned();
    appointments::Entity::find()
        .filter(appointments::Column::PatientId.eq(patient_id))
        .filter(appointments::Column::Status.eq(AppointmentStatus::Booked))
        .filter(appointments::Column::SlotId.in_subquery(future_slots))
        .count(db)
        .await
}

/// Maps the unique violation of `appointments.active_slot_id` to `slot_taken`.
pub(super) fn taken_or(error: DbErr) -> AppError {
    match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => slot_taken(),
        _ => error.into(),
    }
}

/// Books a slot for the patient. The slot must be open, of the patient's practice, in the
/// future and within the window (`slot_unavailable`); the reason must follow the practice's
/// rule (`validation_failed`); the patient may hold at most `max_future_appointments`
/// (`booking_limit_reached`); whoever inserts first wins the slot and the others get
/// `slot_taken` — decided by the unique index, not by a read.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn book(
    db: &impl crate::db::Writer,
    actor: &Actor,
    facts: &PatientFacts,
    request: &BookingRequest,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<Appointment, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Appointments, now.date_naive())?;
    let settings = facts.settings();
    let mut validator = Validator::new();
    let reason = validator
        .check(
            "reason",
            booking_reason(&settings, request.reason.as_deref()),
        )
        .flatten();
    validator.finish()?;
    let patient_id = facts.patient.id;

    let txn = crate::db::begin_write(db).await?;
    // PostgreSQL: one booking at a time per patient, so the limit holds under concurrency.
    patients::Entity::find_by_id(patient_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    // PostgreSQL: a withdrawal of this slot waits for the booking, and a booking after a
    // withdrawal sees it.
    let slot = slots::Entity::find_by_id(request.slot_id)
        .lock_shared()
        .one(&txn)
        .await?
        .filter(|slot| {
            bookable(
                slot,
                facts.patient.practice_id,
                window_end(&settings, now),
                now,
            )
        })
        .ok_or_else(slot_unavailable)?;
    let held = future_booked(&txn, patient_id, now).await?;
    if held >= u64::from(settings.max_future_appointments) {
        return Err(
            AppError::new(ErrorCode::BookingLimitReached).with_detail(format!(
                "at most {} future appointments can be booked online",
                settings.max_future_appointments
            )),
        );
    }
    let appointment = appointments::ActiveModel {
        id: Set(Uuid::new_v4()),
        slot_id: Set(slot.id),
        practice_id: Set(facts.patient.practice_id),
        patient_id: Set(patient_id),
        active_slot_id: Set(Some(slot.id)),
        status: Set(AppointmentStatus::Booked),
        reason: Set(reason),
        booked_by_account_id: Set(actor.account_id()),
        booked_by_proxy: Set(actor.is_proxy()),
        cancellation_reason: Set(None),
        booked_at: Set(now),
        cancelled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(taken_or)?;
    actor
        .audit("appointment.book", facts)
        .target("appointment", appointment.id)
        .detail(serde_json::json!({
            "slot_id": slot.id,
            "with_reason": appointment.reason.is_some(),
            "by_proxy": actor.is_proxy(),
        }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        facts.patient.practice_id,
        patient_id,
        SECTION,
        "appointment.book",
        now,
    )
    .await?;
    let booked = Appointment::new(appointment, slot, true);
    idempotent::store(call, &txn, 201, &booked).await?;
    txn.commit().await?;
    Ok(booked)
}

/// A cancellation by the patient or a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancellationRequest {
    /// One of the practice's cancellation reasons (listed with the appointments).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Cancels a booked appointment of the patient, with a reason from the practice's list, up to
/// `cancellation_cutoff_hours` before it starts (`too_late_to_cancel` after). The slot is freed.
/// Cancelling an appointment the patient already cancelled answers it unchanged; one that is
/// otherwise not booked is `appointment_not_booked`; another patient's is not found.
/// With `call` (a call made with an `Idempotency-Key`), the response is stored with the write.
pub async fn cancel_by_patient(
    db: &impl crate::db::Writer,
    actor: &Actor,
    facts: &PatientFacts,
    appointment_id: Uuid,
    request: &CancellationRequest,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<Appointment, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Appointments, now.date_naive())?;
    let settings = facts.settings();
    let mut validator = Validator::new();
    let reason = validator.check(
        "reason",
        match request.reason.as_deref().map(str::trim) {
            None | Some("") => Err(Invalid::new("required", "pick a cancellation reason")),
            Some(reason) => settings
                .cancellation_reasons
                .iter()
                .find(|known| known.as_str() == reason)
                .cloned()
                .ok_or_else(|| {
                    Invalid::new(
                        "unknown_cancellation_reason",
                        "pick one of the practice's cancellation reasons",
                    )
                }),
        },
    );
    validator.finish()?;
    let reason = reason.ok_or_else(|| AppError::new(ErrorCode::ValidationFailed))?;

    let txn = crate::db::begin_write(db).await?;
    let appointment = appointments::Entity::find_by_id(appointment_id)
        .filter(appointments::Column::PatientId.eq(facts.patient.id))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let slot = slots::Entity::find_by_id(appointment.slot_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::internal("an appointment's slot is missing"))?;
    let show_reason = sees_reason(actor, &appointment);
    match appointment.status {
        AppointmentStatus::Booked => {}
        AppointmentStatus::CancelledByPatient => {
            txn.rollback().await?;
            return Ok(Appointment::new(appointment, slot, show_reason));
        }
        _ => return Err(AppError::new(ErrorCode::AppointmentNotBooked)),
    }
    let cutoff = slot.starts_at - Duration::hours(i64::from(settings.cancellation_cutoff_hours));
    if now >= cutoff {
        return Err(
            AppError::new(ErrorCode::TooLateToCancel).with_detail(format!(
                "appointments can be cancelled online up to {} hours before they start; \
             please contact the practice",
                settings.cancellation_cutoff_hours
            )),
        );
    }
    let mut active = appointment.into_active_model();
    active.status = Set(AppointmentStatus::CancelledByPatient);
    active.active_slot_id = Set(None);
    active.cancellation_reason = Set(Some(reason));
    active.cancelled_at = Set(Some(now));
    active.updated_at = Set(now);
    let appointment = active.update(&txn).await?;
    actor
        .audit("appointment.cancel", facts)
        .target("appointment", appointment.id)
        .detail(serde_json::json!({ "slot_id": slot.id, "by_proxy": actor.is_proxy() }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        facts.patient.practice_id,
        facts.patient.id,
        SECTION,
        "appointment.cancel",
        now,
    )
    .await?;
    let cancelled = Appointment::new(appointment, slot, show_reason);
    idempotent::store(call, &txn, 200, &cancelled).await?;
    txn.commit().await?;
    Ok(cancelled)
}

/// The patient's appointments: upcoming, and the past year's.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AppointmentList {
    /// Appointments starting from now on, soonest first (cancelled ones included, marked so).
    pub upcoming: Vec<Appointment>,
    /// Appointments of the past year, most recent first.
    pub past: Vec<Appointment>,
    /// Past appointments are shown from this instant (one year ago).
    pub past_shown_from: DateTime<Utc>,
    /// The reasons to pick from when cancelling.
    pub cancellation_reasons: Vec<String>,
    /// Appointments starting within this many hours cannot be cancelled online.
    pub cancellation_cutoff_hours: u32,
}

/// The earliest start of a past appointment still listed at `now`: a year back.
pub fn past_shown_from(now: DateTime<Utc>) -> DateTime<Utc> {
    now.checked_sub_months(Months::new(12))
        .unwrap_or(now - Duration::days(365))
}

/// The first instant at which an appointment whose slot starts at `starts_at` is no longer
/// listed ([`past_shown_from`] has passed it), so synced lists drop it on time.
pub fn leaves_the_list_at(starts_at: DateTime<Utc>) -> DateTime<Utc> {
    let after = starts_at
        .checked_add_months(Months::new(12))
        .unwrap_or(starts_at + Duration::days(366))
        + Duration::seconds(1);
    if past_shown_from(after) > starts_at {
        return after;
    }
    // A year after 29 February is 28 February: the next midnight is past it.
    (after.date_naive() + Duration::days(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
}

/// The patient's upcoming appointments and those of the past year, each with its slot.
pub async fn list_appointments(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facts: &PatientFacts,
    now: DateTime<Utc>,
) -> Result<AppointmentList, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Appointments, now.date_naive())?;
    let settings = facts.settings();
    let past_shown_from = past_shown_from(now);
    let recent_slots = Query::select()
        .column(slots::Column::Id)
        .from(slots::Entity)
        .and_where(Expr::col(slots::Column::StartsAt).gte(past_shown_from))
        .to_owned();
    let found = appointments::Entity::find()
        .filter(appointments::Column::PatientId.eq(facts.patient.id))
        .filter(appointments::Column::SlotId.in_subquery(recent_slots))
        .all(db)
        .await?;
    let slot_ids: Vec<Uuid> = found.iter().map(|a| a.slot_id).collect();
    let slots: HashMap<Uuid, slots::Model> = slots::Entity::find()
        .filter(slots::Column::Id.is_in(slot_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let mut upcoming = Vec::new();
    let mut past = Vec::new();
    for appointment in found {
        let Some(slot) = slots.get(&appointment.slot_id).cloned() else {
            continue;
        };
        let show_reason = sees_reason(actor, &appointment);
        let item = Appointment::new(appointment, slot, show_reason);
        if item.slot.starts_at >= now {
            upcoming.push(item);
        } else {
            past.push(item);
        }
    }
    upcoming.sort_by_key(|a| (a.slot.starts_at, a.id));
    past.sort_by_key(|a| (std::cmp::Reverse(a.slot.starts_at), a.id));
    Ok(AppointmentList {
        upcoming,
        past,
        past_shown_from,
        cancellation_reasons: settings.cancellation_reasons,
        cancellation_cutoff_hours: settings.cancellation_cutoff_hours,
    })
}
