//! Push delivery: a device's push channel of any provider (Web Push, APNs, FCM) in place of the
//! Web-Push-only subscription table (it never held rows), per-device notification preferences,
//! one delivery row per notice and device (its id is the dedupe key the device sees, its state
//! the retry schedule workers claim), and the server's own keys (the VAPID key pair made on
//! first start, shared by every node).

use crate::builders::{code, create_all, drop_all, index, owned_by};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema as col;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "push_subscriptions",
    "notification_preferences",
    "notification_deliveries",
    "server_keys",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("push_subscriptions").to_owned())
            .await?;

        // One push channel per device; deleted with the device (and on revocation).
        let mut push_subscriptions = Table::create()
            .table("push_subscriptions")
            .col(col::uuid("device_id").primary_key())
            .foreign_key(
                ForeignKey::create()
                    .from_col("device_id")
                    .to("devices", "id")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .take();
        owned_by(&mut push_subscriptions, "account_id", "accounts")
            .col(code("provider"))
            // Web Push: the push service's URL and the browser's keys.
            .col(col::text_null("endpoint"))
            .col(col::string_null("p256dh"))
            .col(col::string_null("auth"))
            // APNs and FCM: the device token.
            .col(col::text_null("token"))
            .col(col::timestamp_with_time_zone_null("expires_at"))
            .col(col::timestamp_with_time_zone("created_at"))
            .col(col::timestamp_with_time_zone("updated_at"));

        // A kind a device turned off (or back on); absent means on.
        let mut notification_preferences = Table::create()
            .table("notification_preferences")
            .col(col::uuid("device_id"))
            .col(code("kind"))
            .col(col::boolean("enabled"))
            .col(col::timestamp_with_time_zone("updated_at"))
            .primary_key(Index::create().col("device_id").col("kind"))
            .take();
        notification_preferences.foreign_key(
            ForeignKey::create()
                .from_col("device_id")
                .to("devices", "id")
                .on_delete(ForeignKeyAction::Cascade),
        );

        // One notice to one device. `id` is the dedupe key sent with it; the unique pair
        // (outbox_id, device_id) makes a second fan-out of the same event a no-op.
        let notification_deliveries = Table::create()
            .table("notification_deliveries")
            .col(col::uuid("id").primary_key())
            .col(col::big_integer("outbox_id"))
            .col(col::uuid("device_id"))
            .col(col::uuid("account_id"))
            .col(col::uuid_null("patient_id"))
            .col(code("provider"))
            .col(code("topic"))
            .col(code("state"))
            .col(col::integer("attempts"))
            .col(col::timestamp_with_time_zone("next_attempt_at"))
            .col(col::timestamp_with_time_zone("expires_at"))
            .col(col::timestamp_with_time_zone_null("claimed_until"))
            .col(col::string_len_null("claimed_by", 64))
            .col(col::integer_null("last_status"))
            .col(col::timestamp_with_time_zone("created_at"))
            .col(col::timestamp_with_time_zone_null("finished_at"))
            .take();

        let server_keys = Table::create()
            .table("server_keys")
            .col(col::string_len("name", 64).primary_key())
            .col(col::text("value"))
            .col(col::timestamp_with_time_zone("created_at"))
            .take();

        create_all(
            manager,
            vec![
                push_subscriptions,
                notification_preferences,
                notification_deliveries,
                server_keys,
            ],
            vec![
                index("notification_deliveries", &["outbox_id", "device_id"], true),
                index(
                    "notification_deliveries",
                    &["state", "next_attempt_at"],
                    false,
                ),
                index("notification_outbox", &["account_id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_notification_outbox_account_id")
                    .table("notification_outbox")
                    .to_owned(),
            )
            .await?;
        drop_all(manager, TABLES).await?;
        // The Web-Push-only table of m20261122_000006, as it was.
        let mut push_subscriptions = Table::create()
            .table("push_subscriptions")
            .col(col::uuid("device_id").primary_key())
            .take();
        owned_by(&mut push_subscriptions, "account_id", "accounts")
            .col(col::text("endpoint"))
            .col(col::string("p256dh"))
            .col(col::string("auth"))
            .col(col::timestamp_with_time_zone("created_at"));
        manager.create_table(push_subscriptions).await
    }
}
