//! Which documents exist. For each person a device acts for (the account holder, or someone
//! they are a proxy for) the server keeps one document per [`Section`]; the device sees only
//! the documents its viewer may see. Section documents are written by the server only; the
//! personal document is written by the account's devices.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// A synced document's section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Demographics, practice and capabilities.
    Profile,
    /// Coded entries (allergies, medications, immunisations, problems, consultations).
    Record,
    /// Test results.
    Results,
    /// Letter metadata (bodies are fetched by id over HTTPS).
    Documents,
    /// Appointments.
    Appointments,
    /// Repeat courses and prescription requests.
    Medications,
    /// Message threads.
    Messages,
    /// The account's own notes, read markers, items hidden on its devices and drafts.
    Personal,
}

impl Section {
    /// Every section, the server-written ones first.
    pub const ALL: [Section; 8] = [
        Self::Profile,
        Self::Record,
        Self::Results,
        Self::Documents,
        Self::Appointments,
        Self::Medications,
        Self::Messages,
        Self::Personal,
    ];

    /// The section's name on the wire and in the database (`"record"`, `"personal"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Record => "record",
            Self::Results => "results",
            Self::Documents => "documents",
            Self::Appointments => "appointments",
            Self::Medications => "medications",
            Self::Messages => "messages",
            Self::Personal => "personal",
        }
    }

    /// The section named `name`, as [`Section::as_str`] writes it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|section| section.as_str() == name)
    }

    /// Whether devices write this document (only the personal one).
    pub fn device_writable(self) -> bool {
        self == Self::Personal
    }
}

/// A document as the device knows it: the patient it is about and its section. The server
/// adds the audience (which viewer) from the authenticated session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DocumentId {
    /// The patient (16 bytes on the wire; its text is accepted too).
    #[serde(with = "crate::uuids")]
    pub patient_id: Uuid,
    /// The section.
    pub section: Section,
}

impl DocumentId {
    /// The document of `section` about `patient_id`.
    pub fn new(patient_id: Uuid, section: Section) -> Self {
        Self {
            patient_id,
            section,
        }
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:?}", self.patient_id, self.section)
    }
}
