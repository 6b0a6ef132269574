//! The `patients` table: one row per patient registered at a practice.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A registered patient.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "patients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    /// The clinical system's own id, so imports are idempotent.
    pub external_id: Option<String>,
    pub nhs_number: String,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: Date,
    pub sex: Sex,
    pub access_level: AccessLevel,
    /// Per-patient start of record access; `None` means the practice's prospective date.
    pub record_access_from: Option<Date>,
    /// Recorded by the practice for under-16s judged competent to use online services.
    pub competent: bool,
    pub nominated_pharmacy_ods: Option<String>,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The patient's practice.
    #[sea_orm(
        belongs_to = "super::practices::Entity",
        from = "Column::PracticeId",
        to = "super::practices::Column::Id"
    )]
    Practice,
    /// The patient's own accounts.
    #[sea_orm(has_many = "super::accounts::Entity")]
    Accounts,
}

impl Related<super::practices::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Practice.def()
    }
}

impl Related<super::accounts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Accounts.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// The patient's recorded sex.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    #[sea_orm(string_value = "female")]
    Female,
    /// Male.
    #[sea_orm(string_value = "male")]
    Male,
    /// Other.
    #[sea_orm(string_value = "other")]
    Other,
    /// Not known or not recorded.
    #[sea_orm(string_value = "unknown")]
    Unknown,
}

/// How much of the record the patient may see online.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    /// No record access.
    #[sea_orm(string_value = "none")]
    None,
    /// Summary information only (allergies, medications).
    #[sea_orm(string_value = "summary")]
    Summary,
    /// Detailed coded record, including results.
    #[sea_orm(string_value = "detailed")]
    Detailed,
    /// Detailed coded record plus documents.
    #[sea_orm(string_value = "documents")]
    Documents,
}
