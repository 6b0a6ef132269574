//! The `appointments` table: one row per booking of a slot by a patient.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An appointment booking.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "appointments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The patient's practice, carried so the row can be routed by practice.
    pub practice_id: Uuid,
    pub slot_id: Uuid,
    pub patient_id: Uuid,
    /// Equal to `slot_id` while booked and `None` otherwise; unique, so a slot cannot be double
    /// booked.
    pub active_slot_id: Option<Uuid>,
    pub status: AppointmentStatus,
    #[sea_orm(column_type = "Text")]
    pub reason: Option<String>,
    pub booked_by_account_id: Option<Uuid>,
    pub booked_by_proxy: bool,
    pub cancellation_reason: Option<String>,
    pub booked_at: DateTimeUtc,
    pub cancelled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared; joins are written explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Lifecycle state of an appointment.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    /// Booked and upcoming.
    #[sea_orm(string_value = "booked")]
    Booked,
    /// Cancelled by the patient or their proxy.
    #[sea_orm(string_value = "cancelled_by_patient")]
    CancelledByPatient,
    /// Cancelled by the practice.
    #[sea_orm(string_value = "cancelled_by_practice")]
    CancelledByPractice,
    /// The patient attended.
    #[sea_orm(string_value = "attended")]
    Attended,
    /// The patient did not attend.
    #[sea_orm(string_value = "did_not_attend")]
    DidNotAttend,
}
