//! The `documents` table: one row per correspondence document of a patient, with its review and
//! release state.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use super::results::{ReviewState, WithholdReason};

/// A patient document; its body is in `blobs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub external_id: Option<String>,
    pub document_type: DocumentType,
    pub title: String,
    pub author_organisation: Option<String>,
    pub effective_date: Date,
    pub content_type: String,
    pub size_bytes: i64,
    pub blob_sha256: String,
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

/// The kind of a correspondence document.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    /// A hospital discharge summary.
    #[sea_orm(string_value = "discharge_summary")]
    DischargeSummary,
    /// An outpatient clinic letter.
    #[sea_orm(string_value = "outpatient_letter")]
    OutpatientLetter,
    /// A referral letter.
    #[sea_orm(string_value = "referral_letter")]
    ReferralLetter,
    /// Any other letter.
    #[sea_orm(string_value = "other_letter")]
    OtherLetter,
}
