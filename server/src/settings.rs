//! Per-practice settings and feature switches, stored as JSON on the practice and read with the
//! national defaults of docs/domain.md filled in for anything the practice has not set.

use serde::{Deserialize, Serialize};

/// Whether a booking needs a reason (IM1's `BookingReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum BookingReasonRule {
    /// The reason box is not shown.
    NotAllowed,
    /// A reason may be given.
    Optional,
    /// A reason must be given.
    Mandatory,
}

/// Which online services the practice has switched on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureSwitches {
    /// Booking and cancelling appointments.
    pub appointments: bool,
    /// Ordering repeat prescriptions.
    pub prescriptions: bool,
    /// Messaging the practice.
    pub messages: bool,
    /// Reading the GP record.
    pub record: bool,
    /// Reading letters and other documents.
    pub documents: bool,
}

impl Default for FeatureSwitches {
    fn default() -> Self {
        Self {
            appointments: true,
            prescriptions: true,
            messages: true,
            record: true,
            documents: true,
        }
    }
}

/// Every number docs/domain.md names, as a per-practice setting with its national default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PracticeSettings {
    /// Services switched on.
    pub features: FeatureSwitches,
    /// Weeks ahead that slots are visible (8, or 16).
    pub slot_window_weeks: u32,
    /// Whether a booking reason is needed.
    pub booking_reason: BookingReasonRule,
    /// Maximum characters of a booking reason.
    pub booking_reason_max_chars: u32,
    /// Guidance shown before booking.
    pub booking_guidance: String,
    /// Most future appointments a patient may hold at once.
    pub max_future_appointments: u32,
    /// Hours before the start after which a patient can no longer cancel online.
    pub cancellation_cutoff_hours: u32,
    /// The reasons a patient picks from when cancelling.
    pub cancellation_reasons: Vec<String>,
    /// Days linkage details stay valid.
    pub linkage_key_valid_days: u32,
    /// Failed attempts after which linkage details lock.
    pub linkage_key_max_attempts: u32,
    /// Days within which a course cannot be ordered again.
    pub reorder_interval_days: u32,
    /// Whether a new message thread needs a subject.
    pub message_subject_required: bool,
    /// Whether patients may delete their message threads.
    pub patient_may_delete_messages: bool,
    /// Maximum characters of one message.
    pub message_max_chars: u32,
    /// Test codes whose results are released without review.
    pub immediate_release_test_codes: Vec<String>,
    /// Age at which parental proxy record access is suspended for review (11–13).
    pub parental_record_access_review_age: u32,
    /// Years without use after which a proxy grant is removed.
    pub proxy_unused_removal_years: u32,
    /// Days before an end date or suspension that both sides are warned.
    pub proxy_warning_days: u32,
}

impl Default for PracticeSettings {
    fn default() -> Self {
        Self {
            features: FeatureSwitches::default(),
            slot_window_weeks: 8,
            booking_reason: BookingReasonRule::Mandatory,
            booking_reason_max_chars: 150,
            booking_guidance: "Book one appointment per problem. For urgent help call the \
                               practice, or NHS 111; in an emergency call 999."
                .to_owned(),
            max_future_appointments: 2,
            cancellation_cutoff_hours: 2,
            cancellation_reasons: vec![
                "No longer needed".to_owned(),
                "Cannot attend".to_owned(),
                "Booked by mistake".to_owned(),
                "Other".to_owned(),
            ],
            linkage_key_valid_days: 90,
            linkage_key_max_attempts: 5,
            reorder_interval_days: 30,
            message_subject_required: true,
            patient_may_delete_messages: false,
            message_max_chars: 2000,
            immediate_release_test_codes: Vec::new(),
            parental_record_access_review_age: 11,
            proxy_unused_removal_years: 5,
            proxy_warning_days: 14,
        }
    }
}

impl PracticeSettings {
    /// Reads stored settings; keys the practice never set take their defaults.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value.clone())
    }

    /// The settings as stored on the practice.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_take_the_national_defaults() {
        let settings =
            PracticeSettings::from_json(&serde_json::json!({"slot_window_weeks": 16})).unwrap();
        assert_eq!(settings.slot_window_weeks, 16);
        assert_eq!(settings.booking_reason, BookingReasonRule::Mandatory);
        assert_eq!(settings.linkage_key_valid_days, 90);
        assert_eq!(settings.linkage_key_max_attempts, 5);
        assert_eq!(settings.parental_record_access_review_age, 11);
        assert!(settings.features.messages);
    }

    #[test]
    fn settings_round_trip_through_json() {
        let settings = PracticeSettings::default();
        assert_eq!(
            PracticeSettings::from_json(&settings.to_json()).unwrap(),
            settings
        );
    }

    #[test]
    fn unknown_setting_is_refused() {
        assert!(PracticeSettings::from_json(&serde_json::json!({"slot_window": 16})).is_err());
    }
}
