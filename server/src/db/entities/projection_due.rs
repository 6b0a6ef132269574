//! The `projection_due` table: per patient with stored sync documents, the first instant at
//! which what they hold changes by the date alone, with no write (`sync::calendar`).

use sea_orm::entity::prelude::*;

/// A patient's next date boundary.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "projection_due")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_id: Uuid,
    /// The patient's practice.
    pub practice_id: Uuid,
    /// From this instant on, the patient's documents must be projected again.
    pub due_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
