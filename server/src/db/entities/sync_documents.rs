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
    pub superseded_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
