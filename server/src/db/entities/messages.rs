//! The `messages` table: one row per message in a thread.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A message.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub thread_id: Uuid,
    pub sender_kind: SenderKind,
    pub sender_account_id: Option<Uuid>,
    pub sender_staff_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub sent_at: DateTimeUtc,
    pub read_by_patient_at: Option<DateTimeUtc>,
    pub read_by_practice_at: Option<DateTimeUtc>,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Who sent a message.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    /// The patient.
    #[sea_orm(string_value = "patient")]
    Patient,
    /// A proxy acting for the patient.
    #[sea_orm(string_value = "proxy")]
    Proxy,
    /// A member of practice staff.
    #[sea_orm(string_value = "staff")]
    Staff,
}
