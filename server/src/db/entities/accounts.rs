//! The `accounts` table: one row per person's login (a patient or a carer).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A login; exactly one of `patient_id` / `carer_id` says who the person is.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Option<Uuid>,
    pub carer_id: Option<Uuid>,
    pub status: AccountStatus,
    pub last_login_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The patient who holds the account, if a patient does.
    #[sea_orm(
        belongs_to = "super::patients::Entity",
        from = "Column::PatientId",
        to = "super::patients::Column::Id"
    )]
    Patient,
}

impl Related<super::patients::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Patient.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// Lifecycle state of an account.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// The account can sign in.
    #[sea_orm(string_value = "active")]
    Active,
    /// Sign-in is temporarily blocked.
    #[sea_orm(string_value = "suspended")]
    Suspended,
    /// The account is closed for good.
    #[sea_orm(string_value = "closed")]
    Closed,
}
