//! The item a projection outbox row names, when a write changed known items of a record,
//! results or documents section (a new or corrected entry, a result released): the projector then
//! reads and writes those items alone, not the whole section. Null as before: the whole section
//! (or, with no section, every section).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "projection_outbox";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .add_column(col::uuid_null("item_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .drop_column("item_id")
                    .to_owned(),
            )
            .await
    }
}
