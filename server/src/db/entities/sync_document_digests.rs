//! The `sync_document_digests` table: beside each section document, the digest of every item it
//! holds and how many changes were appended to it since it was last saved whole.

use sea_orm::entity::prelude::*;

/// What the projector keeps beside a stored document.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_document_digests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub audience: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub section: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub generation: i32,
    /// The document's `change_count` these digests describe; any other count makes them stale.
    pub change_count: i32,
    /// `sync_protocol::items::encode_digests` of the document's items.
    #[sea_orm(column_type = "Blob")]
    pub digests: Vec<u8>,
    /// Changes appended to the stored document since it was last saved whole.
    pub appended_changes: i32,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
