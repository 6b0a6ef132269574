//! The clinical system's request and reply shapes for batches and documents.

use super::*;

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
    /// The day it was entered in the clinical system, `YYYY-MM-DD` (required:
    /// prospective record access is decided by it, not by the clinical date).
    #[serde(default)]
    pub entered_on: Option<String>,
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
    /// The day it was filed in the clinical system, `YYYY-MM-DD` (required:
    /// prospective record access is decided by it, not by the clinical date).
    #[serde(default)]
    pub entered_on: Option<String>,
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
    /// The first day it no longer applies, `YYYY-MM-DD`; left out or `null` while it applies.
    #[serde(default)]
    pub ended_on: Option<String>,
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
    /// The day it was filed in the clinical system, `YYYY-MM-DD` (required:
    /// prospective record access is decided by it, not by the clinical date).
    #[serde(default)]
    pub entered_on: Option<String>,
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
pub(super) fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}
