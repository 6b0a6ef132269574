//! The plain values the SDK hands the app: items of the synced documents as named fields (the
//! same names and values as the sync documents, `sync-protocol/PROTOCOL.md`), profiles, the
//! personal document, intents waiting to be sent, and what one sync did.

use std::collections::HashMap;
use sync_protocol::Section as WireSection;
use sync_protocol::items::{Field, Fields};

/// A section of a person's record and services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum Section {
    /// Demographics, practice and capabilities.
    Profile,
    /// Coded entries.
    Record,
    /// Test results.
    Results,
    /// Letters (metadata; bodies with `letter`).
    Documents,
    /// Appointments.
    Appointments,
    /// Courses and prescription requests.
    Medications,
    /// Message threads and messages.
    Messages,
}

impl Section {
    /// Every section, in the order the app shows them.
    pub const ALL: [Section; 7] = [
        Section::Profile,
        Section::Record,
        Section::Results,
        Section::Documents,
        Section::Appointments,
        Section::Medications,
        Section::Messages,
    ];

    /// The section on the wire.
    pub fn wire(self) -> WireSection {
        match self {
            Self::Profile => WireSection::Profile,
            Self::Record => WireSection::Record,
            Self::Results => WireSection::Results,
            Self::Documents => WireSection::Documents,
            Self::Appointments => WireSection::Appointments,
            Self::Medications => WireSection::Medications,
            Self::Messages => WireSection::Messages,
        }
    }

    /// The section of a wire section (`None` for the personal document).
    pub fn from_wire(section: WireSection) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.wire() == section)
    }

    /// Its name on the wire (`record`, `results`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Record => "record",
            Self::Results => "results",
            Self::Documents => "documents",
            Self::Appointments => "appointments",
            Self::Medications => "medications",
            Self::Messages => "messages",
        }
    }

    /// The section named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One field's value.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FieldValue {
    /// Absent.
    Null,
    /// A boolean.
    Bool {
        /// The value.
        value: bool,
    },
    /// An integer.
    Int {
        /// The value.
        value: i64,
    },
    /// A floating-point number.
    Float {
        /// The value.
        value: f64,
    },
    /// Text (dates, instants and ids are text too).
    Text {
        /// The value.
        value: String,
    },
}

impl FieldValue {
    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool { value } => (*value).into(),
            Self::Int { value } => (*value).into(),
            Self::Float { value } => serde_json::Number::from_f64(*value)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Self::Text { value } => value.clone().into(),
        }
    }

    /// The text, if the value is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text { value } => Some(value),
            _ => None,
        }
    }

    /// The value of a JSON scalar (objects and arrays become their JSON text).
    pub fn from_json(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(value) => Self::Bool { value: *value },
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(value) => Self::Int { value },
                None => Self::Float {
                    value: n.as_f64().unwrap_or_default(),
                },
            },
            serde_json::Value::String(value) => Self::Text {
                value: value.clone(),
            },
            other => Self::Text {
                value: other.to_string(),
            },
        }
    }
}

/// One item of a document (or of an online list such as slots): its id and its fields.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Item {
    /// The item's id (the key in its document).
    pub id: String,
    /// Its fields, by name.
    pub fields: HashMap<String, FieldValue>,
}

impl Item {
    /// An item read from a document.
    pub(crate) fn from_fields(id: &str, fields: &Fields) -> Self {
        let fields = fields
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Field::Null => FieldValue::Null,
                    Field::Bool(value) => FieldValue::Bool { value: *value },
                    Field::Int(value) => FieldValue::Int { value: *value },
                    Field::Float(value) => FieldValue::Float { value: *value },
                    Field::Text(value) => FieldValue::Text {
                        value: value.clone(),
                    },
                };
                (name.clone(), value)
            })
            .collect();
        Self {
            id: id.to_owned(),
            fields,
        }
    }

    /// An item from a JSON object (`id` taken from its `id` field, or `fallback_id`).
    pub(crate) fn from_json(object: &serde_json::Value, fallback_id: &str) -> Self {
        let mut fields = HashMap::new();
        if let Some(map) = object.as_object() {
            for (name, value) in map {
                fields.insert(name.clone(), FieldValue::from_json(value));
            }
        }
        let id = object["id"].as_str().unwrap_or(fallback_id).to_owned();
        Self { id, fields }
    }

    /// A field's text, if it is text.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(FieldValue::as_text)
    }

    /// The item as a JSON object: `id` and every field.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("id".to_owned(), self.id.clone().into());
        let mut names: Vec<&String> = self.fields.keys().collect();
        names.sort();
        for name in names {
            if let Some(value) = self.fields.get(name) {
                map.insert(name.clone(), value.to_json());
            }
        }
        serde_json::Value::Object(map)
    }
}

/// What the account may see and do for a person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, uniffi::Record)]
pub struct Capabilities {
    /// Record sections the account may read (`allergies`, `results`, …).
    pub record_sections: Vec<String>,
    /// May book and cancel appointments.
    pub appointments: bool,
    /// May order repeat prescriptions.
    pub prescriptions: bool,
    /// May message the practice.
    pub messages: bool,
    /// May see who looked at the record (the patient only).
    pub access_log: bool,
}

/// A person the account acts for: themself first, then linked profiles.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, uniffi::Record)]
pub struct Profile {
    /// The patient's id.
    pub patient_id: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// `self`, or the proxy relationship.
    pub relationship: String,
    /// Whether the account acts as a proxy ("Acting for …").
    pub acting_as_proxy: bool,
    /// The practice's ODS code.
    pub ods_code: String,
    /// The practice's name.
    pub practice_name: String,
    /// What the account may do.
    pub capabilities: Capabilities,
}

impl Profile {
    /// The sections the account follows for this person.
    pub(crate) fn followed(&self) -> Vec<WireSection> {
        let coded = [
            "allergies",
            "medications",
            "immunisations",
            "problems",
            "consultations",
        ];
        let names = &self.capabilities.record_sections;
        let has = |name: &str| names.iter().any(|n| n == name);
        let mut sections = vec![WireSection::Profile, WireSection::Personal];
        if coded.iter().any(|c| has(c)) {
            sections.push(WireSection::Record);
        }
        if has("results") {
            sections.push(WireSection::Results);
        }
        if has("documents") {
            sections.push(WireSection::Documents);
        }
        if self.capabilities.appointments {
            sections.push(WireSection::Appointments);
        }
        if self.capabilities.prescriptions {
            sections.push(WireSection::Medications);
        }
        if self.capabilities.messages {
            sections.push(WireSection::Messages);
        }
        sections
    }
}

/// A draft in the personal document.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Draft {
    /// Its id.
    pub id: String,
    /// `message`, `reply`, `repeat_request`, …
    pub kind: String,
    /// Subject of a new message.
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// The thread or item it belongs to.
    pub about: Option<String>,
    /// When last edited (RFC 3339).
    pub updated_at: String,
}

/// The account's personal document about one person.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct PersonalData {
    /// When each item was last read, by item id.
    pub read_markers: HashMap<String, String>,
    /// Private notes, by item id.
    pub notes: HashMap<String, String>,
    /// Items hidden on the account's devices.
    pub hidden: Vec<String>,
    /// Drafts.
    pub drafts: Vec<Draft>,
}

/// An intent queued and not yet settled.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PendingIntent {
    /// Its idempotency key.
    pub key: String,
    /// The person it is for.
    pub patient_id: String,
    /// `book_appointment`, `cancel_appointment`, `order_repeat`, `send_message`,
    /// `mark_message_read`.
    pub action: String,
    /// When it was queued (RFC 3339).
    pub queued_at: String,
}

/// How an intent ended.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct IntentResult {
    /// Its key.
    pub key: String,
    /// Whether it was applied.
    pub accepted: bool,
    /// What it created or changed, when accepted.
    pub id: Option<String>,
    /// The server's stable code, when refused.
    pub code: Option<String>,
}

impl IntentResult {
    /// From the wire outcome.
    pub(crate) fn from_outcome(outcome: &sync_protocol::IntentOutcome) -> Self {
        match &outcome.result {
            sync_protocol::OutcomeResult::Accepted { id } => Self {
                key: outcome.key.clone(),
                accepted: true,
                id: id.map(|id| id.to_string()),
                code: None,
            },
            sync_protocol::OutcomeResult::Rejected { code } => Self {
                key: outcome.key.clone(),
                accepted: false,
                id: None,
                code: Some(code.clone()),
            },
        }
    }
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// Round trips made.
    pub rounds: u32,
    /// Documents whose content changed.
    pub changed: Vec<DocumentRef>,
    /// Documents destroyed (superseded generations, removed documents).
    pub destroyed: Vec<DocumentRef>,
    /// Intents settled.
    pub settled: Vec<IntentResult>,
}

/// A document: a person and a section (`personal` for the personal document).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DocumentRef {
    /// The person.
    pub patient_id: String,
    /// The section's wire name.
    pub section: String,
}

impl DocumentRef {
    /// From the wire id.
    pub(crate) fn of(id: sync_protocol::DocumentId) -> Self {
        let section = serde_json::to_value(id.section)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Self {
            patient_id: id.patient_id.to_string(),
            section,
        }
    }
}

/// One of the account's devices.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceInfo {
    /// Its id (to revoke it).
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was added.
    pub created_at: String,
    /// When it was last used.
    pub last_seen_at: Option<String>,
    /// Whether it is this device.
    pub current: bool,
}

/// A downloaded letter.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Letter {
    /// Its media type.
    pub content_type: String,
    /// Its bytes.
    pub content: Vec<u8>,
}

/// A passkey ceremony for the app to run with the platform's authenticator.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PasskeyCeremony {
    /// Give it back with the authenticator's answer.
    pub ceremony_id: String,
    /// `PublicKeyCredentialCreationOptionsJSON` (registration) or
    /// `PublicKeyCredentialRequestOptionsJSON` (sign-in), as Android's Credential Manager takes
    /// it and as iOS's `ASAuthorization` requests map one to one.
    pub options_json: String,
}
