//! Idempotency claims that cannot be stranded, and replays that keep their content type.
//!
//! - `claimed_until`: a claim in flight (no stored response yet) holds its key only until
//!   then; a claim whose request died (the process killed, the request cancelled) becomes
//!   claimable again once it passes. Null for rows written before: such a claim is stale.
//! - `response_content_type`: the stored response's media type, so a replay is labelled as the
//!   original was. Null for rows written before: JSON, as before.
//!
//! The scheduled purge of expired rows uses the existing index on `expires_at`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "idempotency_keys";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .add_column(col::timestamp_with_time_zone_null("claimed_until"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .add_column(col::string_len_null("response_content_type", 128))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .drop_column("response_content_type")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TABLE)
                    .drop_column("claimed_until")
                    .to_owned(),
            )
            .await
    }
}
