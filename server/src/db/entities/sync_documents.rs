//! The `sync_documents` table: one row per automerge document per audience × section × generation.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A stored sync document.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "sync_documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub audience: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub section: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub generation: i32,
    #[sea_orm(column_type = "Blob")]
    pub document: Vec<u8>,
    pub change_count: i32,
    /// The document's heads, 32 bytes per change hash (null: stored before heads were kept).
    #[sea_orm(column_type = "Blob", nullable)]
    pub heads: Option<Vec<u8>>,
    pub superseded_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
