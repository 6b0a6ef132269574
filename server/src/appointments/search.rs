//! Searching slots: the filters a patient or proxy may use, validated together, and the open,
//! unbooked future slots within the practice's booking window.

use super::*;

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
pub(super) fn parse_instant(text: &str, end_of_day: bool) -> Result<DateTime<Utc>, Invalid> {
    let text = text.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.to_utc());
    }
    let date = crate::validate::parse_date(text).map_err(|_| {
        Invalid::new(
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

pub(super) fn blank_to_none(value: Option<&str>) -> Option<&str> {
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
                Err(Invalid::new("invalid_range", "`to` must be after `from`")),
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
pub(super) fn window_end(settings: &PracticeSettings, now: DateTime<Utc>) -> DateTime<Utc> {
    now + Duration::weeks(i64::from(settings.slot_window_weeks.clamp(1, 52)))
}

/// Slots ids that are booked now.
pub(super) fn booked_slot_ids() -> SelectStatement {
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
