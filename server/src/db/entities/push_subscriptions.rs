//! The `push_subscriptions` table: one row per device's push channel (Web Push, APNs or FCM).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A device's push channel.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "push_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub device_id: Uuid,
    pub account_id: Uuid,
    pub provider: PushProvider,
    #[sea_orm(column_type = "Text", nullable)]
    pub endpoint: Option<String>,
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub token: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The push service a device is reached through.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum PushProvider {
    /// A browser's push service (VAPID, RFC 8291 encryption).
    #[sea_orm(string_value = "web_push")]
    WebPush,
    /// Apple Push Notification service, for the iOS app.
    #[sea_orm(string_value = "apns")]
    Apns,
    /// Firebase Cloud Messaging, for the Android app.
    #[sea_orm(string_value = "fcm")]
    Fcm,
}

impl PushProvider {
    /// The provider as stored and as metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WebPush => "web_push",
            Self::Apns => "apns",
            Self::Fcm => "fcm",
        }
    }
}
