//! The `record_entries` table: one row per coded entry in a section of a patient's GP record.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A coded record entry.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "record_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub external_id: Option<String>,
    pub section: RecordSection,
    pub snomed_code: String,
    pub term: String,
    pub effective_date: Date,
    /// The day it was entered in the clinical system (prospective access is decided by it).
    pub entered_on: Date,
    pub end_date: Option<Date>,
    #[sea_orm(column_type = "Text")]
    pub detail: Option<String>,
    pub author: Option<String>,
    pub hidden: bool,
    pub hidden_from_proxies: bool,
    pub retracted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The section of the GP record a coded entry belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum RecordSection {
    /// Allergies and adverse reactions.
    #[sea_orm(string_value = "allergies")]
    Allergies,
    /// Medications.
    #[sea_orm(string_value = "medications")]
    Medications,
    /// Immunisations.
    #[sea_orm(string_value = "immunisations")]
    Immunisations,
    /// Problems and diagnoses.
    #[sea_orm(string_value = "problems")]
    Problems,
    /// Consultations.
    #[sea_orm(string_value = "consultations")]
    Consultations,
}
