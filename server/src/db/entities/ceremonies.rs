//! The `ceremonies` table: one row per server-side WebAuthn ceremony state (single use, short-
//! lived).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A pending or consumed WebAuthn ceremony.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "ceremonies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: CeremonyKind,
    pub state: Json,
    pub context: Json,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub consumed_at: Option<DateTimeUtc>,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Which WebAuthn ceremony a stored state belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum CeremonyKind {
    /// Registering the first passkey of a new account.
    #[sea_orm(string_value = "registration")]
    Registration,
    /// Signing in with an existing passkey.
    #[sea_orm(string_value = "login")]
    Login,
    /// A staff member enrolling their passkey.
    #[sea_orm(string_value = "staff_enrolment")]
    StaffEnrolment,
    /// Adding another passkey to an existing account.
    #[sea_orm(string_value = "add_passkey")]
    AddPasskey,
}
