//! The `passkeys` table: one row per WebAuthn credential of a patient account or a staff member.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A WebAuthn credential.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "passkeys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Option<Uuid>,
    pub staff_id: Option<Uuid>,
    pub device_id: Option<Uuid>,
    #[sea_orm(unique)]
    pub credential_id: String,
    /// The serialised WebAuthn passkey.
    pub passkey: Json,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
