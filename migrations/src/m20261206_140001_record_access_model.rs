//! The record access model of ADR 0002: the date every record item was entered or filed (what
//! prospective access is decided by), an end date for record-access codes, a proxy grant's own
//! record access date, and the practice's queue of patients' requests for their historic record.
//! Existing items take their entered date from what was stored: a coded entry its effective
//! date, a result or letter the day it was received.

use crate::builders::{code, create_all, index, owned_by, refers_to, table, timestamps};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The record item tables, each with the column its entered date is taken from.
const ITEMS: [(&str, &str); 3] = [
    ("record_entries", "effective_date"),
    ("results", "received_at"),
    ("documents", "received_at"),
];

const REQUESTS: &str = "record_access_requests";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for (item_table, source) in ITEMS {
            manager
                .alter_table(
                    Table::alter()
                        .table(item_table)
                        .add_column(col::date("entered_on").default("1970-01-01"))
                        .to_owned(),
                )
                .await?;
            // The day of a timestamp as stored, on either backend.
            let day = match (backend, source) {
                (_, "effective_date") => source.to_owned(),
                (DbBackend::Postgres, _) => format!("CAST(({source} AT TIME ZONE 'UTC') AS DATE)"),
                _ => format!("substr({source}, 1, 10)"),
            };
            manager
                .get_connection()
                .execute_unprepared(&format!("UPDATE {item_table} SET entered_on = {day}"))
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("access_codes")
                    .add_column(col::date_null("ended_on"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("proxy_grants")
                    .add_column(col::date_null("record_access_from"))
                    .to_owned(),
            )
            .await?;

        // A patient's request for their historic record, decided by the practice.
        let mut requests = table(REQUESTS);
        owned_by(&mut requests, "practice_id", "practices");
        owned_by(&mut requests, "patient_id", "patients");
        refers_to(&mut requests, "requested_by_account_id", "accounts")
            .col(code("level"))
            .col(col::text_null("note"))
            .col(code("status"));
        refers_to(&mut requests, "decided_by_staff_id", "staff")
            .col(col::timestamp_with_time_zone_null("decided_at"))
            .col(col::text_null("decision_reason"))
            .col(col::date_null("granted_from"));
        timestamps(&mut requests);
        create_all(
            manager,
            vec![requests],
            vec![
                index(REQUESTS, &["practice_id", "status"], false),
                index(REQUESTS, &["patient_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(REQUESTS).to_owned())
            .await?;
        for (table, column) in [
            ("proxy_grants", "record_access_from"),
            ("access_codes", "ended_on"),
            ("documents", "entered_on"),
            ("results", "entered_on"),
            ("record_entries", "entered_on"),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
