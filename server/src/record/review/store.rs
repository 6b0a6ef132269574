//! Reading and writing the review columns shared by results and letters, and the notification
//! a release sends.

use super::*;

/// The review columns shared by `results` and `documents`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Col {
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
pub(super) trait Reviewable: EntityTrait {
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
pub(super) async fn load_locked<E: Reviewable>(
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
pub(super) async fn notify_release(
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

pub(super) async fn write<E: Reviewable>(
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
