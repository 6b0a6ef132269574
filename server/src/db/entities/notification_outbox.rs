//! The `notification_outbox` table: one row per content-free notification waiting for push
//! delivery.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A pending or delivered notification.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "notification_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub account_id: Uuid,
    pub patient_id: Option<Uuid>,
    pub kind: String,
    pub topic: String,
    pub created_at: DateTimeUtc,
    pub not_before: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub claimed_until: Option<DateTimeUtc>,
    pub attempts: i32,
    pub delivered_at: Option<DateTimeUtc>,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
