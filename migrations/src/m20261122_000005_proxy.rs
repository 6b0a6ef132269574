//! Proxy grants (NHS England proxy standard): who may act for whom, with which scopes, on what
//! legal basis, decided by whom, and for how long. Refused requests are kept too.

use crate::builders::{code, create_all, drop_all, index, owned_by, refers_to, table, timestamps};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &["proxy_grants"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut grants = table("proxy_grants");
        owned_by(&mut grants, "practice_id", "practices");
        owned_by(&mut grants, "patient_id", "patients");
        // The proxy is either a patient of the practice or a carer.
        refers_to(&mut grants, "proxy_patient_id", "patients");
        refers_to(&mut grants, "proxy_carer_id", "carers")
            .col(col::string("relationship"))
            .col(code("status"))
            // Comma-separated scope codes (appointments, prescriptions, messages, …).
            .col(col::string("scopes"))
            .col(code("legal_basis"));
        refers_to(&mut grants, "decided_by_staff_id", "staff")
            .col(col::timestamp_with_time_zone("decided_at"))
            .col(col::date("starts_on"))
            .col(col::date_null("ends_on"))
            // An open-ended grant is an exception that must be marked as such.
            .col(col::boolean("no_end_date_exception"))
            .col(col::timestamp_with_time_zone_null(
                "young_person_consent_at",
            ))
            .col(col::timestamp_with_time_zone_null("suspended_at"))
            .col(col::string_len_null("suspended_reason", 32))
            .col(col::timestamp_with_time_zone_null("revoked_at"))
            .col(col::string_len_null("revoked_by", 32))
            .col(col::text_null("refusal_reason"))
            .col(col::timestamp_with_time_zone_null("last_used_at"));
        timestamps(&mut grants);

        create_all(
            manager,
            vec![grants],
            vec![
                index("proxy_grants", &["patient_id"], false),
                index("proxy_grants", &["proxy_patient_id"], false),
                index("proxy_grants", &["proxy_carer_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
