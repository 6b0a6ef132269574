//! The bodies of the fuzz targets: one function per decoder of bytes from outside, each calling
//! the same pure steps the server runs before it touches the database. `fuzz/` (cargo-fuzz,
//! libFuzzer) runs them for as long as it is asked; `tests/fuzz_smoke.rs` runs each over its seed
//! corpus (`fuzz/seeds/<target>/`) and a few thousand mutated inputs on every `cargo test`.
//!
//! A target fails by panicking: the decoders themselves must never panic, and what a decoder
//! accepts is checked for the property a user relies on (a frame that decodes re-encodes to the
//! same frame, a letter's reported type is the type of its bytes, a cursor reads back as
//! itself).

use base64::Engine as _;
use chrono::NaiveDate;
use gp_online::config::SyncConfig;
use gp_online::fhir::bundle::MAX_BUNDLE_BYTES;
use gp_online::fhir::import::check_bundle;
use gp_online::notify::subscriptions::ChannelRequest;
use gp_online::record::import::{
    DocumentImport, ImportBatch, check_batch, check_document, detect_content_type,
};
use gp_online::record::review::Cursor;
use gp_online::sync::{exchange, personal};
use std::sync::OnceLock;
use sync_protocol::automerge::sync::SyncDoc as _;
use sync_protocol::automerge::transaction::Transactable as _;
use sync_protocol::automerge::{self, AutoCommit, ObjType, ROOT, ReadDoc as _, ScalarValue};
use sync_protocol::items::{self, Fields, Items};
use sync_protocol::personal as document;
use sync_protocol::{DocumentBody, DocumentFrame, DocumentId, Frame, Section, server};
use uuid::Uuid;

/// A fuzz target: its name (the folder of its seeds, the file under `fuzz/fuzz_targets/`) and
/// its body.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// What it does with one input.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: [Target; 9] = [
    Target {
        name: "sync_frame",
        run: sync_frame,
    },
    Target {
        name: "sync_message",
        run: sync_message,
    },
    Target {
        name: "personal_document",
        run: personal_document,
    },
    Target {
        name: "import_batch",
        run: import_batch,
    },
    Target {
        name: "import_document",
        run: import_document,
    },
    Target {
        name: "fhir_bundle",
        run: fhir_bundle,
    },
    Target {
        name: "letter_type",
        run: letter_type,
    },
    Target {
        name: "review_cursor",
        run: review_cursor,
    },
    Target {
        name: "push_channel",
        run: push_channel,
    },
];

/// The day the import's date checks are made against.
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

/// The patient every stored document in these targets is about.
fn patient() -> Uuid {
    Uuid::from_u128(0x6f1c_2a4e_8b7d_4c3e_9f10_2a3b_4c5d_6e7f)
}

/// A stored record document of three items, as the projector writes one (saved bytes).
fn stored_record() -> &'static [u8] {
    static STORED: OnceLock<Vec<u8>> = OnceLock::new();
    STORED.get_or_init(|| {
        let fields: Fields = serde_json::from_value(serde_json::json!({
            "section": "allergies", "snomed_code": "91936005", "term": "Allergy to penicillin",
            "effective_date": "2019-04-02", "end_date": null,
            "detail": "Rash within hours of the first dose", "author": "Dr A Patel"
        }))
        .unwrap();
        let wanted: Items = (0..3)
            .map(|i| (Uuid::from_u128(i).to_string(), fields.clone()))
            .collect();
        let mut doc = AutoCommit::new();
        items::reconcile(&mut doc, &wanted).unwrap();
        doc.save()
    })
}

/// The stored personal document of a new account (saved bytes).
fn stored_personal() -> &'static [u8] {
    static STORED: OnceLock<Vec<u8>> = OnceLock::new();
    STORED.get_or_init(|| document::genesis().save())
}

/// What the server does with a device's frame once it has decoded it, short of the database:
/// the frame's checks (each document once, every sync message through the guard), then each
/// document answered from a stored copy: the personal document through the same work as an
/// exchange (the device's changes validated on a fork), any other as a read-only document.
fn exchange_frame(frame: &Frame) {
    let settings = SyncConfig::default();
    if frame.documents.len() > settings.max_followed_documents
        || exchange::check_frame(frame, &settings).is_err()
    {
        return;
    }
    for incoming in &frame.documents {
        let id = incoming.document;
        if id.section == Section::Personal {
            let outcome = personal::answer_stored(
                id,
                0,
                stored_personal(),
                Some(incoming),
                &settings,
                server::MESSAGE_ROOM,
            );
            if let Ok((_, Some(adopted))) = outcome {
                // What would be stored loads and is a valid personal document.
                let doc = AutoCommit::load(&adopted).unwrap();
                document::validate(&doc, &settings.personal_limits()).unwrap();
            }
            continue;
        }
        let mut doc = AutoCommit::load(stored_record()).unwrap();
        let heads = doc.get_heads();
        let mut state = server::device_state(None, false);
        match exchange::up_to_date(&heads, 0, &state, Some(incoming)) {
            Ok(false) => {}
            Ok(true) | Err(_) => continue,
        }
        let before = doc.get_heads();
        let answer = server::answer_within(
            id,
            0,
            &mut doc,
            &mut state,
            false,
            Some(incoming),
            server::MESSAGE_ROOM,
        );
        // A device never changes a document only the server writes.
        assert_eq!(doc.get_heads(), before, "a read-only document changed");
        if let Ok(answer) = answer {
            assert!(!answer.changed, "a read-only document was changed");
        }
    }
}

/// `POST /api/v1/sync` and the WebSocket: a CBOR frame from a device. A frame that decodes
/// re-encodes and decodes to the same frame, and goes on through [`exchange_frame`].
pub fn sync_frame(bytes: &[u8]) {
    let Ok(frame) = Frame::decode(bytes) else {
        return;
    };
    assert_eq!(
        Frame::decode(&frame.encode()).ok().as_ref(),
        Some(&frame),
        "a decoded frame did not survive encoding"
    );
    exchange_frame(&frame);
}

/// One automerge sync message from a device, as the body of both a read-only document and the
/// personal document of one frame (so the fuzzer works on the message itself, not the CBOR
/// around it).
pub fn sync_message(bytes: &[u8]) {
    let mut frame = Frame::new();
    for section in [Section::Record, Section::Personal] {
        frame.documents.push(DocumentFrame {
            document: DocumentId::new(patient(), section),
            generation: 0,
            body: DocumentBody::Sync(bytes.to_vec()),
        });
    }
    exchange_frame(&frame);
}

/// A personal document as a device may make it: the bytes are read as edits (which part, what
/// kind of value, its key and size) on the device's copy of a new personal document. Its
/// validation must not fail on anything, a valid document reads and compacts to the same
/// content, and the device's sync message for it goes through the server's exchange.
pub fn personal_document(bytes: &[u8]) {
    const PARTS: [&str; 5] = [
        document::READ_MARKERS,
        document::NOTES,
        document::HIDDEN,
        document::DRAFTS,
        "elsewhere",
    ];
    // The device's own actor, fixed so a run is repeatable.
    let device = automerge::ActorId::from(&b"device-under-fuzz"[..]);
    let mut doc = if bytes.first().is_some_and(|b| b & 1 == 1) {
        AutoCommit::new().with_actor(device)
    } else {
        document::genesis().with_actor(device)
    };
    // At most 256 edits: enough to pass every cap, few enough to keep each input quick.
    for op in bytes.get(1..).unwrap_or_default().chunks(4).take(256) {
        let [part, kind, key, size] = [0, 1, 2, 3].map(|i| op.get(i).copied().unwrap_or(0));
        let parent = match PARTS[usize::from(part) % PARTS.len()] {
            "elsewhere" => ROOT,
            name => match doc.get(ROOT, name).unwrap() {
                Some((automerge::Value::Object(_), id)) => id,
                _ => doc.put_object(ROOT, name, ObjType::Map).unwrap(),
            },
        };
        let key = match key % 4 {
            0 => format!("item-{}", key / 4),
            1 => "2026-11-23T10:00:00Z".to_owned(),
            2 => "k".repeat(usize::from(key)),
            _ => format!("{key:02x}\u{0}\u{7f}"),
        };
        let size = usize::from(size) * 16;
        let _ = match kind % 8 {
            0 => doc.put(&parent, key.as_str(), "x".repeat(size)),
            1 => doc.put(&parent, key.as_str(), "2026-11-23T10:00:00Z"),
            2 => doc.put(&parent, key.as_str(), ScalarValue::Boolean(size % 32 == 0)),
            3 => doc.put(&parent, key.as_str(), ScalarValue::Int(size as i64)),
            4 => doc
                .put_object(&parent, key.as_str(), ObjType::Map)
                .map(|_| ()),
            5 => doc
                .put_object(&parent, key.as_str(), ObjType::Text)
                .map(|_| ()),
            6 => doc
                .put_object(&parent, key.as_str(), ObjType::List)
                .map(|_| ()),
            _ => doc.delete(&parent, key.as_str()),
        };
        doc.commit();
    }
    let limits = SyncConfig::default().personal_limits();
    if document::validate(&doc, &limits).is_ok() {
        let content = document::read(&doc).unwrap();
        let compacted = document::compact(&doc).unwrap();
        assert_eq!(
            document::read(&compacted).unwrap(),
            content,
            "compaction changed a valid personal document"
        );
    }
    let mut state = automerge::sync::State::new();
    if let Some(message) = doc.sync().generate_sync_message(&mut state) {
        sync_message(&message.encode());
    }
}

/// `POST /api/v1/integration/batches`: a batch of patients, coded entries, results and access
/// codes, checked field by field.
pub fn import_batch(bytes: &[u8]) {
    if let Ok(batch) = serde_json::from_slice::<ImportBatch>(bytes)
        && let Err(invalid) = check_batch(&batch, today())
    {
        assert!(!invalid.is_empty(), "a refusal named no field");
    }
}

/// `POST /api/v1/integration/documents`: a letter with its base64 content.
pub fn import_document(bytes: &[u8]) {
    if let Ok(upload) = serde_json::from_slice::<DocumentImport>(bytes) {
        let content = upload.content_base64.clone();
        if let Ok(content_type) = check_document(upload) {
            // Accepted content decodes, and its type is the type of its bytes.
            let decoded: String = content.split_ascii_whitespace().collect();
            let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(decoded.trim_end_matches('='))
                .unwrap();
            assert_eq!(detect_content_type(&decoded), Some(content_type));
        }
    }
}

/// `POST /api/v1/integration/fhir`: a FHIR R4 Bundle (within the route's size limit), read and
/// mapped; every problem names an element of the Bundle.
pub fn fhir_bundle(bytes: &[u8]) {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return;
    }
    let issues = match check_bundle(bytes) {
        Ok(issues) => issues,
        Err(refusal) => refusal.issues,
    };
    for issue in issues {
        assert!(
            issue.expression.starts_with("Bundle"),
            "an issue outside the Bundle: {}",
            issue.expression
        );
    }
}

/// An uploaded letter's type, detected from its bytes: the import reports exactly that type for
/// the same bytes sent as base64.
pub fn letter_type(bytes: &[u8]) {
    let detected = detect_content_type(bytes);
    if bytes.is_empty() {
        return;
    }
    let upload = DocumentImport {
        external_id: "L1".to_owned(),
        patient_external_id: "P1".to_owned(),
        document_type: "outpatient_letter".to_owned(),
        title: "Letter".to_owned(),
        author_organisation: None,
        effective_date: "2026-11-01".to_owned(),
        entered_on: Some("2026-11-02".to_owned()),
        content_base64: base64::engine::general_purpose::STANDARD.encode(bytes),
    };
    assert_eq!(check_document(upload).ok(), detected);
}

/// The review queue's `after` cursor (a query parameter): one that reads writes back as itself.
pub fn review_cursor(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(cursor) = Cursor::decode(text) {
        assert_eq!(Cursor::decode(&cursor.encode()).ok(), Some(cursor));
    }
}

/// `PUT /api/v1/me/devices/{device_id}/push-subscription`: a browser's push subscription or a device token.
pub fn push_channel(bytes: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<ChannelRequest>(bytes) {
        let strict = request.check(false).ok();
        let loopback = request.check(true).ok();
        // Allowing plain HTTP on the loopback address never refuses what is otherwise accepted.
        if strict.is_some() {
            assert_eq!(strict, loopback);
        }
    }
}
