//! The item types of each section document: what the server writes and what a device reads
//! back with [`crate::DevicePeer::item_list`]. Every item is flat (scalars only), keyed by its
//! id in the document's `items` map. Frozen wire structs: fields may be added, never renamed.

use serde::{Deserialize, Serialize};

/// An item of the `record` document: one coded entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordItem {
    /// `allergies`, `medications`, `immunisations`, `problems` or `consultations`.
    pub section: String,
    /// SNOMED CT concept id.
    pub snomed_code: String,
    /// The term.
    pub term: String,
    /// ISO date it happened or was recorded.
    pub effective_date: String,
    /// ISO date it ended, if it did.
    pub end_date: Option<String>,
    /// Free text.
    pub detail: Option<String>,
    /// Who recorded it.
    pub author: Option<String>,
}

/// An item of the `results` document: one released result (a device draws the trend from
/// the other results with the same `test_code`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultItem {
    /// The test's code.
    pub test_code: String,
    /// The test's name.
    pub test_name: String,
    /// The value as reported.
    pub value: String,
    /// The value as a number, when it is one.
    pub numeric_value: Option<f64>,
    /// Unit.
    pub unit: Option<String>,
    /// Lower end of the reference range.
    pub range_low: Option<f64>,
    /// Upper end of the reference range.
    pub range_high: Option<f64>,
    /// The range as reported.
    pub range_text: Option<String>,
    /// `normal`, `low`, `high`, `abnormal` or `unknown`.
    pub abnormal_flag: String,
    /// Who requested the test.
    pub requester: Option<String>,
    /// ISO date of the sample.
    pub effective_date: String,
    /// RFC 3339 instant a clinician filed it.
    pub filed_at: Option<String>,
    /// The clinician's comment.
    pub clinician_comment: Option<String>,
}

/// An item of the `documents` document: one released letter's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentItem {
    /// `discharge_summary`, `outpatient_letter`, `referral_letter` or `other_letter`.
    pub document_type: String,
    /// Title.
    pub title: String,
    /// The organisation that wrote it.
    pub author_organisation: Option<String>,
    /// ISO date.
    pub effective_date: String,
    /// Media type of the body.
    pub content_type: String,
    /// Size of the body.
    pub size_bytes: i64,
    /// RFC 3339 instant a clinician filed it.
    pub filed_at: Option<String>,
    /// The clinician's comment.
    pub clinician_comment: Option<String>,
}

/// The single item (id `profile`) of the `profile` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileItem {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// `self` or the proxy relationship.
    pub relationship: String,
    /// Whether the viewer acts as a proxy ("Acting for …").
    pub acting_as_proxy: bool,
    /// Practice ODS code.
    pub ods_code: String,
    /// Practice name.
    pub practice_name: String,
    /// Record sections the viewer may read, comma-separated.
    pub record_sections: String,
    /// May book appointments.
    pub appointments: bool,
    /// May order repeat prescriptions.
    pub prescriptions: bool,
    /// May message the practice.
    pub messages: bool,
}
