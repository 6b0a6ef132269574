//! Cross-cutting tables: the audit trail, idempotency keys, the outboxes the projector and push
//! delivery claim work from, push subscriptions, and the stored sync documents and device states.

use crate::builders::{code, create_all, drop_all, index, owned_by};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "audit_events",
    "idempotency_keys",
    "projection_outbox",
    "notification_outbox",
    "push_subscriptions",
    "sync_documents",
    "device_sync_states",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Append-only. Ids are ordered so the trail reads in the order it was written.
        let audit_events = Table::create()
            .table("audit_events")
            .col(col::big_pk_auto("id"))
            .col(col::timestamp_with_time_zone("occurred_at"))
            .col(code("actor_kind"))
            .col(col::uuid_null("actor_id"))
            .col(col::uuid_null("practice_id"))
            .col(col::uuid_null("acting_for_patient_id"))
            .col(col::string_len("action", 64))
            .col(code("outcome"))
            .col(col::string_len_null("target_kind", 32))
            .col(col::string_null("target_id"))
            .col(col::uuid_null("device_id"))
            .col(col::string_len_null("request_id", 64))
            // Codes and ids only: never clinical text, tokens or keys.
            .col(col::json("detail"))
            .take();

        // Stripe semantics: same key and body → stored response; other body → 422; in flight → 409.
        let idempotency_keys = Table::create()
            .table("idempotency_keys")
            .col(col::string_len("principal", 64))
            .col(col::string_len("key", 255))
            .col(col::char_len("request_hash", 64))
            .col(col::integer_null("response_status"))
            .col(col::blob_null("response_body"))
            .col(col::timestamp_with_time_zone("created_at"))
            .col(col::timestamp_with_time_zone("expires_at"))
            .primary_key(Index::create().col("principal").col("key"))
            .take();

        // "audience × section is dirty", enqueued in the same transaction as the domain write.
        let projection_outbox = Table::create()
            .table("projection_outbox")
            .col(col::big_pk_auto("id"))
            .col(col::uuid("patient_id"))
            .col(col::string_len_null("section", 32))
            .col(col::string_len("reason", 32))
            .col(col::timestamp_with_time_zone("enqueued_at"))
            .col(col::timestamp_with_time_zone_null("claimed_until"))
            .col(col::string_len_null("claimed_by", 64))
            .col(col::integer("attempts"))
            .take();

        // Content-free notifications waiting for delivery (quiet hours, retries, collapse by topic).
        let notification_outbox = Table::create()
            .table("notification_outbox")
            .col(col::big_pk_auto("id"))
            .col(col::uuid("account_id"))
            .col(col::uuid_null("patient_id"))
            .col(col::string_len("kind", 32))
            .col(col::string_len("topic", 32))
            .col(col::timestamp_with_time_zone("created_at"))
            .col(col::timestamp_with_time_zone("not_before"))
            .col(col::timestamp_with_time_zone("expires_at"))
            .col(col::timestamp_with_time_zone_null("claimed_until"))
            .col(col::integer("attempts"))
            .col(col::timestamp_with_time_zone_null("delivered_at"))
            .take();

        let mut push_subscriptions = Table::create()
            .table("push_subscriptions")
            .col(col::uuid("device_id").primary_key())
            .take();
        owned_by(&mut push_subscriptions, "account_id", "accounts")
            .col(col::text("endpoint"))
            .col(col::string("p256dh"))
            .col(col::string("auth"))
            .col(col::timestamp_with_time_zone("created_at"));

        // One automerge document per audience × section × generation.
        let sync_documents = Table::create()
            .table("sync_documents")
            .col(col::string_len("audience", 80))
            .col(col::string_len("section", 32))
            .col(col::integer("generation"))
            .col(col::blob("document"))
            .col(col::integer("change_count"))
            .col(col::timestamp_with_time_zone_null("superseded_at"))
            .col(col::timestamp_with_time_zone("updated_at"))
            .primary_key(
                Index::create()
                    .col("audience")
                    .col("section")
                    .col("generation"),
            )
            .take();

        let device_sync_states = Table::create()
            .table("device_sync_states")
            .col(col::uuid("device_id"))
            .col(col::string_len("document_key", 160))
            .col(col::integer("generation"))
            .col(col::blob("state"))
            .col(col::timestamp_with_time_zone("updated_at"))
            .primary_key(Index::create().col("device_id").col("document_key"))
            .take();

        create_all(
            manager,
            vec![
                audit_events,
                idempotency_keys,
                projection_outbox,
                notification_outbox,
                push_subscriptions,
                sync_documents,
                device_sync_states,
            ],
            vec![
                index("audit_events", &["acting_for_patient_id"], false),
                index("audit_events", &["occurred_at"], false),
                index("idempotency_keys", &["expires_at"], false),
                index("projection_outbox", &["claimed_until"], false),
                index(
                    "notification_outbox",
                    &["delivered_at", "not_before"],
                    false,
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, TABLES).await
    }
}
