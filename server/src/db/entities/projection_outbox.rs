//! The `projection_outbox` table: one row per "audience × section is dirty" job for the projector.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A projection job.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "projection_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub section: Option<String>,
    /// The item of `section` that changed, when the write named one (`None`: the whole section).
    pub item_id: Option<Uuid>,
    pub reason: String,
    pub enqueued_at: DateTimeUtc,
    pub claimed_until: Option<DateTimeUtc>,
    pub claimed_by: Option<String>,
    pub attempts: i32,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
