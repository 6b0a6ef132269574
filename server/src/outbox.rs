//! Writes to the projection and notification outboxes, always on the caller's transaction so
//! the change and the work it causes commit together. Rows carry ids and codes only: never
//! clinical text.

use crate::access::rules::PatientFacts;
use crate::access::{Viewer, slice, viewer};
use crate::db::entities::{notification_outbox, projection_outbox};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{ActiveValue::NotSet, ConnectionTrait, DbErr, EntityTrait, Set};
use std::collections::BTreeSet;
use sync_protocol::Section;
use uuid::Uuid;

/// Marks a patient's synced `section` as changed, for every audience that can see it.
pub async fn mark_dirty(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    patient_id: Uuid,
    section: Section,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    insert_row(db, practice_id, patient_id, Some(section), reason, now).await
}

/// Items named in one write beyond which the whole section is marked instead: projecting a
/// whole section reads it once, which is cheaper than one outbox row per item of a large import.
pub const ITEMS_PER_MARK: usize = 64;

/// Marks `items` of a patient's synced `section` as changed, so the projector reads and writes
/// those items alone (the whole section when there are more than [`ITEMS_PER_MARK`]).
pub async fn mark_items_dirty(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    patient_id: Uuid,
    section: Section,
    items: &BTreeSet<Uuid>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if items.is_empty() || items.len() > ITEMS_PER_MARK {
        return mark_dirty(db, practice_id, patient_id, section, reason, now).await;
    }
    let rows = items.iter().map(|item| {
        projection_row(
            practice_id,
            patient_id,
            Some(section),
            Some(*item),
            reason,
            now,
        )
    });
    projection_outbox::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Marks every synced section of a patient as changed (`section` left empty): for a change no
/// single section owns, such as a date boundary passing.
pub async fn mark_patient_dirty(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    patient_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    insert_row(db, practice_id, patient_id, None, reason, now).await
}

/// Inserts one projection outbox row (`section` empty: every section).
async fn insert_row(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    patient_id: Uuid,
    section: Option<Section>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    projection_outbox::Entity::insert(projection_row(
        practice_id,
        patient_id,
        section,
        None,
        reason,
        now,
    ))
    .exec(db)
    .await?;
    Ok(())
}

/// A projection outbox row (`section` empty: every section; `item` empty: the whole section).
pub fn projection_row(
    practice_id: Uuid,
    patient_id: Uuid,
    section: Option<Section>,
    item: Option<Uuid>,
    reason: &str,
    now: DateTime<Utc>,
) -> projection_outbox::ActiveModel {
    projection_outbox::ActiveModel {
        id: NotSet,
        practice_id: Set(practice_id),
        patient_id: Set(patient_id),
        section: Set(section.map(|s| s.as_str().to_owned())),
        item_id: Set(item),
        reason: Set(reason.to_owned()),
        enqueued_at: Set(now),
        claimed_until: Set(None),
        claimed_by: Set(None),
        attempts: Set(0),
    }
}

/// Queues a content-free notification of `kind` (e.g. `result_released`) for each account that
/// acts for the patient (their own, and each proxy's under a valid grant) when `may_hear` says
/// the change is within what that viewer may see: the caller asks the access rules, so a proxy
/// never hears of an item hidden from them, even without its content.
pub async fn notify(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    kind: &str,
    now: DateTime<Utc>,
    may_hear: impl Fn(&Viewer, &PatientFacts, NaiveDate) -> bool,
) -> Result<(), DbErr> {
    let today = now.date_naive();
    let Some(facts) = slice::facts(db, patient_id).await? else {
        return Ok(());
    };
    for audience in viewer::audiences(db, &facts, today).await? {
        let account_id = match &audience {
            Viewer::Patient { account_id } | Viewer::Proxy { account_id, .. } => *account_id,
            Viewer::Staff { .. } => continue,
        };
        if !may_hear(&audience, &facts, today) {
            continue;
        }
        // Collapsed by topic: several releases in a row make one notification.
        let patient = &facts.patient;
        queue(
            db,
            patient.practice_id,
            account_id,
            patient.id,
            kind,
            "record",
            now,
        )
        .await?;
    }
    Ok(())
}

/// Queues one content-free notification of `kind` for an account, about `patient_id` of
/// `practice_id`, collapsed with others of the same `topic` and kept for a week.
pub async fn queue(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    account_id: Uuid,
    patient_id: Uuid,
    kind: &str,
    topic: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    notification_outbox::Entity::insert(notification_outbox::ActiveModel {
        id: NotSet,
        practice_id: Set(practice_id),
        account_id: Set(account_id),
        patient_id: Set(Some(patient_id)),
        kind: Set(kind.to_owned()),
        topic: Set(topic.to_owned()),
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
