//! The access rules as pure functions. Nothing here reads the database or the clock: callers
//! pass the facts and `today`, which keeps every rule testable on its own.
//!
//! The model (`docs/adr/0002-record-access-model.md`; docs/domain.md "Record access"):
//! - **Prospective access**: a patient sees everything *entered or filed* (`entered_on`) on or
//!   after the later of the practice's switch-on date, their 16th birthday and the day their
//!   account was created — every section, letters included — unless an access code in force
//!   blocks it: "declined" (1290331000000103), or "enhanced review indicated"
//!   (1364731000000104) not overridden by a later "not indicated" (1364751000000106). A code
//!   applies from the day it was recorded until its `ended_on`.
//! - **Historic access**: what the practice granted by import, by a staff action or on the
//!   patient's request, as a level and a from-date (`access_level`, `record_access_from`). A
//!   level covering the summary shows the summary sections' whole history; detailed sections
//!   and documents show items entered on or after the from-date. Codes do not touch it.
//! - **Proxy access** is the grant's scopes with the grant's own from-date
//!   (`record_access_from`, else the day the grant starts), never the patient's entitlements.
//!   Age rules hold at request time: at the practice's review age a parental grant's record
//!   scopes stop until the practice reviews it; at 16 the whole grant stops unless the young
//!   person consented.
//! - Hidden items are invisible to everyone online; items hidden from proxies are invisible
//!   to proxies. Results and documents are visible only once released and not retracted;
//!   retracted coded entries are invisible. An archived patient is visible to nobody online.
//! - Practice staff (of the patient's practice) see everything, including items in review.

use crate::db::entities::patients::AccessLevel;
use crate::db::entities::proxy_grants::{self, GrantStatus, LegalBasis};
use crate::db::entities::results::ReviewState;
use crate::db::entities::{
    access_codes, courses, documents, message_threads, patients, practices, record_entries, results,
};
use crate::settings::PracticeSettings;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

mod age;
mod boundary;
mod capabilities;
mod prospective;
mod sections;
mod services;
#[cfg(test)]
mod tests;

pub use age::*;
pub use boundary::*;
pub use capabilities::*;
pub use prospective::*;
pub use sections::*;
pub use services::*;

/// SNOMED CT: enhanced review indicated before granting access to own health record.
pub const ENHANCED_REVIEW_INDICATED: &str = "1364731000000104";
/// SNOMED CT: enhanced review not indicated (overrides the above).
pub const ENHANCED_REVIEW_NOT_INDICATED: &str = "1364751000000106";
/// SNOMED CT: online access to own health record declined by patient.
pub const ACCESS_DECLINED: &str = "1290331000000103";
/// The three record-access codes, the only ones the clinical system may record through us.
pub const ACCESS_CODES: [&str; 3] = [
    ENHANCED_REVIEW_INDICATED,
    ENHANCED_REVIEW_NOT_INDICATED,
    ACCESS_DECLINED,
];

/// A section of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Allergies and adverse reactions (summary).
    Allergies,
    /// Medications (summary).
    Medications,
    /// Immunisations (summary).
    Immunisations,
    /// Problems and diagnoses (detailed).
    Problems,
    /// Consultations (detailed).
    Consultations,
    /// Test results (detailed).
    Results,
    /// Letters and other documents.
    Documents,
}

impl Section {
    /// Every section, in the order apps show them.
    pub const ALL: [Section; 7] = [
        Self::Allergies,
        Self::Medications,
        Self::Immunisations,
        Self::Problems,
        Self::Consultations,
        Self::Results,
        Self::Documents,
    ];

    /// The section's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allergies => "allergies",
            Self::Medications => "medications",
            Self::Immunisations => "immunisations",
            Self::Problems => "problems",
            Self::Consultations => "consultations",
            Self::Results => "results",
            Self::Documents => "documents",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The section a coded entry belongs to.
    pub fn of_entry(section: record_entries::RecordSection) -> Self {
        use record_entries::RecordSection as R;
        match section {
            R::Allergies => Self::Allergies,
            R::Medications => Self::Medications,
            R::Immunisations => Self::Immunisations,
            R::Problems => Self::Problems,
            R::Consultations => Self::Consultations,
        }
    }

    /// Summary sections show the whole history; the others start at the record access date.
    fn is_summary(self) -> bool {
        matches!(
            self,
            Self::Allergies | Self::Medications | Self::Immunisations
        )
    }

    /// The access level a patient needs for this section.
    fn needs(self) -> AccessLevel {
        match self {
            Self::Allergies | Self::Medications | Self::Immunisations => AccessLevel::Summary,
            Self::Problems | Self::Consultations | Self::Results => AccessLevel::Detailed,
            Self::Documents => AccessLevel::Documents,
        }
    }

    /// The proxy scope that covers this section.
    fn scope(self) -> Scope {
        match self {
            Self::Allergies | Self::Medications | Self::Immunisations => Scope::RecordSummary,
            Self::Problems | Self::Consultations | Self::Results => Scope::RecordDetailed,
            Self::Documents => Scope::Documents,
        }
    }
}

/// What a proxy grant covers (DAPB3051).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Book and cancel appointments.
    Appointments,
    /// Order repeat prescriptions.
    Prescriptions,
    /// Message the practice.
    Messages,
    /// Allergies, medications, immunisations.
    RecordSummary,
    /// Problems, consultations, results.
    RecordDetailed,
    /// Letters.
    Documents,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 6] = [
        Self::Appointments,
        Self::Prescriptions,
        Self::Messages,
        Self::RecordSummary,
        Self::RecordDetailed,
        Self::Documents,
    ];

    /// The scope's wire name, as stored in a grant.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appointments => "appointments",
            Self::Prescriptions => "prescriptions",
            Self::Messages => "messages",
            Self::RecordSummary => "record_summary",
            Self::RecordDetailed => "record_detailed",
            Self::Documents => "documents",
        }
    }

    /// Whether the scope is one of the record's (summary, detailed, documents).
    pub fn is_record(self) -> bool {
        matches!(
            self,
            Self::RecordSummary | Self::RecordDetailed | Self::Documents
        )
    }

    /// The scopes of a grant (unknown names are ignored: they grant nothing).
    pub fn of_grant(grant: &proxy_grants::Model) -> Vec<Scope> {
        grant
            .scopes
            .split(',')
            .filter_map(|name| Self::ALL.into_iter().find(|s| s.as_str() == name.trim()))
            .collect()
    }
}

/// Who is looking.
#[derive(Debug, Clone, PartialEq)]
pub enum Viewer {
    /// The patient, on their own account.
    Patient {
        /// Their account.
        account_id: Uuid,
    },
    /// A proxy acting under a grant.
    Proxy {
        /// The proxy's account.
        account_id: Uuid,
        /// The grant they act under.
        grant: Box<proxy_grants::Model>,
    },
    /// Practice staff.
    Staff {
        /// The staff member.
        staff_id: Uuid,
        /// Their practice.
        practice_id: Uuid,
    },
}

/// The facts about a patient that access depends on.
#[derive(Debug, Clone)]
pub struct PatientFacts {
    /// The patient.
    pub patient: patients::Model,
    /// Their practice.
    pub practice: practices::Model,
    /// The SNOMED access codes on their record.
    pub codes: Vec<access_codes::Model>,
    /// The day the patient's own online account was created (the earliest, if several), or
    /// `None` without one.
    pub account_created_on: Option<NaiveDate>,
}

impl PatientFacts {
    /// The practice's settings, with the national defaults filled in.
    pub fn settings(&self) -> PracticeSettings {
        PracticeSettings::from_json(&self.practice.settings).unwrap_or_default()
    }
}
