//! The practice's own controls of online record access (ADR 0002): a patient's historic access
//! (`historic`), the record-access codes (`codes`), hiding a coded entry, result or letter from
//! everyone or from proxies only (`hiding`), and patients' requests for their historic record
//! (`requests`). Each change is one transaction with its audit event and the projection outbox
//! rows that carry it to every device at once; what it does to visibility is decided by
//! [`crate::access::rules`] alone.

use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::patients::{self, AccessLevel};
use crate::db::entities::staff::StaffRole;
use crate::error::{AppError, ErrorCode};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

pub mod codes;
pub mod hiding;
pub mod historic;
pub mod requests;

/// The staff member deciding.
#[derive(Debug, Clone, Copy)]
pub struct Decider {
    /// The staff member.
    pub staff_id: Uuid,
    /// Their practice.
    pub practice_id: Uuid,
    /// Their role.
    pub role: StaffRole,
}

impl Decider {
    /// An audit event of this staff member about a patient.
    fn event(&self, action: &'static str, patient_id: Uuid) -> AuditEvent {
        AuditEvent::new(action, ActorKind::Staff, Outcome::Success)
            .actor(self.staff_id)
            .practice(self.practice_id)
            .acting_for(patient_id)
    }

    /// Refuses unless a clinician: hiding is a clinical judgement.
    fn require_clinician(&self) -> Result<(), AppError> {
        if self.role == StaffRole::Clinician {
            Ok(())
        } else {
            Err(AppError::new(ErrorCode::Forbidden)
                .with_detail("only a clinician can hide or unhide part of a record"))
        }
    }
}

/// The wire name of an access level.
pub fn level_name(level: AccessLevel) -> &'static str {
    match level {
        AccessLevel::None => "none",
        AccessLevel::Summary => "summary",
        AccessLevel::Detailed => "detailed",
        AccessLevel::Documents => "documents",
    }
}

/// Parses a level's wire name.
pub fn parse_level(name: &str) -> Option<AccessLevel> {
    [
        AccessLevel::None,
        AccessLevel::Summary,
        AccessLevel::Detailed,
        AccessLevel::Documents,
    ]
    .into_iter()
    .find(|level| level_name(*level) == name.trim())
}

/// The practice's own patient, or 404 (another practice's patient is not found).
async fn practice_patient(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    patient_id: Uuid,
) -> Result<patients::Model, AppError> {
    patients::Entity::find_by_id(patient_id)
        .filter(patients::Column::PracticeId.eq(practice_id))
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)
}
