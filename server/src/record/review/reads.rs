//! What a reviewing clinician reads: a result's trend and a letter's body.

use super::*;

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
