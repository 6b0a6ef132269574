//! The `staff` table: one row per member of a practice's staff.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A member of practice staff.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "staff")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub display_name: String,
    pub role: StaffRole,
    pub job_title: Option<String>,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// What a staff member may do in the practice.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// A clinician who reviews results and decides clinical requests.
    #[sea_orm(string_value = "clinician")]
    Clinician,
    /// Practice administration staff.
    #[sea_orm(string_value = "admin")]
    Admin,
}
