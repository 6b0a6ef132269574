//! The `message_threads` table: one row per conversation between a patient and the practice.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A message thread.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "message_threads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub subject: Option<String>,
    pub status: ThreadStatus,
    pub deleted_by_patient_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Whether a message thread is open.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ThreadStatus {
    /// Open for replies.
    #[sea_orm(string_value = "open")]
    Open,
    /// Closed by the practice.
    #[sea_orm(string_value = "closed")]
    Closed,
}
