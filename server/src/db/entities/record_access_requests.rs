//! The `record_access_requests` table: a patient's request for access to their historic record,
//! in the practice's queue until staff grant or decline it.

use super::patients::AccessLevel;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One request for historic record access.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "record_access_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub requested_by_account_id: Option<Uuid>,
    /// The level asked for.
    pub level: AccessLevel,
    #[sea_orm(column_type = "Text")]
    pub note: Option<String>,
    pub status: RequestStatus,
    pub decided_by_staff_id: Option<Uuid>,
    pub decided_at: Option<DateTimeUtc>,
    /// Why it was declined (shown to the patient), or a note on the grant.
    #[sea_orm(column_type = "Text")]
    pub decision_reason: Option<String>,
    /// The from-date granted.
    pub granted_from: Option<Date>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Where a request stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting in the practice's queue.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Granted: the patient's historic access was set.
    #[sea_orm(string_value = "granted")]
    Granted,
    /// Declined with a reason.
    #[sea_orm(string_value = "declined")]
    Declined,
}
