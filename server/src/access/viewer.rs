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
