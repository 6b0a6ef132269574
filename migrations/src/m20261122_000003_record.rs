//! The GP record: coded entries by section, test results, documents and their blobs, and the
//! patient-facing access log. Visibility columns are read only by the access module.

use crate::builders::{code, create_all, drop_all, index, owned_by, refers_to, table, timestamps};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "blobs",
    "record_entries",
    "results",
    "documents",
    "access_log",
];

/// Review, release, withholding and retraction, shared by results and documents.
fn review_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(code("review_state"))
        .col(col::timestamp_with_time_zone_null("reviewed_at"));
    refers_to(table, "reviewed_by_staff_id", "staff")
        .col(col::text_null("clinician_comment"))
        // Never shown to the patient.
        .col(col::string_len_null("withhold_reason", 32))
        .col(col::timestamp_with_time_zone_null("released_at"))
        .col(col::timestamp_with_time_zone_null("retracted_at"))
        .col(col::text_null("retraction_reason"))
        .col(col::boolean("hidden"))
        .col(col::boolean("hidden_from_proxies"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Document bodies, stored once per content hash.
        let blobs = Table::create()
            .table("blobs")
            .col(col::char_len("sha256", 64).primary_key())
            .col(col::string_len("content_type", 64))
            .col(col::big_integer("size_bytes"))
            .col(col::blob("content"))
            .col(col::timestamp_with_time_zone("created_at"))
            .take();

        let mut entries = table("record_entries");
        owned_by(&mut entries, "patient_id", "patients")
            .col(col::string_null("external_id"))
            .col(code("section"))
            .col(col::string_len("snomed_code", 18))
            .col(col::string("term"))
            .col(col::date("effective_date"))
            .col(col::date_null("end_date"))
            .col(col::text_null("detail"))
            .col(col::string_null("author"))
            .col(col::boolean("hidden"))
            .col(col::boolean("hidden_from_proxies"))
            .col(col::timestamp_with_time_zone_null("retracted_at"));
        timestamps(&mut entries);

        let mut results = table("results");
        owned_by(&mut results, "patient_id", "patients")
            .col(col::string_null("external_id"))
            .col(col::string_len("test_code", 18))
            .col(col::string("test_name"))
            .col(col::string_len("value", 64))
            .col(col::double_null("numeric_value"))
            .col(col::string_len_null("unit", 32))
            .col(col::double_null("range_low"))
            .col(col::double_null("range_high"))
            .col(col::string_len_null("range_text", 64))
            .col(code("abnormal_flag"))
            .col(col::string_null("requester"))
            .col(col::date("effective_date"))
            .col(col::timestamp_with_time_zone("received_at"));
        review_columns(&mut results);
        timestamps(&mut results);

        let mut documents = table("documents");
        owned_by(&mut documents, "patient_id", "patients")
            .col(col::string_null("external_id"))
            .col(code("document_type"))
            .col(col::string("title"))
            .col(col::string_null("author_organisation"))
            .col(col::date("effective_date"))
            .col(col::string_len("content_type", 64))
            .col(col::big_integer("size_bytes"))
            .col(col::char_len("blob_sha256", 64))
            .foreign_key(
                ForeignKey::create()
                    .from_col("blob_sha256")
                    .to("blobs", "sha256")
                    .on_delete(ForeignKeyAction::Restrict),
            )
            .col(col::timestamp_with_time_zone("received_at"));
        review_columns(&mut documents);
        timestamps(&mut documents);

        // Who read what of a patient's record, shown to the patient.
        let mut access_log = table("access_log");
        owned_by(&mut access_log, "patient_id", "patients")
            .col(code("viewer_kind"))
            .col(col::uuid("viewer_id"))
            .col(col::string("viewer_role"))
            .col(col::string("viewer_organisation"))
            .col(code("section"))
            .col(col::uuid_null("item_id"))
            .col(col::uuid_null("device_id"))
            .col(col::timestamp_with_time_zone("accessed_at"));

        create_all(
            manager,
            vec![blobs, entries, results, documents, access_log],
            vec![
                index("record_entries", &["patient_id", "section"], false),
                index("record_entries", &["patient_id", "external_id"], true),
                index("results", &["patient_id", "test_code"], false),
                index("results", &["patient_id", "external_id"], true),
                index("results", &["review_state"], false),
                index("documents", &["patient_id", "external_id"], true),
                index("documents", &["review_state"], false),
                index("access_log", &["patient_id", "accessed_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
