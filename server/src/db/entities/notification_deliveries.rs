//! The `notification_deliveries` table: one notice to one device, with its retry schedule.

use super::push_subscriptions::PushProvider;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A notice on its way to a device. `id` is the dedupe key the device receives.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "notification_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub outbox_id: i64,
    pub device_id: Uuid,
    pub account_id: Uuid,
    pub patient_id: Option<Uuid>,
    pub provider: PushProvider,
    pub topic: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub claimed_until: Option<DateTimeUtc>,
    pub claimed_by: Option<String>,
    pub last_status: Option<i32>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Where a delivery stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Accepted by the push service.
    #[sea_orm(string_value = "sent")]
    Sent,
    /// The push service refused it for good (the subscription is gone, or the request is bad).
    #[sea_orm(string_value = "dropped")]
    Dropped,
    /// Its time to live ran out before the push service accepted it.
    #[sea_orm(string_value = "expired")]
    Expired,
}
