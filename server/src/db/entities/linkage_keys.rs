//! The `linkage_keys` table: one row per Account ID + Linkage Key handed over at the desk (only the
//! key's hash is kept).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An issued linkage key.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "linkage_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Option<Uuid>,
    pub carer_id: Option<Uuid>,
    pub account_code: String,
    pub key_hash: String,
    pub recovery: bool,
    pub failed_attempts: i32,
    pub expires_at: DateTimeUtc,
    pub locked_at: Option<DateTimeUtc>,
    pub used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub issued_by_staff_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
