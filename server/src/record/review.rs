//! Review and release by clinicians: results and documents arrive pending and reach the patient
//! only when a clinician releases them.
//!
//! The state machine (the same for results and documents):
//!
//! ```text
//!            release                      retract
//! pending ──────────────► released ─────────────────► retracted (terminal)
//!    │                       ▲
//!    │ withhold              │ release (a later decision)
//!    ▼                       │
//! withheld ──────────────────┘
//! ```
//!
//! `retracted` is stored as `review_state = released` with `retracted_at` set. Repeating the
//! decision an item already carries (the same release comment, withhold reason or retraction
//! reason) is a replay: it answers with the current state and writes nothing, so retries are
//! safe. Any other move is refused with `not_pending` (release, withhold) or `not_released`
//! (retract).
//!
//! Every decision is one transaction holding the change, its audit event, the projection
//! outbox row (the section is dirty) and, for releases, the patient's notification. Items are
//! scoped to the reviewer's practice: another practice's item is not found.

use crate::access::Section;
use crate::access::rules;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::documents::{self, DocumentType};
use crate::db::entities::results::{
    self, AbnormalFlag, ReviewState, WithholdReason as StoredWithholdReason,
};
use crate::db::entities::{patients, staff::StaffRole};
use crate::error::{AppError, ErrorCode};
use crate::record::outbox;
use crate::validate::{Invalid, Validator};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Value,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// Longest clinician comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;
/// Longest retraction reason, in characters.
pub const MAX_RETRACTION_REASON_CHARS: usize = 1000;
/// Queue page size when none is asked for.
pub const DEFAULT_QUEUE_LIMIT: u64 = 50;
/// Largest queue page.
pub const MAX_QUEUE_LIMIT: u64 = 200;

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
    fn code(self) -> &'static str {
        match self {
            Self::Result => "result",
            Self::Document => "document",
        }
    }

    /// The record section the projector rebuilds.
    fn section(self) -> &'static str {
        match self {
            Self::Result => "results",
            Self::Document => "documents",
        }
    }

    /// The notification kind sent on release.
    fn released_notification(self) -> &'static str {
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
    fn as_str(self) -> &'static str {
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
    fn as_str(self) -> &'static str {
        match self {
            Self::ThirdParty => "third_party",
            Self::SeriousHarm => "serious_harm",
        }
    }
}

/// Who decides: a member of staff of one practice.
#[derive(Debug, Clone, Copy)]
pub struct Reviewer {
    /// The staff member.
    pub staff_id: Uuid,
    /// Their practice: the only one whose items they can see or decide.
    pub practice_id: Uuid,
    /// Their role: only clinicians decide.
    pub role: StaffRole,
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

    fn verb(&self) -> &'static str {
        match self {
            Self::Release { .. } => "release",
            Self::Withhold { .. } => "withhold",
            Self::Retract { .. } => "retract",
        }
    }

    fn action(&self, kind: ItemKind) -> &'static str {
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

fn required() -> Invalid {
    Invalid {
        code: "required",
        reason: "a value is required".to_owned(),
    }
}

/// Trimmed text of at most `max` characters; blank means none.
fn optional_text(value: Option<String>, max: usize) -> Result<Option<String>, Invalid> {
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
    fn new(kind: ItemKind, id: Uuid, patient_id: Uuid, fields: ReviewFields) -> Self {
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

/// Refuses (403) unless the reviewer is a clinician: admins may view the queue, not decide.
pub fn require_clinician(reviewer: &Reviewer) -> Result<(), AppError> {
    if reviewer.role == StaffRole::Clinician {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::Forbidden)
            .with_detail("only a clinician can release, withhold or retract"))
    }
}

/// Applies a clinician's decision to a result or document of their practice, in one
/// transaction with its audit event and outbox rows. A replay answers the current state.
pub async fn decide(
    db: &DatabaseConnection,
    reviewer: &Reviewer,
    kind: ItemKind,
    id: Uuid,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<ItemReview, AppError> {
    require_clinician(reviewer)?;
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
    outbox::mark_dirty(&txn, patient_id, kind.section(), action, now).await?;
    if matches!(decision, Decision::Release { .. }) {
        notify_release(&txn, kind, id, patient_id, now).await?;
    }
    txn.commit().await?;
    Ok(ItemReview::new(kind, id, patient_id, next))
}

/// The review columns shared by `results` and `documents`.
#[derive(Debug, Clone, Copy)]
enum Col {
    Id,
    PatientId,
    ReceivedAt,
    ReviewState,
    ReviewedAt,
    ReviewedByStaffId,
    ClinicianComment,
    WithholdReason,
    ReleasedAt,
    RetractedAt,
    RetractionReason,
    UpdatedAt,
}

/// A table of reviewable items: `results` or `documents`.
trait Reviewable: EntityTrait {
    const KIND: ItemKind;
    fn col(col: Col) -> Self::Column;
    fn review(model: &Self::Model) -> (Uuid, ReviewFields);
    fn queue_item(model: Self::Model) -> QueueEntry;
}

macro_rules! review_fields {
    ($model:expr) => {
        ReviewFields {
            state: $model.review_state,
            reviewed_at: $model.reviewed_at,
            reviewed_by_staff_id: $model.reviewed_by_staff_id,
            clinician_comment: $model.clinician_comment.clone(),
            withhold_reason: $model.withhold_reason,
            released_at: $model.released_at,
            retracted_at: $model.retracted_at,
            retraction_reason: $model.retraction_reason.clone(),
        }
    };
}

impl Reviewable for results::Entity {
    const KIND: ItemKind = ItemKind::Result;

    fn col(col: Col) -> results::Column {
        use results::Column as C;
        match col {
            Col::Id => C::Id,
            Col::PatientId => C::PatientId,
            Col::ReceivedAt => C::ReceivedAt,
            Col::ReviewState => C::ReviewState,
            Col::ReviewedAt => C::ReviewedAt,
            Col::ReviewedByStaffId => C::ReviewedByStaffId,
            Col::ClinicianComment => C::ClinicianComment,
            Col::WithholdReason => C::WithholdReason,
            Col::ReleasedAt => C::ReleasedAt,
            Col::RetractedAt => C::RetractedAt,
            Col::RetractionReason => C::RetractionReason,
            Col::UpdatedAt => C::UpdatedAt,
        }
    }

    fn review(model: &results::Model) -> (Uuid, ReviewFields) {
        (model.patient_id, review_fields!(model))
    }

    fn queue_item(model: results::Model) -> QueueEntry {
        QueueEntry {
            kind: Self::KIND,
            id: model.id,
            patient_id: model.patient_id,
            title: model.test_name,
            effective_date: model.effective_date,
            received_at: model.received_at,
            result: Some(QueueResult {
                test_code: model.test_code,
                value: model.value,
                unit: model.unit,
                range_low: model.range_low,
                range_high: model.range_high,
                range_text: model.range_text,
                abnormal_flag: model.abnormal_flag,
                requester: model.requester,
            }),
            document: None,
        }
    }
}

impl Reviewable for documents::Entity {
    const KIND: ItemKind = ItemKind::Document;

    fn col(col: Col) -> documents::Column {
        use documents::Column as C;
        match col {
            Col::Id => C::Id,
            Col::PatientId => C::PatientId,
            Col::ReceivedAt => C::ReceivedAt,
            Col::ReviewState => C::ReviewState,
            Col::ReviewedAt => C::ReviewedAt,
            Col::ReviewedByStaffId => C::ReviewedByStaffId,
            Col::ClinicianComment => C::ClinicianComment,
            Col::WithholdReason => C::WithholdReason,
            Col::ReleasedAt => C::ReleasedAt,
            Col::RetractedAt => C::RetractedAt,
            Col::RetractionReason => C::RetractionReason,
            Col::UpdatedAt => C::UpdatedAt,
        }
    }

    fn review(model: &documents::Model) -> (Uuid, ReviewFields) {
        (model.patient_id, review_fields!(model))
    }

    fn queue_item(model: documents::Model) -> QueueEntry {
        QueueEntry {
            kind: Self::KIND,
            id: model.id,
            patient_id: model.patient_id,
            title: model.title,
            effective_date: model.effective_date,
            received_at: model.received_at,
            result: None,
            document: Some(QueueDocument {
                document_type: model.document_type,
                author_organisation: model.author_organisation,
                content_type: model.content_type,
                size_bytes: model.size_bytes,
            }),
        }
    }
}

/// The ids of the practice's patients, as a subquery.
/// The ids of a practice's patients, as a subquery.
pub(crate) fn patients_of(practice_id: Uuid) -> SelectStatement {
    Query::select()
        .column(patients::Column::Id)
        .from(patients::Entity)
        .and_where(patients::Column::PracticeId.eq(practice_id))
        .to_owned()
}

/// The item's patient and review fields, locked for update; `None` when it does not exist or
/// belongs to another practice.
async fn load_locked<E: Reviewable>(
    txn: &impl ConnectionTrait,
    id: Uuid,
    practice_id: Uuid,
) -> Result<Option<(Uuid, ReviewFields)>, DbErr> {
    let model = E::find()
        .filter(E::col(Col::Id).eq(id))
        .filter(E::col(Col::PatientId).in_subquery(patients_of(practice_id)))
        .lock_exclusive()
        .one(txn)
        .await?;
    Ok(model.as_ref().map(E::review))
}

/// Writes the review fields of one (locked) item.
/// Tells everyone who may now see the released item (the patient, and proxies whose scopes
/// cover it and from whom it is not hidden) that something was released.
async fn notify_release(
    txn: &impl ConnectionTrait,
    kind: ItemKind,
    id: Uuid,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let notification = kind.released_notification();
    match kind {
        ItemKind::Result => {
            let Some(result) = results::Entity::find_by_id(id).one(txn).await? else {
                return Ok(());
            };
            outbox::notify(
                txn,
                patient_id,
                notification,
                now,
                |viewer, facts, today| {
                    let access = rules::section_access(viewer, facts, Section::Results, today);
                    rules::result_visible(access, &result)
                },
            )
            .await
        }
        ItemKind::Document => {
            let Some(document) = documents::Entity::find_by_id(id).one(txn).await? else {
                return Ok(());
            };
            outbox::notify(
                txn,
                patient_id,
                notification,
                now,
                |viewer, facts, today| {
                    let access = rules::section_access(viewer, facts, Section::Documents, today);
                    rules::document_visible(access, &document)
                },
            )
            .await
        }
    }
}

async fn write<E: Reviewable>(
    txn: &impl ConnectionTrait,
    id: Uuid,
    fields: &ReviewFields,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let set = |col: Col, value: Value| (E::col(col), Expr::value(value));
    let updates = [
        set(Col::ReviewState, fields.state.into()),
        set(Col::ReviewedAt, fields.reviewed_at.into()),
        set(Col::ReviewedByStaffId, fields.reviewed_by_staff_id.into()),
        set(
            Col::ClinicianComment,
            fields.clinician_comment.clone().into(),
        ),
        set(Col::WithholdReason, fields.withhold_reason.into()),
        set(Col::ReleasedAt, fields.released_at.into()),
        set(Col::RetractedAt, fields.retracted_at.into()),
        set(
            Col::RetractionReason,
            fields.retraction_reason.clone().into(),
        ),
        set(Col::UpdatedAt, now.into()),
    ];
    let mut update = E::update_many().filter(E::col(Col::Id).eq(id));
    for (col, value) in updates {
        update = update.col_expr(col, value);
    }
    update.exec(txn).await?;
    Ok(())
}

/// Where a queue page starts: after the item with this `received_at` and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last item's arrival.
    pub received_at: DateTime<Utc>,
    /// The last item's id.
    pub id: Uuid,
}

impl Cursor {
    /// The opaque form given to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}|{}",
            self.received_at
                .to_rfc3339_opts(SecondsFormat::AutoSi, true),
            self.id
        ))
    }

    /// Reads a cursor a client got from [`Cursor::encode`].
    pub fn decode(text: &str) -> Result<Self, Invalid> {
        let invalid = || Invalid {
            code: "invalid_cursor",
            reason: "not a cursor returned by this API".to_owned(),
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (at, id) = text.split_once('|').ok_or_else(invalid)?;
        Ok(Self {
            received_at: DateTime::parse_from_rfc3339(at)
                .map_err(|_| invalid())?
                .to_utc(),
            id: Uuid::parse_str(id).map_err(|_| invalid())?,
        })
    }
}

/// Parses the queue's `limit` (default [`DEFAULT_QUEUE_LIMIT`], 1 to [`MAX_QUEUE_LIMIT`]).
pub fn parse_limit(text: Option<&str>) -> Result<u64, Invalid> {
    crate::validate::limit(text, DEFAULT_QUEUE_LIMIT, MAX_QUEUE_LIMIT)
}

/// The patient an item is for, as the review queue shows them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueuePatient {
    /// The patient.
    pub id: Uuid,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// NHS number (10 digits).
    pub nhs_number: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
}

/// What a pending result says.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueResult {
    /// The test's code in the clinical system.
    pub test_code: String,
    /// The value as reported.
    pub value: String,
    /// Its unit.
    pub unit: Option<String>,
    /// Lower end of the reference range.
    pub range_low: Option<f64>,
    /// Upper end of the reference range.
    pub range_high: Option<f64>,
    /// The reference range as text, when it is not numeric.
    pub range_text: Option<String>,
    /// `normal`, `low`, `high`, `abnormal` or `unknown`.
    #[schema(value_type = String, example = "high")]
    pub abnormal_flag: AbnormalFlag,
    /// Who requested the test.
    pub requester: Option<String>,
}

/// What a pending document is.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueDocument {
    /// `discharge_summary`, `outpatient_letter`, `referral_letter` or `other_letter`.
    #[schema(value_type = String, example = "outpatient_letter")]
    pub document_type: DocumentType,
    /// Who wrote it.
    pub author_organisation: Option<String>,
    /// Its media type.
    pub content_type: String,
    /// Its size.
    pub size_bytes: i64,
}

/// A queue item before its patient is attached.
struct QueueEntry {
    kind: ItemKind,
    id: Uuid,
    patient_id: Uuid,
    title: String,
    effective_date: NaiveDate,
    received_at: DateTime<Utc>,
    result: Option<QueueResult>,
    document: Option<QueueDocument>,
}

/// One item waiting for review.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueItem {
    /// Result or document.
    pub kind: ItemKind,
    /// The item (use it with `/results/{id}/…` or `/documents/{id}/…`).
    pub id: Uuid,
    /// Its patient.
    pub patient: QueuePatient,
    /// The test name or the document title.
    pub title: String,
    /// When the test was done or the letter written.
    pub effective_date: NaiveDate,
    /// When it arrived from the clinical system (the queue's order).
    pub received_at: DateTime<Utc>,
    /// For results: the value and its range.
    pub result: Option<QueueResult>,
    /// For documents: what it is.
    pub document: Option<QueueDocument>,
}

/// One page of the review queue, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReviewQueue {
    /// Pending results and documents, by `received_at` then id.
    pub items: Vec<QueueItem>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The practice's results and documents in `state` (pending review, or released and so open
/// to retraction), oldest received first, `limit` after `after`.
pub async fn queue(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    state: ReviewState,
    limit: u64,
    after: Option<Cursor>,
) -> Result<ReviewQueue, AppError> {
    let mut entries = in_state::<results::Entity>(db, practice_id, state, limit, after).await?;
    entries.extend(in_state::<documents::Entity>(db, practice_id, state, limit, after).await?);
    entries.sort_by_key(|entry| (entry.received_at, entry.id));
    let more = entries.len() as u64 > limit;
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = entries
        .last()
        .filter(|_| more)
        .map(|last| Cursor {
            received_at: last.received_at,
            id: last.id,
        })
        .map(|cursor| cursor.encode());

    let patient_ids: Vec<Uuid> = entries.iter().map(|e| e.patient_id).collect();
    let patients: HashMap<Uuid, patients::Model> = patients::Entity::find()
        .filter(patients::Column::Id.is_in(patient_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let items = entries
        .into_iter()
        .map(|entry| {
            let patient = patients
                .get(&entry.patient_id)
                .ok_or_else(|| AppError::internal("a queued item's patient is missing"))?;
            Ok(QueueItem {
                kind: entry.kind,
                id: entry.id,
                patient: QueuePatient {
                    id: patient.id,
                    given_name: patient.given_name.clone(),
                    family_name: patient.family_name.clone(),
                    nhs_number: patient.nhs_number.clone(),
                    date_of_birth: patient.date_of_birth,
                },
                title: entry.title,
                effective_date: entry.effective_date,
                received_at: entry.received_at,
                result: entry.result,
                document: entry.document,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok(ReviewQueue { items, next_cursor })
}

/// Up to `limit + 1` items of one table in `state` after the cursor, in queue order.
async fn in_state<E: Reviewable>(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    state: ReviewState,
    limit: u64,
    after: Option<Cursor>,
) -> Result<Vec<QueueEntry>, DbErr> {
    let mut query = E::find()
        .filter(E::col(Col::ReviewState).eq(state))
        .filter(E::col(Col::PatientId).in_subquery(patients_of(practice_id)));
    if let Some(cursor) = after {
        query = query.filter(
            Condition::any()
                .add(E::col(Col::ReceivedAt).gt(cursor.received_at))
                .add(
                    Condition::all()
                        .add(E::col(Col::ReceivedAt).eq(cursor.received_at))
                        .add(E::col(Col::Id).gt(cursor.id)),
                ),
        );
    }
    Ok(query
        .order_by_asc(E::col(Col::ReceivedAt))
        .order_by_asc(E::col(Col::Id))
        .limit(limit + 1)
        .all(db)
        .await?
        .into_iter()
        .map(E::queue_item)
        .collect())
}

/// One value of a test, as the reviewing clinician sees the trend (every review state).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TrendPoint {
    /// The result.
    pub id: Uuid,
    /// As reported.
    pub value: String,
    /// Numeric value, when the value is a number.
    pub numeric_value: Option<f64>,
    /// Unit.
    pub unit: Option<String>,
    /// When the sample was taken.
    pub effective_date: NaiveDate,
    /// The laboratory's flag.
    #[schema(value_type = String)]
    pub abnormal_flag: AbnormalFlag,
    /// `pending`, `released`, `withheld` or `retracted`.
    #[schema(value_type = String)]
    pub review_state: ReviewState,
}

/// Every value of the same test for the same patient as result `result_id` of the practice,
/// newest first (the trend a clinician reviews it against); `None` for another practice's or
/// no result. Returns the patient too, for the access log.
pub async fn trend(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    result_id: Uuid,
) -> Result<Option<(Uuid, Vec<TrendPoint>)>, DbErr> {
    let Some(result) = results::Entity::find_by_id(result_id)
        .filter(results::Column::PatientId.in_subquery(patients_of(practice_id)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let points = results::Entity::find()
        .filter(results::Column::PatientId.eq(result.patient_id))
        .filter(results::Column::TestCode.eq(result.test_code.clone()))
        .order_by_desc(results::Column::EffectiveDate)
        .order_by_desc(results::Column::ReceivedAt)
        .limit(100)
        .all(db)
        .await?
        .into_iter()
        .map(|r| TrendPoint {
            id: r.id,
            value: r.value,
            numeric_value: r.numeric_value,
            unit: r.unit,
            effective_date: r.effective_date,
            abnormal_flag: r.abnormal_flag,
            review_state: r.review_state,
        })
        .collect();
    Ok(Some((result.patient_id, points)))
}

/// A letter of the practice as its reviewing clinician reads it, whatever its review state.
pub struct LetterBody {
    /// Its patient, for the access log.
    pub patient_id: Uuid,
    /// The stored content type.
    pub content_type: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// The body of document `document_id` of the practice; `None` for another practice's or none.
pub async fn letter_body(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    document_id: Uuid,
) -> Result<Option<LetterBody>, DbErr> {
    let Some(document) = documents::Entity::find_by_id(document_id)
        .filter(documents::Column::PatientId.in_subquery(patients_of(practice_id)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let blob = crate::db::entities::blobs::Entity::find_by_id(document.blob_sha256.clone())
        .one(db)
        .await?;
    Ok(blob.map(|blob| LetterBody {
        patient_id: document.patient_id,
        content_type: document.content_type,
        content: blob.content,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-23T09:{minute:02}:00Z"))
            .map(|t| t.to_utc())
            .unwrap_or_default()
    }

    fn pending_fields() -> ReviewFields {
        ReviewFields {
            state: ReviewState::Pending,
            reviewed_at: None,
            reviewed_by_staff_id: None,
            clinician_comment: None,
            withhold_reason: None,
            released_at: None,
            retracted_at: None,
            retraction_reason: None,
        }
    }

    fn applied(result: Result<Transition, AppError>) -> ReviewFields {
        match result {
            Ok(Transition::Apply(fields)) => fields,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    fn refused(result: Result<Transition, AppError>) -> ErrorCode {
        match result {
            Err(error) => error.code(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_state_machine_moves_and_refuses_as_documented() {
        let staff = Uuid::new_v4();
        let release = Decision::release(Some(" Normal – no action ".to_owned())).unwrap();
        let withhold = Decision::withhold(Some(WithholdReason::ThirdParty)).unwrap();
        let retract = Decision::retract(Some("wrong patient".to_owned())).unwrap();

        let released = applied(transition(&pending_fields(), &release, staff, at(1)));
        assert_eq!(released.status(), ReviewStatus::Released);
        assert_eq!(
            released.clinician_comment.as_deref(),
            Some("Normal – no action")
        );
        assert_eq!(released.released_at, Some(at(1)));
        assert_eq!(
            transition(&released, &release, staff, at(2)).unwrap(),
            Transition::Replay
        );
        let other_comment = Decision::release(None).unwrap();
        assert_eq!(
            refused(transition(&released, &other_comment, staff, at(2))),
            ErrorCode::NotPending
        );
        assert_eq!(
            refused(transition(&released, &withhold, staff, at(2))),
            ErrorCode::NotPending
        );

        let withheld = applied(transition(&pending_fields(), &withhold, staff, at(1)));
        assert_eq!(withheld.status(), ReviewStatus::Withheld);
        assert_eq!(
            withheld.withhold_reason,
            Some(StoredWithholdReason::ThirdParty)
        );
        assert_eq!(
            transition(&withheld, &withhold, staff, at(2)).unwrap(),
            Transition::Replay
        );
        assert_eq!(
            refused(transition(&withheld, &retract, staff, at(2))),
            ErrorCode::NotReleased
        );
        let later = applied(transition(&withheld, &release, staff, at(3)));
        assert_eq!(later.status(), ReviewStatus::Released);
        assert_eq!(later.withhold_reason, None);

        let retracted = applied(transition(&released, &retract, staff, at(4)));
        assert_eq!(retracted.status(), ReviewStatus::Retracted);
        assert_eq!(retracted.released_at, Some(at(1)), "the release is kept");
        assert_eq!(
            transition(&retracted, &retract, staff, at(5)).unwrap(),
            Transition::Replay
        );
        assert_eq!(
            refused(transition(&retracted, &release, staff, at(5))),
            ErrorCode::NotPending
        );
        assert_eq!(
            refused(transition(&pending_fields(), &retract, staff, at(5))),
            ErrorCode::NotReleased
        );
    }

    #[test]
    fn decisions_validate_their_fields() {
        assert_eq!(
            Decision::release(Some("   ".to_owned())).unwrap(),
            Decision::Release { comment: None }
        );
        let long = "x".repeat(MAX_COMMENT_CHARS + 1);
        let error = Decision::release(Some(long)).unwrap_err();
        assert_eq!(error.invalid_params()[0].name, "comment");
        assert_eq!(
            Decision::release(Some("é".repeat(MAX_COMMENT_CHARS)))
                .map(|_| ())
                .map_err(|e| e.code()),
            Ok(())
        );
        assert_eq!(
            Decision::withhold(None).unwrap_err().invalid_params()[0].code,
            "required"
        );
        assert_eq!(
            Decision::retract(Some(" ".to_owned()))
                .unwrap_err()
                .invalid_params()[0]
                .name,
            "reason"
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            received_at: at(7) + chrono::Duration::microseconds(123_456),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("not a cursor").is_err());
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_QUEUE_LIMIT);
        assert_eq!(parse_limit(Some("200")).unwrap(), 200);
        assert!(parse_limit(Some("0")).is_err());
        assert!(parse_limit(Some("201")).is_err());
        assert!(parse_limit(Some("ten")).is_err());
    }
}
