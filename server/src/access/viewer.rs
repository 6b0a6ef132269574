//! Who an account is when it acts for a patient: the patient themself, or a proxy under a
//! valid grant at the patient's practice. Anything else is no relationship at all, and callers
//! answer exactly as for a patient that does not exist.

use super::rules::{self, PatientFacts, Viewer};
use crate::db::entities::{accounts, proxy_grants};
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

/// The viewer an account is for `facts.patient` today, if any.
pub async fn for_account(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    facts: &PatientFacts,
    today: NaiveDate,
) -> Result<Option<Viewer>, DbErr> {
    let Some(account) = accounts::Entity::find_by_id(account_id).one(db).await? else {
        return Ok(None);
    };
    if account.patient_id == Some(facts.patient.id) {
        let viewer = Viewer::Patient { account_id };
        return Ok(rules::may_view_patient(&viewer, facts, today).then_some(viewer));
    }
    for grant in grants_held(db, &account).await? {
        if grant.patient_id == facts.patient.id && rules::grant_is_valid(&grant, facts, today) {
            return Ok(Some(Viewer::Proxy {
                account_id,
                grant: Box::new(grant),
            }));
        }
    }
    Ok(None)
}

/// Everyone who may act for the patient today: the patient's own account, and each proxy's
/// account under a valid grant. Who hears of a change is decided from this list.
pub async fn audiences(
    db: &impl ConnectionTrait,
    facts: &PatientFacts,
    today: NaiveDate,
) -> Result<Vec<Viewer>, DbErr> {
    let mut viewers: Vec<Viewer> = accounts::Entity::find()
        .filter(accounts::Column::PatientId.eq(facts.patient.id))
        .all(db)
        .await?
        .into_iter()
        .map(|account| Viewer::Patient {
            account_id: account.id,
        })
        .filter(|viewer| rules::may_view_patient(viewer, facts, today))
        .collect();
    let grants = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::PatientId.eq(facts.patient.id))
        .all(db)
        .await?;
    for grant in grants {
        if !rules::grant_is_valid(&grant, facts, today) {
            continue;
        }
        let holder = match (grant.proxy_patient_id, grant.proxy_carer_id) {
            (Some(patient_id), _) => accounts::Column::PatientId.eq(patient_id),
            (None, Some(carer_id)) => accounts::Column::CarerId.eq(carer_id),
            (None, None) => continue,
        };
        for account in accounts::Entity::find().filter(holder).all(db).await? {
            viewers.push(Viewer::Proxy {
                account_id: account.id,
                grant: Box::new(grant.clone()),
            });
        }
    }
    Ok(viewers)
}

/// Every grant naming the account holder as proxy (valid or not; callers check validity).
pub async fn grants_held(
    db: &impl ConnectionTrait,
    account: &accounts::Model,
) -> Result<Vec<proxy_grants::Model>, DbErr> {
    let query = match (account.patient_id, account.carer_id) {
        (Some(patient_id), _) => {
            proxy_grants::Entity::find().filter(proxy_grants::Column::ProxyPatientId.eq(patient_id))
        }
        (None, Some(carer_id)) => {
            proxy_grants::Entity::find().filter(proxy_grants::Column::ProxyCarerId.eq(carer_id))
        }
        (None, None) => return Ok(Vec::new()),
    };
    query.all(db).await
}
