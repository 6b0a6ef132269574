//! The `session_tokens` table: one row per access or refresh token of a session family (only its
//! hash is kept).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A session token.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "session_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub family_id: Uuid,
    pub kind: TokenKind,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// Set when a refresh token is exchanged; presenting it again revokes the family.
    pub used_at: Option<DateTimeUtc>,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// What a session token is used for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A short-lived access token.
    #[sea_orm(string_value = "access")]
    Access,
    /// A single-use refresh token.
    #[sea_orm(string_value = "refresh")]
    Refresh,
}
