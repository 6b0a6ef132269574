//! Who an account is when it acts for a patient: the patient themself, or a proxy under a
//! valid grant at the patient's practice. Anything else is no relationship at all, and callers
//! answer exactly as for a patient that does not exist.

use super::rules::{self, PatientFacts, Viewer};
use crate::db::entities::{accounts, proxy_grants};
use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

/// An account and the person who holds it: a patient, a carer or (for an account that is
/// neither) no one. Fixed when the account is registered, so a session carries it and no
/// request reads the account again to learn it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// The account.
    pub account_id: Uuid,
    /// The holder's own patient record, if they are a patient.
    pub patient_id: Option<Uuid>,
    /// The holder's own carer record, if they are a carer.
    pub carer_id: Option<Uuid>,
}

impl From<&accounts::Model> for Holder {
    fn from(account: &accounts::Model) -> Self {
        Self {
            account_id: account.id,
            patient_id: account.patient_id,
            carer_id: account.carer_id,
        }
    }
}

/// The viewer `holder` is for `facts.patient` today, if any: the patient themself without a
/// query, a proxy after reading the grants the holder has.
pub async fn for_account(
    db: &impl ConnectionTrait,
    holder: &Holder,
    facts: &PatientFacts,
    today: NaiveDate,
) -> Result<Option<Viewer>, DbErr> {
    let account_id = holder.account_id;
    if holder.patient_id == Some(facts.patient.id) {
        let viewer = Viewer::Patient { account_id };
        return Ok(rules::may_view_patient(&viewer, facts, today).then_some(viewer));
    }
    for grant in grants_held(db, holder).await? {
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
    holder: &Holder,
) -> Result<Vec<proxy_grants::Model>, DbErr> {
    let query = match (holder.patient_id, holder.carer_id) {
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
