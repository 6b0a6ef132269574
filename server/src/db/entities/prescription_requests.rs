//! The `prescription_requests` table: one row per repeat prescription request made for a patient.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A prescription request; its items are in `prescription_request_items`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "prescription_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub requested_by_account_id: Option<Uuid>,
    pub requested_by_proxy: bool,
    #[sea_orm(column_type = "Text")]
    pub note: Option<String>,
    pub pharmacy_ods: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
