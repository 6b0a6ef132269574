//! What the projector keeps beside each section document: the digest of every item it holds
//! (so a projection reads and writes only the items that changed, and an unchanged one does no
//! document work at all) and how many changes were appended to the stored document since it was
//! last saved whole.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "sync_document_digests";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per document row; valid only while `change_count` equals the document's.
        let digests = Table::create()
            .table(TABLE)
            .col(col::string_len("audience", 80))
            .col(col::string_len("section", 32))
            .col(col::integer("generation"))
            .col(col::integer("change_count"))
            .col(col::blob("digests"))
            .col(col::integer("appended_changes"))
            .primary_key(
                Index::create()
                    .col("audience")
                    .col("section")
                    .col("generation"),
            )
            .foreign_key(
                ForeignKey::create()
                    .name("fk_sync_document_digests_document")
                    .from_col("audience")
                    .from_col("section")
                    .from_col("generation")
                    .to_tbl("sync_documents")
                    .to_col("audience")
                    .to_col("section")
                    .to_col("generation")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .take();
        manager.create_table(digests).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TABLE).to_owned())
            .await
    }
}
