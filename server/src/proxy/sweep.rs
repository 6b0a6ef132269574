//! The time rules of proxy access applied for a given `now`: suspension at the child's
//! birthdays and at 16, expiry, removal after years unused, and warnings to both sides. The age
//! rules themselves hold at request time (`access::rules::age_hold`); the sweep records the
//! suspensions for the practice's review list and sends the notices.

use super::decisions::update_if_status;
use super::{WARN_ACTION, WARNING_KIND, access_changed, status_code};
use crate::access::Scope;
use crate::access::rules::birthday;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::proxy_grants::{GrantStatus, LegalBasis};
use crate::db::entities::{accounts, audit_events, patients, practices, proxy_grants};
use crate::outbox;
use crate::settings::PracticeSettings;
use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use serde::Serialize;
use std::collections::HashMap;
use uuid::Uuid;

/// What one run of [`sweep`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Parental record access suspended for review at the practice's review age.
    pub suspended_age_review: usize,
    /// Grants suspended at the patient's 16th birthday without their consent.
    pub suspended_age_16: usize,
    /// Grants past their end date.
    pub expired: usize,
    /// Grants removed after years unused.
    pub revoked_unused: usize,
    /// Grants whose two sides were warned of an end or suspension.
    pub warned: usize,
}

fn has_record_scope(grant: &proxy_grants::Model) -> bool {
    Scope::of_grant(grant).iter().any(|s| s.is_record())
}

/// The next age suspension that applies to a grant, if any: the date and reason code. A rule
/// whose birthday came before the decision was decided with the age in view and does not apply.
fn age_suspension(
    grant: &proxy_grants::Model,
    patient: &patients::Model,
    settings: &PracticeSettings,
) -> Option<(NaiveDate, &'static str)> {
    let decided = grant.decided_at.date_naive();
    let sixteen = birthday(patient.date_of_birth, 16);
    let at_16 = (grant.young_person_consent_at.is_none() && decided < sixteen)
        .then_some((sixteen, "age_16"));
    let review = birthday(
        patient.date_of_birth,
        settings.parental_record_access_review_age,
    );
    let at_review = (grant.legal_basis == LegalBasis::ParentalResponsibility
        && has_record_scope(grant)
        && decided < review
        && review < sixteen)
        .then_some((review, "age_review"));
    [at_review, at_16]
        .into_iter()
        .flatten()
        .min_by_key(|(on, _)| *on)
}

/// What the sweep does to one grant today.
enum Effect {
    Suspend(&'static str),
    Expire,
    RevokeUnused,
    Warn(NaiveDate),
}

fn effect(
    grant: &proxy_grants::Model,
    patient: &patients::Model,
    settings: &PracticeSettings,
    today: NaiveDate,
) -> Option<Effect> {
    if grant.ends_on.is_some_and(|end| end < today) {
        return Some(Effect::Expire);
    }
    let last_used = grant.last_used_at.unwrap_or(grant.decided_at).date_naive();
    let unused_until = last_used
        .checked_add_months(Months::new(settings.proxy_unused_removal_years * 12))
        .unwrap_or(NaiveDate::MAX);
    if today >= unused_until {
        return Some(Effect::RevokeUnused);
    }
    if grant.status != GrantStatus::Active {
        return None;
    }
    let suspension = age_suspension(grant, patient, settings);
    if let Some((on, reason)) = suspension
        && today >= on
    {
        return Some(Effect::Suspend(reason));
    }
    // The next end: the day after the last day, or the age suspension, whichever is first.
    let ending = [
        grant.ends_on.and_then(|end| end.succ_opt()),
        suspension.map(|(on, _)| on),
    ]
    .into_iter()
    .flatten()
    .min()?;
    let warn_from = ending - Duration::days(i64::from(settings.proxy_warning_days));
    (today >= warn_from && today < ending).then_some(Effect::Warn(ending))
}

/// The accounts of both sides of a grant: the patient's own, and the proxy's.
async fn both_sides(
    db: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
) -> Result<Vec<Uuid>, DbErr> {
    let mut condition =
        sea_orm::Condition::any().add(accounts::Column::PatientId.eq(grant.patient_id));
    if let Some(id) = grant.proxy_patient_id {
        condition = condition.add(accounts::Column::PatientId.eq(id));
    }
    if let Some(id) = grant.proxy_carer_id {
        condition = condition.add(accounts::Column::CarerId.eq(id));
    }
    Ok(accounts::Entity::find()
        .filter(condition)
        .all(db)
        .await?
        .into_iter()
        .map(|a| a.id)
        .collect())
}

/// Queues a content-free notification of `kind` for both sides of a grant.
pub(super) async fn notify_both_sides(
    db: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    for account in both_sides(db, grant).await? {
        outbox::queue(
            db,
            grant.practice_id,
            account,
            grant.patient_id,
            kind,
            "proxy",
            now,
        )
        .await?;
    }
    Ok(())
}

/// Whether both sides were already warned of the end falling on `ending`.
async fn already_warned(
    db: &impl ConnectionTrait,
    grant_id: Uuid,
    ending: NaiveDate,
) -> Result<bool, DbErr> {
    let events = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq(WARN_ACTION))
        .filter(audit_events::Column::TargetKind.eq("proxy_grant"))
        .filter(audit_events::Column::TargetId.eq(grant_id.to_string()))
        .all(db)
        .await?;
    let ending = ending.to_string();
    Ok(events
        .iter()
        .any(|e| e.detail.get("ending_on").and_then(|v| v.as_str()) == Some(ending.as_str())))
}

/// Applies the time rules of proxy access as of `now`, one transaction per grant changed:
///
/// 1. parental-responsibility grants with record scopes are suspended (`age_review`) on the
///    child's birthday at the practice's `parental_record_access_review_age` (11 by default);
/// 2. every grant decided before the patient turned 16 is suspended (`age_16`) on their 16th
///    birthday unless the young person's consent is recorded;
/// 3. grants past their end date expire;
/// 4. grants unused (since last use, else since the decision) for
///    `proxy_unused_removal_years` are revoked (`revoked_by` `system`, reason `unused`);
/// 5. both sides are warned (`proxy_access_ending`) `proxy_warning_days` before an end date or
///    an age suspension, once per grant and end (the `proxy.warn` audit event is the marker).
///
/// Running it twice for the same day writes nothing new. [`crate::jobs`] runs it on every
/// node's schedule, and `gp-online proxy sweep` runs it once.
pub async fn sweep(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<SweepReport, DbErr> {
    let today = now.date_naive();
    let mut report = SweepReport::default();
    let grants = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::Status.is_in([GrantStatus::Active, GrantStatus::Suspended]))
        .order_by_asc(proxy_grants::Column::Id)
        .all(db)
        .await?;
    let mut settings_of: HashMap<Uuid, PracticeSettings> = HashMap::new();
    for grant in grants {
        let Some(patient) = patients::Entity::find_by_id(grant.patient_id)
            .one(db)
            .await?
        else {
            continue;
        };
        let settings = match settings_of.get(&grant.practice_id) {
            Some(settings) => settings.clone(),
            None => {
                let settings = practices::Entity::find_by_id(grant.practice_id)
                    .one(db)
                    .await?
                    .and_then(|p| PracticeSettings::from_json(&p.settings).ok())
                    .unwrap_or_default();
                settings_of.insert(grant.practice_id, settings.clone());
                settings
            }
        };
        let Some(effect) = effect(&grant, &patient, &settings, today) else {
            continue;
        };
        let txn = crate::db::begin_write(db).await?;
        let done = apply(&txn, &grant, &effect, now).await?;
        txn.commit().await?;
        if done {
            match effect {
                Effect::Suspend("age_16") => report.suspended_age_16 += 1,
                Effect::Suspend(_) => report.suspended_age_review += 1,
                Effect::Expire => report.expired += 1,
                Effect::RevokeUnused => report.revoked_unused += 1,
                Effect::Warn(_) => report.warned += 1,
            }
        }
    }
    Ok(report)
}

/// Applies one effect; `false` when there was nothing to do (already warned, or the grant
/// changed meanwhile).
async fn apply(
    txn: &impl ConnectionTrait,
    grant: &proxy_grants::Model,
    effect: &Effect,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let system = |action: &'static str, detail: serde_json::Value| {
        AuditEvent::new(action, ActorKind::System, Outcome::Success)
            .practice(grant.practice_id)
            .acting_for(grant.patient_id)
            .target("proxy_grant", grant.id)
            .detail(detail)
    };
    let (update, event) = match effect {
        Effect::Warn(ending) => {
            if already_warned(txn, grant.id, *ending).await? {
                return Ok(false);
            }
            notify_both_sides(txn, grant, WARNING_KIND, now).await?;
            system(WARN_ACTION, serde_json::json!({ "ending_on": ending }))
                .record(txn, now)
                .await?;
            return Ok(true);
        }
        Effect::Suspend(reason) => (
            proxy_grants::ActiveModel {
                status: Set(GrantStatus::Suspended),
                suspended_at: Set(Some(now)),
                suspended_reason: Set(Some((*reason).to_owned())),
                updated_at: Set(now),
                ..Default::default()
            },
            system("proxy.suspend", serde_json::json!({ "reason": reason })),
        ),
        Effect::Expire => (
            proxy_grants::ActiveModel {
                status: Set(GrantStatus::Expired),
                updated_at: Set(now),
                ..Default::default()
            },
            system(
                "proxy.expire",
                serde_json::json!({ "ends_on": grant.ends_on, "from": status_code(grant.status) }),
            ),
        ),
        Effect::RevokeUnused => (
            proxy_grants::ActiveModel {
                status: Set(GrantStatus::Revoked),
                revoked_at: Set(Some(now)),
                revoked_by: Set(Some("system".to_owned())),
                updated_at: Set(now),
                ..Default::default()
            },
            system(
                "proxy.revoke",
                serde_json::json!({
                    "revoked_by": "system",
                    "reason": "unused",
                    "from": status_code(grant.status),
                }),
            ),
        ),
    };
    if !update_if_status(txn, grant, update).await? {
        return Ok(false);
    }
    event.record(txn, now).await?;
    access_changed(txn, grant, now).await?;
    Ok(true)
}
