//! The patient's side of proxy access: their proxies listed and revoked, and a proxy's use of a
//! grant recorded.

use super::decisions::revoke;
use super::{Grant, view};
use crate::access::viewer::{self, Holder};
use crate::access::{Viewer, slice};
use crate::db::entities::audit_events::ActorKind;
use crate::db::entities::proxy_grants::GrantStatus;
use crate::db::entities::{patients, proxy_grants};
use crate::error::{AppError, ErrorCode};
use crate::validate::age_on;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

/// The patient's own account for `patient_id`, or 404 (a proxy, too, gets 404).
async fn own_patient(
    db: &impl ConnectionTrait,
    holder: &Holder,
    patient_id: Uuid,
    today: NaiveDate,
) -> Result<patients::Model, AppError> {
    let facts = slice::facts(db, patient_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    match viewer::for_account(db, holder, &facts, today).await? {
        Some(Viewer::Patient { .. }) => Ok(facts.patient),
        _ => Err(AppError::not_found()),
    }
}

/// The patient's proxies: each grant in force today, and each suspended one, with what it
/// covers. Only the patient themself may ask; anyone else gets 404.
pub async fn list_for_patient(
    db: &DatabaseConnection,
    holder: &Holder,
    patient_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Grant>, AppError> {
    let today = now.date_naive();
    let patient = own_patient(db, holder, patient_id, today).await?;
    let grants = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::PatientId.eq(patient.id))
        .filter(proxy_grants::Column::PracticeId.eq(patient.practice_id))
        .filter(proxy_grants::Column::Status.is_in([GrantStatus::Active, GrantStatus::Suspended]))
        .order_by_asc(proxy_grants::Column::DecidedAt)
        .order_by_asc(proxy_grants::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for grant in grants {
        let in_date = grant.starts_on <= today && grant.ends_on.is_none_or(|end| today <= end);
        if grant.status == GrantStatus::Suspended || in_date {
            out.push(view(db, grant).await?);
        }
    }
    Ok(out)
}

/// The patient revokes one of their proxies at once (`revoked_by` `patient`). They need
/// capacity: 16 or over, or recorded by the practice as competent; otherwise
/// `capacity_required`. A grant already revoked is a replay; any other patient's grant is 404.
pub async fn revoke_by_patient(
    db: &DatabaseConnection,
    holder: &Holder,
    patient_id: Uuid,
    grant_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let today = now.date_naive();
    let txn = crate::db::begin_write(db).await?;
    let patient = own_patient(&txn, holder, patient_id, today).await?;
    let grant = proxy_grants::Entity::find_by_id(grant_id)
        .one(&txn)
        .await?
        .filter(|g| g.patient_id == patient.id)
        .ok_or_else(AppError::not_found)?;
    if !(age_on(patient.date_of_birth, today) >= 16 || patient.competent) {
        return Err(AppError::new(ErrorCode::CapacityRequired));
    }
    match grant.status {
        GrantStatus::Revoked => {
            txn.rollback().await?;
            return Ok(());
        }
        GrantStatus::Active | GrantStatus::Suspended => {}
        _ => return Err(AppError::not_found()),
    }
    revoke(
        &txn,
        &grant,
        "patient",
        "patient_request",
        ActorKind::Patient,
        Some(holder.account_id),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Records that a proxy used their grant now, for the rule that removes grants unused for
/// years. Written at most once a day per grant, so a busy proxy costs one small update a day.
pub async fn record_use(
    db: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if grant
        .last_used_at
        .is_some_and(|used| now - used < Duration::days(1))
    {
        return Ok(());
    }
    proxy_grants::Entity::update_many()
        .col_expr(proxy_grants::Column::LastUsedAt, Expr::value(now))
        .filter(proxy_grants::Column::Id.eq(grant.id))
        .exec(db)
        .await?;
    Ok(())
}
