//! Appointments: the practice's slots, and patients (or proxies) booking and cancelling them
//! (docs/domain.md "Appointments").
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
use crate::access::{self, Actor, PracticeActor, Scope, Viewer};
use crate::db::entities::appointments::{self, AppointmentStatus};
use crate::db::entities::audit_events::ActorKind;
use crate::db::entities::slots::{self, Channel, SlotStatus};
use crate::db::entities::{patients, staff};
use crate::error::{AppError, ErrorCode};
use crate::outbox;
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
use sync_protocol::Section;
use utoipa::ToSchema;
use uuid::Uuid;

mod search;
pub use search::*;
mod booking;
pub use booking::*;
mod practice;
pub use practice::*;

/// The projection section appointments are synced in.
pub const SECTION: Section = Section::Appointments;
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
            _ => Err(Invalid::new(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appointment_leaves_the_list_a_year_on() {
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.to_utc())
                .unwrap_or_default()
        };
        for starts in ["2026-03-10T09:30:00Z", "2028-02-29T10:00:00Z"] {
            let starts = at(starts);
            let leaves = leaves_the_list_at(starts);
            assert!(past_shown_from(leaves) > starts, "gone at {leaves}");
            let before = leaves - Duration::seconds(1);
            assert!(past_shown_from(before) <= starts, "listed until {before}");
        }
    }

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
