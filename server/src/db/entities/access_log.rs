//! The `access_log` table: one row per view of part of a patient's record, shown to the patient.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One access to a patient's record.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "access_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub viewer_kind: ViewerKind,
    pub viewer_id: Uuid,
    pub viewer_role: String,
    pub viewer_organisation: String,
    pub section: String,
    pub item_id: Option<Uuid>,
    pub device_id: Option<Uuid>,
    pub accessed_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Who viewed part of a patient's record.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ViewerKind {
    /// The patient themself.
    #[sea_orm(string_value = "patient")]
    Patient,
    /// A proxy acting for the patient.
    #[sea_orm(string_value = "proxy")]
    Proxy,
    /// A member of practice staff.
    #[sea_orm(string_value = "staff")]
    Staff,
}
