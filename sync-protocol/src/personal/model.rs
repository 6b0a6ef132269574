//! The personal document read into plain Rust: read markers, notes, hidden items and drafts.

use super::*;

/// A draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// What the draft will become: `message`, `reply`, `repeat_request`, `appointment_reason`…
    pub kind: String,
    /// A subject line, for a new message.
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// The thread or item it belongs to (a reply's thread, for instance).
    pub about: Option<String>,
    /// When it was last edited (RFC 3339).
    pub updated_at: String,
}

/// A personal document read into plain values (the winning value of each key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Personal {
    /// When each item was last read.
    pub read_markers: BTreeMap<String, String>,
    /// Private notes by item.
    pub notes: BTreeMap<String, String>,
    /// Items hidden on the account's devices.
    pub hidden: BTreeSet<String>,
    /// Drafts by id.
    pub drafts: BTreeMap<String, Draft>,
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The value does not fit the shape (an id or instant is malformed).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// automerge refused the operation.
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
}

/// Reads a personal document (an empty document reads as empty). Values of the wrong type
/// are skipped: a document the server accepted has none.
pub fn read(doc: &impl ReadDoc) -> Result<Personal, AutomergeError> {
    let mut personal = Personal::default();
    let strings = |part: &str| -> Result<BTreeMap<String, String>, AutomergeError> {
        let mut out = BTreeMap::new();
        if let Some(map) = root_map(doc, part)? {
            for key in doc.keys(&map) {
                if let Some((Value::Scalar(scalar), _)) = doc.get(&map, key.as_str())?
                    && let ScalarValue::Str(s) = scalar.as_ref()
                {
                    out.insert(key, s.to_string());
                }
            }
        }
        Ok(out)
    };
    personal.read_markers = strings(READ_MARKERS)?;
    personal.notes = strings(NOTES)?;
    if let Some(map) = root_map(doc, HIDDEN)? {
        personal.hidden = doc.keys(&map).collect();
    }
    if let Some(map) = root_map(doc, DRAFTS)? {
        for id in doc.keys(&map) {
            let Some((Value::Object(ObjType::Map), draft)) = doc.get(&map, id.as_str())? else {
                continue;
            };
            let field = |name: &str| -> Result<Option<String>, AutomergeError> {
                Ok(match doc.get(&draft, name)? {
                    Some((Value::Scalar(s), _)) => match s.as_ref() {
                        ScalarValue::Str(s) => Some(s.to_string()),
                        _ => None,
                    },
                    _ => None,
                })
            };
            personal.drafts.insert(
                id,
                Draft {
                    kind: field("kind")?.unwrap_or_default(),
                    subject: field("subject")?,
                    body: field("body")?.unwrap_or_default(),
                    about: field("about")?,
                    updated_at: field("updated_at")?.unwrap_or_default(),
                },
            );
        }
    }
    Ok(personal)
}

pub(super) fn root_map(doc: &impl ReadDoc, key: &str) -> Result<Option<ObjId>, AutomergeError> {
    Ok(match doc.get(ROOT, key)? {
        Some((Value::Object(ObjType::Map), id)) => Some(id),
        _ => None,
    })
}
