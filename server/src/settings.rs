//! Per-practice settings and feature switches, stored as JSON on the practice and read with the
//! national defaults of docs/domain.md filled in for anything the practice has not set.

use crate::validate::{Invalid, Validator};
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
    /// Reading letters and other documents (the letters switch).
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

/// The ranges the domain rules allow, per setting: `(name, lowest, highest)`.
pub const RANGES: [(&str, u32, u32); 11] = [
    // DOMAIN.md: 8 weeks, a practice may set up to 16.
    ("slot_window_weeks", 1, 16),
    ("booking_reason_max_chars", 1, 1000),
    ("max_future_appointments", 1, 20),
    ("cancellation_cutoff_hours", 0, 72),
    ("linkage_key_valid_days", 1, 365),
    ("linkage_key_max_attempts", 1, 10),
    ("reorder_interval_days", 0, 90),
    ("message_max_chars", 100, 10_000),
    // DAPB3051: the review falls at the 11th birthday, configurable 11–13.
    ("parental_record_access_review_age", 11, 13),
    // Grants unused for 5 years are removed: a practice may remove them sooner, never later.
    ("proxy_unused_removal_years", 1, 5),
    ("proxy_warning_days", 1, 90),
];

/// The most characters of the booking guidance, of a cancellation reason, and the most
/// cancellation reasons and immediate-release test codes.
const MAX_GUIDANCE_CHARS: usize = 2000;
const MAX_REASON_CHARS: usize = 100;
const MAX_REASONS: usize = 12;
const MAX_TEST_CODES: usize = 200;
const MAX_TEST_CODE_CHARS: usize = 18;

impl PracticeSettings {
    fn number(&self, name: &str) -> Option<u32> {
        Some(match name {
            "slot_window_weeks" => self.slot_window_weeks,
            "booking_reason_max_chars" => self.booking_reason_max_chars,
            "max_future_appointments" => self.max_future_appointments,
            "cancellation_cutoff_hours" => self.cancellation_cutoff_hours,
            "linkage_key_valid_days" => self.linkage_key_valid_days,
            "linkage_key_max_attempts" => self.linkage_key_max_attempts,
            "reorder_interval_days" => self.reorder_interval_days,
            "message_max_chars" => self.message_max_chars,
            "parental_record_access_review_age" => self.parental_record_access_review_age,
            "proxy_unused_removal_years" => self.proxy_unused_removal_years,
            "proxy_warning_days" => self.proxy_warning_days,
            _ => return None,
        })
    }

    /// Every setting outside what the rules allow, each named (as `prefix` + its key) with
    /// the range it must be in; empty when all are allowed.
    pub fn check(&self, prefix: &str, v: &mut Validator) {
        for (name, low, high) in RANGES {
            if let Some(value) = self.number(name)
                && !(low..=high).contains(&value)
            {
                v.check::<()>(
                    format!("{prefix}{name}"),
                    Err(Invalid::new(
                        "out_of_range",
                        format!("must be from {low} to {high}"),
                    )),
                );
            }
        }
        if self.booking_guidance.chars().count() > MAX_GUIDANCE_CHARS {
            v.check::<()>(
                format!("{prefix}booking_guidance"),
                Err(Invalid::new(
                    "too_long",
                    format!("at most {MAX_GUIDANCE_CHARS} characters"),
                )),
            );
        }
        let reasons_ok = (1..=MAX_REASONS).contains(&self.cancellation_reasons.len())
            && self.cancellation_reasons.iter().all(|r| {
                let n = r.trim().chars().count();
                (1..=MAX_REASON_CHARS).contains(&n)
            });
        if !reasons_ok {
            v.check::<()>(
                format!("{prefix}cancellation_reasons"),
                Err(Invalid::new(
                    "out_of_range",
                    format!(
                        "1 to {MAX_REASONS} reasons of 1 to {MAX_REASON_CHARS} characters each"
                    ),
                )),
            );
        }
        let codes_ok = self.immediate_release_test_codes.len() <= MAX_TEST_CODES
            && self.immediate_release_test_codes.iter().all(|c| {
                let n = c.trim().chars().count();
                (1..=MAX_TEST_CODE_CHARS).contains(&n)
            });
        if !codes_ok {
            v.check::<()>(
                format!("{prefix}immediate_release_test_codes"),
                Err(Invalid::new(
                    "out_of_range",
                    format!(
                        "at most {MAX_TEST_CODES} codes of 1 to {MAX_TEST_CODE_CHARS} characters"
                    ),
                )),
            );
        }
    }

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

    fn refused(settings: &PracticeSettings) -> Vec<String> {
        let mut v = Validator::new();
        settings.check("", &mut v);
        v.finish()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.name)
            .collect()
    }

    #[test]
    fn the_defaults_are_within_the_rules() {
        assert!(refused(&PracticeSettings::default()).is_empty());
    }

    // Defect 9 of issue 14: settings took values the rules forbid.
    #[test]
    fn each_setting_outside_its_range_is_named() {
        let mut settings = PracticeSettings {
            parental_record_access_review_age: 10,
            ..PracticeSettings::default()
        };
        assert_eq!(refused(&settings), ["parental_record_access_review_age"]);
        settings.parental_record_access_review_age = 14;
        settings.slot_window_weeks = 17;
        settings.proxy_unused_removal_years = 6;
        settings.cancellation_reasons.clear();
        let mut names = refused(&settings);
        names.sort();
        assert_eq!(
            names,
            [
                "cancellation_reasons",
                "parental_record_access_review_age",
                "proxy_unused_removal_years",
                "slot_window_weeks",
            ]
        );
        settings = PracticeSettings::default();
        settings.parental_record_access_review_age = 13;
        settings.slot_window_weeks = 16;
        assert!(refused(&settings).is_empty());
    }

    #[test]
    fn unknown_setting_is_refused() {
        assert!(PracticeSettings::from_json(&serde_json::json!({"slot_window": 16})).is_err());
    }
}
