//! What is reviewed and how: item kinds, review states, the decisions a clinician takes and the
//! state machine that allows or refuses each, and `decide`, which applies one.

use super::*;
use crate::idempotent::{self, IdempotentCall};

/// What is reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A test result.
    Result,
    /// A letter or other document.
    Document,
}

impl ItemKind {
    /// The audit target kind and the prefix of its audit actions.
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::Result => "result",
            Self::Document => "document",
        }
    }

    /// The record section the projector rebuilds.
    pub(super) fn section(self) -> sync_protocol::Section {
        match self {
            Self::Result => sync_protocol::Section::Results,
            Self::Document => sync_protocol::Section::Documents,
        }
    }

    /// The notification kind sent on release.
    pub(super) fn released_notification(self) -> &'static str {
        match self {
            Self::Result => "result_released",
            Self::Document => "document_released",
        }
    }
}

/// Where an item is in review, as staff see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Waiting for a clinician; the patient does not see it.
    Pending,
    /// Released to the patient.
    Released,
    /// Withheld from the patient.
    Withheld,
    /// Released, then retracted: gone from the patient's view and devices.
    Retracted,
}

impl ReviewStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Released => "released",
            Self::Withheld => "withheld",
            Self::Retracted => "retracted",
        }
    }
}

/// Why an item is withheld from the patient (never shown to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WithholdReason {
    /// It contains information about someone else.
    ThirdParty,
    /// Showing it is likely to cause serious harm to the patient or someone else.
    SeriousHarm,
}

impl From<WithholdReason> for StoredWithholdReason {
    fn from(reason: WithholdReason) -> Self {
        match reason {
            WithholdReason::ThirdParty => Self::ThirdParty,
            WithholdReason::SeriousHarm => Self::SeriousHarm,
        }
    }
}

impl From<StoredWithholdReason> for WithholdReason {
    fn from(reason: StoredWithholdReason) -> Self {
        match reason {
            StoredWithholdReason::ThirdParty => Self::ThirdParty,
            StoredWithholdReason::SeriousHarm => Self::SeriousHarm,
        }
    }
}

impl WithholdReason {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::ThirdParty => "third_party",
            Self::SeriousHarm => "serious_harm",
        }
    }
}

/// A clinician's decision on one item, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Release to the patient, with an optional comment shown with the item.
    Release {
        /// "Normal – no action", etc.
        comment: Option<String>,
    },
    /// Keep it from the patient.
    Withhold {
        /// Why (recorded, never shown to the patient).
        reason: WithholdReason,
    },
    /// Take back a released item.
    Retract {
        /// Why (recorded for staff, never shown to the patient).
        reason: String,
    },
}

impl Decision {
    /// A release; the comment is trimmed, empty means none, at most [`MAX_COMMENT_CHARS`].
    pub fn release(comment: Option<String>) -> Result<Self, AppError> {
        let mut validator = Validator::new();
        let comment = validator
            .check("comment", optional_text(comment, MAX_COMMENT_CHARS))
            .flatten();
        validator.finish()?;
        Ok(Self::Release { comment })
    }

    /// A withholding; the reason is required.
    pub fn withhold(reason: Option<WithholdReason>) -> Result<Self, AppError> {
        let mut validator = Validator::new();
        let reason = validator.check("reason", reason.ok_or_else(required));
        validator.finish()?;
        reason
            .map(|reason| Self::Withhold { reason })
            .ok_or_else(|| AppError::new(ErrorCode::ValidationFailed))
    }

    /// A retraction; the reason is required, at most [`MAX_RETRACTION_REASON_CHARS`].
    pub fn retract(reason: Option<String>) -> Result<Self, AppError> {
        let mut validator = Validator::new();
        let reason = validator.check(
            "reason",
            optional_text(reason, MAX_RETRACTION_REASON_CHARS)
                .and_then(|reason| reason.ok_or_else(required)),
        );
        validator.finish()?;
        reason
            .map(|reason| Self::Retract { reason })
            .ok_or_else(|| AppError::new(ErrorCode::ValidationFailed))
    }

    pub(super) fn verb(&self) -> &'static str {
        match self {
            Self::Release { .. } => "release",
            Self::Withhold { .. } => "withhold",
            Self::Retract { .. } => "retract",
        }
    }

    pub(super) fn action(&self, kind: ItemKind) -> &'static str {
        match (kind, self) {
            (ItemKind::Result, Self::Release { .. }) => "result.release",
            (ItemKind::Result, Self::Withhold { .. }) => "result.withhold",
            (ItemKind::Result, Self::Retract { .. }) => "result.retract",
            (ItemKind::Document, Self::Release { .. }) => "document.release",
            (ItemKind::Document, Self::Withhold { .. }) => "document.withhold",
            (ItemKind::Document, Self::Retract { .. }) => "document.retract",
        }
    }
}

pub(super) fn required() -> Invalid {
    Invalid {
        code: "required",
        reason: "a value is required".to_owned(),
    }
}

/// Trimmed text of at most `max` characters; blank means none.
pub(super) fn optional_text(value: Option<String>, max: usize) -> Result<Option<String>, Invalid> {
    let Some(value) = value else {
        return Ok(None);
    };
    let trimmed = value.trim();
    if trimmed.chars().count() > max {
        return Err(Invalid {
            code: "too_long",
            reason: format!("at most {max} characters"),
        });
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// The review columns of a result or document.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewFields {
    /// The stored state.
    pub state: ReviewState,
    /// When the last review decision was made.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Who made it.
    pub reviewed_by_staff_id: Option<Uuid>,
    /// The clinician's comment shown with a released item.
    pub clinician_comment: Option<String>,
    /// Why it is withheld.
    pub withhold_reason: Option<StoredWithholdReason>,
    /// When it was released.
    pub released_at: Option<DateTime<Utc>>,
    /// When it was retracted.
    pub retracted_at: Option<DateTime<Utc>>,
    /// Why it was retracted.
    pub retraction_reason: Option<String>,
}

impl ReviewFields {
    /// The status staff see.
    pub fn status(&self) -> ReviewStatus {
        match (self.state, self.retracted_at) {
            (ReviewState::Pending, _) => ReviewStatus::Pending,
            (ReviewState::Withheld, _) => ReviewStatus::Withheld,
            (ReviewState::Released, None) => ReviewStatus::Released,
            (ReviewState::Released, Some(_)) => ReviewStatus::Retracted,
        }
    }
}

/// What a decision does to an item in a given state.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The item moves to these fields.
    Apply(ReviewFields),
    /// The item already carries this decision: nothing to write.
    Replay,
}

/// The state machine, without I/O: the new fields for `decision` on `current`, a replay, or
/// the stable refusal.
pub fn transition(
    current: &ReviewFields,
    decision: &Decision,
    staff_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Transition, AppError> {
    let status = current.status();
    match (decision, status) {
        (Decision::Release { comment }, ReviewStatus::Pending | ReviewStatus::Withheld) => {
            Ok(Transition::Apply(ReviewFields {
                state: ReviewState::Released,
                reviewed_at: Some(now),
                reviewed_by_staff_id: Some(staff_id),
                clinician_comment: comment.clone(),
                withhold_reason: None,
                released_at: Some(now),
                retracted_at: None,
                retraction_reason: None,
            }))
        }
        (Decision::Release { comment }, ReviewStatus::Released)
            if current.clinician_comment == *comment =>
        {
            Ok(Transition::Replay)
        }
        (Decision::Withhold { reason }, ReviewStatus::Pending) => {
            Ok(Transition::Apply(ReviewFields {
                state: ReviewState::Withheld,
                reviewed_at: Some(now),
                reviewed_by_staff_id: Some(staff_id),
                clinician_comment: None,
                withhold_reason: Some((*reason).into()),
                released_at: None,
                retracted_at: None,
                retraction_reason: None,
            }))
        }
        (Decision::Withhold { reason }, ReviewStatus::Withheld)
            if current.withhold_reason == Some((*reason).into()) =>
        {
            Ok(Transition::Replay)
        }
        (Decision::Retract { reason }, ReviewStatus::Released) => {
            Ok(Transition::Apply(ReviewFields {
                retracted_at: Some(now),
                retraction_reason: Some(reason.clone()),
                ..current.clone()
            }))
        }
        (Decision::Retract { reason }, ReviewStatus::Retracted)
            if current.retraction_reason.as_deref() == Some(reason.as_str()) =>
        {
            Ok(Transition::Replay)
        }
        (Decision::Retract { .. }, _) => {
            Err(AppError::new(ErrorCode::NotReleased).with_detail(format!(
                "the item is {}; only a released item can be retracted",
                status.as_str()
            )))
        }
        (Decision::Release { .. } | Decision::Withhold { .. }, _) => {
            Err(AppError::new(ErrorCode::NotPending).with_detail(format!(
                "the item is {}; it cannot be {}",
                status.as_str(),
                match decision {
                    Decision::Withhold { .. } => "withheld",
                    _ => "released",
                }
            )))
        }
    }
}

/// An item's review state, as answered to staff after a decision.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ItemReview {
    /// Result or document.
    pub kind: ItemKind,
    /// The item.
    pub id: Uuid,
    /// Its patient.
    pub patient_id: Uuid,
    /// Where it is in review.
    pub status: ReviewStatus,
    /// When the last decision was made.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The clinician who made it.
    pub reviewed_by_staff_id: Option<Uuid>,
    /// The comment shown to the patient with a released item.
    pub clinician_comment: Option<String>,
    /// Why it is withheld (staff only).
    pub withhold_reason: Option<WithholdReason>,
    /// When it was released.
    pub released_at: Option<DateTime<Utc>>,
    /// When it was retracted.
    pub retracted_at: Option<DateTime<Utc>>,
    /// Why it was retracted (staff only).
    pub retraction_reason: Option<String>,
}

impl ItemReview {
    pub(super) fn new(kind: ItemKind, id: Uuid, patient_id: Uuid, fields: ReviewFields) -> Self {
        Self {
            kind,
            id,
            patient_id,
            status: fields.status(),
            reviewed_at: fields.reviewed_at,
            reviewed_by_staff_id: fields.reviewed_by_staff_id,
            clinician_comment: fields.clinician_comment,
            withhold_reason: fields.withhold_reason.map(Into::into),
            released_at: fields.released_at,
            retracted_at: fields.retracted_at,
            retraction_reason: fields.retraction_reason,
        }
    }
}

/// What only a clinician may do with a result or letter: admins may view the queue, not decide.
pub const CLINICIAN_DECIDES: &str = "release, withhold or retract";

/// Applies a clinician's decision to a result or document of their practice, in one
/// transaction with its audit event and outbox rows. A replay answers the current state.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn decide(
    db: &DatabaseConnection,
    reviewer: &StaffActor,
    kind: ItemKind,
    id: Uuid,
    decision: &Decision,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<ItemReview, AppError> {
    reviewer.require_clinician(CLINICIAN_DECIDES)?;
    // SQLite: take the write lock at BEGIN, so the read below cannot go stale before the write.
    // PostgreSQL: the row is locked by `SELECT … FOR UPDATE`.
    let txn = crate::db::begin_write(db).await?;
    let (patient_id, current) = match kind {
        ItemKind::Result => load_locked::<results::Entity>(&txn, id, reviewer.practice_id).await?,
        ItemKind::Document => {
            load_locked::<documents::Entity>(&txn, id, reviewer.practice_id).await?
        }
    }
    .ok_or_else(AppError::not_found)?;
    let next = match transition(&current, decision, reviewer.staff_id, now)? {
        Transition::Replay => {
            txn.rollback().await?;
            return Ok(ItemReview::new(kind, id, patient_id, current));
        }
        Transition::Apply(next) => next,
    };
    match kind {
        ItemKind::Result => write::<results::Entity>(&txn, id, &next, now).await?,
        ItemKind::Document => write::<documents::Entity>(&txn, id, &next, now).await?,
    }
    let action = decision.action(kind);
    let mut detail = serde_json::json!({
        "decision": decision.verb(),
        "from": current.status().as_str(),
        "to": next.status().as_str(),
    });
    match decision {
        Decision::Release { comment } => detail["with_comment"] = comment.is_some().into(),
        Decision::Withhold { reason } => detail["reason"] = reason.as_str().into(),
        Decision::Retract { .. } => {}
    }
    AuditEvent::new(action, ActorKind::Staff, Outcome::Success)
        .actor(reviewer.staff_id)
        .practice(reviewer.practice_id)
        .acting_for(patient_id)
        .target(kind.code(), id)
        .detail(detail)
        .record(&txn, now)
        .await?;
    outbox::mark_items_dirty(
        &txn,
        reviewer.practice_id,
        patient_id,
        kind.section(),
        &std::collections::BTreeSet::from([id]),
        action,
        now,
    )
    .await?;
    if matches!(decision, Decision::Release { .. }) {
        notify_release(&txn, kind, id, patient_id, now).await?;
    }
    let review = ItemReview::new(kind, id, patient_id, next);
    idempotent::store(call, &txn, 200, &review).await?;
    txn.commit().await?;
    Ok(review)
}
