//! When each patient's synced documents must next be projected again with no write at all: the
//! first instant at which an access rule's or a service list's answer changes by the date alone
//! (a birthday, a grant's or code's end, a switch-on date arriving, a course ending). The
//! projector writes it with the documents; the date-boundary job marks the patients whose
//! instant has come. One row per patient with stored documents and a boundary ahead, carrying the patient's
//! practice as every patient-scoped row does (docs/SCALING.md). Documents
//! stored before had no boundary kept: every existing patient is due at once (at their
//! `created_at`), so the job's first run projects each one with stored documents once and keeps
//! their real boundary.

use crate::builders;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "projection_due";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let due = Table::create()
            .table(TABLE)
            .col(col::pk_uuid("patient_id"))
            .col(col::uuid("practice_id"))
            .col(col::timestamp_with_time_zone("due_at"))
            .foreign_key(
                ForeignKey::create()
                    .name("fk_projection_due_practice")
                    .from_col("practice_id")
                    .to("practices", "id"),
            )
            .foreign_key(
                ForeignKey::create()
                    .name("fk_projection_due_patient")
                    .from_col("patient_id")
                    .to("patients", "id")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .take();
        builders::create_all(
            manager,
            vec![due],
            vec![builders::index(TABLE, &["due_at"], false)],
        )
        .await?;
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO {TABLE} (patient_id, practice_id, due_at) \
                 SELECT id, practice_id, created_at FROM patients"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TABLE).to_owned())
            .await
    }
}
