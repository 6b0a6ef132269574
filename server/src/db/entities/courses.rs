//! The `courses` table: one row per medication course of a patient.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A medication course.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "courses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub external_id: Option<String>,
    pub snomed_code: String,
    pub medication: String,
    pub dosage: String,
    pub quantity: String,
    pub course_type: CourseType,
    pub can_be_requested: bool,
    pub last_issue_date: Option<Date>,
    pub next_issue_date: Option<Date>,
    pub review_date: Option<Date>,
    pub hidden: bool,
    pub hidden_from_proxies: bool,
    pub ended_on: Option<Date>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The prescribing type of a medication course.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum CourseType {
    /// A one-off acute prescription.
    #[sea_orm(string_value = "acute")]
    Acute,
    /// A repeat prescription.
    #[sea_orm(string_value = "repeat")]
    Repeat,
    /// An electronic repeat dispensing (batch) prescription.
    #[sea_orm(string_value = "repeat_dispensing")]
    RepeatDispensing,
    /// Issued automatically without a request.
    #[sea_orm(string_value = "automatic")]
    Automatic,
}
