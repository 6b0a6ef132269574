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
