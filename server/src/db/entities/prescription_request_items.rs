//! The `prescription_request_items` table: one row per course requested in a prescription request.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One requested course and its decision.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "prescription_request_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub request_id: Uuid,
    pub course_id: Uuid,
    /// Equal to `course_id` while pending and `None` once decided; unique, so a course has at most
    /// one pending request.
    pub pending_course_id: Option<Uuid>,
    pub status: RequestItemStatus,
    pub routed_to_clinician: bool,
    #[sea_orm(column_type = "Text")]
    pub rejection_reason: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    pub decided_by_staff_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Decision state of one item of a prescription request.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum RequestItemStatus {
    /// Waiting for a decision.
    #[sea_orm(string_value = "requested")]
    Requested,
    /// Approved by the practice.
    #[sea_orm(string_value = "approved")]
    Approved,
    /// Rejected by the practice.
    #[sea_orm(string_value = "rejected")]
    Rejected,
    /// Cancelled by the requester.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}
