//! Import from the clinical system: the GP system of record pushes patients, coded entries,
//! test results, record-access codes and letters, each keyed by its own id (`external_id`).
//!
//! - **Validated as a whole.** Every field of a batch is checked before anything is written,
//!   and a bad batch is one 422 naming every bad field as a JSON path (`results[2].unit`).
//! - **Atomic.** A batch is one transaction: its rows, the audit event and the projection
//!   outbox rows commit together or not at all.
//! - **Idempotent by external id.** Re-sending an item updates its row in place (same id);
//!   re-sending a whole batch changes nothing.
//! - **Scoped to the key's practice.** A patient is found only among the practice's own
//!   patients, so another practice's patient is "unknown", never touched.
//! - **No clinical text leaves this module** except into its own rows: the audit event and
//!   the outbox carry counts, ids and section names only, and nothing here logs.

use crate::access::Section;
use crate::access::rules;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::documents::{self, DocumentType};
use crate::db::entities::patients::{self, AccessLevel, Sex};
use crate::db::entities::record_entries::{self, RecordSection};
use crate::db::entities::results::{self, AbnormalFlag, ReviewState};
use crate::db::entities::{access_codes, accounts, blobs, practices, proxy_grants};
use crate::error::{AppError, ErrorCode};
use crate::identity::integration::IntegrationClient;
use crate::record::outbox;
use crate::settings::PracticeSettings;
use crate::validate::{Invalid, NhsNumber, Validator, parse_date, parse_date_of_birth};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IntoActiveModel, Iterable, QueryFilter, QuerySelect,
    QueryTrait,
};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// The largest document accepted, in bytes after base64 decoding (DOMAIN.md: 4 MB).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// The record-access SNOMED codes of DOMAIN.md: enhanced review indicated (blocks automatic
/// access), enhanced review not indicated (overrides it), and access declined by the patient.
pub const ACCESS_CODES: [&str; 3] = ["1364731000000104", "1364751000000106", "1290331000000103"];

/// Every projection section a change to a patient's access can affect.
const ALL_SECTIONS: [&str; 8] = [
    "profile",
    "allergies",
    "medications",
    "immunisations",
    "problems",
    "consultations",
    "results",
    "documents",
];

/// Bind parameters per statement, under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_BIND_PARAMS: usize = 30_000;
/// Ids per `IN (…)` lookup.
const LOOKUP_CHUNK: usize = 1_000;

// Widths: the short ones are the columns' own (migrations); the others are sane limits.
const MAX_EXTERNAL_ID: usize = 100;
const MAX_NAME: usize = 100;
const MAX_TEXT: usize = 500;
const MAX_DETAIL: usize = 20_000;
const MAX_TEST_CODE: usize = 18;
const MAX_VALUE: usize = 64;
const MAX_UNIT: usize = 32;
const MAX_RANGE_TEXT: usize = 64;

// ---------------------------------------------------------------------------------------------
// Request and reply shapes
// ---------------------------------------------------------------------------------------------

/// One atomic import batch. Every array is optional; items reference their patient by the
/// patient's `external_id`, which may be in this batch or already stored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBatch {
    /// Patients to create or update.
    #[serde(default)]
    pub patients: Vec<PatientImport>,
    /// Coded record entries to create or update.
    #[serde(default)]
    pub entries: Vec<EntryImport>,
    /// Test results to create or update.
    #[serde(default)]
    pub results: Vec<ResultImport>,
    /// Record-access SNOMED codes to create or update.
    #[serde(default)]
    pub access_codes: Vec<AccessCodeImport>,
    /// The practice's switch-on date for automatic (prospective) record access, `YYYY-MM-DD`.
    #[serde(default)]
    pub prospective_access_date: Option<String>,
}

/// A patient as the clinical system holds them. Optional fields left out keep their stored
/// value on an update and take their default on a create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientImport {
    /// The clinical system's id for the patient.
    pub external_id: String,
    /// NHS number (10 digits, Modulus 11); spaces allowed.
    pub nhs_number: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// `female`, `male`, `other` or `unknown`.
    pub sex: String,
    /// Online record access: `none`, `summary`, `detailed` (default) or `documents`.
    #[serde(default)]
    pub access_level: Option<String>,
    /// Start of record access for this patient, `YYYY-MM-DD`; `null` clears it (the practice's
    /// switch-on date then applies); left out keeps it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub record_access_from: Option<Option<String>>,
    /// Under 16 and judged competent to use online services (default false).
    #[serde(default)]
    pub competent: Option<bool>,
    /// No longer registered at the practice (default false); sets or clears `archived_at`.
    #[serde(default)]
    pub archived: Option<bool>,
}

/// A coded entry of the GP record. The whole entry is sent each time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryImport {
    /// The clinical system's id for the entry.
    pub external_id: String,
    /// The patient's `external_id`.
    pub patient_external_id: String,
    /// `allergies`, `medications`, `immunisations`, `problems` or `consultations`.
    pub section: String,
    /// SNOMED CT concept id (6–18 digits).
    pub snomed_code: String,
    /// The coded term.
    pub term: String,
    /// When it happened or started, `YYYY-MM-DD`.
    pub effective_date: String,
    /// When it ended, `YYYY-MM-DD`.
    #[serde(default)]
    pub end_date: Option<String>,
    /// Free text.
    #[serde(default)]
    pub detail: Option<String>,
    /// Who recorded it.
    #[serde(default)]
    pub author: Option<String>,
    /// Hidden from online access altogether.
    #[serde(default)]
    pub hidden: bool,
    /// Hidden from proxies; the patient still sees it.
    #[serde(default)]
    pub hidden_from_proxies: bool,
}

/// A test result. It arrives pending clinician review unless its test code is one the practice
/// releases immediately.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultImport {
    /// The clinical system's id for the result.
    pub external_id: String,
    /// The patient's `external_id`.
    pub patient_external_id: String,
    /// The test's code (up to 18 characters).
    pub test_code: String,
    /// The test's name.
    pub test_name: String,
    /// The value as reported (up to 64 characters).
    pub value: String,
    /// The value as a number, when it is one.
    #[serde(default)]
    pub numeric_value: Option<f64>,
    /// Unit (up to 32 characters).
    #[serde(default)]
    pub unit: Option<String>,
    /// Lower end of the reference range.
    #[serde(default)]
    pub range_low: Option<f64>,
    /// Upper end of the reference range.
    #[serde(default)]
    pub range_high: Option<f64>,
    /// The reference range as text (up to 64 characters).
    #[serde(default)]
    pub range_text: Option<String>,
    /// `normal`, `low`, `high`, `abnormal` or `unknown`.
    pub abnormal_flag: String,
    /// Who requested the test.
    #[serde(default)]
    pub requester: Option<String>,
    /// When the sample was taken, `YYYY-MM-DD`.
    pub effective_date: String,
}

/// A record-access SNOMED code recorded against a patient.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessCodeImport {
    /// The clinical system's id for the coded entry.
    pub external_id: String,
    /// The patient's `external_id`.
    pub patient_external_id: String,
    /// One of `1364731000000104`, `1364751000000106`, `1290331000000103`.
    pub snomed_code: String,
    /// When it was recorded (RFC 3339).
    pub recorded_at: String,
}

/// How many items of one kind were created, updated or already as sent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    /// New rows.
    pub created: u32,
    /// Rows changed in place.
    pub updated: u32,
    /// Rows already as sent.
    pub unchanged: u32,
}

/// What a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportSummary {
    /// Patients.
    pub patients: Counts,
    /// Coded entries.
    pub entries: Counts,
    /// Test results.
    pub results: Counts,
    /// Record-access codes.
    pub access_codes: Counts,
    /// Results released without review (their test code is marked for immediate release).
    pub results_released_immediately: u32,
    /// Whether the practice's switch-on date changed.
    pub prospective_access_date_changed: bool,
}

/// A letter or other document, its content base64-encoded. Its type is detected from the
/// content, never from a name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentImport {
    /// The clinical system's id for the document.
    pub external_id: String,
    /// The patient's `external_id`.
    pub patient_external_id: String,
    /// `discharge_summary`, `outpatient_letter`, `referral_letter` or `other_letter`.
    pub document_type: String,
    /// Title.
    pub title: String,
    /// The organisation that wrote it.
    #[serde(default)]
    pub author_organisation: Option<String>,
    /// The document's date, `YYYY-MM-DD`.
    pub effective_date: String,
    /// The content, base64 (standard alphabet; line breaks allowed). At most 4 MiB decoded;
    /// PDF, PNG, JPEG, TIFF, RTF or UTF-8 plain text.
    pub content_base64: String,
}

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    /// A new row.
    Created,
    /// The row was changed in place.
    Updated,
    /// The row was already as sent.
    Unchanged,
}

/// A stored document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DocumentImported {
    /// The document's id.
    pub document_id: Uuid,
    /// Created, updated or unchanged.
    pub outcome: ImportOutcome,
    /// The content type detected from the content.
    pub content_type: String,
    /// Size of the content in bytes.
    pub size_bytes: i64,
    /// Lowercase hex SHA-256 of the content (the blob's key).
    pub sha256: String,
}

/// Deserializes a field that distinguishes "left out" (`None`) from `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

// ---------------------------------------------------------------------------------------------
// Field validation
// ---------------------------------------------------------------------------------------------

fn invalid(code: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        code,
        reason: reason.into(),
    }
}

/// Trimmed text, at most `max` characters, without control characters (line breaks and tabs
/// allowed when `multiline`).
fn text(value: &str, max: usize, multiline: bool) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid("required", "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid("too_long", format!("at most {max} characters")));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(invalid(
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A required single line of text.
fn line(value: &str, max: usize) -> Result<String, Invalid> {
    text(value, max, false)
}

/// An optional single line; empty means absent.
fn optional_line(value: Option<&str>, max: usize) -> Result<Option<String>, Invalid> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => line(value, max).map(Some),
    }
}

/// One of a fixed set of wire names.
fn one_of<T: Copy>(value: &str, options: &[(&str, T)]) -> Result<T, Invalid> {
    let value = value.trim();
    options
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, option)| *option)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
            invalid(
                "invalid_value",
                format!("expected one of: {}", names.join(", ")),
            )
        })
}

const SEXES: [(&str, Sex); 4] = [
    ("female", Sex::Female),
    ("male", Sex::Male),
    ("other", Sex::Other),
    ("unknown", Sex::Unknown),
];

const ACCESS_LEVELS: [(&str, AccessLevel); 4] = [
    ("none", AccessLevel::None),
    ("summary", AccessLevel::Summary),
    ("detailed", AccessLevel::Detailed),
    ("documents", AccessLevel::Documents),
];

const SECTIONS: [(&str, RecordSection); 5] = [
    ("allergies", RecordSection::Allergies),
    ("medications", RecordSection::Medications),
    ("immunisations", RecordSection::Immunisations),
    ("problems", RecordSection::Problems),
    ("consultations", RecordSection::Consultations),
];

const FLAGS: [(&str, AbnormalFlag); 5] = [
    ("normal", AbnormalFlag::Normal),
    ("low", AbnormalFlag::Low),
    ("high", AbnormalFlag::High),
    ("abnormal", AbnormalFlag::Abnormal),
    ("unknown", AbnormalFlag::Unknown),
];

const DOCUMENT_TYPES: [(&str, DocumentType); 4] = [
    ("discharge_summary", DocumentType::DischargeSummary),
    ("outpatient_letter", DocumentType::OutpatientLetter),
    ("referral_letter", DocumentType::ReferralLetter),
    ("other_letter", DocumentType::OtherLetter),
];

/// The projection section name of a record section.
fn section_name(section: RecordSection) -> &'static str {
    match section {
        RecordSection::Allergies => "allergies",
        RecordSection::Medications => "medications",
        RecordSection::Immunisations => "immunisations",
        RecordSection::Problems => "problems",
        RecordSection::Consultations => "consultations",
    }
}

/// A SNOMED CT concept id: 6 to 18 digits.
fn snomed_code(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if (6..=18).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            "invalid_snomed_code",
            "a SNOMED CT code has 6 to 18 digits",
        ))
    }
}

/// One of the three record-access codes of DOMAIN.md.
fn access_code(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if ACCESS_CODES.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            "invalid_access_code",
            format!("expected one of: {}", ACCESS_CODES.join(", ")),
        ))
    }
}

/// An RFC 3339 instant, kept to the microsecond (what PostgreSQL stores), so a replay compares
/// equal.
fn instant(value: &str) -> Result<DateTime<Utc>, Invalid> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|at| at.to_utc().trunc_subsecs(6))
        .map_err(|_| {
            invalid(
                "invalid_datetime",
                "expected an RFC 3339 date and time, e.g. 2026-11-23T09:00:00Z",
            )
        })
}

/// A finite number.
fn finite(value: Option<f64>) -> Result<Option<f64>, Invalid> {
    match value {
        Some(number) if !number.is_finite() => Err(invalid("invalid_number", "must be finite")),
        other => Ok(other),
    }
}

fn unknown_patient() -> Invalid {
    invalid(
        "unknown_patient",
        "no patient with this external id at this practice, in this batch or stored",
    )
}

fn duplicate_external_id() -> Invalid {
    invalid(
        "duplicate_external_id",
        "this external id appears more than once in the batch",
    )
}

// ---------------------------------------------------------------------------------------------
// Batch parsing (pure)
// ---------------------------------------------------------------------------------------------

struct NewPatient {
    external_id: String,
    nhs_number: String,
    given_name: String,
    family_name: String,
    date_of_birth: NaiveDate,
    sex: Sex,
    access_level: Option<AccessLevel>,
    record_access_from: Option<Option<NaiveDate>>,
    competent: Option<bool>,
    archived: Option<bool>,
}

struct NewEntry {
    external_id: String,
    patient: String,
    section: RecordSection,
    snomed_code: String,
    term: String,
    effective_date: NaiveDate,
    end_date: Option<NaiveDate>,
    detail: Option<String>,
    author: Option<String>,
    hidden: bool,
    hidden_from_proxies: bool,
}

struct NewResult {
    external_id: String,
    patient: String,
    test_code: String,
    test_name: String,
    value: String,
    numeric_value: Option<f64>,
    unit: Option<String>,
    range_low: Option<f64>,
    range_high: Option<f64>,
    range_text: Option<String>,
    abnormal_flag: AbnormalFlag,
    requester: Option<String>,
    effective_date: NaiveDate,
}

struct NewAccessCode {
    external_id: String,
    patient: String,
    snomed_code: String,
    recorded_at: DateTime<Utc>,
}

/// A batch whose fields have been checked; the lists hold the valid items only, so they are
/// complete exactly when the validator has nothing to report.
#[derive(Default)]
struct Parsed {
    patients: Vec<NewPatient>,
    entries: Vec<NewEntry>,
    results: Vec<NewResult>,
    access_codes: Vec<NewAccessCode>,
    prospective_access_date: Option<NaiveDate>,
    /// Every patient item's index, external id and NHS number where those parsed, for the
    /// checks against stored patients.
    patient_keys: Vec<(usize, Option<String>, Option<String>)>,
    /// Every `patient_external_id` that parsed, with its field path.
    references: Vec<(String, String)>,
}

impl Parsed {
    fn from_batch(batch: &ImportBatch, today: NaiveDate, v: &mut Validator) -> Self {
        let mut parsed = Self::default();
        parsed.parse_patients(&batch.patients, today, v);
        parsed.parse_entries(&batch.entries, v);
        parsed.parse_results(&batch.results, v);
        parsed.parse_access_codes(&batch.access_codes, v);
        if let Some(date) = &batch.prospective_access_date {
            parsed.prospective_access_date = v.check("prospective_access_date", parse_date(date));
        }
        parsed
    }

    fn parse_patients(&mut self, items: &[PatientImport], today: NaiveDate, v: &mut Validator) {
        let mut seen_ids = HashSet::new();
        let mut seen_numbers = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let path = |field: &str| format!("patients[{i}].{field}");
            let external_id = v.check(
                path("external_id"),
                line(&item.external_id, MAX_EXTERNAL_ID),
            );
            let external_id = external_id.and_then(|id| {
                let fresh = seen_ids.insert(id.clone());
                v.check(
                    path("external_id"),
                    fresh.then_some(id).ok_or_else(duplicate_external_id),
                )
            });
            let nhs_number = v
                .check(path("nhs_number"), NhsNumber::parse(&item.nhs_number))
                .map(|n| n.to_string());
            let nhs_number = nhs_number.and_then(|number| {
                let fresh = seen_numbers.insert(number.clone());
                let duplicate = invalid(
                    "duplicate_nhs_number",
                    "this NHS number appears more than once in the batch",
                );
                v.check(path("nhs_number"), fresh.then_some(number).ok_or(duplicate))
            });
            self.patient_keys
                .push((i, external_id.clone(), nhs_number.clone()));
            let given_name = v.check(path("given_name"), line(&item.given_name, MAX_NAME));
            let family_name = v.check(path("family_name"), line(&item.family_name, MAX_NAME));
            let date_of_birth = v.check(
                path("date_of_birth"),
                parse_date_of_birth(&item.date_of_birth, today),
            );
            let sex = v.check(path("sex"), one_of(&item.sex, &SEXES));
            let access_level = match &item.access_level {
                None => Some(None),
                Some(level) => v
                    .check(path("access_level"), one_of(level, &ACCESS_LEVELS))
                    .map(Some),
            };
            let record_access_from = match &item.record_access_from {
                None => Some(None),
                Some(None) => Some(Some(None)),
                Some(Some(date)) => v
                    .check(path("record_access_from"), parse_date(date))
                    .map(|date| Some(Some(date))),
            };
            let (
                Some(external_id),
                Some(nhs_number),
                Some(given_name),
                Some(family_name),
                Some(date_of_birth),
                Some(sex),
                Some(access_level),
                Some(record_access_from),
            ) = (
                external_id,
                nhs_number,
                given_name,
                family_name,
                date_of_birth,
                sex,
                access_level,
                record_access_from,
            )
            else {
                continue;
            };
            self.patients.push(NewPatient {
                external_id,
                nhs_number,
                given_name,
                family_name,
                date_of_birth,
                sex,
                access_level,
                record_access_from,
                competent: item.competent,
                archived: item.archived,
            });
        }
    }

    /// The external id and patient reference shared by entries, results and codes, with the
    /// duplicate check on the pair (the database's unique key is patient + external id).
    fn keys(
        &mut self,
        kind: &str,
        i: usize,
        external_id: &str,
        patient: &str,
        seen: &mut HashSet<(String, String)>,
        v: &mut Validator,
    ) -> (Option<String>, Option<String>) {
        let id_path = format!("{kind}[{i}].external_id");
        let patient_path = format!("{kind}[{i}].patient_external_id");
        let external_id = v.check(id_path.clone(), line(external_id, MAX_EXTERNAL_ID));
        let patient = v.check(patient_path.clone(), line(patient, MAX_EXTERNAL_ID));
        if let Some(patient) = &patient {
            self.references.push((patient_path, patient.clone()));
        }
        let external_id = match (external_id, &patient) {
            (Some(id), Some(patient)) => {
                let fresh = seen.insert((patient.clone(), id.clone()));
                v.check(
                    id_path,
                    fresh.then_some(id).ok_or_else(duplicate_external_id),
                )
            }
            (id, _) => id,
        };
        (external_id, patient)
    }

    fn parse_entries(&mut self, items: &[EntryImport], v: &mut Validator) {
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let path = |field: &str| format!("entries[{i}].{field}");
            let (external_id, patient) = self.keys(
                "entries",
                i,
                &item.external_id,
                &item.patient_external_id,
                &mut seen,
                v,
            );
            let section = v.check(path("section"), one_of(&item.section, &SECTIONS));
            let snomed = v.check(path("snomed_code"), snomed_code(&item.snomed_code));
            let term = v.check(path("term"), line(&item.term, MAX_TEXT));
            let effective_date = v.check(path("effective_date"), parse_date(&item.effective_date));
            let end_date = match &item.end_date {
                None => Some(None),
                Some(date) if date.trim().is_empty() => Some(None),
                Some(date) => v.check(path("end_date"), parse_date(date)).map(Some),
            };
            let end_date = match (effective_date, end_date) {
                (Some(start), Some(Some(end))) if end < start => v.check(
                    path("end_date"),
                    Err(invalid(
                        "end_before_start",
                        "the end date is before the effective date",
                    )),
                ),
                (_, end) => end,
            };
            let detail = match item.detail.as_deref().map(str::trim) {
                None | Some("") => Some(None),
                Some(detail) => v
                    .check(path("detail"), text(detail, MAX_DETAIL, true))
                    .map(Some),
            };
            let author = v.check(
                path("author"),
                optional_line(item.author.as_deref(), MAX_TEXT),
            );
            let (
                Some(external_id),
                Some(patient),
                Some(section),
                Some(snomed_code),
                Some(term),
                Some(effective_date),
                Some(end_date),
                Some(detail),
                Some(author),
            ) = (
                external_id,
                patient,
                section,
                snomed,
                term,
                effective_date,
                end_date,
                detail,
                author,
            )
            else {
                continue;
            };
            self.entries.push(NewEntry {
                external_id,
                patient,
                section,
                snomed_code,
                term,
                effective_date,
                end_date,
                detail,
                author,
                hidden: item.hidden,
                hidden_from_proxies: item.hidden_from_proxies,
            });
        }
    }

    fn parse_results(&mut self, items: &[ResultImport], v: &mut Validator) {
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let path = |field: &str| format!("results[{i}].{field}");
            let (external_id, patient) = self.keys(
                "results",
                i,
                &item.external_id,
                &item.patient_external_id,
                &mut seen,
                v,
            );
            let test_code = v.check(path("test_code"), line(&item.test_code, MAX_TEST_CODE));
            let test_name = v.check(path("test_name"), line(&item.test_name, MAX_TEXT));
            let value = v.check(path("value"), line(&item.value, MAX_VALUE));
            let numeric_value = v.check(path("numeric_value"), finite(item.numeric_value));
            let unit = v.check(path("unit"), optional_line(item.unit.as_deref(), MAX_UNIT));
            let range_low = v.check(path("range_low"), finite(item.range_low));
            let range_high = v.check(path("range_high"), finite(item.range_high));
            let range_high = match (range_low, range_high) {
                (Some(Some(low)), Some(Some(high))) if high < low => v.check(
                    path("range_high"),
                    Err(invalid(
                        "invalid_range",
                        "the upper end of the range is below the lower end",
                    )),
                ),
                (_, high) => high,
            };
            let range_text = v.check(
                path("range_text"),
                optional_line(item.range_text.as_deref(), MAX_RANGE_TEXT),
            );
            let abnormal_flag = v.check(path("abnormal_flag"), one_of(&item.abnormal_flag, &FLAGS));
            let requester = v.check(
                path("requester"),
                optional_line(item.requester.as_deref(), MAX_TEXT),
            );
            let effective_date = v.check(path("effective_date"), parse_date(&item.effective_date));
            let (
                Some(external_id),
                Some(patient),
                Some(test_code),
                Some(test_name),
                Some(value),
                Some(numeric_value),
                Some(unit),
                Some(range_low),
                Some(range_high),
                Some(range_text),
                Some(abnormal_flag),
                Some(requester),
                Some(effective_date),
            ) = (
                external_id,
                patient,
                test_code,
                test_name,
                value,
                numeric_value,
                unit,
                range_low,
                range_high,
                range_text,
                abnormal_flag,
                requester,
                effective_date,
            )
            else {
                continue;
            };
            self.results.push(NewResult {
                external_id,
                patient,
                test_code,
                test_name,
                value,
                numeric_value,
                unit,
                range_low,
                range_high,
                range_text,
                abnormal_flag,
                requester,
                effective_date,
            });
        }
    }

    fn parse_access_codes(&mut self, items: &[AccessCodeImport], v: &mut Validator) {
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let path = |field: &str| format!("access_codes[{i}].{field}");
            let (external_id, patient) = self.keys(
                "access_codes",
                i,
                &item.external_id,
                &item.patient_external_id,
                &mut seen,
                v,
            );
            let snomed_code = v.check(path("snomed_code"), access_code(&item.snomed_code));
            let recorded_at = v.check(path("recorded_at"), instant(&item.recorded_at));
            let (Some(external_id), Some(patient), Some(snomed_code), Some(recorded_at)) =
                (external_id, patient, snomed_code, recorded_at)
            else {
                continue;
            };
            self.access_codes.push(NewAccessCode {
                external_id,
                patient,
                snomed_code,
                recorded_at,
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Batch import
// ---------------------------------------------------------------------------------------------

/// What the batch changed, for the outbox and notifications.
#[derive(Default)]
struct Changes {
    /// (patient, section) pairs whose projection must be reconciled.
    dirty: BTreeSet<(Uuid, &'static str)>,
    /// Results released by this batch, by patient.
    released: BTreeMap<Uuid, Vec<Uuid>>,
}

impl Changes {
    fn all_sections(&mut self, patient_id: Uuid) {
        for section in ALL_SECTIONS {
            self.dirty.insert((patient_id, section));
        }
    }
}

/// Rows per multi-row `INSERT` for entity `E`, keeping under the bind-parameter limit.
fn rows_per_insert<E: EntityTrait>() -> usize {
    (MAX_BIND_PARAMS / E::Column::iter().count().max(1)).max(1)
}

/// Inserts `rows` in as few statements as the bind-parameter limit allows.
async fn insert_chunked<A>(db: &impl ConnectionTrait, rows: Vec<A>) -> Result<(), AppError>
where
    A: ActiveModelTrait + Send,
{
    let per_statement = rows_per_insert::<A::Entity>();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Imports one batch for the key's practice, in one transaction. A bad batch is a 422 listing
/// every bad field, and nothing is stored.
///
/// Review state of results: a new result is `pending`, or `released` at `now` when its test
/// code is in the practice's `immediate_release_test_codes`. An update that changes the
/// result's clinical content (test code, value, numeric value, unit, range or abnormal flag)
/// sends it back through review: the state is set again by the same rule and the earlier
/// review (reviewer, comment, withholding reason, release time) is cleared, because it was a
/// judgement about other content. An update of anything else (test name, requester, date)
/// keeps the review state as it is, so a replay never silently un-releases or releases a
/// result.
pub async fn import_batch(
    db: &DatabaseConnection,
    client: IntegrationClient,
    batch: ImportBatch,
    now: DateTime<Utc>,
) -> Result<ImportSummary, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let done = import_batch_in(&txn, client, batch, now).await?;
    txn.commit().await?;
    Ok(done)
}

/// [`import_batch`] on the caller's transaction, so several imports can commit as one.
pub async fn import_batch_in(
    txn: &DatabaseTransaction,
    client: IntegrationClient,
    batch: ImportBatch,
    now: DateTime<Utc>,
) -> Result<ImportSummary, AppError> {
    let mut v = Validator::new();
    let parsed = Parsed::from_batch(&batch, now.date_naive(), &mut v);
    drop(batch);

    let practice = practices::Entity::find_by_id(client.practice_id)
        .one(txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let settings = PracticeSettings::from_json(&practice.settings).map_err(AppError::internal)?;

    // Checks against what is stored, reported with the field checks.
    let batch_patients: HashSet<&str> = parsed
        .patient_keys
        .iter()
        .filter_map(|(_, id, _)| id.as_deref())
        .collect();
    let wanted: BTreeSet<&str> = batch_patients
        .iter()
        .copied()
        .chain(parsed.references.iter().map(|(_, id)| id.as_str()))
        .collect();
    let stored = patients_by_external_id(txn, practice.id, &wanted).await?;
    let numbers: BTreeSet<&str> = parsed
        .patient_keys
        .iter()
        .filter_map(|(_, _, number)| number.as_deref())
        .collect();
    let holders = patients_by_nhs_number(txn, practice.id, &numbers).await?;
    for (i, external_id, number) in &parsed.patient_keys {
        let (Some(external_id), Some(number)) = (external_id, number) else {
            continue;
        };
        let Some(holder) = holders.get(number) else {
            continue;
        };
        let target = stored.get(external_id).map(|p| p.id);
        let same_patient = target == Some(holder.id);
        let adoptable = target.is_none() && holder.external_id.is_none();
        if !same_patient && !adoptable {
            v.check::<()>(
                format!("patients[{i}].nhs_number"),
                Err(invalid(
                    "nhs_number_in_use",
                    "another patient of this practice has this NHS number",
                )),
            );
        }
    }
    for (path, patient) in &parsed.references {
        if !batch_patients.contains(patient.as_str()) && !stored.contains_key(patient) {
            v.check::<()>(path.clone(), Err(unknown_patient()));
        }
    }
    // On a refusal the transaction is dropped, which rolls it back.
    v.finish()?;

    let mut summary = ImportSummary::default();
    let mut changes = Changes::default();
    let mut patient_ids: HashMap<String, Uuid> = stored
        .iter()
        .map(|(external_id, patient)| (external_id.clone(), patient.id))
        .collect();

    summary.patients = upsert_patients(
        txn,
        practice.id,
        &parsed.patients,
        &stored,
        &holders,
        &mut patient_ids,
        &mut changes,
        now,
    )
    .await?;
    summary.entries = upsert_entries(
        txn,
        practice.id,
        &parsed.entries,
        &patient_ids,
        &mut changes,
        now,
    )
    .await?;
    let (results_counts, released) = upsert_results(
        txn,
        practice.id,
        &parsed.results,
        &patient_ids,
        &settings,
        &mut changes,
        now,
    )
    .await?;
    summary.results = results_counts;
    summary.results_released_immediately = released;
    summary.access_codes = upsert_access_codes(
        txn,
        practice.id,
        &parsed.access_codes,
        &patient_ids,
        &mut changes,
    )
    .await?;

    if let Some(date) = parsed.prospective_access_date
        && practice.prospective_access_date != Some(date)
    {
        let practice_id = practice.id;
        let mut practice = practice.into_active_model();
        practice.prospective_access_date = Set(Some(date));
        practice.updated_at = Set(now);
        practice.update(txn).await?;
        for patient_id in patients_with_an_audience(txn, practice_id).await? {
            changes.all_sections(patient_id);
        }
        summary.prospective_access_date_changed = true;
    }

    for (patient_id, section) in &changes.dirty {
        outbox::mark_dirty(txn, *patient_id, section, "import", now).await?;
    }
    for (patient_id, ids) in &changes.released {
        let released = results::Entity::find()
            .filter(results::Column::Id.is_in(ids.iter().copied()))
            .all(txn)
            .await?;
        outbox::notify(
            txn,
            *patient_id,
            "result_released",
            now,
            |viewer, facts, today| {
                let access = rules::section_access(viewer, facts, Section::Results, today);
                released.iter().any(|r| rules::result_visible(access, r))
            },
        )
        .await?;
    }
    AuditEvent::new(
        "integration.import",
        ActorKind::Integration,
        Outcome::Success,
    )
    .actor(client.key_id)
    .practice(client.practice_id)
    .target("import_batch", client.key_id)
    .detail(serde_json::json!({
        "patients": summary.patients,
        "entries": summary.entries,
        "results": summary.results,
        "access_codes": summary.access_codes,
        "results_released_immediately": summary.results_released_immediately,
        "prospective_access_date_changed": summary.prospective_access_date_changed,
        "patients_changed": changes.dirty.iter().map(|(id, _)| id).collect::<BTreeSet<_>>().len(),
    }))
    .record(txn, now)
    .await?;
    Ok(summary)
}

/// The practice's patients with these external ids.
async fn patients_by_external_id(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    external_ids: &BTreeSet<&str>,
) -> Result<HashMap<String, patients::Model>, AppError> {
    let ids: Vec<&str> = external_ids.iter().copied().collect();
    let mut found = HashMap::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let rows = patients::Entity::find()
            .filter(patients::Column::PracticeId.eq(practice_id))
            .filter(patients::Column::ExternalId.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for row in rows {
            if let Some(external_id) = row.external_id.clone() {
                found.insert(external_id, row);
            }
        }
    }
    Ok(found)
}

/// The practice's patients with these NHS numbers.
async fn patients_by_nhs_number(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
    numbers: &BTreeSet<&str>,
) -> Result<HashMap<String, patients::Model>, AppError> {
    let numbers: Vec<&str> = numbers.iter().copied().collect();
    let mut found = HashMap::new();
    for chunk in numbers.chunks(LOOKUP_CHUNK) {
        let rows = patients::Entity::find()
            .filter(patients::Column::PracticeId.eq(practice_id))
            .filter(patients::Column::NhsNumber.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for row in rows {
            found.insert(row.nhs_number.clone(), row);
        }
    }
    Ok(found)
}

/// The practice's patients someone can see online: those with an account or a proxy grant.
async fn patients_with_an_audience(
    db: &impl ConnectionTrait,
    practice_id: Uuid,
) -> Result<BTreeSet<Uuid>, AppError> {
    let mut ids: BTreeSet<Uuid> = accounts::Entity::find()
        .select_only()
        .column(accounts::Column::PatientId)
        .filter(accounts::Column::PracticeId.eq(practice_id))
        .filter(accounts::Column::PatientId.is_not_null())
        .into_tuple::<Option<Uuid>>()
        .all(db)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let granted = proxy_grants::Entity::find()
        .select_only()
        .column(proxy_grants::Column::PatientId)
        .filter(proxy_grants::Column::PracticeId.eq(practice_id))
        .filter(proxy_grants::Column::RevokedAt.is_null())
        .into_tuple::<Uuid>()
        .all(db)
        .await?;
    ids.extend(granted);
    Ok(ids)
}

/// A subquery: the ids of the practice's patients.
fn practice_patient_ids(practice_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    patients::Entity::find()
        .select_only()
        .column(patients::Column::Id)
        .filter(patients::Column::PracticeId.eq(practice_id))
        .into_query()
}

#[allow(clippy::too_many_arguments)] // One step of one transaction; a struct would only rename them.
async fn upsert_patients(
    txn: &impl ConnectionTrait,
    practice_id: Uuid,
    items: &[NewPatient],
    stored: &HashMap<String, patients::Model>,
    holders: &HashMap<String, patients::Model>,
    patient_ids: &mut HashMap<String, Uuid>,
    changes: &mut Changes,
    now: DateTime<Utc>,
) -> Result<Counts, AppError> {
    let mut counts = Counts::default();
    let mut inserts = Vec::new();
    for item in items {
        // Stored under this external id, or created at the desk (no external id yet) with the
        // same NHS number: that patient is adopted rather than duplicated.
        let existing = stored.get(&item.external_id).or_else(|| {
            holders
                .get(&item.nhs_number)
                .filter(|holder| holder.external_id.is_none())
        });
        let Some(existing) = existing else {
            let id = Uuid::new_v4();
            patient_ids.insert(item.external_id.clone(), id);
            changes.dirty.insert((id, "profile"));
            inserts.push(patients::ActiveModel {
                id: Set(id),
                practice_id: Set(practice_id),
                external_id: Set(Some(item.external_id.clone())),
                nhs_number: Set(item.nhs_number.clone()),
                given_name: Set(item.given_name.clone()),
                family_name: Set(item.family_name.clone()),
                date_of_birth: Set(item.date_of_birth),
                sex: Set(item.sex),
                access_level: Set(item.access_level.unwrap_or(AccessLevel::Detailed)),
                record_access_from: Set(item.record_access_from.flatten()),
                competent: Set(item.competent.unwrap_or(false)),
                nominated_pharmacy_ods: Set(None),
                archived_at: Set(item.archived.unwrap_or(false).then_some(now)),
                created_at: Set(now),
                updated_at: Set(now),
            });
            counts.created += 1;
            continue;
        };
        patient_ids.insert(item.external_id.clone(), existing.id);
        let access_level = item.access_level.unwrap_or(existing.access_level);
        let record_access_from = item
            .record_access_from
            .unwrap_or(existing.record_access_from);
        let competent = item.competent.unwrap_or(existing.competent);
        let archived_at = match item.archived {
            None => existing.archived_at,
            Some(true) => existing.archived_at.or(Some(now)),
            Some(false) => None,
        };
        let external_id = Some(item.external_id.clone());
        // What decides who sees what (age, access level, dates, registration).
        let access_changed = existing.date_of_birth != item.date_of_birth
            || existing.access_level != access_level
            || existing.record_access_from != record_access_from
            || existing.competent != competent
            || existing.archived_at != archived_at;
        let profile_changed = existing.external_id != external_id
            || existing.nhs_number != item.nhs_number
            || existing.given_name != item.given_name
            || existing.family_name != item.family_name
            || existing.sex != item.sex;
        if !access_changed && !profile_changed {
            counts.unchanged += 1;
            continue;
        }
        if access_changed {
            changes.all_sections(existing.id);
        } else {
            changes.dirty.insert((existing.id, "profile"));
        }
        let mut row = existing.clone().into_active_model();
        row.external_id = Set(external_id);
        row.nhs_number = Set(item.nhs_number.clone());
        row.given_name = Set(item.given_name.clone());
        row.family_name = Set(item.family_name.clone());
        row.date_of_birth = Set(item.date_of_birth);
        row.sex = Set(item.sex);
        row.access_level = Set(access_level);
        row.record_access_from = Set(record_access_from);
        row.competent = Set(competent);
        row.archived_at = Set(archived_at);
        row.updated_at = Set(now);
        row.update(txn).await?;
        counts.updated += 1;
    }
    insert_chunked(txn, inserts).await?;
    Ok(counts)
}

/// The practice's rows of a patient-owned table with these external ids, keyed by
/// (patient id, external id).
macro_rules! existing_by_external_id {
    ($txn:expr, $practice_id:expr, $entity:ident, $ids:expr) => {{
        let ids: Vec<&str> = $ids;
        let mut found = HashMap::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let rows = $entity::Entity::find()
                .filter($entity::Column::ExternalId.is_in(chunk.iter().copied()))
                .filter($entity::Column::PatientId.in_subquery(practice_patient_ids($practice_id)))
                .all($txn)
                .await?;
            for row in rows {
                if let Some(external_id) = row.external_id.clone() {
                    found.insert((row.patient_id, external_id), row);
                }
            }
        }
        found
    }};
}

/// The patient id an item refers to (validated to exist before any write).
fn patient_of(patient_ids: &HashMap<String, Uuid>, external_id: &str) -> Result<Uuid, AppError> {
    patient_ids
        .get(external_id)
        .copied()
        .ok_or_else(|| AppError::internal("a validated patient reference did not resolve"))
}

fn distinct<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    ids.collect::<BTreeSet<_>>().into_iter().collect()
}

async fn upsert_entries(
    txn: &impl ConnectionTrait,
    practice_id: Uuid,
    items: &[NewEntry],
    patient_ids: &HashMap<String, Uuid>,
    changes: &mut Changes,
    now: DateTime<Utc>,
) -> Result<Counts, AppError> {
    let existing = existing_by_external_id!(
        txn,
        practice_id,
        record_entries,
        distinct(items.iter().map(|item| item.external_id.as_str()))
    );
    let mut counts = Counts::default();
    let mut inserts = Vec::new();
    for item in items {
        let patient_id = patient_of(patient_ids, &item.patient)?;
        let section = section_name(item.section);
        let Some(row) = existing.get(&(patient_id, item.external_id.clone())) else {
            inserts.push(record_entries::ActiveModel {
                id: Set(Uuid::new_v4()),
                patient_id: Set(patient_id),
                external_id: Set(Some(item.external_id.clone())),
                section: Set(item.section),
                snomed_code: Set(item.snomed_code.clone()),
                term: Set(item.term.clone()),
                effective_date: Set(item.effective_date),
                end_date: Set(item.end_date),
                detail: Set(item.detail.clone()),
                author: Set(item.author.clone()),
                hidden: Set(item.hidden),
                hidden_from_proxies: Set(item.hidden_from_proxies),
                retracted_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            });
            changes.dirty.insert((patient_id, section));
            counts.created += 1;
            continue;
        };
        let same = row.section == item.section
            && row.snomed_code == item.snomed_code
            && row.term == item.term
            && row.effective_date == item.effective_date
            && row.end_date == item.end_date
            && row.detail == item.detail
            && row.author == item.author
            && row.hidden == item.hidden
            && row.hidden_from_proxies == item.hidden_from_proxies;
        if same {
            counts.unchanged += 1;
            continue;
        }
        changes
            .dirty
            .insert((patient_id, section_name(row.section)));
        changes.dirty.insert((patient_id, section));
        let mut update = row.clone().into_active_model();
        update.section = Set(item.section);
        update.snomed_code = Set(item.snomed_code.clone());
        update.term = Set(item.term.clone());
        update.effective_date = Set(item.effective_date);
        update.end_date = Set(item.end_date);
        update.detail = Set(item.detail.clone());
        update.author = Set(item.author.clone());
        update.hidden = Set(item.hidden);
        update.hidden_from_proxies = Set(item.hidden_from_proxies);
        update.updated_at = Set(now);
        update.update(txn).await?;
        counts.updated += 1;
    }
    insert_chunked(txn, inserts).await?;
    Ok(counts)
}

/// Returns the counts and how many results were released without review.
async fn upsert_results(
    txn: &impl ConnectionTrait,
    practice_id: Uuid,
    items: &[NewResult],
    patient_ids: &HashMap<String, Uuid>,
    settings: &PracticeSettings,
    changes: &mut Changes,
    now: DateTime<Utc>,
) -> Result<(Counts, u32), AppError> {
    let existing = existing_by_external_id!(
        txn,
        practice_id,
        results,
        distinct(items.iter().map(|item| item.external_id.as_str()))
    );
    let immediate = |test_code: &str| {
        settings
            .immediate_release_test_codes
            .iter()
            .any(|code| code.trim().eq_ignore_ascii_case(test_code))
    };
    let mut counts = Counts::default();
    let mut released = 0;
    let mut inserts = Vec::new();
    for item in items {
        let patient_id = patient_of(patient_ids, &item.patient)?;
        let release_now = immediate(&item.test_code);
        let (review_state, released_at) = if release_now {
            (ReviewState::Released, Some(now))
        } else {
            (ReviewState::Pending, None)
        };
        let Some(row) = existing.get(&(patient_id, item.external_id.clone())) else {
            let id = Uuid::new_v4();
            inserts.push(results::ActiveModel {
                id: Set(id),
                patient_id: Set(patient_id),
                external_id: Set(Some(item.external_id.clone())),
                test_code: Set(item.test_code.clone()),
                test_name: Set(item.test_name.clone()),
                value: Set(item.value.clone()),
                numeric_value: Set(item.numeric_value),
                unit: Set(item.unit.clone()),
                range_low: Set(item.range_low),
                range_high: Set(item.range_high),
                range_text: Set(item.range_text.clone()),
                abnormal_flag: Set(item.abnormal_flag),
                requester: Set(item.requester.clone()),
                effective_date: Set(item.effective_date),
                received_at: Set(now),
                review_state: Set(review_state),
                reviewed_at: Set(None),
                reviewed_by_staff_id: Set(None),
                clinician_comment: Set(None),
                withhold_reason: Set(None),
                released_at: Set(released_at),
                retracted_at: Set(None),
                retraction_reason: Set(None),
                hidden: Set(false),
                hidden_from_proxies: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
            });
            changes.dirty.insert((patient_id, "results"));
            if release_now {
                changes.released.entry(patient_id).or_default().push(id);
                released += 1;
            }
            counts.created += 1;
            continue;
        };
        let content_changed = row.test_code != item.test_code
            || row.value != item.value
            || row.numeric_value != item.numeric_value
            || row.unit != item.unit
            || row.range_low != item.range_low
            || row.range_high != item.range_high
            || row.range_text != item.range_text
            || row.abnormal_flag != item.abnormal_flag;
        let details_changed = row.test_name != item.test_name
            || row.requester != item.requester
            || row.effective_date != item.effective_date;
        if !content_changed && !details_changed {
            counts.unchanged += 1;
            continue;
        }
        changes.dirty.insert((patient_id, "results"));
        let mut update = row.clone().into_active_model();
        update.test_code = Set(item.test_code.clone());
        update.test_name = Set(item.test_name.clone());
        update.value = Set(item.value.clone());
        update.numeric_value = Set(item.numeric_value);
        update.unit = Set(item.unit.clone());
        update.range_low = Set(item.range_low);
        update.range_high = Set(item.range_high);
        update.range_text = Set(item.range_text.clone());
        update.abnormal_flag = Set(item.abnormal_flag);
        update.requester = Set(item.requester.clone());
        update.effective_date = Set(item.effective_date);
        update.updated_at = Set(now);
        if content_changed {
            // New clinical content: the earlier review was about other values.
            update.received_at = Set(now);
            update.review_state = Set(review_state);
            update.released_at = Set(released_at);
            update.reviewed_at = Set(None);
            update.reviewed_by_staff_id = Set(None);
            update.clinician_comment = Set(None);
            update.withhold_reason = Set(None);
            if release_now {
                changes.released.entry(patient_id).or_default().push(row.id);
                released += 1;
            }
        }
        update.update(txn).await?;
        counts.updated += 1;
    }
    insert_chunked(txn, inserts).await?;
    Ok((counts, released))
}

async fn upsert_access_codes(
    txn: &impl ConnectionTrait,
    practice_id: Uuid,
    items: &[NewAccessCode],
    patient_ids: &HashMap<String, Uuid>,
    changes: &mut Changes,
) -> Result<Counts, AppError> {
    let existing = existing_by_external_id!(
        txn,
        practice_id,
        access_codes,
        distinct(items.iter().map(|item| item.external_id.as_str()))
    );
    let mut counts = Counts::default();
    let mut inserts = Vec::new();
    for item in items {
        let patient_id = patient_of(patient_ids, &item.patient)?;
        let Some(row) = existing.get(&(patient_id, item.external_id.clone())) else {
            inserts.push(access_codes::ActiveModel {
                id: Set(Uuid::new_v4()),
                patient_id: Set(patient_id),
                external_id: Set(Some(item.external_id.clone())),
                snomed_code: Set(item.snomed_code.clone()),
                recorded_at: Set(item.recorded_at),
                recorded_by_staff_id: Set(None),
            });
            changes.all_sections(patient_id);
            counts.created += 1;
            continue;
        };
        if row.snomed_code == item.snomed_code && row.recorded_at == item.recorded_at {
            counts.unchanged += 1;
            continue;
        }
        changes.all_sections(patient_id);
        let mut update = row.clone().into_active_model();
        update.snomed_code = Set(item.snomed_code.clone());
        update.recorded_at = Set(item.recorded_at);
        update.update(txn).await?;
        counts.updated += 1;
    }
    insert_chunked(txn, inserts).await?;
    Ok(counts)
}

// ---------------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------------

/// The content type of a document, detected from its first bytes (never from a name): PDF,
/// PNG, JPEG, TIFF, RTF, or plain text when the whole content is UTF-8 without NUL or control
/// characters other than tab, carriage return and line feed. `None` for anything else.
pub fn detect_content_type(content: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 7] = [
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"{\\rtf", "application/rtf"),
        // A UTF-8 byte-order mark followed by RTF is still RTF.
        (b"\xef\xbb\xbf{\\rtf", "application/rtf"),
    ];
    if let Some((_, content_type)) = SIGNATURES
        .iter()
        .find(|(signature, _)| content.starts_with(signature))
    {
        return Some(content_type);
    }
    let text = std::str::from_utf8(content).ok()?;
    let plain = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\r' | '\n'));
    plain.then_some("text/plain; charset=utf-8")
}

/// Decodes base64 (standard alphabet, padding optional, whitespace such as MIME line breaks
/// ignored).
fn decode_base64(value: &str) -> Result<Vec<u8>, Invalid> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: Vec<u8> = value.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let content = ENGINE
        .decode(compact)
        .map_err(|_| invalid("invalid_base64", "the content is not valid base64"))?;
    if content.is_empty() {
        return Err(invalid("empty_document", "the document is empty"));
    }
    Ok(content)
}

/// Lowercase hex SHA-256.
fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

/// Stores one document for a patient of the key's practice, in one transaction.
///
/// Refusals, in this order: 422 listing every bad field (including an unknown patient and
/// content that is not base64); 413 `document_too_large` above [`MAX_DOCUMENT_BYTES`]; 415
/// `unsupported_document_type` when the content is none of the accepted types. The body is
/// stored once per SHA-256 in `blobs`. Re-sending the same document is `unchanged`; new content
/// sends the document back to `pending` review (its earlier review was of other content);
/// changed details alone (type, title, author, date) keep its review state.
pub async fn import_document(
    db: &DatabaseConnection,
    client: IntegrationClient,
    upload: DocumentImport,
    now: DateTime<Utc>,
) -> Result<DocumentImported, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let done = import_document_in(&txn, client, upload, now).await?;
    txn.commit().await?;
    Ok(done)
}

/// [`import_document`] on the caller's transaction, so several imports can commit as one.
pub async fn import_document_in(
    txn: &DatabaseTransaction,
    client: IntegrationClient,
    upload: DocumentImport,
    now: DateTime<Utc>,
) -> Result<DocumentImported, AppError> {
    let mut v = Validator::new();
    let external_id = v.check("external_id", line(&upload.external_id, MAX_EXTERNAL_ID));
    let patient_external_id = v.check(
        "patient_external_id",
        line(&upload.patient_external_id, MAX_EXTERNAL_ID),
    );
    let document_type = v.check(
        "document_type",
        one_of(&upload.document_type, &DOCUMENT_TYPES),
    );
    let title = v.check("title", line(&upload.title, MAX_TEXT));
    let author_organisation = v.check(
        "author_organisation",
        optional_line(upload.author_organisation.as_deref(), MAX_TEXT),
    );
    let effective_date = v.check("effective_date", parse_date(&upload.effective_date));
    let content = v.check("content_base64", decode_base64(&upload.content_base64));
    drop(upload);

    let patient = match &patient_external_id {
        Some(external_id) => {
            let patient = patients::Entity::find()
                .filter(patients::Column::PracticeId.eq(client.practice_id))
                .filter(patients::Column::ExternalId.eq(external_id.as_str()))
                .one(txn)
                .await?;
            if patient.is_none() {
                v.check::<()>("patient_external_id", Err(unknown_patient()));
            }
            patient
        }
        None => None,
    };
    v.finish()?;
    let (
        Some(external_id),
        Some(patient),
        Some(document_type),
        Some(title),
        Some(author_organisation),
        Some(effective_date),
        Some(content),
    ) = (
        external_id,
        patient,
        document_type,
        title,
        author_organisation,
        effective_date,
        content,
    )
    else {
        return Err(AppError::internal("a validated document field was missing"));
    };
    if content.len() > MAX_DOCUMENT_BYTES {
        return Err(
            AppError::new(ErrorCode::DocumentTooLarge).with_detail(format!(
                "a document may be at most {MAX_DOCUMENT_BYTES} bytes"
            )),
        );
    }
    let content_type = detect_content_type(&content).ok_or_else(|| {
        AppError::new(ErrorCode::UnsupportedDocumentType)
            .with_detail("accepted: PDF, PNG, JPEG, TIFF, RTF and UTF-8 plain text")
    })?;
    let sha256 = sha256_hex(&content);
    let size_bytes = i64::try_from(content.len()).map_err(AppError::internal)?;

    let blob_stored = blobs::Entity::find_by_id(sha256.clone())
        .select_only()
        .column(blobs::Column::Sha256)
        .into_tuple::<String>()
        .one(txn)
        .await?
        .is_some();
    if !blob_stored {
        // A concurrent import of the same content may have stored it meanwhile: keep theirs.
        blobs::Entity::insert(blobs::ActiveModel {
            sha256: Set(sha256.clone()),
            content_type: Set(content_type.to_owned()),
            size_bytes: Set(size_bytes),
            content: Set(content),
            created_at: Set(now),
        })
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await?;
    }

    let existing = documents::Entity::find()
        .filter(documents::Column::PatientId.eq(patient.id))
        .filter(documents::Column::ExternalId.eq(external_id.as_str()))
        .one(txn)
        .await?;
    let (document_id, outcome) = match existing {
        None => {
            let id = Uuid::new_v4();
            documents::ActiveModel {
                id: Set(id),
                patient_id: Set(patient.id),
                external_id: Set(Some(external_id)),
                document_type: Set(document_type),
                title: Set(title),
                author_organisation: Set(author_organisation),
                effective_date: Set(effective_date),
                content_type: Set(content_type.to_owned()),
                size_bytes: Set(size_bytes),
                blob_sha256: Set(sha256.clone()),
                received_at: Set(now),
                review_state: Set(ReviewState::Pending),
                reviewed_at: Set(None),
                reviewed_by_staff_id: Set(None),
                clinician_comment: Set(None),
                withhold_reason: Set(None),
                released_at: Set(None),
                retracted_at: Set(None),
                retraction_reason: Set(None),
                hidden: Set(false),
                hidden_from_proxies: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
            (id, ImportOutcome::Created)
        }
        Some(row) => {
            let content_changed = row.blob_sha256 != sha256;
            let details_changed = row.document_type != document_type
                || row.title != title
                || row.author_organisation != author_organisation
                || row.effective_date != effective_date;
            if !content_changed && !details_changed {
                // Same content (so same type and size) and details: nothing to write.
                (row.id, ImportOutcome::Unchanged)
            } else {
                let id = row.id;
                let mut update = row.into_active_model();
                update.document_type = Set(document_type);
                update.title = Set(title);
                update.author_organisation = Set(author_organisation);
                update.effective_date = Set(effective_date);
                update.updated_at = Set(now);
                if content_changed {
                    update.content_type = Set(content_type.to_owned());
                    update.size_bytes = Set(size_bytes);
                    update.blob_sha256 = Set(sha256.clone());
                    update.received_at = Set(now);
                    update.review_state = Set(ReviewState::Pending);
                    update.reviewed_at = Set(None);
                    update.reviewed_by_staff_id = Set(None);
                    update.clinician_comment = Set(None);
                    update.withhold_reason = Set(None);
                    update.released_at = Set(None);
                }
                update.update(txn).await?;
                (id, ImportOutcome::Updated)
            }
        }
    };
    if outcome != ImportOutcome::Unchanged {
        outbox::mark_dirty(txn, patient.id, "documents", "import", now).await?;
    }
    // A replay is audited too: the clinical system did act on the patient's record.
    AuditEvent::new(
        "integration.import_document",
        ActorKind::Integration,
        Outcome::Success,
    )
    .actor(client.key_id)
    .practice(client.practice_id)
    .acting_for(patient.id)
    .target("document", document_id)
    .detail(serde_json::json!({
        "outcome": outcome,
        "content_type": content_type,
        "size_bytes": size_bytes,
    }))
    .record(txn, now)
    .await?;
    Ok(DocumentImported {
        document_id,
        outcome,
        content_type: content_type.to_owned(),
        size_bytes,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_come_from_the_bytes() {
        assert_eq!(
            detect_content_type(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"),
            Some("application/pdf")
        );
        assert_eq!(
            detect_content_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("image/png")
        );
        assert_eq!(
            detect_content_type(b"\xff\xd8\xff\xe0\0\x10JFIF"),
            Some("image/jpeg")
        );
        assert_eq!(detect_content_type(b"II*\0\x08\0\0\0"), Some("image/tiff"));
        assert_eq!(detect_content_type(b"MM\0*\0\0\0\x08"), Some("image/tiff"));
        assert_eq!(
            detect_content_type(b"{\\rtf1\\ansi Hello}"),
            Some("application/rtf")
        );
        assert_eq!(
            detect_content_type("Dear Dr Patel,\r\n\tThank you. Café.\n".as_bytes()),
            Some("text/plain; charset=utf-8")
        );
    }

    #[test]
    fn other_content_is_refused() {
        for refused in [
            &b"MZ\x90\x00\x03\x00\x00\x00"[..],
            b"\x7fELF\x02\x01\x01",
            b"PK\x03\x04zip",
            b"plain text with a NUL\0",
            b"bell \x07 character",
            b"\xff\xfe not utf-8",
            b"form feed \x0c",
        ] {
            assert_eq!(detect_content_type(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn base64_allows_line_breaks_and_refuses_garbage_and_empty() {
        assert_eq!(
            decode_base64("JVBE\nRi0x\r\nLjQ=").ok(),
            Some(b"%PDF-1.4".to_vec())
        );
        assert_eq!(
            decode_base64("JVBERi0xLjQ").ok(),
            Some(b"%PDF-1.4".to_vec())
        );
        assert_eq!(
            decode_base64("not base64!").err().map(|e| e.code),
            Some("invalid_base64")
        );
        assert_eq!(
            decode_base64("").err().map(|e| e.code),
            Some("empty_document")
        );
    }

    #[test]
    fn batch_validation_names_every_bad_field() {
        let batch: ImportBatch = serde_json::from_value(serde_json::json!({
            "patients": [
                {"external_id": "P1", "nhs_number": "9434765918", "given_name": "Ada",
                 "family_name": "Lovelace", "date_of_birth": "1980-02-30", "sex": "female"},
                {"external_id": "P1", "nhs_number": "9434765919", "given_name": " ",
                 "family_name": "Byron", "date_of_birth": "1980-01-01", "sex": "f"}
            ],
            "entries": [
                {"external_id": "E1", "patient_external_id": "P1", "section": "allergy",
                 "snomed_code": "12a", "term": "Penicillin", "effective_date": "2020-01-01",
                 "end_date": "2019-01-01"}
            ],
            "access_codes": [
                {"external_id": "C1", "patient_external_id": "P1",
                 "snomed_code": "123456", "recorded_at": "yesterday"}
            ]
        }))
        .unwrap_or_default();
        let mut v = Validator::new();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        let parsed = Parsed::from_batch(&batch, today, &mut v);
        assert!(parsed.patients.is_empty());
        let names: Vec<String> = v
            .finish()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|f| format!("{}:{}", f.name, f.code))
            .collect();
        assert_eq!(
            names,
            [
                "patients[0].nhs_number:invalid_nhs_number",
                "patients[0].date_of_birth:invalid_date",
                "patients[1].external_id:duplicate_external_id",
                "patients[1].given_name:required",
                "patients[1].sex:invalid_value",
                "entries[0].section:invalid_value",
                "entries[0].snomed_code:invalid_snomed_code",
                "entries[0].end_date:end_before_start",
                "access_codes[0].snomed_code:invalid_access_code",
                "access_codes[0].recorded_at:invalid_datetime",
            ]
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let refused = serde_json::from_value::<ImportBatch>(serde_json::json!({
            "patients": [], "appointments": []
        }));
        assert!(refused.is_err());
    }

    #[test]
    fn record_access_from_tells_left_out_from_null() {
        let patient = |extra: serde_json::Value| {
            let mut value = serde_json::json!({"external_id": "P", "nhs_number": "9434765919",
                "given_name": "A", "family_name": "B", "date_of_birth": "1980-01-01",
                "sex": "male"});
            if let (Some(object), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
                object.extend(extra.clone());
            }
            serde_json::from_value::<PatientImport>(value)
                .ok()
                .map(|p| p.record_access_from)
        };
        assert_eq!(patient(serde_json::json!({})), Some(None));
        assert_eq!(
            patient(serde_json::json!({"record_access_from": null})),
            Some(Some(None))
        );
        assert_eq!(
            patient(serde_json::json!({"record_access_from": "2020-01-01"})),
            Some(Some(Some("2020-01-01".to_owned())))
        );
    }
}
