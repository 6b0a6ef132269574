//! The `audit_events` table: the append-only audit trail, one row per audited action.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An audited action; ids are ordered as written.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub occurred_at: DateTimeUtc,
    pub actor_kind: ActorKind,
    pub actor_id: Option<Uuid>,
    pub practice_id: Option<Uuid>,
    pub acting_for_patient_id: Option<Uuid>,
    pub action: String,
    pub outcome: Outcome,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub device_id: Option<Uuid>,
    pub request_id: Option<String>,
    /// Codes and ids only: never clinical text, tokens or keys.
    pub detail: Json,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Who performed an audited action.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A patient acting for themself.
    #[sea_orm(string_value = "patient")]
    Patient,
    /// A proxy acting for a patient.
    #[sea_orm(string_value = "proxy")]
    Proxy,
    /// A member of practice staff.
    #[sea_orm(string_value = "staff")]
    Staff,
    /// A clinical-system integration key.
    #[sea_orm(string_value = "integration")]
    Integration,
    /// The server itself.
    #[sea_orm(string_value = "system")]
    System,
    /// An unauthenticated caller.
    #[sea_orm(string_value = "anonymous")]
    Anonymous,
}

/// How an audited action ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded.
    #[sea_orm(string_value = "success")]
    Success,
    /// It failed.
    #[sea_orm(string_value = "failure")]
    Failure,
    /// It was refused by access control.
    #[sea_orm(string_value = "denied")]
    Denied,
}
