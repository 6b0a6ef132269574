//! Appointments: the practice's slots, and patients (or proxies) booking and cancelling them
//! (DOMAIN.md "Appointments").
//!
//! The functions here take a database handle, the actor, the patient's facts (from
//! [`crate::access::slice::facts`]), a validated input and `now`, and return typed outcomes.
//! They know nothing of HTTP, so the REST routes today and the offline sync intents later share
//! them.
//!
//! Rules, each with its stable code:
//! - Slots are offered from now to `slot_window_weeks` ahead (8 by default, up to 16). A slot
//!   that is unknown, of another practice, withdrawn, past or outside the window is
//!   `slot_unavailable` — the same answer for all of them, so nothing is revealed.
//! - The practice's booking reason rule (`NotAllowed`, `Optional`, `Mandatory`) and its
//!   character limit are `validation_failed` on the field `reason` (codes `reason_not_allowed`,
//!   `required`, `too_long`).
//! - `max_future_appointments` booked future appointments → `booking_limit_reached`.
//! - Two bookings racing for one slot: the unique index on `appointments.active_slot_id`
//!   decides inside the transaction; the loser gets `slot_taken`.
//! - Cancelling needs a reason from the practice's list (`validation_failed`, code
//!   `unknown_cancellation_reason`) and is refused within `cancellation_cutoff_hours` of the
//!   start (`too_late_to_cancel`). Cancelling frees the slot (`active_slot_id = NULL`).
//! - The practice switched appointments off → `feature_disabled`; a proxy whose grant lacks the
//!   appointments scope → `forbidden`.
//!
//! Every state change is one transaction with its audit event (codes and ids only, never a
//! reason's text) and the projection outbox row for the patient's appointments section; changes
//! made by the practice also queue a content-free `appointment_changed` notification. On SQLite
//! the transaction takes the write lock at `BEGIN`; on PostgreSQL the rows read before a write
//! are locked (`FOR UPDATE`, or `FOR SHARE` for a slot being booked).

use crate::access::rules::{self, PatientFacts};
use crate::access::{self, Actor, Scope, Viewer};
use crate::audit::AuditEvent;
use crate::db::entities::appointments::{self, AppointmentStatus};
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::slots::{self, Channel, SlotStatus};
use crate::db::entities::{patients, staff};
use crate::error::{AppError, ErrorCode};
use crate::record::outbox;
use crate::settings::{BookingReasonRule, PracticeSettings};
use crate::validate::{Invalid, Validator};
use chrono::{DateTime, Duration, Months, NaiveDate, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    SqlErr,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// The projection section appointments are synced in.
pub const SECTION: &str = "appointments";
/// The notification queued when the practice cancels or moves an appointment.
pub const CHANGED_NOTIFICATION: &str = "appointment_changed";
/// Most slots in one publication.
pub const MAX_SLOTS_PER_PUBLISH: usize = 500;
/// Longest slot text field (clinician, type, session, location) and practice reason.
pub const MAX_TEXT_CHARS: usize = 200;
/// Longest slot, in minutes.
pub const MAX_SLOT_MINUTES: i64 = 12 * 60;
/// Longest external id of a slot.
pub const MAX_EXTERNAL_ID_CHARS: usize = 100;

/// How an appointment takes place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlotChannel {
    /// Face to face at the practice.
    InPerson,
    /// By telephone.
    Telephone,
    /// By video call.
    Video,
}

impl SlotChannel {
    fn parse(text: &str) -> Result<Self, Invalid> {
        match text.trim() {
            "in_person" => Ok(Self::InPerson),
            "telephone" => Ok(Self::Telephone),
            "video" => Ok(Self::Video),
            _ => Err(invalid(
                "invalid_channel",
                "expected in_person, telephone or video",
            )),
        }
    }
}

impl From<Channel> for SlotChannel {
    fn from(channel: Channel) -> Self {
        match channel {
            Channel::InPerson => Self::InPerson,
            Channel::Telephone => Self::Telephone,
            Channel::Video => Self::Video,
        }
    }
}

impl From<SlotChannel> for Channel {
    fn from(channel: SlotChannel) -> Self {
        match channel {
            SlotChannel::InPerson => Self::InPerson,
            SlotChannel::Telephone => Self::Telephone,
            SlotChannel::Video => Self::Video,
        }
    }
}

/// Where an appointment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentState {
    /// Booked.
    Booked,
    /// Cancelled by the patient or a proxy.
    CancelledByPatient,
    /// Cancelled by the practice.
    CancelledByPractice,
    /// The patient attended.
    Attended,
    /// The patient did not attend.
    DidNotAttend,
}

impl From<AppointmentStatus> for AppointmentState {
    fn from(status: AppointmentStatus) -> Self {
        match status {
            AppointmentStatus::Booked => Self::Booked,
            AppointmentStatus::CancelledByPatient => Self::CancelledByPatient,
            AppointmentStatus::CancelledByPractice => Self::CancelledByPractice,
            AppointmentStatus::Attended => Self::Attended,
            AppointmentStatus::DidNotAttend => Self::DidNotAttend,
        }
    }
}

/// A slot as patients see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Slot {
    /// Id, used to book it.
    pub id: Uuid,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// The clinician(s), as the practice names them.
    pub clinician_name: String,
    /// The clinician's staff id, when the practice gave it.
    pub clinician_staff_id: Option<Uuid>,
    /// E.g. "GP appointment", "Nurse – blood test".
    pub slot_type: String,
    /// The session it belongs to, e.g. "Monday morning surgery".
    pub session_name: String,
    /// Where it takes place.
    pub location: String,
    /// In person, telephone or video.
    pub channel: SlotChannel,
}

impl From<slots::Model> for Slot {
    fn from(slot: slots::Model) -> Self {
        Self {
            id: slot.id,
            starts_at: slot.starts_at,
            ends_at: slot.ends_at,
            clinician_name: slot.clinician_name,
            clinician_staff_id: slot.clinician_staff_id,
            slot_type: slot.slot_type,
            session_name: slot.session_name,
            location: slot.location,
            channel: slot.channel.into(),
        }
    }
}

/// A booked (or once booked) appointment with its slot.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Appointment {
    /// Id.
    pub id: Uuid,
    /// The patient.
    pub patient_id: Uuid,
    /// Where it is in its life.
    pub status: AppointmentState,
    /// The booking reason. Shown to the patient, to the proxy who booked it and to staff; not
    /// to other proxies.
    pub reason: Option<String>,
    /// When it was booked.
    pub booked_at: DateTime<Utc>,
    /// Whether a proxy booked it on the patient's behalf.
    pub booked_by_proxy: bool,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why it was cancelled (a reason from the practice's list, or the practice's own).
    pub cancellation_reason: Option<String>,
    /// The slot: start, end, clinician, type, channel, location.
    pub slot: Slot,
}

impl Appointment {
    fn new(appointment: appointments::Model, slot: slots::Model, show_reason: bool) -> Self {
        Self {
            id: appointment.id,
            patient_id: appointment.patient_id,
            status: appointment.status.into(),
            reason: appointment.reason.filter(|_| show_reason),
            booked_at: appointment.booked_at,
            booked_by_proxy: appointment.booked_by_proxy,
            cancelled_at: appointment.cancelled_at,
            cancellation_reason: appointment.cancellation_reason,
            slot: slot.into(),
        }
    }
}

/// Whether `actor` may see the reason given for `appointment`: the patient always, a proxy only
/// for the bookings they made.
fn sees_reason(actor: &Actor, appointment: &appointments::Model) -> bool {
    rules::sees_written_text(&actor.viewer, appointment.booked_by_account_id)
}

/// Who acts for the practice: a member of staff or the clinical system's integration key.
#[derive(Debug, Clone, Copy)]
pub struct PracticeActor {
    /// `Staff` or `Integration`.
    pub kind: ActorKind,
    /// The staff member or the integration key.
    pub id: Uuid,
    /// The practice: the only one whose slots and appointments they can touch.
    pub practice_id: Uuid,
}

impl PracticeActor {
    /// A member of staff (clinician or admin).
    pub fn staff(staff_id: Uuid, practice_id: Uuid) -> Self {
        Self {
            kind: ActorKind::Staff,
            id: staff_id,
            practice_id,
        }
    }

    /// The clinical system, by its key.
    pub fn integration(key_id: Uuid, practice_id: Uuid) -> Self {
        Self {
            kind: ActorKind::Integration,
            id: key_id,
            practice_id,
        }
    }

    fn event(&self, action: &'static str) -> AuditEvent {
        AuditEvent::new(action, self.kind, Outcome::Success)
            .actor(self.id)
            .practice(self.practice_id)
    }
}

fn invalid(code: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        code,
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Searching slots
// ---------------------------------------------------------------------------------------------

/// Filters of a slot search, validated. Every filter is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlotSearch {
    /// Slots starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Slots starting before this instant.
    pub to: Option<DateTime<Utc>>,
    /// A clinician's staff id, or part of their name (any case).
    pub clinician: Option<String>,
    /// The slot type, exactly (any case).
    pub slot_type: Option<String>,
    /// The channel.
    pub channel: Option<SlotChannel>,
}

/// An instant (RFC 3339) or a date (`YYYY-MM-DD`: the start of that day, UTC; a `to` date
/// includes the whole day).
fn parse_instant(text: &str, end_of_day: bool) -> Result<DateTime<Utc>, Invalid> {
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.to_utc());
    }
    let date = crate::validate::parse_date(text).map_err(|_| {
        invalid(
            "invalid_date_time",
            "expected a date (YYYY-MM-DD) or an RFC 3339 date and time",
        )
    })?;
    let date = if end_of_day {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    Ok(date.and_time(chrono::NaiveTime::MIN).and_utc())
}

fn blank_to_none(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl SlotSearch {
    /// Validates the query parameters; every bad one is listed in one `validation_failed`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        clinician: Option<&str>,
        slot_type: Option<&str>,
        channel: Option<&str>,
    ) -> Result<Self, AppError> {
        let mut validator = Validator::new();
        let from =
            blank_to_none(from).and_then(|t| validator.check("from", parse_instant(t, false)));
        let to = blank_to_none(to).and_then(|t| validator.check("to", parse_instant(t, true)));
        let channel =
            blank_to_none(channel).and_then(|t| validator.check("channel", SlotChannel::parse(t)));
        if let (Some(from), Some(to)) = (from, to)
            && to <= from
        {
            validator.check::<()>(
                "to",
                Err(invalid("invalid_range", "`to` must be after `from`")),
            );
        }
        validator.finish()?;
        Ok(Self {
            from,
            to,
            clinician: blank_to_none(clinician).map(str::to_owned),
            slot_type: blank_to_none(slot_type).map(str::to_owned),
            channel,
        })
    }
}

/// Open slots and the practice's booking rules, as the booking screen needs them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SlotSearchResult {
    /// Open, unbooked slots in the window matching the filters, by start time.
    pub slots: Vec<Slot>,
    /// The window searched: from now ...
    pub window_starts_at: DateTime<Utc>,
    /// ... to `slot_window_weeks` ahead.
    pub window_ends_at: DateTime<Utc>,
    /// The practice's guidance, shown before booking.
    pub booking_guidance: String,
    /// Whether a booking reason is refused, optional or required.
    pub booking_reason: BookingReasonRule,
    /// The longest reason accepted, in characters.
    pub booking_reason_max_chars: u32,
}

/// The end of the booking window for a practice at `now`.
fn window_end(settings: &PracticeSettings, now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::weeks(i64::from(settings.slot_window_weeks.clamp(1, 52)))
}

/// Slots ids that are booked now.
fn booked_slot_ids() -> SelectStatement {
    Query::select()
        .column(appointments::Column::ActiveSlotId)
        .from(appointments::Entity)
        .and_where(Expr::col(appointments::Column::ActiveSlotId).is_not_null())
        .to_owned()
}

/// Open, unbooked, future slots of the patient's practice within its booking window.
pub async fn search_slots(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facts: &PatientFacts,
    search: &SlotSearch,
    now: DateTime<Utc>,
) -> Result<SlotSearchResult, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Appointments, now.date_naive())?;
    let settings = facts.settings();
    let window_ends_at = window_end(&settings, now);
    let from = search.from.map_or(now, |from| Ord::max(from, now));
    let to = search
        .to
        .map_or(window_ends_at, |to| Ord::min(to, window_ends_at));
    let mut query = slots::Entity::find()
        .filter(slots::Column::PracticeId.eq(facts.patient.practice_id))
        .filter(slots::Column::Status.eq(SlotStatus::Open))
        .filter(slots::Column::StartsAt.gt(now))
        .filter(slots::Column::StartsAt.gte(from))
        .filter(slots::Column::StartsAt.lt(to))
        .filter(slots::Column::Id.not_in_subquery(booked_slot_ids()));
    if let Some(channel) = search.channel {
        query = query.filter(slots::Column::Channel.eq(Channel::from(channel)));
    }
    let clinician_id = search
        .clinician
        .as_deref()
        .and_then(|c| Uuid::parse_str(c).ok());
    if let Some(id) = clinician_id {
        query = query.filter(slots::Column::ClinicianStaffId.eq(id));
    }
    let found = if from < to {
        query
            .order_by_asc(slots::Column::StartsAt)
            .order_by_asc(slots::Column::Id)
            .all(db)
            .await?
    } else {
        Vec::new()
    };
    let name = search
        .clinician
        .as_deref()
        .filter(|_| clinician_id.is_none())
        .map(str::to_lowercase);
    let slot_type = search.slot_type.as_deref().map(str::to_lowercase);
    let slots = found
        .into_iter()
        .filter(|s| {
            name.as_deref()
                .is_none_or(|n| s.clinician_name.to_lowercase().contains(n))
        })
        .filter(|s| {
            slot_type
                .as_deref()
                .is_none_or(|t| s.slot_type.to_lowercase() == t)
        })
        .map(Slot::from)
        .collect();
    Ok(SlotSearchResult {
        slots,
        window_starts_at: now,
        window_ends_at,
        booking_guidance: settings.booking_guidance,
        booking_reason: settings.booking_reason,
        booking_reason_max_chars: settings.booking_reason_max_chars,
    })
}

// ---------------------------------------------------------------------------------------------
// Booking and cancelling
// ---------------------------------------------------------------------------------------------

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
fn booking_reason(
    settings: &PracticeSettings,
    reason: Option<&str>,
) -> Result<Option<String>, Invalid> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match (settings.booking_reason, reason) {
        (BookingReasonRule::NotAllowed, Some(_)) => Err(invalid(
            "reason_not_allowed",
            "the practice does not take a booking reason",
        )),
        (BookingReasonRule::Mandatory, None) => Err(invalid(
            "required",
            "the practice asks for a booking reason",
        )),
        (_, Some(reason))
            if reason.chars().count() > settings.booking_reason_max_chars as usize =>
        {
            Err(invalid(
                "too_long",
                format!("at most {} characters", settings.booking_reason_max_chars),
            ))
        }
        (_, reason) => Ok(reason.map(str::to_owned)),
    }
}

/// Whether a slot can be booked by this practice's patients at `now`.
fn bookable(
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

fn slot_unavailable() -> AppError {
    AppError::new(ErrorCode::SlotUnavailable)
}

fn slot_taken() -> AppError {
    AppError::new(ErrorCode::SlotTaken)
}

/// Booked appointments of the patient that start after `now`.
async fn future_booked(
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
fn taken_or(error: DbErr) -> AppError {
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
pub async fn book(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    request: &BookingRequest,
    now: DateTime<Utc>,
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
    outbox::mark_dirty(&txn, patient_id, SECTION, "appointment.book", now).await?;
    txn.commit().await?;
    Ok(Appointment::new(appointment, slot, true))
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
pub async fn cancel_by_patient(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    appointment_id: Uuid,
    request: &CancellationRequest,
    now: DateTime<Utc>,
) -> Result<Appointment, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Appointments, now.date_naive())?;
    let settings = facts.settings();
    let mut validator = Validator::new();
    let reason = validator.check(
        "reason",
        match request.reason.as_deref().map(str::trim) {
            None | Some("") => Err(invalid("required", "pick a cancellation reason")),
            Some(reason) => settings
                .cancellation_reasons
                .iter()
                .find(|known| known.as_str() == reason)
                .cloned()
                .ok_or_else(|| {
                    invalid(
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
    outbox::mark_dirty(&txn, facts.patient.id, SECTION, "appointment.cancel", now).await?;
    txn.commit().await?;
    Ok(Appointment::new(appointment, slot, show_reason))
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

/// The patient's upcoming appointments and those of the past year, each with its slot.
pub async fn list_appointments(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facts: &PatientFacts,
    now: DateTime<Utc>,
) -> Result<AppointmentList, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Appointments, now.date_naive())?;
    let settings = facts.settings();
    let past_shown_from = now
        .checked_sub_months(Months::new(12))
        .unwrap_or(now - Duration::days(365));
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

// ---------------------------------------------------------------------------------------------
// The practice's side
// ---------------------------------------------------------------------------------------------

/// A slot to publish. Times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSlot {
    /// The clinical system's id: publishing the same id again updates the slot in place.
    /// Required on the integration API.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Start, in the future.
    pub starts_at: String,
    /// End, after the start and at most 12 hours later.
    pub ends_at: String,
    /// The clinician(s), as shown to patients.
    pub clinician_name: String,
    /// The clinician's staff id at this practice, if any.
    #[serde(default)]
    pub clinician_staff_id: Option<Uuid>,
    /// The slot type, e.g. "GP appointment".
    pub slot_type: String,
    /// The session, e.g. "Monday morning surgery".
    #[serde(default)]
    pub session_name: Option<String>,
    /// Where it takes place.
    pub location: String,
    /// `in_person`, `telephone` or `video`.
    pub channel: String,
}

/// A list of slots to publish, all or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishSlots {
    /// 1 to 500 slots.
    pub slots: Vec<NewSlot>,
}

/// What publishing did to one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublishOutcome {
    /// A new slot.
    Created,
    /// An existing slot (same external id) whose details changed.
    Updated,
    /// An existing slot sent again unchanged.
    Unchanged,
}

/// One published slot.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PublishedSlot {
    /// The slot.
    pub slot: Slot,
    /// The clinical system's id, if given.
    pub external_id: Option<String>,
    /// What happened.
    pub outcome: PublishOutcome,
}

/// The answer to a publication, in the order sent.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PublishedSlots {
    /// Each slot sent.
    pub slots: Vec<PublishedSlot>,
}

/// A slot's validated details.
#[derive(Debug, Clone, PartialEq)]
struct SlotDetails {
    external_id: Option<String>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    clinician_name: String,
    clinician_staff_id: Option<Uuid>,
    slot_type: String,
    session_name: String,
    location: String,
    channel: Channel,
}

impl SlotDetails {
    fn same_as(&self, slot: &slots::Model) -> bool {
        self.starts_at == slot.starts_at
            && self.ends_at == slot.ends_at
            && self.clinician_name == slot.clinician_name
            && self.clinician_staff_id == slot.clinician_staff_id
            && self.slot_type == slot.slot_type
            && self.session_name == slot.session_name
            && self.location == slot.location
            && self.channel == slot.channel
    }
}

fn text(value: &str, required: bool) -> Result<String, Invalid> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(invalid("required", "a value is required"));
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(invalid(
            "too_long",
            format!("at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(value.to_owned())
}

fn timestamp(value: &str) -> Result<DateTime<Utc>, Invalid> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.to_utc().trunc_subsecs(0))
        .map_err(|_| invalid("invalid_date_time", "expected an RFC 3339 date and time"))
}

/// Validates a publication, naming every bad field by its path (`slots[2].ends_at`).
fn validate_publication(
    publication: &PublishSlots,
    external_id_required: bool,
    now: DateTime<Utc>,
) -> Result<Vec<SlotDetails>, AppError> {
    let mut validator = Validator::new();
    if publication.slots.is_empty() || publication.slots.len() > MAX_SLOTS_PER_PUBLISH {
        validator.check::<()>(
            "slots",
            Err(invalid(
                "invalid_length",
                format!("publish 1 to {MAX_SLOTS_PER_PUBLISH} slots at a time"),
            )),
        );
    }
    let mut seen = HashSet::new();
    let mut valid = Vec::new();
    for (i, slot) in publication.slots.iter().enumerate() {
        let field = |name: &str| format!("slots[{i}].{name}");
        let external_id = match slot.external_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => {
                if id.chars().count() > MAX_EXTERNAL_ID_CHARS {
                    validator.check::<()>(
                        field("external_id"),
                        Err(invalid(
                            "too_long",
                            format!("at most {MAX_EXTERNAL_ID_CHARS} characters"),
                        )),
                    );
                } else if !seen.insert(id.to_owned()) {
                    validator.check::<()>(
                        field("external_id"),
                        Err(invalid("duplicate", "the same external id is sent twice")),
                    );
                }
                Some(id.to_owned())
            }
            _ if external_id_required => {
                validator.check::<()>(
                    field("external_id"),
                    Err(invalid("required", "the clinical system's id is required")),
                );
                None
            }
            _ => None,
        };
        let starts_at = validator.check(field("starts_at"), timestamp(&slot.starts_at));
        let ends_at = validator.check(field("ends_at"), timestamp(&slot.ends_at));
        if let Some(start) = starts_at
            && start <= now
        {
            validator.check::<()>(
                field("starts_at"),
                Err(invalid("not_in_future", "a slot must start in the future")),
            );
        }
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                validator.check::<()>(
                    field("ends_at"),
                    Err(invalid(
                        "not_after_start",
                        "a slot must end after it starts",
                    )),
                );
            } else if end - start > Duration::minutes(MAX_SLOT_MINUTES) {
                validator.check::<()>(
                    field("ends_at"),
                    Err(invalid("too_long", "a slot lasts at most 12 hours")),
                );
            }
        }
        let clinician_name =
            validator.check(field("clinician_name"), text(&slot.clinician_name, true));
        let slot_type = validator.check(field("slot_type"), text(&slot.slot_type, true));
        let session_name = validator.check(
            field("session_name"),
            text(slot.session_name.as_deref().unwrap_or_default(), false),
        );
        let location = validator.check(field("location"), text(&slot.location, true));
        let channel = validator.check(field("channel"), SlotChannel::parse(&slot.channel));
        if let (
            Some(starts_at),
            Some(ends_at),
            Some(clinician_name),
            Some(slot_type),
            Some(session_name),
            Some(location),
            Some(channel),
        ) = (
            starts_at,
            ends_at,
            clinician_name,
            slot_type,
            session_name,
            location,
            channel,
        ) {
            valid.push(SlotDetails {
                external_id,
                starts_at,
                ends_at,
                clinician_name,
                clinician_staff_id: slot.clinician_staff_id,
                slot_type,
                session_name,
                location,
                channel: channel.into(),
            });
        }
    }
    validator.finish()?;
    Ok(valid)
}

/// Publishes slots for the actor's practice, all or nothing. A slot whose external id the
/// practice already has is updated in place (or left alone when unchanged), so the clinical
/// system can send the same slots again; when a booked slot changes, its patient is notified.
pub async fn publish_slots(
    db: &DatabaseConnection,
    actor: &PracticeActor,
    publication: &PublishSlots,
    now: DateTime<Utc>,
) -> Result<PublishedSlots, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let done = publish_slots_in(&txn, actor, publication, now).await?;
    txn.commit().await?;
    Ok(done)
}

/// [`publish_slots`] on the caller's transaction, so several imports can commit as one.
pub async fn publish_slots_in(
    txn: &DatabaseTransaction,
    actor: &PracticeActor,
    publication: &PublishSlots,
    now: DateTime<Utc>,
) -> Result<PublishedSlots, AppError> {
    let details = validate_publication(publication, actor.kind == ActorKind::Integration, now)?;
    // Named clinicians must be active staff of this practice.
    let named: Vec<Uuid> = details
        .iter()
        .filter_map(|d| d.clinician_staff_id)
        .collect();
    let known: HashSet<Uuid> = staff::Entity::find()
        .filter(staff::Column::PracticeId.eq(actor.practice_id))
        .filter(staff::Column::Active.eq(true))
        .filter(staff::Column::Id.is_in(named))
        .all(txn)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let mut validator = Validator::new();
    for (i, detail) in details.iter().enumerate() {
        if let Some(id) = detail.clinician_staff_id
            && !known.contains(&id)
        {
            validator.check::<()>(
                format!("slots[{i}].clinician_staff_id"),
                Err(invalid(
                    "unknown_staff",
                    "no active staff member of the practice has this id",
                )),
            );
        }
    }
    validator.finish()?;
    let external_ids: Vec<String> = details
        .iter()
        .filter_map(|d| d.external_id.clone())
        .collect();
    let existing: HashMap<String, slots::Model> = slots::Entity::find()
        .filter(slots::Column::PracticeId.eq(actor.practice_id))
        .filter(slots::Column::ExternalId.is_in(external_ids))
        .lock_exclusive()
        .all(txn)
        .await?
        .into_iter()
        .filter_map(|s| s.external_id.clone().map(|id| (id, s)))
        .collect();
    let mut published = Vec::new();
    let (mut created, mut updated) = (0u32, 0u32);
    for detail in details {
        let current = detail.external_id.as_ref().and_then(|id| existing.get(id));
        let (slot, outcome) = match current {
            Some(slot) if detail.same_as(slot) => (slot.clone(), PublishOutcome::Unchanged),
            Some(slot) => {
                let mut active = slot.clone().into_active_model();
                active.starts_at = Set(detail.starts_at);
                active.ends_at = Set(detail.ends_at);
                active.clinician_name = Set(detail.clinician_name.clone());
                active.clinician_staff_id = Set(detail.clinician_staff_id);
                active.slot_type = Set(detail.slot_type.clone());
                active.session_name = Set(detail.session_name.clone());
                active.location = Set(detail.location.clone());
                active.channel = Set(detail.channel);
                active.updated_at = Set(now);
                let slot = active.update(txn).await?;
                notify_booked_slot_changed(txn, actor, &slot, now).await?;
                updated += 1;
                (slot, PublishOutcome::Updated)
            }
            None => {
                let slot = slots::ActiveModel {
                    id: Set(Uuid::new_v4()),
                    practice_id: Set(actor.practice_id),
                    external_id: Set(detail.external_id.clone()),
                    clinician_staff_id: Set(detail.clinician_staff_id),
                    clinician_name: Set(detail.clinician_name.clone()),
                    slot_type: Set(detail.slot_type.clone()),
                    session_name: Set(detail.session_name.clone()),
                    location: Set(detail.location.clone()),
                    channel: Set(detail.channel),
                    starts_at: Set(detail.starts_at),
                    ends_at: Set(detail.ends_at),
                    status: Set(SlotStatus::Open),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(txn)
                .await?;
                created += 1;
                (slot, PublishOutcome::Created)
            }
        };
        published.push(PublishedSlot {
            external_id: slot.external_id.clone(),
            slot: slot.into(),
            outcome,
        });
    }
    if created + updated > 0 {
        actor
            .event("slot.publish")
            .detail(serde_json::json!({ "created": created, "updated": updated }))
            .record(txn, now)
            .await?;
    }
    Ok(PublishedSlots { slots: published })
}

/// The booked appointment of a slot, if any, locked.
async fn booked_on(
    txn: &DatabaseTransaction,
    slot_id: Uuid,
) -> Result<Option<appointments::Model>, DbErr> {
    appointments::Entity::find()
        .filter(appointments::Column::ActiveSlotId.eq(slot_id))
        .lock_exclusive()
        .one(txn)
        .await
}

/// After a booked slot's details changed: audit, sync and notify its patient.
async fn notify_booked_slot_changed(
    txn: &DatabaseTransaction,
    actor: &PracticeActor,
    slot: &slots::Model,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let Some(appointment) = booked_on(txn, slot.id).await? else {
        return Ok(());
    };
    actor
        .event("appointment.slot_change")
        .acting_for(appointment.patient_id)
        .target("appointment", appointment.id)
        .detail(serde_json::json!({ "slot_id": slot.id }))
        .record(txn, now)
        .await?;
    outbox::mark_dirty(
        txn,
        appointment.patient_id,
        SECTION,
        "appointment.slot_change",
        now,
    )
    .await?;
    outbox::notify(
        txn,
        appointment.patient_id,
        CHANGED_NOTIFICATION,
        now,
        hears_of_appointments,
    )
    .await
}

/// Who hears that the practice changed an appointment: the patient, and proxies with the
/// appointments scope (they see every appointment, if not every booking reason).
fn hears_of_appointments(viewer: &Viewer, facts: &PatientFacts, today: NaiveDate) -> bool {
    rules::holds_scope(viewer, facts, Scope::Appointments, today)
}

/// The practice's reason for withdrawing a slot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotCancellation {
    /// Why, e.g. "Clinician unavailable"; required, at most 200 characters. Shown to the patient
    /// whose appointment it cancels.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A withdrawn slot.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SlotWithdrawn {
    /// The slot.
    pub slot: Slot,
    /// The appointment it cancelled, if it was booked.
    pub cancelled_appointment_id: Option<Uuid>,
}

/// Withdraws a slot of the actor's practice. A booked appointment on it becomes
/// `cancelled_by_practice` (its slot freed) and the patient is notified. Withdrawing a
/// withdrawn slot answers it unchanged; another practice's slot is not found.
pub async fn cancel_slot_by_practice(
    db: &DatabaseConnection,
    actor: &PracticeActor,
    slot_id: Uuid,
    request: &SlotCancellation,
    now: DateTime<Utc>,
) -> Result<SlotWithdrawn, AppError> {
    let mut validator = Validator::new();
    let reason = validator.check(
        "reason",
        text(request.reason.as_deref().unwrap_or_default(), true),
    );
    validator.finish()?;
    let reason = reason.ok_or_else(|| AppError::new(ErrorCode::ValidationFailed))?;
    let txn = crate::db::begin_write(db).await?;
    let slot = slots::Entity::find_by_id(slot_id)
        .filter(slots::Column::PracticeId.eq(actor.practice_id))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    if slot.status == SlotStatus::Withdrawn {
        txn.rollback().await?;
        return Ok(SlotWithdrawn {
            slot: slot.into(),
            cancelled_appointment_id: None,
        });
    }
    let mut active = slot.into_active_model();
    active.status = Set(SlotStatus::Withdrawn);
    active.updated_at = Set(now);
    let slot = active.update(&txn).await?;
    let cancelled = booked_on(&txn, slot.id).await?;
    if let Some(appointment) = &cancelled {
        let mut active = appointment.clone().into_active_model();
        active.status = Set(AppointmentStatus::CancelledByPractice);
        active.active_slot_id = Set(None);
        active.cancellation_reason = Set(Some(reason));
        active.cancelled_at = Set(Some(now));
        active.updated_at = Set(now);
        active.update(&txn).await?;
        actor
            .event("appointment.cancel_by_practice")
            .acting_for(appointment.patient_id)
            .target("appointment", appointment.id)
            .detail(serde_json::json!({ "slot_id": slot.id }))
            .record(&txn, now)
            .await?;
        outbox::mark_dirty(
            &txn,
            appointment.patient_id,
            SECTION,
            "appointment.cancel_by_practice",
            now,
        )
        .await?;
        outbox::notify(
            &txn,
            appointment.patient_id,
            CHANGED_NOTIFICATION,
            now,
            hears_of_appointments,
        )
        .await?;
    }
    actor
        .event("slot.withdraw")
        .target("slot", slot.id)
        .detail(serde_json::json!({ "was_booked": cancelled.is_some() }))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(SlotWithdrawn {
        slot: slot.into(),
        cancelled_appointment_id: cancelled.map(|a| a.id),
    })
}

/// Where the practice moves an appointment to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// An open, unbooked, future slot of the practice.
    pub slot_id: Uuid,
}

/// Moves a booked appointment of the actor's practice to another open future slot of the
/// practice, atomically: the old slot is freed and the new one taken in one transaction, or
/// nothing changes (`slot_taken`, `slot_unavailable`, `appointment_not_booked`). The patient is
/// notified. Moving an appointment to the slot it is on answers it unchanged.
pub async fn move_appointment_by_practice(
    db: &DatabaseConnection,
    actor: &PracticeActor,
    appointment_id: Uuid,
    request: &MoveRequest,
    now: DateTime<Utc>,
) -> Result<Appointment, AppError> {
    let practice_patients = Query::select()
        .column(patients::Column::Id)
        .from(patients::Entity)
        .and_where(Expr::col(patients::Column::PracticeId).eq(actor.practice_id))
        .to_owned();
    let txn = crate::db::begin_write(db).await?;
    let appointment = appointments::Entity::find_by_id(appointment_id)
        .filter(appointments::Column::PatientId.in_subquery(practice_patients))
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    if appointment.status != AppointmentStatus::Booked {
        return Err(AppError::new(ErrorCode::AppointmentNotBooked));
    }
    let from_slot = appointment.slot_id;
    if from_slot == request.slot_id {
        let slot = slots::Entity::find_by_id(from_slot)
            .one(&txn)
            .await?
            .ok_or_else(|| AppError::internal("an appointment's slot is missing"))?;
        txn.rollback().await?;
        return Ok(Appointment::new(appointment, slot, true));
    }
    let slot = slots::Entity::find_by_id(request.slot_id)
        .lock_shared()
        .one(&txn)
        .await?
        .filter(|slot| {
            slot.practice_id == actor.practice_id
                && slot.status == SlotStatus::Open
                && slot.starts_at > now
        })
        .ok_or_else(slot_unavailable)?;
    let patient_id = appointment.patient_id;
    let mut active = appointment.into_active_model();
    active.slot_id = Set(slot.id);
    active.active_slot_id = Set(Some(slot.id));
    active.updated_at = Set(now);
    let appointment = active.update(&txn).await.map_err(taken_or)?;
    actor
        .event("appointment.move")
        .acting_for(patient_id)
        .target("appointment", appointment.id)
        .detail(serde_json::json!({ "from_slot_id": from_slot, "to_slot_id": slot.id }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(&txn, patient_id, SECTION, "appointment.move", now).await?;
    outbox::notify(
        &txn,
        patient_id,
        CHANGED_NOTIFICATION,
        now,
        hears_of_appointments,
    )
    .await?;
    txn.commit().await?;
    Ok(Appointment::new(appointment, slot, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rule: BookingReasonRule, max: u32) -> PracticeSettings {
        PracticeSettings {
            booking_reason: rule,
            booking_reason_max_chars: max,
            ..PracticeSettings::default()
        }
    }

    fn code(outcome: Result<Option<String>, Invalid>) -> Result<Option<String>, &'static str> {
        outcome.map_err(|e| e.code)
    }

    #[test]
    fn booking_reason_follows_the_practice_rule_and_limit() {
        use BookingReasonRule::*;
        let some = |s: &str| Ok(Some(s.to_owned()));
        assert_eq!(
            code(booking_reason(&settings(NotAllowed, 10), Some("x"))),
            Err("reason_not_allowed")
        );
        assert_eq!(
            code(booking_reason(&settings(NotAllowed, 10), Some("  "))),
            Ok(None)
        );
        assert_eq!(
            code(booking_reason(&settings(Optional, 10), None)),
            Ok(None)
        );
        assert_eq!(
            code(booking_reason(&settings(Optional, 3), Some(" abc "))),
            some("abc")
        );
        assert_eq!(
            code(booking_reason(&settings(Optional, 3), Some("abcd"))),
            Err("too_long")
        );
        assert_eq!(
            code(booking_reason(&settings(Mandatory, 3), Some("éé"))),
            some("éé")
        );
        assert_eq!(
            code(booking_reason(&settings(Mandatory, 3), Some(" "))),
            Err("required")
        );
    }

    #[test]
    fn search_parameters_are_validated_together() {
        let error = SlotSearch::parse(Some("yesterday"), None, None, None, Some("fax"))
            .err()
            .map(|e| {
                e.invalid_params()
                    .iter()
                    .map(|f| f.name.clone())
                    .collect::<Vec<_>>()
            });
        assert_eq!(error, Some(vec!["from".to_owned(), "channel".to_owned()]));
        let search = SlotSearch::parse(
            Some("2026-12-01"),
            Some("2026-12-01"),
            Some(" "),
            None,
            Some("video"),
        )
        .ok()
        .unwrap_or_default();
        assert_eq!(search.channel, Some(SlotChannel::Video));
        assert_eq!(search.clinician, None);
        assert_eq!(
            search.to.zip(search.from).map(|(to, from)| to - from),
            Some(Duration::days(1))
        );
    }
}
