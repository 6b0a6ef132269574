//! The `results` table: one row per test result of a patient, with its review and release state.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A test result.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "results")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub external_id: Option<String>,
    pub test_code: String,
    pub test_name: String,
    pub value: String,
    pub numeric_value: Option<f64>,
    pub unit: Option<String>,
    pub range_low: Option<f64>,
    pub range_high: Option<f64>,
    pub range_text: Option<String>,
    pub abnormal_flag: AbnormalFlag,
    pub requester: Option<String>,
    pub effective_date: Date,
    pub received_at: DateTimeUtc,
    /// The day it was filed in the clinical system (prospective access is decided by it).
    pub entered_on: Date,
    pub review_state: ReviewState,
    pub reviewed_at: Option<DateTimeUtc>,
    pub reviewed_by_staff_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub clinician_comment: Option<String>,
    /// Never shown to the patient.
    pub withhold_reason: Option<WithholdReason>,
    pub released_at: Option<DateTimeUtc>,
    pub retracted_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub retraction_reason: Option<String>,
    pub hidden: bool,
    pub hidden_from_proxies: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// How a result compares with its reference range.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum AbnormalFlag {
    /// Within the reference range.
    #[sea_orm(string_value = "normal")]
    Normal,
    /// Below the reference range.
    #[sea_orm(string_value = "low")]
    Low,
    /// Above the reference range.
    #[sea_orm(string_value = "high")]
    High,
    /// Abnormal, without a direction.
    #[sea_orm(string_value = "abnormal")]
    Abnormal,
    /// Not known.
    #[sea_orm(string_value = "unknown")]
    Unknown,
}

/// Where a result or document is in clinician review.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Waiting for clinician review; not shown to the patient.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Reviewed and released to the patient.
    #[sea_orm(string_value = "released")]
    Released,
    /// Reviewed and withheld from the patient.
    #[sea_orm(string_value = "withheld")]
    Withheld,
}

/// Why a result or document is withheld (never shown to the patient).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum WithholdReason {
    /// It contains third-party information.
    #[sea_orm(string_value = "third_party")]
    ThirdParty,
    /// Showing it is likely to cause serious harm.
    #[sea_orm(string_value = "serious_harm")]
    SeriousHarm,
}
