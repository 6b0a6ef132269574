//! The `session_families` table: one row per sign-in on one device, whose refresh tokens rotate
//! within the family.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A session family.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "session_families")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: SessionKind,
    pub account_id: Option<Uuid>,
    pub staff_id: Option<Uuid>,
    pub device_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub last_used_at: DateTimeUtc,
    pub absolute_expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_reason: Option<String>,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Who a session family belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A patient or proxy account session.
    #[sea_orm(string_value = "patient")]
    Patient,
    /// A practice staff session.
    #[sea_orm(string_value = "staff")]
    Staff,
}
