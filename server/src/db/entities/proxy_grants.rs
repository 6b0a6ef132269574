//! The `proxy_grants` table: one row per proxy grant (or refused request) letting someone act for a
//! patient.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A proxy grant.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "proxy_grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    /// The proxy, when they are a patient of the practice.
    pub proxy_patient_id: Option<Uuid>,
    /// The proxy, when they are a carer.
    pub proxy_carer_id: Option<Uuid>,
    pub relationship: String,
    pub status: GrantStatus,
    /// Comma-separated scope codes (appointments, prescriptions, messages, …).
    pub scopes: String,
    pub legal_basis: LegalBasis,
    pub decided_by_staff_id: Option<Uuid>,
    pub decided_at: DateTimeUtc,
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    /// An open-ended grant is an exception that must be marked as such.
    pub no_end_date_exception: bool,
    pub young_person_consent_at: Option<DateTimeUtc>,
    pub suspended_at: Option<DateTimeUtc>,
    pub suspended_reason: Option<String>,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub refusal_reason: Option<String>,
    pub last_used_at: Option<DateTimeUtc>,
    /// First entered date of record items the grant's detailed and document scopes show
    /// (`None`: the grant's `starts_on`).
    pub record_access_from: Option<Date>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Lifecycle state of a proxy grant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// In force.
    #[sea_orm(string_value = "active")]
    Active,
    /// Temporarily suspended.
    #[sea_orm(string_value = "suspended")]
    Suspended,
    /// Revoked for good.
    #[sea_orm(string_value = "revoked")]
    Revoked,
    /// The request was refused.
    #[sea_orm(string_value = "refused")]
    Refused,
    /// Past its end date.
    #[sea_orm(string_value = "expired")]
    Expired,
}

/// The legal basis on which a proxy acts for the patient.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// The patient consented.
    #[sea_orm(string_value = "patient_consent")]
    PatientConsent,
    /// Parental responsibility for a child.
    #[sea_orm(string_value = "parental_responsibility")]
    ParentalResponsibility,
    /// A lasting power of attorney for health and welfare.
    #[sea_orm(string_value = "lasting_power_of_attorney")]
    LastingPowerOfAttorney,
    /// A deputy appointed by the Court of Protection.
    #[sea_orm(string_value = "court_appointed_deputy")]
    CourtAppointedDeputy,
    /// A best-interests decision for a patient lacking capacity.
    #[sea_orm(string_value = "best_interests")]
    BestInterests,
}
