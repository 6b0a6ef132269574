//! The `device_sync_states` table: one row per device × sync document, holding the device's sync
//! state.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A device's sync state for one document.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "device_sync_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub device_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_key: String,
    pub generation: i32,
    #[sea_orm(column_type = "Blob")]
    pub state: Vec<u8>,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
