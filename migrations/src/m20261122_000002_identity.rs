//! Accounts and how people prove who they are: linkage details, passkeys, devices, sessions,
//! ceremonies, staff enrolment codes and clinical-system keys. Secrets are stored only as hashes.

use crate::builders::{code, create_all, drop_all, index, owned_by, refers_to, table, timestamps};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "accounts",
    "linkage_keys",
    "devices",
    "passkeys",
    "ceremonies",
    "staff_enrolments",
    "session_families",
    "session_tokens",
    "integration_keys",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A person's login. Exactly one of patient_id / carer_id says who the person is.
        let mut accounts = table("accounts");
        owned_by(&mut accounts, "practice_id", "practices");
        refers_to(&mut accounts, "patient_id", "patients");
        refers_to(&mut accounts, "carer_id", "carers")
            .col(code("status"))
            .col(col::timestamp_with_time_zone_null("last_login_at"));
        timestamps(&mut accounts);

        // Account ID + Linkage Key handed over at the desk (IM1). Only the key's hash is kept.
        let mut linkage_keys = table("linkage_keys");
        owned_by(&mut linkage_keys, "practice_id", "practices");
        refers_to(&mut linkage_keys, "patient_id", "patients");
        refers_to(&mut linkage_keys, "carer_id", "carers")
            .col(col::string_len("account_code", 16))
            .col(col::string_len("key_hash", 64))
            .col(col::boolean("recovery"))
            .col(col::integer("failed_attempts"))
            .col(col::timestamp_with_time_zone("expires_at"))
            .col(col::timestamp_with_time_zone_null("locked_at"))
            .col(col::timestamp_with_time_zone_null("used_at"))
            .col(col::timestamp_with_time_zone_null("revoked_at"));
        refers_to(&mut linkage_keys, "issued_by_staff_id", "staff")
            .col(col::timestamp_with_time_zone("created_at"));

        let mut devices = table("devices");
        owned_by(&mut devices, "account_id", "accounts")
            .col(col::string("name"))
            .col(col::timestamp_with_time_zone("created_at"))
            .col(col::timestamp_with_time_zone_null("last_seen_at"))
            .col(col::timestamp_with_time_zone_null("revoked_at"));

        // WebAuthn credentials of patients (account_id) or staff (staff_id).
        let mut passkeys = table("passkeys");
        refers_to(&mut passkeys, "account_id", "accounts");
        refers_to(&mut passkeys, "staff_id", "staff");
        refers_to(&mut passkeys, "device_id", "devices")
            .col(col::string_len_uniq("credential_id", 1024))
            .col(col::json("passkey"))
            .col(col::timestamp_with_time_zone("created_at"))
            .col(col::timestamp_with_time_zone_null("last_used_at"));

        // Server-side WebAuthn ceremony state: single use, short-lived.
        let ceremonies = table("ceremonies")
            .col(code("kind"))
            .col(col::json("state"))
            .col(col::json("context"))
            .col(col::timestamp_with_time_zone("created_at"))
            .col(col::timestamp_with_time_zone("expires_at"))
            .col(col::timestamp_with_time_zone_null("consumed_at"))
            .take();

        let mut staff_enrolments = table("staff_enrolments");
        owned_by(&mut staff_enrolments, "staff_id", "staff")
            .col(col::string_len_uniq("code_hash", 64))
            .col(col::timestamp_with_time_zone("created_at"))
            .col(col::timestamp_with_time_zone("expires_at"))
            .col(col::timestamp_with_time_zone_null("used_at"));

        // One sign-in on one device; its refresh tokens rotate within the family.
        let mut session_families = table("session_families");
        session_families.col(code("kind"));
        refers_to(&mut session_families, "account_id", "accounts");
        refers_to(&mut session_families, "staff_id", "staff");
        refers_to(&mut session_families, "device_id", "devices")
            .col(col::timestamp_with_time_zone("created_at"))
            .col(col::timestamp_with_time_zone("last_used_at"))
            .col(col::timestamp_with_time_zone("absolute_expires_at"))
            .col(col::timestamp_with_time_zone_null("revoked_at"))
            .col(col::string_null("revoked_reason"));

        let mut session_tokens = Table::create()
            .table("session_tokens")
            .col(col::string_len("token_hash", 64).primary_key())
            .take();
        owned_by(&mut session_tokens, "family_id", "session_families")
            .col(code("kind"))
            .col(col::timestamp_with_time_zone("created_at"))
            .col(col::timestamp_with_time_zone("expires_at"))
            // A refresh token that was exchanged; presenting it again revokes the family.
            .col(col::timestamp_with_time_zone_null("used_at"));

        let mut integration_keys = table("integration_keys");
        owned_by(&mut integration_keys, "practice_id", "practices")
            .col(col::string("name"))
            .col(col::string_len("key_prefix", 16))
            .col(col::string_len_uniq("key_hash", 64))
            .col(col::timestamp_with_time_zone_null("last_used_at"))
            .col(col::timestamp_with_time_zone_null("revoked_at"));
        timestamps(&mut integration_keys);

        create_all(
            manager,
            vec![
                accounts,
                linkage_keys,
                devices,
                passkeys,
                ceremonies,
                staff_enrolments,
                session_families,
                session_tokens,
                integration_keys,
            ],
            vec![
                index("accounts", &["patient_id"], true),
                index("accounts", &["carer_id"], true),
                index("linkage_keys", &["practice_id", "account_code"], true),
                index("linkage_keys", &["patient_id"], false),
                index("devices", &["account_id"], false),
                index("passkeys", &["account_id"], false),
                index("passkeys", &["staff_id"], false),
                index("ceremonies", &["expires_at"], false),
                index("session_families", &["account_id"], false),
                index("session_families", &["staff_id"], false),
                index("session_tokens", &["family_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
