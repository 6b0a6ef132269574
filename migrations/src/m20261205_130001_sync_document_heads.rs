//! The heads of each stored section document (its change hashes, 32 bytes each), written by the
//! projector with the document, so a sync can tell that a device is up to date without loading
//! the document. Null for documents stored before: they are loaded once and get their heads.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "sync_documents";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .add_column(col::blob_null("heads"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(TABLE).drop_column("heads").to_owned())
            .await
    }
}
