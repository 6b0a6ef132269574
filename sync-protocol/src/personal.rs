//! The personal document: one per account and patient it acts for, written by the account's
//! devices and merged across them by automerge. It holds what this account keeps for itself
//! about that patient's record, never shown to anyone else (not to the patient when the
//! account is a proxy, not to proxies, not to staff):
//!
//! ```text
//! ROOT
//! ├── read_markers: { item id → RFC 3339 instant it was last read }
//! ├── notes:        { item id → private note (a string) }
//! ├── hidden:       { item id → true }            (hidden on this account's devices)
//! └── drafts:       { draft id → { kind, body, updated_at, subject?, about? } (all strings) }
//! ```
//!
//! Ids are 1–64 bytes of ASCII letters, digits and `-_.:` (item ids are the ids of the section
//! documents' items; draft ids are chosen by the device, e.g. a random UUID). Every value is an
//! automerge scalar (strings are never `Text` objects). A draft's `kind` is a short lowercase
//! token (`message`, `reply`, `repeat_request`, `appointment_reason`, …), `about` the thread or
//! item it belongs to, and `updated_at` an RFC 3339 instant.
//!
//! automerge cannot refuse one change, so the server applies a device's changes to a fork of
//! the stored document and keeps them only if the merged result passes [`validate`]: the shape
//! above exactly (every value, conflicting ones included) and the size [`Limits`], which are
//! server settings. Devices write through the helpers here ([`set_note`], [`hide`],
//! [`save_draft`], …), which keep the shape; they may run [`validate`] themselves before
//! syncing.
//!
//! The four root maps are created by one fixed **genesis change** (a fixed actor, time 0), so
//! every device that starts the document offline creates byte-identical maps that automerge
//! merges as one, rather than conflicting maps of which only one would survive.

use automerge::Value;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use std::collections::{BTreeMap, BTreeSet};

/// Root key of the read markers.
pub const READ_MARKERS: &str = "read_markers";
/// Root key of the private notes.
pub const NOTES: &str = "notes";
/// Root key of the items hidden on the account's devices.
pub const HIDDEN: &str = "hidden";
/// Root key of the drafts.
pub const DRAFTS: &str = "drafts";

/// The actor of the genesis change (16 bytes: `personal-genesis`).
pub const GENESIS_ACTOR: &[u8; 16] = b"personal-genesis";

/// Longest id (item or draft), in bytes.
pub const MAX_ID_BYTES: usize = 64;

/// Longest draft kind, in bytes.
pub const MAX_KIND_BYTES: usize = 32;

/// Size caps of a personal document (server settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of content in the whole document: every key and string value, conflicting
    /// values included.
    pub max_bytes: usize,
    /// Most entries over all four maps (read markers, notes, hidden items and drafts).
    pub max_entries: usize,
    /// Most bytes of one note, or of one draft's fields together.
    pub max_text_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            max_entries: 10_000,
            max_text_bytes: 16 * 1024,
        }
    }
}

/// Why a personal document (or a value written into one) is refused. Messages name where,
/// never the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A key that is not part of the shape.
    #[error("unknown key in {0}")]
    UnknownKey(&'static str),
    /// A value of the wrong type (a nested object, a list, `Text`, a number…).
    #[error("value of the wrong type in {0}")]
    WrongType(&'static str),
    /// An id that is empty, too long or has characters other than letters, digits and `-_.:`.
    #[error("malformed id in {0}")]
    BadId(&'static str),
    /// Not an RFC 3339 instant.
    #[error("malformed instant in {0}")]
    BadInstant(&'static str),
    /// A draft lacks `kind`, `body` or `updated_at`, or its kind is not a short token.
    #[error("malformed draft")]
    BadDraft,
    /// Changes automerge could not apply.
    #[error("changes could not be applied")]
    Unreadable,
    /// A note or draft longer than [`Limits::max_text_bytes`].
    #[error("text longer than the limit in {0}")]
    TextTooLong(&'static str),
    /// More entries than [`Limits::max_entries`].
    #[error("more entries than the limit")]
    TooManyEntries,
    /// More content than [`Limits::max_bytes`].
    #[error("document larger than the limit")]
    TooLarge,
}

impl Invalid {
    /// The stable code sent to the device: `too_large` for a cap, `invalid_shape` otherwise.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TextTooLong(_) | Self::TooManyEntries | Self::TooLarge => "too_large",
            _ => "invalid_shape",
        }
    }
}

impl From<AutomergeError> for Invalid {
    fn from(_: AutomergeError) -> Self {
        Self::Unreadable
    }
}

/// Which root map.
#[derive(Clone, Copy)]
enum Part {
    ReadMarkers,
    Notes,
    Hidden,
    Drafts,
}

impl Part {
    fn of(key: &str) -> Option<Self> {
        match key {
            READ_MARKERS => Some(Self::ReadMarkers),
            NOTES => Some(Self::Notes),
            HIDDEN => Some(Self::Hidden),
            DRAFTS => Some(Self::Drafts),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::ReadMarkers => READ_MARKERS,
            Self::Notes => NOTES,
            Self::Hidden => HIDDEN,
            Self::Drafts => DRAFTS,
        }
    }
}

/// Running totals of a validation.
struct Tally<'a> {
    limits: &'a Limits,
    bytes: usize,
    entries: usize,
}

impl Tally<'_> {
    fn bytes(&mut self, n: usize) -> Result<(), Invalid> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > self.limits.max_bytes {
            return Err(Invalid::TooLarge);
        }
        Ok(())
    }

    fn entry(&mut self) -> Result<(), Invalid> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(Invalid::TooManyEntries);
        }
        Ok(())
    }
}

/// Checks that `doc` is a personal document of the documented shape within `limits`. Every
/// value at every key is checked, including values that lost a conflict (they stay in the
/// document and a device can read them).
pub fn validate(doc: &impl ReadDoc, limits: &Limits) -> Result<(), Invalid> {
    let mut tally = Tally {
        limits,
        bytes: 0,
        entries: 0,
    };
    for key in doc.keys(ROOT) {
        let part = Part::of(&key).ok_or(Invalid::UnknownKey("the root"))?;
        for (value, map) in doc.get_all(ROOT, key.as_str())? {
            if !matches!(value, Value::Object(ObjType::Map)) {
                return Err(Invalid::WrongType(part.name()));
            }
            validate_part(doc, &map, part, &mut tally)?;
        }
    }
    Ok(())
}

fn validate_part(
    doc: &impl ReadDoc,
    map: &ObjId,
    part: Part,
    tally: &mut Tally<'_>,
) -> Result<(), Invalid> {
    let name = part.name();
    for key in doc.keys(map) {
        check_id(&key, name)?;
        tally.entry()?;
        tally.bytes(key.len())?;
        for (value, object) in doc.get_all(map, key.as_str())? {
            match (part, value) {
                (Part::ReadMarkers, Value::Scalar(scalar)) => {
                    let at = text(&scalar, name)?;
                    check_instant(at, name)?;
                    tally.bytes(at.len())?;
                }
                (Part::Notes, Value::Scalar(scalar)) => {
                    let note = text(&scalar, name)?;
                    if note.len() > tally.limits.max_text_bytes {
                        return Err(Invalid::TextTooLong(name));
                    }
                    tally.bytes(note.len())?;
                }
                (Part::Hidden, Value::Scalar(scalar)) => {
                    if *scalar != ScalarValue::Boolean(true) {
                        return Err(Invalid::WrongType(name));
                    }
                    tally.bytes(1)?;
                }
                (Part::Drafts, Value::Object(ObjType::Map)) => {
                    validate_draft(doc, &object, tally)?;
                }
                _ => return Err(Invalid::WrongType(name)),
            }
        }
    }
    Ok(())
}

/// The fields a draft may have.
const DRAFT_FIELDS: [&str; 5] = ["kind", "body", "updated_at", "subject", "about"];

fn validate_draft(doc: &impl ReadDoc, draft: &ObjId, tally: &mut Tally<'_>) -> Result<(), Invalid> {
    let mut size = 0usize;
    let mut present = BTreeSet::new();
    for field in doc.keys(draft) {
        let Some(known) = DRAFT_FIELDS.iter().find(|f| **f == field) else {
            return Err(Invalid::UnknownKey(DRAFTS));
        };
        present.insert(*known);
        for (value, _) in doc.get_all(draft, field.as_str())? {
            let Value::Scalar(scalar) = value else {
                return Err(Invalid::WrongType(DRAFTS));
            };
            let value = text(&scalar, DRAFTS)?;
            match *known {
                "kind" => check_kind(value)?,
                "updated_at" => check_instant(value, DRAFTS)?,
                "about" => check_id(value, DRAFTS)?,
                _ => {}
            }
            size = size.saturating_add(field.len() + value.len());
        }
    }
    if !["kind", "body", "updated_at"]
        .iter()
        .all(|f| present.contains(f))
    {
        return Err(Invalid::BadDraft);
    }
    if size > tally.limits.max_text_bytes {
        return Err(Invalid::TextTooLong(DRAFTS));
    }
    tally.bytes(size)
}

fn text<'a>(scalar: &'a ScalarValue, part: &'static str) -> Result<&'a str, Invalid> {
    match scalar {
        ScalarValue::Str(s) => Ok(s.as_str()),
        _ => Err(Invalid::WrongType(part)),
    }
}

fn check_id(id: &str, part: &'static str) -> Result<(), Invalid> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Invalid::BadId(part))
    }
}

fn check_kind(kind: &str) -> Result<(), Invalid> {
    let ok = !kind.is_empty()
        && kind.len() <= MAX_KIND_BYTES
        && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if ok { Ok(()) } else { Err(Invalid::BadDraft) }
}

/// Whether `value` is an RFC 3339 instant: `YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z`
/// or an offset `±HH:MM`.
pub fn is_instant(value: &str) -> bool {
    let b = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let date_time = (|| {
        let (month, day) = (digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        digits(0..4)?;
        let separators = b[4] == b'-' && b[7] == b'-' && b[10] == b'T';
        let clock = b[13] == b':' && b[16] == b':';
        Some(
            separators
                && clock
                && (1..=12).contains(&month)
                && (1..=31).contains(&day)
                && hour < 24
                && minute < 60
                && second <= 60,
        )
    })();
    if date_time != Some(true) || b.len() > 40 {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        b"Z" => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (*h1 - b'0') * 10 + (*h2 - b'0') < 24
                && (*m1 - b'0') * 10 + (*m2 - b'0') < 60
        }
        _ => false,
    }
}

fn check_instant(value: &str, part: &'static str) -> Result<(), Invalid> {
    if is_instant(value) {
        Ok(())
    } else {
        Err(Invalid::BadInstant(part))
    }
}

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

fn root_map(doc: &impl ReadDoc, key: &str) -> Result<Option<ObjId>, AutomergeError> {
    Ok(match doc.get(ROOT, key)? {
        Some((Value::Object(ObjType::Map), id)) => Some(id),
        _ => None,
    })
}

/// The genesis change as a document: the four root maps, created by [`GENESIS_ACTOR`] at
/// time 0, so its change is the same bytes (and hash) wherever it is made.
pub fn genesis() -> AutoCommit {
    let mut doc = AutoCommit::new().with_actor(ActorId::from(GENESIS_ACTOR));
    for key in [READ_MARKERS, NOTES, HIDDEN, DRAFTS] {
        // Putting an object into a fresh document's root cannot fail.
        let _ = doc.put_object(ROOT, key, ObjType::Map);
    }
    doc.commit_with(CommitOptions::default().with_time(0));
    doc
}

/// The root map `key`, merging the genesis change first when the document lacks it.
fn part_map(doc: &mut AutoCommit, key: &str) -> Result<ObjId, WriteError> {
    if let Some(map) = root_map(doc, key)? {
        return Ok(map);
    }
    doc.merge(&mut genesis())?;
    root_map(doc, key)?.ok_or(WriteError::Invalid(Invalid::WrongType("the root")))
}

fn commit(doc: &mut AutoCommit) {
    doc.commit();
}

/// Records that `item_id` was read at `at` (RFC 3339).
pub fn set_read_marker(doc: &mut AutoCommit, item_id: &str, at: &str) -> Result<(), WriteError> {
    check_id(item_id, READ_MARKERS)?;
    check_instant(at, READ_MARKERS)?;
    let map = part_map(doc, READ_MARKERS)?;
    doc.put(&map, item_id, at)?;
    commit(doc);
    Ok(())
}

/// Sets the private note on `item_id`.
pub fn set_note(doc: &mut AutoCommit, item_id: &str, note: &str) -> Result<(), WriteError> {
    check_id(item_id, NOTES)?;
    let map = part_map(doc, NOTES)?;
    doc.put(&map, item_id, note)?;
    commit(doc);
    Ok(())
}

/// Removes the private note on `item_id` (nothing happens when there is none).
pub fn clear_note(doc: &mut AutoCommit, item_id: &str) -> Result<(), WriteError> {
    remove(doc, NOTES, item_id)
}

/// Hides `item_id` on the account's devices.
pub fn hide(doc: &mut AutoCommit, item_id: &str) -> Result<(), WriteError> {
    check_id(item_id, HIDDEN)?;
    let map = part_map(doc, HIDDEN)?;
    doc.put(&map, item_id, true)?;
    commit(doc);
    Ok(())
}

/// Shows `item_id` again.
pub fn unhide(doc: &mut AutoCommit, item_id: &str) -> Result<(), WriteError> {
    remove(doc, HIDDEN, item_id)
}

/// Saves a draft under `draft_id`, writing only the fields that changed.
pub fn save_draft(doc: &mut AutoCommit, draft_id: &str, draft: &Draft) -> Result<(), WriteError> {
    check_id(draft_id, DRAFTS)?;
    check_kind(&draft.kind)?;
    check_instant(&draft.updated_at, DRAFTS)?;
    if let Some(about) = &draft.about {
        check_id(about, DRAFTS)?;
    }
    let map = part_map(doc, DRAFTS)?;
    let object = match doc.get(&map, draft_id)? {
        Some((Value::Object(ObjType::Map), object)) => object,
        _ => doc.put_object(&map, draft_id, ObjType::Map)?,
    };
    let fields = [
        ("kind", Some(&draft.kind)),
        ("body", Some(&draft.body)),
        ("updated_at", Some(&draft.updated_at)),
        ("subject", draft.subject.as_ref()),
        ("about", draft.about.as_ref()),
    ];
    for (name, value) in fields {
        let current = match doc.get(&object, name)? {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        };
        match value {
            Some(value) if current.as_ref() != Some(value) => {
                doc.put(&object, name, value.as_str())?;
            }
            None if doc.get(&object, name)?.is_some() => doc.delete(&object, name)?,
            _ => {}
        }
    }
    commit(doc);
    Ok(())
}

/// Deletes the draft `draft_id` (sent, or abandoned).
pub fn delete_draft(doc: &mut AutoCommit, draft_id: &str) -> Result<(), WriteError> {
    remove(doc, DRAFTS, draft_id)
}

fn remove(doc: &mut AutoCommit, part: &str, key: &str) -> Result<(), WriteError> {
    if let Some(map) = root_map(doc, part)?
        && doc.get(&map, key)?.is_some()
    {
        doc.delete(&map, key)?;
        commit(doc);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "2026-11-23T09:00:00Z";

    fn limits() -> Limits {
        Limits {
            max_bytes: 2_000,
            max_entries: 10,
            max_text_bytes: 100,
        }
    }

    fn draft(body: &str) -> Draft {
        Draft {
            kind: "message".to_owned(),
            subject: Some("Repeat inhaler".to_owned()),
            body: body.to_owned(),
            about: None,
            updated_at: AT.to_owned(),
        }
    }

    /// A document written through every helper.
    fn written() -> AutoCommit {
        let mut doc = AutoCommit::new();
        set_read_marker(&mut doc, "result-1", AT).unwrap();
        set_note(&mut doc, "result-1", "Ask about the ferritin").unwrap();
        hide(&mut doc, "letter-2").unwrap();
        save_draft(&mut doc, "draft-1", &draft("Could I have")).unwrap();
        doc
    }

    #[test]
    fn documents_written_by_the_helpers_are_valid_and_read_back() {
        let mut doc = written();
        assert_eq!(validate(&doc, &limits()), Ok(()));
        assert_eq!(validate(&AutoCommit::new(), &limits()), Ok(()), "empty");
        let personal = read(&doc).unwrap();
        assert_eq!(personal.read_markers["result-1"], AT);
        assert_eq!(personal.notes["result-1"], "Ask about the ferritin");
        assert!(personal.hidden.contains("letter-2"));
        assert_eq!(personal.drafts["draft-1"], draft("Could I have"));

        clear_note(&mut doc, "result-1").unwrap();
        unhide(&mut doc, "letter-2").unwrap();
        let mut edited = draft("Could I have a new inhaler?");
        edited.subject = None;
        edited.about = Some("thread-9".to_owned());
        save_draft(&mut doc, "draft-1", &edited).unwrap();
        let personal = read(&doc).unwrap();
        assert!(personal.notes.is_empty() && personal.hidden.is_empty());
        assert_eq!(personal.drafts["draft-1"], edited);
        delete_draft(&mut doc, "draft-1").unwrap();
        assert!(read(&doc).unwrap().drafts.is_empty());
        assert_eq!(validate(&doc, &limits()), Ok(()));
    }

    #[test]
    fn devices_starting_offline_share_one_genesis_so_nothing_is_lost_on_merge() {
        let mut phone = AutoCommit::new();
        let mut tablet = AutoCommit::new();
        set_note(&mut phone, "a", "from the phone").unwrap();
        set_note(&mut tablet, "b", "from the tablet").unwrap();
        hide(&mut tablet, "c").unwrap();
        phone.merge(&mut tablet).unwrap();
        let personal = read(&phone).unwrap();
        assert_eq!(personal.notes.len(), 2, "{personal:?}");
        assert!(personal.hidden.contains("c"));
        assert_eq!(genesis().get_heads(), genesis().get_heads());
        assert_eq!(validate(&phone, &limits()), Ok(()));
    }

    #[test]
    fn helpers_refuse_malformed_ids_and_instants() {
        let mut doc = AutoCommit::new();
        assert!(set_note(&mut doc, "", "x").is_err());
        assert!(set_note(&mut doc, "has space", "x").is_err());
        assert!(set_note(&mut doc, &"a".repeat(MAX_ID_BYTES + 1), "x").is_err());
        assert!(set_read_marker(&mut doc, "a", "yesterday").is_err());
        let mut bad = draft("x");
        bad.kind = "Message!".to_owned();
        assert!(save_draft(&mut doc, "d", &bad).is_err());
        assert!(
            read(&doc).unwrap() == Personal::default(),
            "nothing written"
        );
    }

    /// A raw edit of a document, bypassing the helpers.
    type Tamper = Box<dyn FnOnce(&mut AutoCommit)>;

    /// `written()` with one raw edit applied.
    fn tampered(edit: impl FnOnce(&mut AutoCommit)) -> Result<(), Invalid> {
        let mut doc = written();
        edit(&mut doc);
        doc.commit();
        validate(&doc, &limits())
    }

    fn map(doc: &AutoCommit, key: &str) -> ObjId {
        root_map(doc, key).unwrap().unwrap()
    }

    #[test]
    fn every_bad_shape_is_rejected() {
        let cases: Vec<(&str, Tamper, Invalid)> = vec![
            (
                "unknown root key",
                Box::new(|d| d.put(ROOT, "items", 1).map(drop).unwrap()),
                Invalid::UnknownKey("the root"),
            ),
            (
                "root part not a map",
                Box::new(|d| d.put(ROOT, NOTES, "flat").map(drop).unwrap()),
                Invalid::WrongType(NOTES),
            ),
            (
                "nested object as a note",
                Box::new(|d| {
                    let notes = map(d, NOTES);
                    d.put_object(&notes, "x", ObjType::Map).map(drop).unwrap();
                }),
                Invalid::WrongType(NOTES),
            ),
            (
                "Text object as a note",
                Box::new(|d| {
                    let notes = map(d, NOTES);
                    d.put_object(&notes, "x", ObjType::Text).map(drop).unwrap();
                }),
                Invalid::WrongType(NOTES),
            ),
            (
                "number as a read marker",
                Box::new(|d| {
                    let markers = map(d, READ_MARKERS);
                    d.put(&markers, "x", 1_700_000_000).unwrap();
                }),
                Invalid::WrongType(READ_MARKERS),
            ),
            (
                "read marker that is not an instant",
                Box::new(|d| {
                    let markers = map(d, READ_MARKERS);
                    d.put(&markers, "x", "last tuesday").unwrap();
                }),
                Invalid::BadInstant(READ_MARKERS),
            ),
            (
                "hidden set to false",
                Box::new(|d| {
                    let hidden = map(d, HIDDEN);
                    d.put(&hidden, "x", false).unwrap();
                }),
                Invalid::WrongType(HIDDEN),
            ),
            (
                "malformed item id",
                Box::new(|d| {
                    let notes = map(d, NOTES);
                    d.put(&notes, "no spaces allowed", "x").unwrap();
                }),
                Invalid::BadId(NOTES),
            ),
            (
                "draft that is a string",
                Box::new(|d| {
                    let drafts = map(d, DRAFTS);
                    d.put(&drafts, "d2", "body").unwrap();
                }),
                Invalid::WrongType(DRAFTS),
            ),
            (
                "draft without a body",
                Box::new(|d| {
                    let drafts = map(d, DRAFTS);
                    let draft = d.get(&drafts, "draft-1").unwrap().unwrap().1;
                    d.delete(&draft, "body").unwrap();
                }),
                Invalid::BadDraft,
            ),
            (
                "draft with an unknown field",
                Box::new(|d| {
                    let drafts = map(d, DRAFTS);
                    let draft = d.get(&drafts, "draft-1").unwrap().unwrap().1;
                    d.put(&draft, "attachments", "x").unwrap();
                }),
                Invalid::UnknownKey(DRAFTS),
            ),
            (
                "nested list in a draft",
                Box::new(|d| {
                    let drafts = map(d, DRAFTS);
                    let draft = d.get(&drafts, "draft-1").unwrap().unwrap().1;
                    d.put_object(&draft, "body", ObjType::List)
                        .map(drop)
                        .unwrap();
                }),
                Invalid::WrongType(DRAFTS),
            ),
        ];
        for (what, edit, expected) in cases {
            assert_eq!(tampered(edit), Err(expected), "{what}");
            assert_eq!(expected.code(), "invalid_shape", "{what}");
        }
    }

    #[test]
    fn a_bad_value_that_loses_a_conflict_is_still_rejected() {
        let mut good = written();
        let mut bad = good.fork();
        set_note(&mut good, "e", "fine").unwrap();
        let notes = map(&bad, NOTES);
        bad.put_object(&notes, "e", ObjType::List).unwrap();
        bad.commit();
        good.merge(&mut bad).unwrap();
        assert_eq!(validate(&good, &limits()), Err(Invalid::WrongType(NOTES)));
    }

    #[test]
    fn each_cap_holds_at_its_limit_and_refuses_one_more() {
        let limits = limits();
        // A note of exactly the limit is fine; one byte more is not.
        let mut doc = AutoCommit::new();
        set_note(&mut doc, "n", &"x".repeat(limits.max_text_bytes)).unwrap();
        assert_eq!(validate(&doc, &limits), Ok(()));
        set_note(&mut doc, "n", &"x".repeat(limits.max_text_bytes + 1)).unwrap();
        assert_eq!(validate(&doc, &limits), Err(Invalid::TextTooLong(NOTES)));
        assert_eq!(Invalid::TextTooLong(NOTES).code(), "too_large");

        // A draft counts its fields together.
        let mut doc = AutoCommit::new();
        save_draft(&mut doc, "d", &draft(&"x".repeat(limits.max_text_bytes))).unwrap();
        assert_eq!(validate(&doc, &limits), Err(Invalid::TextTooLong(DRAFTS)));

        // Entries over all parts together.
        let mut doc = AutoCommit::new();
        for i in 0..limits.max_entries {
            hide(&mut doc, &format!("item-{i}")).unwrap();
        }
        assert_eq!(validate(&doc, &limits), Ok(()));
        set_note(&mut doc, "one-more", "x").unwrap();
        assert_eq!(validate(&doc, &limits), Err(Invalid::TooManyEntries));

        // Total bytes: keys and values of the whole document.
        let tight = Limits {
            max_bytes: 2 + 50,
            ..limits
        };
        let mut doc = AutoCommit::new();
        set_note(&mut doc, "n1", &"x".repeat(50)).unwrap();
        assert_eq!(validate(&doc, &tight), Ok(()));
        set_note(&mut doc, "n2", "y").unwrap();
        assert_eq!(validate(&doc, &tight), Err(Invalid::TooLarge));
    }

    #[test]
    fn instants_are_rfc_3339() {
        for good in [
            "2026-11-23T09:00:00Z",
            "2026-11-23T09:00:00.123456Z",
            "2026-11-23T09:00:00+01:00",
            "2026-02-28T23:59:60-05:30",
        ] {
            assert!(is_instant(good), "{good}");
        }
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23 09:00:00Z",
            "2026-13-01T09:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T09:00:00",
            "2026-11-23T09:00:00.Z",
            "2026-11-23T09:00:00+1:00",
            "2026-11-23T09:00:00Zjunk",
            "２０２６-11-23T09:00:00Z",
        ] {
            assert!(!is_instant(bad), "{bad}");
        }
    }
}
