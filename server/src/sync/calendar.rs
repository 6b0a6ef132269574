//! Date boundaries: what a patient's stored documents hold changes on some days with nothing
//! written at all (a child's birthday at the review age or at 16, a grant's first day or the
//! day after its last, an access code coming into force or ending, prospective access
//! beginning, a course ending or passing its review date, an appointment leaving the past
//! year's list). The projector keeps, per patient with stored documents, the first such instant
//! ahead ([`due_at`], table `projection_due`); when it comes, [`take_due`] marks the patient in
//! the projection outbox (reason [`REASON`]) so the relay projects them through the usual path
//! and announces them to live connections (a document no longer permitted is ended: devices
//! are told `removed`). [`mark_due`] is the periodic job's run (`jobs.date_boundaries_secs`,
//! and `gp-online sync date-boundaries`); a device's frame about a patient whose instant has
//! come marks and projects them before it is answered ([`super::projector::project_if_pending`]).
//! Only patients whose instant has come are read: nobody is projected again just because a day
//! passed.

use crate::access::rules::{self, PatientFacts};
use crate::db::entities::{appointments, courses, projection_due, proxy_grants, slots};
use crate::error::AppError;
use crate::{outbox, prescriptions};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

/// The projection outbox reason of a patient marked because a date boundary came.
pub const REASON: &str = "date_boundary";

/// Patients marked per transaction of [`mark_due`].
const BATCH: usize = 500;

/// The first instant after `now` at which anything the patient's documents hold may change
/// with no write: the access rules' next day ([`rules::next_boundary`]), a course's review
/// becoming due ([`prescriptions::review_due_changes_on`]) and a listed appointment leaving
/// the past year ([`crate::appointments::leaves_the_list_at`]). Days begin at midnight UTC, as
/// the rules' `today` does.
pub async fn due_at(
    db: &impl ConnectionTrait,
    facts: &PatientFacts,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let today = now.date_naive();
    let patient_id = facts.patient.id;
    let grants = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::PatientId.eq(patient_id))
        .all(db)
        .await?;
    let courses = courses::Entity::find()
        .filter(courses::Column::PatientId.eq(patient_id))
        .all(db)
        .await?;
    let listed = Query::select()
        .column(appointments::Column::SlotId)
        .from(appointments::Entity)
        .and_where(appointments::Column::PatientId.eq(patient_id))
        .to_owned();
    let first_listed: Option<DateTime<Utc>> = slots::Entity::find()
        .select_only()
        .column(slots::Column::StartsAt)
        .filter(slots::Column::Id.in_subquery(listed))
        .filter(slots::Column::StartsAt.gte(crate::appointments::past_shown_from(now)))
        .order_by_asc(slots::Column::StartsAt)
        .into_tuple()
        .one(db)
        .await?;
    let days = rules::next_boundary(facts, &grants, &courses, today)
        .into_iter()
        .chain(
            courses
                .iter()
                .filter_map(|course| prescriptions::review_due_changes_on(course, today)),
        )
        .map(midnight);
    let appointment = first_listed.map(crate::appointments::leaves_the_list_at);
    Ok(days.chain(appointment).filter(|at| *at > now).min())
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// Stores the patient's next boundary as of `now` (within the caller's transaction, after their
/// documents were projected as of `now`), or forgets it when there is none (or no patient).
pub async fn keep(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    facts: Option<&PatientFacts>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let due = match facts {
        Some(facts) => due_at(db, facts, now)
            .await?
            .map(|due| (facts.patient.practice_id, due)),
        None => None,
    };
    let Some((practice_id, due)) = due else {
        projection_due::Entity::delete_by_id(patient_id)
            .exec(db)
            .await?;
        return Ok(());
    };
    projection_due::Entity::insert(projection_due::ActiveModel {
        patient_id: Set(patient_id),
        practice_id: Set(practice_id),
        due_at: Set(due),
    })
    .on_conflict(
        OnConflict::column(projection_due::Column::PatientId)
            .update_column(projection_due::Column::DueAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Whether the patient's boundary has come by `now` (a plain read).
pub async fn is_due(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(projection_due::Entity::find_by_id(patient_id)
        .filter(projection_due::Column::DueAt.lte(now))
        .one(db)
        .await?
        .is_some())
}

/// Marks the patient in the projection outbox if their boundary has come by `now`, taking the
/// boundary (the projection stores the next one) in the caller's transaction; whether it did.
/// Of several nodes taking the same boundary at once, one marks: the row is taken by a
/// conditional `DELETE`.
pub async fn take_due(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let Some(row) = projection_due::Entity::find_by_id(patient_id)
        .filter(projection_due::Column::DueAt.lte(now))
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    let taken = projection_due::Entity::delete_many()
        .filter(projection_due::Column::PatientId.eq(patient_id))
        .filter(projection_due::Column::DueAt.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    if taken == 0 {
        return Ok(false);
    }
    outbox::mark_patient_dirty(db, row.practice_id, patient_id, REASON, now).await?;
    Ok(true)
}

/// Marks every patient whose boundary has come by `now`, in transactions of [`BATCH`]; returns
/// how many were marked. Reads only the boundaries that have come (an index on `due_at`).
pub async fn mark_due(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<usize, DbErr> {
    let mut marked = 0;
    loop {
        let due: Vec<Uuid> = projection_due::Entity::find()
            .select_only()
            .column(projection_due::Column::PatientId)
            .filter(projection_due::Column::DueAt.lte(now))
            .order_by_asc(projection_due::Column::DueAt)
            .limit(u64::try_from(BATCH).unwrap_or(u64::MAX))
            .into_tuple()
            .all(db)
            .await?;
        if due.is_empty() {
            return Ok(marked);
        }
        let txn = crate::db::begin_write(db).await?;
        for patient_id in &due {
            if take_due(&txn, *patient_id, now).await? {
                marked += 1;
            }
        }
        txn.commit().await?;
        if due.len() < BATCH {
            return Ok(marked);
        }
    }
}
