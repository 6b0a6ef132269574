//! Writes to the projection and notification outboxes, always on the caller's transaction so
//! the change and the work it causes commit together. Rows carry ids and codes only: never
//! clinical text.

use crate::db::entities::{accounts, notification_outbox, projection_outbox};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};
use uuid::Uuid;

/// Marks a patient's record section as changed, for every audience that can see it.
pub async fn mark_dirty(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    section: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    projection_outbox::Entity::insert(projection_outbox::ActiveModel {
        id: NotSet,
        patient_id: Set(patient_id),
        section: Set(Some(section.to_owned())),
        reason: Set(reason.to_owned()),
        enqueued_at: Set(now),
        claimed_until: Set(None),
        claimed_by: Set(None),
        attempts: Set(0),
    })
    .exec(db)
    .await?;
    Ok(())
}

/// Queues a content-free notification of `kind` (e.g. `result_released`) for the patient's own
/// account, if they have one. Proxies are notified once proxy grants exist (a later step).
pub async fn notify_patient(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let Some(account) = accounts::Entity::find()
        .filter(accounts::Column::PatientId.eq(patient_id))
        .one(db)
        .await?
    else {
        return Ok(());
    };
    notification_outbox::Entity::insert(notification_outbox::ActiveModel {
        id: NotSet,
        account_id: Set(account.id),
        patient_id: Set(Some(patient_id)),
        kind: Set(kind.to_owned()),
        // Collapsed by topic: several releases in a row make one notification.
        topic: Set("record".to_owned()),
        created_at: Set(now),
        not_before: Set(now),
        expires_at: Set(now + Duration::days(7)),
        claimed_until: Set(None),
        attempts: Set(0),
        delivered_at: Set(None),
    })
    .exec(db)
    .await?;
    Ok(())
}
