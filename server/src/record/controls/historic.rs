//! A patient's historic access: the level and from-date the practice grants by hand (or on the
//! patient's request), set or ended by clinicians and admins.

use super::{Decider, level_name, parse_level, practice_patient};
use crate::db::entities::patients::{self, AccessLevel};
use crate::error::AppError;
use crate::idempotent::{self, IdempotentCall};
use crate::validate::{Invalid, Validator, parse_date};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, IntoActiveModel, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Historic access to set.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoricAccessBody {
    /// `summary`, `detailed` or `documents`.
    #[serde(default)]
    pub level: Option<String>,
    /// First entered date shown of detailed sections and letters, `YYYY-MM-DD` (required for
    /// `detailed` and `documents`; the summary shows its whole history).
    #[serde(default)]
    pub from: Option<String>,
}

/// A patient's historic access as it now stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HistoricAccess {
    /// The patient.
    pub patient_id: Uuid,
    /// `none`, `summary`, `detailed` or `documents`.
    pub level: String,
    /// First entered date of detailed sections and letters, when granted.
    pub from: Option<NaiveDate>,
}

impl HistoricAccess {
    fn of(patient: &patients::Model) -> Self {
        Self {
            patient_id: patient.id,
            level: level_name(patient.access_level).to_owned(),
            from: patient.record_access_from,
        }
    }
}

/// Checks a body: the level and (for detailed and documents) the date.
pub fn validate(body: &HistoricAccessBody) -> Result<(AccessLevel, Option<NaiveDate>), AppError> {
    let mut v = Validator::new();
    let level = v.check(
        "level",
        match body.level.as_deref() {
            None => Err(Invalid::new("required", "a level is required")),
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
    let from = match body.from.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(date) => v.check("from", parse_date(date)).map(Some),
    };
    if let (Some(level), Some(None)) = (level, from)
        && level != AccessLevel::Summary
    {
        v.check::<()>(
            "from",
            Err(Invalid::new(
                "required",
                "detailed and documents access needs the first date shown",
            )),
        );
    }
    v.finish()?;
    match (level, from) {
        (Some(level), Some(from)) => Ok((level, from)),
        _ => Err(AppError::internal("a validated field was missing")),
    }
}

/// Writes a patient's historic access on the caller's transaction, audited and synced.
pub(super) async fn write(
    txn: &impl ConnectionTrait,
    decider: &Decider,
    patient: patients::Model,
    level: AccessLevel,
    from: Option<NaiveDate>,
    action: &'static str,
    now: DateTime<Utc>,
) -> Result<HistoricAccess, AppError> {
    let patient_id = patient.id;
    let before = HistoricAccess::of(&patient);
    let mut row = patient.into_active_model();
    row.access_level = Set(level);
    row.record_access_from = Set(from);
    row.updated_at = Set(now);
    let updated = row.update(txn).await?;
    let after = HistoricAccess::of(&updated);
    decider
        .event(action, patient_id)
        .target("patient", patient_id)
        .detail(serde_json::json!({
            "level": after.level, "from": after.from,
            "previous_level": before.level, "previous_from": before.from,
        }))
        .record(txn, now)
        .await?;
    crate::outbox::mark_patient_dirty(txn, updated.practice_id, patient_id, "record_access", now)
        .await?;
    Ok(after)
}

/// Sets a patient's historic access. Clinicians and admins of the patient's practice.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn set(
    db: &DatabaseConnection,
    decider: &Decider,
    patient_id: Uuid,
    body: &HistoricAccessBody,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<HistoricAccess, AppError> {
    let (level, from) = validate(body)?;
    let txn = crate::db::begin_write(db).await?;
    let patient = practice_patient(&txn, decider.practice_id, patient_id).await?;
    let answer = write(
        &txn,
        decider,
        patient,
        level,
        from,
        "record_access.historic_set",
        now,
    )
    .await?;
    idempotent::store(call, &txn, 200, &answer).await?;
    txn.commit().await?;
    Ok(answer)
}

/// Ends a patient's historic access (level `none`, no date); automatic access is untouched.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn end(
    db: &DatabaseConnection,
    decider: &Decider,
    patient_id: Uuid,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<HistoricAccess, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let patient = practice_patient(&txn, decider.practice_id, patient_id).await?;
    if patient.access_level == AccessLevel::None && patient.record_access_from.is_none() {
        return Ok(HistoricAccess::of(&patient));
    }
    let answer = write(
        &txn,
        decider,
        patient,
        AccessLevel::None,
        None,
        "record_access.historic_end",
        now,
    )
    .await?;
    idempotent::store(call, &txn, 200, &answer).await?;
    txn.commit().await?;
    Ok(answer)
}
