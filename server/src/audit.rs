//! The audit trail: one append-only row per action on patient data or on identity, written in
//! the same transaction as the action it records. Details hold codes and ids only, never
//! clinical text, tokens or keys.

use crate::db::entities::audit_events::{self, ActorKind, Outcome};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::NotSet, ConnectionTrait, DbErr, Set};
use uuid::Uuid;

/// One audited action, built up and then [recorded](AuditEvent::record).
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// What happened, as a dotted code such as `registration.finish`.
    pub action: &'static str,
    /// How it ended.
    pub outcome: Outcome,
    /// Who did it.
    pub actor_kind: ActorKind,
    /// The account, staff member or key that did it.
    pub actor_id: Option<Uuid>,
    /// The practice it happened at.
    pub practice_id: Option<Uuid>,
    /// The patient whose data was touched, when acting for one.
    pub acting_for_patient_id: Option<Uuid>,
    /// The kind of thing acted on (`result`, `session`, …).
    pub target_kind: Option<&'static str>,
    /// Its id.
    pub target_id: Option<String>,
    /// The device used.
    pub device_id: Option<Uuid>,
    /// The request that did it, to match log lines.
    pub request_id: Option<String>,
    /// Further codes and ids.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event for `action` by `actor_kind`, with nothing else set yet.
    pub fn new(action: &'static str, actor_kind: ActorKind, outcome: Outcome) -> Self {
        Self {
            action,
            outcome,
            actor_kind,
            actor_id: None,
            practice_id: None,
            acting_for_patient_id: None,
            target_kind: None,
            target_id: None,
            device_id: None,
            request_id: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the actor's id.
    pub fn actor(mut self, id: Uuid) -> Self {
        self.actor_id = Some(id);
        self
    }

    /// Sets the practice.
    pub fn practice(mut self, id: Uuid) -> Self {
        self.practice_id = Some(id);
        self
    }

    /// Sets the patient acted for.
    pub fn acting_for(mut self, patient_id: Uuid) -> Self {
        self.acting_for_patient_id = Some(patient_id);
        self
    }

    /// Sets what was acted on.
    pub fn target(mut self, kind: &'static str, id: impl ToString) -> Self {
        self.target_kind = Some(kind);
        self.target_id = Some(id.to_string());
        self
    }

    /// Sets the device.
    pub fn device(mut self, id: Uuid) -> Self {
        self.device_id = Some(id);
        self
    }

    /// Sets codes and ids that explain the outcome.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// Appends the event, on `db` (pass the action's transaction so both commit together).
    pub async fn record(self, db: &impl ConnectionTrait, at: DateTime<Utc>) -> Result<(), DbErr> {
        audit_events::ActiveModel {
            id: NotSet,
            occurred_at: Set(at),
            actor_kind: Set(self.actor_kind),
            actor_id: Set(self.actor_id),
            practice_id: Set(self.practice_id),
            acting_for_patient_id: Set(self.acting_for_patient_id),
            action: Set(self.action.to_owned()),
            outcome: Set(self.outcome),
            target_kind: Set(self.target_kind.map(str::to_owned)),
            target_id: Set(self.target_id),
            device_id: Set(self.device_id),
            request_id: Set(self.request_id),
            detail: Set(self.detail),
        }
        .insert(db)
        .await?;
        Ok(())
    }
}

/// Most events one page of the trail holds.
pub const MAX_TRAIL_PAGE: u64 = 500;

/// What to look for in a practice's trail; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct TrailFilter {
    /// Actions starting with this, e.g. `proxy.` or `result.release`.
    pub action: Option<String>,
    /// Who acted: a kind of actor.
    pub actor_kind: Option<ActorKind>,
    /// Who acted: one account, staff member or key.
    pub actor_id: Option<Uuid>,
    /// For or about this patient.
    pub patient_id: Option<Uuid>,
    /// At or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Events older than this id (the `next_before` of the previous page).
    pub before: Option<i64>,
}

/// One event of the trail as staff read it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TrailEvent {
    /// Ordered as written.
    pub id: i64,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// `patient`, `proxy`, `staff`, `integration`, `system` or `anonymous`.
    #[schema(value_type = String)]
    pub actor_kind: ActorKind,
    /// The account, staff member or key.
    pub actor_id: Option<Uuid>,
    /// The patient acted for.
    pub patient_id: Option<Uuid>,
    /// The dotted action code.
    pub action: String,
    /// `success`, `failure` or `denied`.
    #[schema(value_type = String)]
    pub outcome: Outcome,
    /// The kind of thing acted on.
    pub target_kind: Option<String>,
    /// Its id.
    pub target_id: Option<String>,
    /// The device used.
    pub device_id: Option<Uuid>,
    /// Codes and ids.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// One page of a practice's trail.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TrailPage {
    /// Newest first.
    pub events: Vec<TrailEvent>,
    /// Pass as `before` for the next (older) page; absent on the last.
    pub next_before: Option<i64>,
}

/// The trail of `practice_id` — events at the practice or for one of its patients — matching
/// `filter`, newest first, `limit` at a time.
pub async fn trail(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    filter: &TrailFilter,
    limit: u64,
) -> Result<TrailPage, DbErr> {
    use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let patients_of_practice = crate::record::review::patients_of(practice_id);
    let mut query = audit_events::Entity::find().filter(
        Condition::any()
            .add(audit_events::Column::PracticeId.eq(practice_id))
            .add(audit_events::Column::ActingForPatientId.in_subquery(patients_of_practice)),
    );
    if let Some(action) = &filter.action {
        let prefix = action.replace(['%', '_', '\\'], "");
        query = query.filter(audit_events::Column::Action.starts_with(prefix));
    }
    if let Some(kind) = filter.actor_kind {
        query = query.filter(audit_events::Column::ActorKind.eq(kind));
    }
    if let Some(actor) = filter.actor_id {
        query = query.filter(audit_events::Column::ActorId.eq(actor));
    }
    if let Some(patient) = filter.patient_id {
        query = query.filter(audit_events::Column::ActingForPatientId.eq(patient));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::Column::OccurredAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::Column::OccurredAt.lt(to));
    }
    if let Some(before) = filter.before {
        query = query.filter(audit_events::Column::Id.lt(before));
    }
    let mut rows = query
        .order_by_desc(audit_events::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_before = rows.last().filter(|_| more).map(|row| row.id);
    let events = rows
        .into_iter()
        .map(|row| TrailEvent {
            id: row.id,
            occurred_at: row.occurred_at,
            actor_kind: row.actor_kind,
            actor_id: row.actor_id,
            patient_id: row.acting_for_patient_id,
            action: row.action,
            outcome: row.outcome,
            target_kind: row.target_kind,
            target_id: row.target_id,
            device_id: row.device_id,
            detail: row.detail,
        })
        .collect();
    Ok(TrailPage {
        events,
        next_before,
    })
}
