//! The `practices` table: one row per GP practice using the service.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A GP practice.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "practices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub ods_code: String,
    pub name: String,
    /// A practice that is not live refuses registration.
    pub live: bool,
    /// The date automatic (prospective) record access was switched on.
    pub prospective_access_date: Option<Date>,
    /// Per-practice settings and feature switches; defaults live in code.
    pub settings: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
