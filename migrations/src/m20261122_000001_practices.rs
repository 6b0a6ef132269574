//! Practices, their staff, patients and carers, and the SNOMED codes that gate record access.

use crate::builders::{code, create_all, drop_all, index, owned_by, refers_to, table, timestamps};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["practices", "staff", "carers", "patients", "access_codes"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let practices = timestamps(
            table("practices")
                .col(col::string_len_uniq("ods_code", 6))
                .col(col::string("name"))
                // A practice that is not live refuses registration (docs/domain.md).
                .col(col::boolean("live"))
                // The date automatic (prospective) record access was switched on.
                .col(col::date_null("prospective_access_date"))
                // Per-practice settings and feature switches as JSON; defaults live in code.
                .col(col::json("settings")),
        )
        .take();

        let mut staff = table("staff");
        owned_by(&mut staff, "practice_id", "practices")
            .col(col::string("display_name"))
            .col(code("role"))
            .col(col::string_null("job_title"))
            .col(col::boolean("active"));
        timestamps(&mut staff);

        // A carer who acts for a patient but is not a patient of the practice.
        let mut carers = table("carers");
        owned_by(&mut carers, "practice_id", "practices")
            .col(col::string("given_name"))
            .col(col::string("family_name"))
            .col(col::date("date_of_birth"));
        timestamps(&mut carers);

        let mut patients = table("patients");
        owned_by(&mut patients, "practice_id", "practices")
            // The clinical system's own id, so imports are idempotent.
            .col(col::string_null("external_id"))
            .col(col::char_len("nhs_number", 10))
            .col(col::string("given_name"))
            .col(col::string("family_name"))
            .col(col::date("date_of_birth"))
            .col(code("sex"))
            .col(code("access_level"))
            // Per-patient start of record access; NULL means the practice's prospective date.
            .col(col::date_null("record_access_from"))
            // Recorded by the practice for under-16s judged competent to use online services.
            .col(col::boolean("competent"))
            .col(col::char_len_null("nominated_pharmacy_ods", 6))
            .col(col::timestamp_with_time_zone_null("archived_at"));
        timestamps(&mut patients);

        let mut access_codes = table("access_codes");
        owned_by(&mut access_codes, "patient_id", "patients")
            .col(col::string_null("external_id"))
            .col(col::string_len("snomed_code", 18))
            .col(col::timestamp_with_time_zone("recorded_at"));
        refers_to(&mut access_codes, "recorded_by_staff_id", "staff");

        create_all(
            manager,
            vec![practices, staff, carers, patients, access_codes],
            vec![
                index("staff", &["practice_id"], false),
                index("carers", &["practice_id"], false),
                index("patients", &["practice_id", "nhs_number"], true),
                index("patients", &["practice_id", "external_id"], true),
                index("patients", &["practice_id", "family_name"], false),
                index("access_codes", &["patient_id", "recorded_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
