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

mod validation;
pub use validation::*;
mod model;
pub use model::*;
mod edit;
pub use edit::*;

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
    fn compaction_keeps_the_content_and_drops_the_history() {
        let mut doc = written();
        for i in 0..20u64 {
            let mut x = i + 1;
            let gone: String = (0..600)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    char::from(b'a' + ((x >> 33) % 26) as u8)
                })
                .collect();
            set_note(&mut doc, &format!("n{i}"), &format!("deleted {gone}")).unwrap();
            clear_note(&mut doc, &format!("n{i}")).unwrap();
        }
        let compacted = compact(&doc).unwrap();
        assert_eq!(read(&compacted).unwrap(), read(&doc).unwrap());
        assert_eq!(validate(&compacted, &limits()), Ok(()));
        let (before, after) = (doc.save(), compacted.clone().save());
        assert!(
            after.len() * 4 < before.len(),
            "{} vs {}",
            after.len(),
            before.len()
        );
        let needle = b"deleted";
        assert!(!after.windows(needle.len()).any(|w| w == needle));
        // The genesis change is shared, so a device merging the copy sees one set of maps.
        let mut device = AutoCommit::new();
        set_note(&mut device, "x", "offline").unwrap();
        device.merge(&mut compacted.clone()).unwrap();
        assert_eq!(read(&device).unwrap().notes.len(), 2);
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
