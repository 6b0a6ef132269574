//! Record-access SNOMED codes recorded or ended by staff: "enhanced review indicated" and "not
//! indicated", and the patient's opt-out. A code applies from the day recorded until its end.

use super::{Decider, practice_patient};
use crate::access::rules::{
    ACCESS_DECLINED, ENHANCED_REVIEW_INDICATED, ENHANCED_REVIEW_NOT_INDICATED,
};
use crate::db::entities::access_codes;
use crate::error::AppError;
use crate::idempotent::{self, IdempotentCall};
use crate::validate::{Invalid, Validator, parse_date};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The codes staff may record.
pub const CODES: [&str; 3] = [
    ENHANCED_REVIEW_INDICATED,
    ENHANCED_REVIEW_NOT_INDICATED,
    ACCESS_DECLINED,
];

/// A code to record.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCode {
    /// `1364731000000104` (enhanced review indicated), `1364751000000106` (not indicated) or
    /// `1290331000000103` (online access declined by the patient).
    #[serde(default)]
    pub snomed_code: Option<String>,
}

/// An end to a code.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndCode {
    /// The first day it no longer applies, `YYYY-MM-DD`; left out, today.
    #[serde(default)]
    pub ended_on: Option<String>,
}

/// A code on the patient's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AccessCode {
    /// Id.
    pub id: Uuid,
    /// The SNOMED CT code.
    pub snomed_code: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The first day it no longer applies.
    pub ended_on: Option<NaiveDate>,
}

impl From<access_codes::Model> for AccessCode {
    fn from(c: access_codes::Model) -> Self {
        Self {
            id: c.id,
            snomed_code: c.snomed_code,
            recorded_at: c.recorded_at,
            ended_on: c.ended_on,
        }
    }
}

/// Records a code against a patient of the practice. Clinicians and admins.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn record(
    db: &DatabaseConnection,
    decider: &Decider,
    patient_id: Uuid,
    body: &NewCode,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<AccessCode, AppError> {
    let mut v = Validator::new();
    let code = v.check(
        "snomed_code",
        match body.snomed_code.as_deref().map(str::trim) {
            None | Some("") => Err(Invalid::new("required", "a code is required")),
            Some(code) if CODES.contains(&code) => Ok(code.to_owned()),
            Some(_) => Err(Invalid::new(
                "invalid_access_code",
                format!("expected one of: {}", CODES.join(", ")),
            )),
        },
    );
    v.finish()?;
    let code = code.ok_or_else(|| AppError::internal("a validated field was missing"))?;
    let txn = crate::db::begin_write(db).await?;
    practice_patient(&txn, decider.practice_id, patient_id).await?;
    let row = access_codes::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(decider.practice_id),
        patient_id: Set(patient_id),
        external_id: Set(None),
        snomed_code: Set(code.clone()),
        recorded_at: Set(now),
        recorded_by_staff_id: Set(Some(decider.staff_id)),
        ended_on: Set(None),
    }
    .insert(&txn)
    .await?;
    decider
        .event("record_access.code_recorded", patient_id)
        .target("access_code", row.id)
        .detail(serde_json::json!({ "snomed_code": code }))
        .record(&txn, now)
        .await?;
    crate::outbox::mark_patient_dirty(&txn, decider.practice_id, patient_id, "record_access", now)
        .await?;
    let answer = AccessCode::from(row);
    idempotent::store(call, &txn, 200, &answer).await?;
    txn.commit().await?;
    Ok(answer)
}

/// Ends a code from a day (today unless given). Ending an ended code again changes nothing.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn end(
    db: &DatabaseConnection,
    decider: &Decider,
    patient_id: Uuid,
    code_id: Uuid,
    body: &EndCode,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<AccessCode, AppError> {
    let mut v = Validator::new();
    let ended_on = match body.ended_on.as_deref().map(str::trim) {
        None | Some("") => Some(now.date_naive()),
        Some(date) => v.check("ended_on", parse_date(date)),
    };
    v.finish()?;
    let ended_on = ended_on.ok_or_else(|| AppError::internal("a validated field was missing"))?;
    let txn = crate::db::begin_write(db).await?;
    practice_patient(&txn, decider.practice_id, patient_id).await?;
    let code = access_codes::Entity::find_by_id(code_id)
        .filter(access_codes::Column::PatientId.eq(patient_id))
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    if code.ended_on.is_some() {
        return Ok(code.into());
    }
    let mut row = code.into_active_model();
    row.ended_on = Set(Some(ended_on));
    let row = row.update(&txn).await?;
    decider
        .event("record_access.code_ended", patient_id)
        .target("access_code", row.id)
        .detail(serde_json::json!({ "snomed_code": row.snomed_code, "ended_on": ended_on }))
        .record(&txn, now)
        .await?;
    crate::outbox::mark_patient_dirty(&txn, decider.practice_id, patient_id, "record_access", now)
        .await?;
    let answer = AccessCode::from(row);
    idempotent::store(call, &txn, 200, &answer).await?;
    txn.commit().await?;
    Ok(answer)
}

/// Every code on a patient's record, newest first.
pub async fn list(
    db: &DatabaseConnection,
    decider: &Decider,
    patient_id: Uuid,
) -> Result<Vec<AccessCode>, AppError> {
    practice_patient(db, decider.practice_id, patient_id).await?;
    Ok(access_codes::Entity::find()
        .filter(access_codes::Column::PatientId.eq(patient_id))
        .order_by_desc(access_codes::Column::RecordedAt)
        .all(db)
        .await?
        .into_iter()
        .map(AccessCode::from)
        .collect())
}
