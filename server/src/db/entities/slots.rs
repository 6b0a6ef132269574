//! The `slots` table: one row per appointment slot offered by a practice.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An appointment slot.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "slots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub external_id: Option<String>,
    pub clinician_staff_id: Option<Uuid>,
    pub clinician_name: String,
    pub slot_type: String,
    pub session_name: String,
    pub location: String,
    pub channel: Channel,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub status: SlotStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// How an appointment takes place.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Face to face at the practice.
    #[sea_orm(string_value = "in_person")]
    InPerson,
    /// By telephone.
    #[sea_orm(string_value = "telephone")]
    Telephone,
    /// By video call.
    #[sea_orm(string_value = "video")]
    Video,
}

/// Whether a slot is offered.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum SlotStatus {
    /// Offered for booking.
    #[sea_orm(string_value = "open")]
    Open,
    /// Withdrawn by the practice.
    #[sea_orm(string_value = "withdrawn")]
    Withdrawn,
}
