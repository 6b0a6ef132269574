//! The practice's side: publishing and withdrawing slots (staff and the clinical system) and
//! moving or cancelling a patient's appointment, each notifying the patient.

use super::*;
use crate::idempotent::{self, IdempotentCall};

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
pub(super) struct SlotDetails {
    pub(super) external_id: Option<String>,
    pub(super) starts_at: DateTime<Utc>,
    pub(super) ends_at: DateTime<Utc>,
    pub(super) clinician_name: String,
    pub(super) clinician_staff_id: Option<Uuid>,
    pub(super) slot_type: String,
    pub(super) session_name: String,
    pub(super) location: String,
    pub(super) channel: Channel,
}

impl SlotDetails {
    pub(super) fn same_as(&self, slot: &slots::Model) -> bool {
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

pub(super) fn text(value: &str, required: bool) -> Result<String, Invalid> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(Invalid::new("required", "a value is required"));
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(Invalid::new(
            "too_long",
            format!("at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(value.to_owned())
}

pub(super) fn timestamp(value: &str) -> Result<DateTime<Utc>, Invalid> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.to_utc().trunc_subsecs(0))
        .map_err(|_| Invalid::new("invalid_date_time", "expected an RFC 3339 date and time"))
}

/// Validates a publication, naming every bad field by its path (`slots[2].ends_at`).
pub(super) fn validate_publication(
    publication: &PublishSlots,
    external_id_required: bool,
    now: DateTime<Utc>,
) -> Result<Vec<SlotDetails>, AppError> {
    let mut validator = Validator::new();
    if publication.slots.is_empty() || publication.slots.len() > MAX_SLOTS_PER_PUBLISH {
        validator.check::<()>(
            "slots",
            Err(Invalid::new(
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
                        Err(Invalid::new(
                            "too_long",
                            format!("at most {MAX_EXTERNAL_ID_CHARS} characters"),
                        )),
                    );
                } else if !seen.insert(id.to_owned()) {
                    validator.check::<()>(
                        field("external_id"),
                        Err(Invalid::new(
                            "duplicate",
                            "the same external id is sent twice",
                        )),
                    );
                }
                Some(id.to_owned())
            }
            _ if external_id_required => {
                validator.check::<()>(
                    field("external_id"),
                    Err(Invalid::new(
                        "required",
                        "the clinical system's id is required",
                    )),
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
                Err(Invalid::new(
                    "not_in_future",
                    "a slot must start in the future",
                )),
            );
        }
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                validator.check::<()>(
                    field("ends_at"),
                    Err(Invalid::new(
                        "not_after_start",
                        "a slot must end after it starts",
                    )),
                );
            } else if end - start > Duration::minutes(MAX_SLOT_MINUTES) {
                validator.check::<()>(
                    field("ends_at"),
                    Err(Invalid::new("too_long", "a slot lasts at most 12 hours")),
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
///
/// With `call` (made with an `Idempotency-Key` on the staff route), the response is stored with
/// the write as that route's 201. The clinical system's route passes `None`: its slots are
/// idempotent by external id, and it answers 200.
pub async fn publish_slots(
    db: &DatabaseConnection,
    actor: &PracticeActor,
    publication: &PublishSlots,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<PublishedSlots, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let done = publish_slots_in(&txn, actor, publication, now).await?;
    idempotent::store(call, &txn, 201, &done).await?;
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
                Err(Invalid::new(
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
pub(super) async fn booked_on(
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
pub(super) async fn notify_booked_slot_changed(
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
        appointment.practice_id,
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
pub(super) fn hears_of_appointments(
    viewer: &Viewer,
    facts: &PatientFacts,
    today: NaiveDate,
) -> bool {
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
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn cancel_slot_by_practice(
    db: &DatabaseConnection,
    actor: &PracticeActor,
    slot_id: Uuid,
    request: &SlotCancellation,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
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
            appointment.practice_id,
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
    let withdrawn = SlotWithdrawn {
        slot: slot.into(),
        cancelled_appointment_id: cancelled.map(|a| a.id),
    };
    idempotent::store(call, &txn, 200, &withdrawn).await?;
    txn.commit().await?;
    Ok(withdrawn)
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
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn move_appointment_by_practice(
    db: &DatabaseConnection,
    actor: &PracticeActor,
    appointment_id: Uuid,
    request: &MoveRequest,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
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
    let (practice_id, patient_id) = (appointment.practice_id, appointment.patient_id);
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
    outbox::mark_dirty(
        &txn,
        practice_id,
        patient_id,
        SECTION,
        "appointment.move",
        now,
    )
    .await?;
    outbox::notify(
        &txn,
        patient_id,
        CHANGED_NOTIFICATION,
        now,
        hears_of_appointments,
    )
    .await?;
    let moved = Appointment::new(appointment, slot, true);
    idempotent::store(call, &txn, 200, &moved).await?;
    txn.commit().await?;
    Ok(moved)
}
