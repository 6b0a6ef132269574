//! The `access_codes` table: one row per SNOMED code recorded against a patient that gates record
//! access.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A record-access SNOMED code recorded for a patient.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "access_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub external_id: Option<String>,
    pub snomed_code: String,
    pub recorded_at: DateTimeUtc,
    pub recorded_by_staff_id: Option<Uuid>,
    /// The first day the code no longer applies.
    pub ended_on: Option<Date>,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
