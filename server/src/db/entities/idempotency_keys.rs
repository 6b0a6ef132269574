//! The `idempotency_keys` table: one row per idempotency key used by a principal, with the stored
//! response (and its media type), or, while the request runs, the claim's lease
//! (`claimed_until`).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An idempotency key and its stored response.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub principal: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub request_hash: String,
    pub response_status: Option<i32>,
    #[sea_orm(column_type = "Blob")]
    pub response_body: Option<Vec<u8>>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// A claim without a response holds the key until then; past it the claim is stale.
    pub claimed_until: Option<DateTimeUtc>,
    /// The stored response's `Content-Type`.
    pub response_content_type: Option<String>,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
