//! A patient's request for access to their historic record: made from the app, queued at the
//! practice, granted (the patient's historic access is set) or declined with a reason by a
//! clinician or admin; the patient is notified either way (content-free).

use super::historic::{self, HistoricAccessBody};
use super::{Decider, level_name, parse_level, practice_patient};
use crate::access::Viewer;
use crate::access::rules::PatientFacts;
use crate::audit::AuditEvent;
use crate::db::entities::patients::AccessLevel;
use crate::db::entities::record_access_requests::{self, RequestStatus};
use crate::db::entities::{accounts, audit_events::ActorKind, audit_events::Outcome, patients};
use crate::error::{AppError, ErrorCode};
use crate::idempotent::{self, IdempotentCall};
use crate::outbox;
use crate::validate::{Invalid, Validator};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The notification kind a decision sends the patient.
pub const DECIDED_KIND: &str = "record_access_changed";

const MAX_NOTE_CHARS: usize = 1000;

/// A patient's request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// `summary`, `detailed` or `documents` (default `documents`: the whole record).
    #[serde(default)]
    pub level: Option<String>,
    /// Anything the patient wants the practice to know (at most 1000 characters).
    #[serde(default)]
    pub note: Option<String>,
}

/// The practice's grant of a request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The level granted (default: the level asked for).
    #[serde(default)]
    pub level: Option<String>,
    /// First entered date shown, `YYYY-MM-DD` (required for detailed and documents).
    #[serde(default)]
    pub from: Option<String>,
}

/// The practice's refusal of a request.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineBody {
    /// Why, shown to the patient (required, at most 1000 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A request as the patient and the practice see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AccessRequest {
    /// Id.
    pub id: Uuid,
    /// The patient.
    pub patient_id: Uuid,
    /// The level asked for.
    pub level: String,
    /// The patient's note.
    pub note: Option<String>,
    /// `pending`, `granted` or `declined`.
    pub status: RequestStatus,
    /// When it was made.
    pub requested_at: DateTime<Utc>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was declined.
    pub decision_reason: Option<String>,
    /// The first entered date granted.
    pub granted_from: Option<NaiveDate>,
}

impl From<record_access_requests::Model> for AccessRequest {
    fn from(r: record_access_requests::Model) -> Self {
        Self {
            id: r.id,
            patient_id: r.patient_id,
            level: level_name(r.level).to_owned(),
            note: r.note,
            status: r.status,
            requested_at: r.created_at,
            decided_at: r.decided_at,
            decision_reason: r.decision_reason,
            granted_from: r.granted_from,
        }
    }
}

fn optional_text(value: Option<&str>, max: usize) -> Result<Option<String>, Invalid> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > max => Err(Invalid::new(
            "too_long",
            format!("at most {max} characters"),
        )),
        Some(text) => Ok(Some(text.to_owned())),
    }
}

/// The patient asks for their historic record. Only the patient themself (a proxy gets the
/// 404 of a patient-only route: the request is the patient's own); while one is pending, asking again answers it.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn request(
    db: &DatabaseConnection,
    viewer: &Viewer,
    facts: &PatientFacts,
    body: &NewRequest,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<AccessRequest, AppError> {
    // The patient's own: a proxy is answered as if there were nothing here.
    let Viewer::Patient { account_id } = viewer else {
        return Err(AppError::not_found());
    };
    let mut v = Validator::new();
    let level = v.check(
        "level",
        match body.level.as_deref() {
            None => Ok(AccessLevel::Documents),
            Some(name) => parse_level(name)
                .filter(|l| *l != AccessLevel::None)
                .ok_or_else(|| {
                    Invalid::new(
                        "invalid_value",
                        "expected one of: summary, detailed, documents",
                    )
                }),
        },
    );
    let note = v.check("note", optional_text(body.note.as_deref(), MAX_NOTE_CHARS));
    v.finish()?;
    let (Some(level), Some(note)) = (level, note) else {
        return Err(AppError::internal("a validated field was missing"));
    };
    let patient_id = facts.patient.id;
    let txn = crate::db::begin_write(db).await?;
    let pending = record_access_requests::Entity::find()
        .filter(record_access_requests::Column::PatientId.eq(patient_id))
        .filter(record_access_requests::Column::Status.eq(RequestStatus::Pending))
        .one(&txn)
        .await?;
    if let Some(pending) = pending {
        return Ok(pending.into());
    }
    let row = record_access_requests::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(facts.patient.practice_id),
        patient_id: Set(patient_id),
        requested_by_account_id: Set(Some(*account_id)),
        level: Set(level),
        note: Set(note),
        status: Set(RequestStatus::Pending),
        decided_by_staff_id: Set(None),
        decided_at: Set(None),
        decision_reason: Set(None),
        granted_from: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    AuditEvent::new(
        "record_access.requested",
        ActorKind::Patient,
        Outcome::Success,
    )
    .actor(*account_id)
    .practice(facts.patient.practice_id)
    .acting_for(patient_id)
    .target("record_access_request", row.id)
    .detail(serde_json::json!({ "level": level_name(level) }))
    .record(&txn, now)
    .await?;
    let made = AccessRequest::from(row);
    idempotent::store(call, &txn, 200, &made).await?;
    txn.commit().await?;
    Ok(made)
}

/// The patient's own requests, newest first.
pub async fn for_patient(
    db: &DatabaseConnection,
    patient_id: Uuid,
) -> Result<Vec<AccessRequest>, AppError> {
    Ok(record_access_requests::Entity::find()
        .filter(record_access_requests::Column::PatientId.eq(patient_id))
        .order_by_desc(record_access_requests::Column::CreatedAt)
        .order_by_asc(record_access_requests::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(AccessRequest::from)
        .collect())
}

/// A request in the practice's queue, with whom it is from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct QueuedRequest {
    /// The request.
    #[serde(flatten)]
    pub request: AccessRequest,
    /// The patient's given name.
    pub given_name: String,
    /// The patient's family name.
    pub family_name: String,
    /// The patient's NHS number.
    pub nhs_number: String,
}

/// The practice's queue: requests in `status`, oldest first.
pub async fn queue(
    db: &DatabaseConnection,
    practice_id: Uuid,
    status: RequestStatus,
) -> Result<Vec<QueuedRequest>, AppError> {
    let rows = record_access_requests::Entity::find()
        .filter(record_access_requests::Column::PracticeId.eq(practice_id))
        .filter(record_access_requests::Column::Status.eq(status))
        .order_by_asc(record_access_requests::Column::CreatedAt)
        .order_by_asc(record_access_requests::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.patient_id).collect();
    let patients: std::collections::HashMap<Uuid, patients::Model> = patients::Entity::find()
        .filter(patients::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let patient = patients.get(&row.patient_id)?;
            Some(QueuedRequest {
                given_name: patient.given_name.clone(),
                family_name: patient.family_name.clone(),
                nhs_number: patient.nhs_number.clone(),
                request: row.into(),
            })
        })
        .collect())
}

async fn pending_request(
    txn: &impl sea_orm::ConnectionTrait,
    practice_id: Uuid,
    id: Uuid,
) -> Result<record_access_requests::Model, AppError> {
    record_access_requests::Entity::find_by_id(id)
        .filter(record_access_requests::Column::PracticeId.eq(practice_id))
        .one(txn)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Tells the patient's own accounts that the decision is made (content-free).
async fn notify_patient(
    txn: &impl sea_orm::ConnectionTrait,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let accounts = accounts::Entity::find()
        .filter(accounts::Column::PatientId.eq(patient_id))
        .all(txn)
        .await?;
    for account in accounts {
        outbox::queue(
            txn,
            account.practice_id,
            account.id,
            patient_id,
            DECIDED_KIND,
            "record",
            now,
        )
        .await?;
    }
    Ok(())
}

/// Grants a pending request: sets the patient's historic access, answers the request and
/// notifies the patient. Granting a granted request again answers it unchanged.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn grant(
    db: &DatabaseConnection,
    decider: &Decider,
    id: Uuid,
    body: &GrantBody,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<AccessRequest, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let request = pending_request(&txn, decider.practice_id, id).await?;
    match request.status {
        RequestStatus::Granted => return Ok(request.into()),
        RequestStatus::Declined => return Err(AppError::new(ErrorCode::Conflict)),
        RequestStatus::Pending => {}
    }
    let (level, from) = historic::validate(&HistoricAccessBody {
        level: Some(
            body.level
                .clone()
                .unwrap_or_else(|| level_name(request.level).to_owned()),
        ),
        from: body.from.clone(),
    })?;
    let patient = practice_patient(&txn, decider.practice_id, request.patient_id).await?;
    historic::write(
        &txn,
        decider,
        patient,
        level,
        from,
        "record_access.historic_set",
        now,
    )
    .await?;
    let patient_id = request.patient_id;
    let mut row = request.into_active_model();
    row.status = Set(RequestStatus::Granted);
    row.level = Set(level);
    row.granted_from = Set(from);
    row.decided_by_staff_id = Set(Some(decider.staff_id));
    row.decided_at = Set(Some(now));
    row.updated_at = Set(now);
    let row = row.update(&txn).await?;
    decider
        .event("record_access.request_granted", patient_id)
        .target("record_access_request", id)
        .detail(serde_json::json!({ "level": level_name(level), "from": from }))
        .record(&txn, now)
        .await?;
    notify_patient(&txn, patient_id, now).await?;
    let decided = AccessRequest::from(row);
    idempotent::store(call, &txn, 200, &decided).await?;
    txn.commit().await?;
    Ok(decided)
}

/// Declines a pending request with a reason the patient sees, and notifies them. Declining a
/// declined request again answers it unchanged.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn decline(
    db: &DatabaseConnection,
    decider: &Decider,
    id: Uuid,
    body: &DeclineBody,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<AccessRequest, AppError> {
    let mut v = Validator::new();
    let reason = v.check(
        "reason",
        optional_text(body.reason.as_deref(), MAX_NOTE_CHARS)
            .and_then(|r| r.ok_or_else(|| Invalid::new("required", "a reason is required"))),
    );
    v.finish()?;
    let reason = reason.ok_or_else(|| AppError::internal("a validated field was missing"))?;
    let txn = crate::db::begin_write(db).await?;
    let request = pending_request(&txn, decider.practice_id, id).await?;
    match request.status {
        RequestStatus::Declined => return Ok(request.into()),
        RequestStatus::Granted => return Err(AppError::new(ErrorCode::Conflict)),
        RequestStatus::Pending => {}
    }
    let patient_id = request.patient_id;
    let mut row = request.into_active_model();
    row.status = Set(RequestStatus::Declined);
    row.decision_reason = Set(Some(reason));
    row.decided_by_staff_id = Set(Some(decider.staff_id));
    row.decided_at = Set(Some(now));
    row.updated_at = Set(now);
    let row = row.update(&txn).await?;
    // The reason is the patient's to read, not the trail's.
    decider
        .event("record_access.request_declined", patient_id)
        .target("record_access_request", id)
        .record(&txn, now)
        .await?;
    notify_patient(&txn, patient_id, now).await?;
    let decided = AccessRequest::from(row);
    idempotent::store(call, &txn, 200, &decided).await?;
    txn.commit().await?;
    Ok(decided)
}
