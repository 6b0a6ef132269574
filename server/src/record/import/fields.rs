//! Validation of single fields of a batch (codes, dates, lengths, enumerations).

use super::*;
use crate::access::rules::ACCESS_CODES;

/// Trimmed text, at most `max` characters, without control characters (line breaks and tabs
/// allowed when `multiline`).
pub(super) fn text(value: &str, max: usize, multiline: bool) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid::new("required", "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(Invalid::new(
            "too_long",
            format!("at most {max} characters"),
        ));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(Invalid::new(
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A required single line of text.
pub(super) fn line(value: &str, max: usize) -> Result<String, Invalid> {
    text(value, max, false)
}

/// An optional single line; empty means absent.
pub(super) fn optional_line(value: Option<&str>, max: usize) -> Result<Option<String>, Invalid> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => line(value, max).map(Some),
    }
}

/// One of a fixed set of wire names.
pub(super) fn one_of<T: Copy>(value: &str, options: &[(&str, T)]) -> Result<T, Invalid> {
    let value = value.trim();
    options
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, option)| *option)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
            Invalid::new(
                "invalid_value",
                format!("expected one of: {}", names.join(", ")),
            )
        })
}

pub(super) const SEXES: [(&str, Sex); 4] = [
    ("female", Sex::Female),
    ("male", Sex::Male),
    ("other", Sex::Other),
    ("unknown", Sex::Unknown),
];

pub(super) const ACCESS_LEVELS: [(&str, AccessLevel); 4] = [
    ("none", AccessLevel::None),
    ("summary", AccessLevel::Summary),
    ("detailed", AccessLevel::Detailed),
    ("documents", AccessLevel::Documents),
];

pub(super) const SECTIONS: [(&str, RecordSection); 5] = [
    ("allergies", RecordSection::Allergies),
    ("medications", RecordSection::Medications),
    ("immunisations", RecordSection::Immunisations),
    ("problems", RecordSection::Problems),
    ("consultations", RecordSection::Consultations),
];

pub(super) const FLAGS: [(&str, AbnormalFlag); 5] = [
    ("normal", AbnormalFlag::Normal),
    ("low", AbnormalFlag::Low),
    ("high", AbnormalFlag::High),
    ("abnormal", AbnormalFlag::Abnormal),
    ("unknown", AbnormalFlag::Unknown),
];

pub(super) const DOCUMENT_TYPES: [(&str, DocumentType); 4] = [
    ("discharge_summary", DocumentType::DischargeSummary),
    ("outpatient_letter", DocumentType::OutpatientLetter),
    ("referral_letter", DocumentType::ReferralLetter),
    ("other_letter", DocumentType::OtherLetter),
];

/// A SNOMED CT concept id: 6 to 18 digits.
pub(super) fn snomed_code(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if (6..=18).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(Invalid::new(
            "invalid_snomed_code",
            "a SNOMED CT code has 6 to 18 digits",
        ))
    }
}

/// One of the three record-access codes of docs/domain.md.
pub(super) fn access_code(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if ACCESS_CODES.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(Invalid::new(
            "invalid_access_code",
            format!("expected one of: {}", ACCESS_CODES.join(", ")),
        ))
    }
}

/// An RFC 3339 instant, kept to the microsecond (what PostgreSQL stores), so a replay compares
/// equal.
pub(super) fn instant(value: &str) -> Result<DateTime<Utc>, Invalid> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|at| at.to_utc().trunc_subsecs(6))
        .map_err(|_| {
            Invalid::new(
                "invalid_datetime",
                "expected an RFC 3339 date and time, e.g. 2026-11-23T09:00:00Z",
            )
        })
}

/// The day an item was entered or filed: required, because prospective record access is
/// decided by it.
pub(super) fn entered_on(value: Option<&str>) -> Result<NaiveDate, Invalid> {
    match value.map(str::trim) {
        None | Some("") => Err(Invalid::new(
            "required",
            "the day the item was entered or filed in the clinical system is required",
        )),
        Some(date) => parse_date(date),
    }
}

/// A finite number.
pub(super) fn finite(value: Option<f64>) -> Result<Option<f64>, Invalid> {
    match value {
        Some(number) if !number.is_finite() => {
            Err(Invalid::new("invalid_number", "must be finite"))
        }
        other => Ok(other),
    }
}

pub(super) fn unknown_patient() -> Invalid {
    Invalid::new(
        "unknown_patient",
        "no patient with this external id at this practice, in this batch or stored",
    )
}

pub(super) fn duplicate_external_id() -> Invalid {
    Invalid::new(
        "duplicate_external_id",
        "this external id appears more than once in the batch",
    )
}
