//! Who acts on a patient service (appointments, repeat prescriptions, messages), shared by the
//! REST routes and the offline sync path so each service takes one actor type.
//!
//! - [`Actor`]: a patient or a proxy acting through the app, as [`super::viewer::for_account`]
//!   resolved them, with the device in use. It knows what every service asks of it: the
//!   account acting, whether it is a proxy, the actor kind recorded in the audit trail, and the
//!   audit event of a change made for a patient.
//! - [`StaffActor`]: a member of practice staff working a service's queue, with the audit event
//!   of a change they make for a patient.
//!
//! Rules that belong to one service (whose booking reason a proxy sees, who a message's sender
//! is) stay in that service as functions of these types.

use super::rules::{PatientFacts, Viewer};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::staff::StaffRole;
use crate::error::{AppError, ErrorCode};
use uuid::Uuid;

/// A patient or proxy acting through the app, over REST or in a sync frame.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Who they are for this patient: the patient themself, or a proxy under a valid grant.
    pub viewer: Viewer,
    /// The device used, for the audit trail (none when the sync projector reads for them).
    pub device_id: Option<Uuid>,
}

impl Actor {
    /// The account acting: the patient's own, or the proxy's.
    pub fn account_id(&self) -> Option<Uuid> {
        match &self.viewer {
            Viewer::Patient { account_id } | Viewer::Proxy { account_id, .. } => Some(*account_id),
            Viewer::Staff { .. } => None,
        }
    }

    /// Whether a proxy acts, rather than the patient themself.
    pub fn is_proxy(&self) -> bool {
        matches!(self.viewer, Viewer::Proxy { .. })
    }

    /// The kind of actor the audit trail records.
    pub fn kind(&self) -> ActorKind {
        match self.viewer {
            Viewer::Patient { .. } => ActorKind::Patient,
            Viewer::Proxy { .. } => ActorKind::Proxy,
            Viewer::Staff { .. } => ActorKind::Staff,
        }
    }

    /// A successful `action` for the patient of `facts`, by this account from this device.
    pub fn audit(&self, action: &'static str, facts: &PatientFacts) -> AuditEvent {
        let mut event = AuditEvent::new(action, self.kind(), Outcome::Success)
            .practice(facts.patient.practice_id)
            .acting_for(facts.patient.id);
        if let Some(account_id) = self.account_id() {
            event = event.actor(account_id);
        }
        if let Some(device_id) = self.device_id {
            event = event.device(device_id);
        }
        event
    }
}

/// A member of practice staff working a service (the prescription queue, messages).
#[derive(Debug, Clone, Copy)]
pub struct StaffActor {
    /// The staff member.
    pub staff_id: Uuid,
    /// Their practice: the only one whose patients' requests and threads they can see or touch.
    pub practice_id: Uuid,
    /// Their role; each service says what a role may do.
    pub role: StaffRole,
}

impl StaffActor {
    /// Refuses (403) unless this member of staff is a clinician; `action` says what only a
    /// clinician may do ("release, withhold or retract"), for the refusal's detail.
    pub fn require_clinician(&self, action: &str) -> Result<(), AppError> {
        if self.role == StaffRole::Clinician {
            Ok(())
        } else {
            Err(AppError::new(ErrorCode::Forbidden)
                .with_detail(format!("only a clinician can {action}")))
        }
    }

    /// A successful `action` by this staff member for the patient `patient_id`.
    pub fn audit(&self, action: &'static str, patient_id: Uuid) -> AuditEvent {
        AuditEvent::new(action, ActorKind::Staff, Outcome::Success)
            .actor(self.staff_id)
            .practice(self.practice_id)
            .acting_for(patient_id)
    }
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

    /// A successful `action` by this actor, in its practice.
    pub fn event(&self, action: &'static str) -> AuditEvent {
        AuditEvent::new(action, self.kind, Outcome::Success)
            .actor(self.id)
            .practice(self.practice_id)
    }
}
