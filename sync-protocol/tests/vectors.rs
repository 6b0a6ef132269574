//! Golden vectors another implementation can replay (`tests/vectors/`, described in its
//! `README.md`): the frames of a scripted exchange between this crate's server half and its
//! device peer, and one example item of every section document. These tests check that the
//! frames still decode and re-encode to the same bytes, that the device peer replaying the
//! server's frames sends exactly the device frames recorded and ends up with the items
//! recorded, and that every item type reads and writes its example field for field (a field
//! renamed, removed or added fails here before it reaches a device); and that the compressed
//! frames of the same exchange inflate to those frames exactly, with the static dictionary
//! holding every item field.
//!
//! `SYNC_PROTOCOL_WRITE_VECTORS=1 cargo test -p sync-protocol --test vectors` writes the
//! frames again (automerge changes carry a timestamp, so the bytes differ from run to run);
//! do it only on purpose, for a change the wire version allows. `compressed.json` is written
//! with them, or alone from the frames as they are with `SYNC_PROTOCOL_WRITE_COMPRESSED=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

use automerge::AutoCommit;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use sync_protocol::items::{self, Items};
use sync_protocol::schema::{
    AppointmentItem, DocumentItem, MedicationsItem, MessagesItem, ProfileItem, RecordItem,
    ResultItem,
};
use sync_protocol::{
    DevicePeer, DocumentBody, DocumentFrame, DocumentId, Frame, Intent, IntentAction,
    IntentOutcome, OutcomeResult, Section, server,
};
use uuid::Uuid;

const FRAMES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/frames.json");
const ITEMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/items.json");

/// The recorded exchange.
#[derive(Debug, Serialize, Deserialize)]
struct Vectors {
    /// The documents the device follows from the start.
    follows: Vec<DocumentId>,
    steps: Vec<Step>,
    /// Frames checked for their shape only (decode, re-encode), not replayed.
    shapes: Vec<Step>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Step {
    /// `device` (sent by the device) or `server`.
    from: String,
    description: String,
    /// The device starts a new connection from its persisted sync states first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reconnect: bool,
    /// Whether encoding the decoded frame gives these bytes again (false for a frame written
    /// by another encoder, such as one with UUIDs as text).
    #[serde(default = "yes", skip_serializing_if = "Clone::clone")]
    reencodes: bool,
    /// The frame, as sent.
    cbor_hex: String,
    /// The same frame in CBOR diagnostic form, to read (byte strings as `h'…'`).
    diagnostic: serde_json::Value,
    /// The items of each followed document on the device after this step, by section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    items_after: Option<BTreeMap<String, Items>>,
}

fn yes() -> bool {
    true
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
        .collect()
}

fn diagnostic(value: &ciborium::Value) -> serde_json::Value {
    use ciborium::Value as C;
    use serde_json::Value as J;
    match value {
        C::Integer(i) => J::from(i128::from(*i) as i64),
        C::Bytes(b) => J::String(format!("h'{}'", hex(b))),
        C::Float(f) => J::from(*f),
        C::Text(t) => J::String(t.clone()),
        C::Bool(b) => J::Bool(*b),
        C::Null => J::Null,
        C::Array(items) => J::Array(items.iter().map(diagnostic).collect()),
        C::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        C::Text(t) => t.clone(),
                        other => format!("{other:?}"),
                    };
                    (key, diagnostic(v))
                })
                .collect(),
        ),
        other => J::String(format!("{other:?}")),
    }
}

fn step(from: &str, description: &str, bytes: &[u8]) -> Step {
    let value: ciborium::Value = ciborium::from_reader(bytes).unwrap();
    Step {
        from: from.to_owned(),
        description: description.to_owned(),
        reconnect: false,
        reencodes: true,
        cbor_hex: hex(bytes),
        diagnostic: diagnostic(&value),
        items_after: None,
    }
}

fn patient() -> Uuid {
    Uuid::parse_str("6f1c2a4e-8b7d-4c3e-9f10-2a3b4c5d6e7f").unwrap()
}

fn entry(term: &str, code: &str, date: &str) -> items::Fields {
    items::fields_of(&RecordItem {
        section: "allergies".to_owned(),
        snomed_code: code.to_owned(),
        term: term.to_owned(),
        effective_date: date.to_owned(),
        end_date: None,
        detail: None,
        author: Some("Dr A Patel".to_owned()),
    })
    .unwrap()
}

fn record_items(n: usize) -> Items {
    [
        (
            "0b6a3c52-4f0e-4a8e-9d55-0c1f6c7d2e01",
            entry("Allergy to penicillin", "91936005", "2019-04-02"),
        ),
        (
            "0b6a3c52-4f0e-4a8e-9d55-0c1f6c7d2e02",
            entry("Allergy to peanuts", "91935009", "2021-09-14"),
        ),
        (
            "0b6a3c52-4f0e-4a8e-9d55-0c1f6c7d2e03",
            entry("Allergy to latex", "300916003", "2026-11-20"),
        ),
    ]
    .into_iter()
    .take(n)
    .map(|(id, fields)| (id.to_owned(), fields))
    .collect()
}

/// The server of the script: the record document, whose results document the viewer may not
/// see.
struct Script {
    doc: AutoCommit,
    generation: u32,
    state: automerge::sync::State,
    /// The generation the device's persisted state belongs to.
    device_generation: u32,
}

impl Script {
    fn answer(&mut self, frame: &Frame) -> Frame {
        let mut reply = Frame::new();
        let record = DocumentId::new(patient(), Section::Record);
        for document in &frame.documents {
            if document.document.section == Section::Results {
                reply.documents.push(DocumentFrame {
                    document: document.document,
                    generation: document.generation,
                    body: DocumentBody::Removed,
                });
            }
        }
        let incoming = frame.documents.iter().find(|d| d.document == record);
        if incoming.is_none() && self.device_generation != self.generation {
            // A push to a device whose copy is of an older generation: tell it first.
            reply.documents.push(DocumentFrame {
                document: record,
                generation: self.generation,
                body: DocumentBody::Superseded,
            });
            self.state = server::device_state(None, false);
        }
        self.device_generation = self.generation;
        if incoming.is_some() || frame.documents.is_empty() {
            let answer = server::answer(
                record,
                self.generation,
                &mut self.doc,
                &mut self.state,
                false,
                incoming,
            )
            .unwrap();
            reply.documents.extend(answer.frames);
        }
        reply.outcomes = frame
            .intents
            .iter()
            .map(|intent| IntentOutcome {
                key: intent.key.clone(),
                result: OutcomeResult::Accepted {
                    id: Some(Uuid::parse_str("5a0e7c1d-2b3f-4c5d-8e9f-a0b1c2d3e4f5").unwrap()),
                },
            })
            .collect();
        reply
    }

    /// Each request is answered from the persisted state, as the server does.
    fn new_request(&mut self) {
        self.state = server::device_state(Some(&self.state.encode()), false);
    }
}

fn items_after(device: &DevicePeer) -> BTreeMap<String, Items> {
    device
        .documents()
        .map(|id| {
            let name = serde_json::to_value(id.section).unwrap();
            (name.as_str().unwrap().to_owned(), device.items(id).unwrap())
        })
        .collect()
}

/// Runs the script and records it.
fn record() -> Vectors {
    let record = DocumentId::new(patient(), Section::Record);
    let results = DocumentId::new(patient(), Section::Results);
    let mut doc = AutoCommit::new();
    items::reconcile(&mut doc, &record_items(2)).unwrap();
    let mut script = Script {
        doc,
        generation: 0,
        state: server::device_state(None, false),
        device_generation: 0,
    };
    let mut device = DevicePeer::new();
    device.follow(record);
    device.follow(results);
    device.queue(Intent {
        key: "2f5d8a9e-1c3b-4e6f-8a7d-9b0c1d2e3f4a".to_owned(),
        patient_id: patient(),
        action: IntentAction::BookAppointment {
            slot_id: Uuid::parse_str("7c8d9e0f-1a2b-4c3d-9e4f-5a6b7c8d9e0f").unwrap(),
            reason: Some("Cough for three weeks".to_owned()),
        },
    });
    let mut steps = Vec::new();
    let exchange = |steps: &mut Vec<Step>,
                    device: &mut DevicePeer,
                    script: &mut Script,
                    reconnect: bool,
                    asked: &str,
                    answered: &str| {
        if reconnect {
            device.reconnect();
        }
        script.new_request();
        let request = device.outgoing();
        let mut sent = step("device", asked, &request.encode());
        sent.reconnect = reconnect;
        steps.push(sent);
        let reply = script.answer(&request);
        device.receive(&reply).unwrap();
        let mut got = step("server", answered, &reply.encode());
        got.items_after = Some(items_after(device));
        steps.push(got);
    };
    exchange(
        &mut steps,
        &mut device,
        &mut script,
        false,
        "A new device's first frame: an automerge sync message from an empty document for \
         each followed document (record and results of one patient, generation 0), and one \
         intent (book a slot).",
        "The intent's outcome (accepted, with the new appointment's id), `removed` for the \
         results document (this viewer may not see results: the device destroys it and stops \
         following it), and the record document's two items in one sync message.",
    );
    exchange(
        &mut steps,
        &mut device,
        &mut script,
        false,
        "The device's acknowledgement: its heads are now the server's. The intent is not sent \
         again (its outcome arrived).",
        "Nothing to say: the device holds the server's heads. An empty frame.",
    );
    // A new item: the server pushes it unprompted from the persisted state.
    items::reconcile(&mut script.doc, &record_items(3)).unwrap();
    script.new_request();
    let push = script.answer(&Frame::new());
    device.receive(&push).unwrap();
    let mut pushed = step(
        "server",
        "A live push after a new item: one sync message carrying the item's change (the \
         changes after the heads the device last acknowledged).",
        &push.encode(),
    );
    pushed.items_after = Some(items_after(&device));
    steps.push(pushed);
    exchange(
        &mut steps,
        &mut device,
        &mut script,
        false,
        "The device's acknowledgement of the push.",
        "Nothing to say: an empty frame.",
    );
    exchange(
        &mut steps,
        &mut device,
        &mut script,
        true,
        "App open with nothing new: the device restarts from its persisted sync states; its \
         copies are known to be in sync, so it sends an empty frame (\"anything new?\").",
        "Nothing new: an empty frame, and the server loaded no document.",
    );
    // Something already sent must disappear: generation 1 without the peanut allergy.
    let mut kept = record_items(3);
    kept.remove("0b6a3c52-4f0e-4a8e-9d55-0c1f6c7d2e02");
    script.doc = AutoCommit::new();
    items::reconcile(&mut script.doc, &kept).unwrap();
    script.generation = 1;
    script.state = server::device_state(None, false);
    exchange(
        &mut steps,
        &mut device,
        &mut script,
        true,
        "The next app open: again an empty frame (\"anything new?\").",
        "`superseded` with generation 1 (the device destroys its copy of generation 0), then, \
         in the same frame, generation 1 whole: the two items left.",
    );
    exchange(
        &mut steps,
        &mut device,
        &mut script,
        false,
        "The device's acknowledgement of generation 1.",
        "Nothing to say: an empty frame.",
    );
    let mut shapes = vec![
        step(
            "device",
            "\"Anything new?\": a frame with no documents (intents or not). The server answers \
             every document the device has synced that changed since, as a push, and an \
             empty frame when nothing did.",
            &Frame::new().encode(),
        ),
        step(
            "server",
            "Refusals: an intent rejected with a stable code, and the device's changes to its \
             personal document refused (`too_large`), followed by a sync message from a \
             fresh state (not shown).",
            &Frame {
                documents: vec![DocumentFrame {
                    document: DocumentId::new(patient(), Section::Personal),
                    generation: 0,
                    body: DocumentBody::Rejected {
                        code: "too_large".to_owned(),
                    },
                }],
                outcomes: vec![IntentOutcome {
                    key: "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a".to_owned(),
                    result: OutcomeResult::Rejected {
                        code: "slot_taken".to_owned(),
                    },
                }],
                ..Frame::new()
            }
            .encode(),
        ),
        step(
            "server",
            "The device is revoked: it destroys every document, sync state and pending intent.",
            &Frame {
                revoked: true,
                ..Frame::new()
            }
            .encode(),
        ),
    ];
    let empty = {
        use automerge::sync::SyncDoc;
        let mut state = automerge::sync::State::new();
        AutoCommit::new()
            .sync()
            .generate_sync_message(&mut state)
            .unwrap()
            .encode()
    };
    let mut textual = Vec::new();
    ciborium::into_writer(
        &serde_json::json!({
            "version": 1,
            "documents": [{
                "document": {"patient_id": patient().to_string(), "section": "record"},
                "generation": 0,
                "body": {"sync": serde_bytes::ByteBuf::from(empty)}
            }],
            "intents": [{
                "key": "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7",
                "patient_id": patient().to_string(),
                "action": {"type": "order_repeat", "course_ids": ["1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"], "note": null}
            }]
        }),
        &mut textual,
    )
    .unwrap();
    let mut text = step(
        "device",
        "UUIDs written as text (RFC 9562 form) are accepted wherever the server writes 16-byte \
         byte strings. The sync message is a device's empty-document message.",
        &textual,
    );
    text.reencodes = false;
    shapes.push(text);
    Vectors {
        follows: vec![record, results],
        steps,
        shapes,
    }
}

fn load() -> Vectors {
    static WRITE: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("SYNC_PROTOCOL_WRITE_VECTORS").is_some() {
        WRITE.call_once(|| {
            let json = serde_json::to_string_pretty(&record()).unwrap();
            std::fs::write(FRAMES, json + "\n").unwrap();
        });
    }
    let text = std::fs::read_to_string(FRAMES).expect("tests/vectors/frames.json");
    serde_json::from_str(&text).unwrap()
}

fn check_shape(step: &Step) -> Frame {
    let bytes = unhex(&step.cbor_hex);
    let frame = Frame::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", step.description));
    if step.reencodes {
        assert_eq!(hex(&frame.encode()), step.cbor_hex, "{}", step.description);
    }
    let value: ciborium::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
    assert_eq!(diagnostic(&value), step.diagnostic, "{}", step.description);
    frame
}

#[test]
fn the_golden_frames_decode_and_encode_to_the_same_bytes() {
    let vectors = load();
    assert!(vectors.steps.len() >= 10);
    for step in vectors.steps.iter().chain(&vectors.shapes) {
        check_shape(step);
    }
    // The textual UUIDs read as the same UUIDs the byte form carries.
    let textual = vectors.shapes.iter().find(|s| !s.reencodes).unwrap();
    let frame = check_shape(textual);
    assert_eq!(frame.documents[0].document.patient_id, patient());
    assert!(matches!(
        &frame.intents[0].action,
        IntentAction::OrderRepeat { course_ids, .. } if course_ids.len() == 1
    ));
}

#[test]
fn the_device_peer_replaying_the_server_frames_sends_the_recorded_device_frames() {
    let vectors = load();
    let mut device = DevicePeer::new();
    for id in &vectors.follows {
        device.follow(*id);
    }
    for step in &vectors.steps {
        let frame = check_shape(step);
        if step.from == "device" {
            if step.reconnect {
                device.reconnect();
            }
            for intent in &frame.intents {
                device.queue(intent.clone());
            }
            assert_eq!(
                hex(&device.outgoing().encode()),
                step.cbor_hex,
                "{}",
                step.description
            );
        } else {
            device.receive(&frame).unwrap();
        }
        if let Some(expected) = &step.items_after {
            assert_eq!(&items_after(&device), expected, "{}", step.description);
        }
    }
    assert_eq!(device.generation(vectors.follows[0]), Some(1));
    assert!(device.pending_intents().is_empty());
}

/// One example item of every document and kind, as a device reads it.
#[derive(Debug, Deserialize)]
struct ItemVectors {
    examples: BTreeMap<String, items::Fields>,
}

fn round_trips<T: Serialize + serde::de::DeserializeOwned>(name: &str, fields: &items::Fields) {
    let item: T =
        items::item_from(fields).unwrap_or_else(|e| panic!("{name}: the example reads: {e}"));
    assert_eq!(
        &items::fields_of(&item).unwrap(),
        fields,
        "{name}: the item type writes exactly the example's fields"
    );
}

#[test]
fn every_item_type_reads_and_writes_its_example_field_for_field() {
    let text = std::fs::read_to_string(ITEMS).expect("tests/vectors/items.json");
    let vectors: ItemVectors = serde_json::from_str(&text).unwrap();
    let mut checked = Vec::new();
    for (name, fields) in &vectors.examples {
        match name.as_str() {
            "profile" => round_trips::<ProfileItem>(name, fields),
            "record" => round_trips::<RecordItem>(name, fields),
            "results" => round_trips::<ResultItem>(name, fields),
            "documents" => round_trips::<DocumentItem>(name, fields),
            "appointments" => round_trips::<AppointmentItem>(name, fields),
            n if n.starts_with("medications/") => round_trips::<MedicationsItem>(name, fields),
            n if n.starts_with("messages/") => round_trips::<MessagesItem>(name, fields),
            other => panic!("an example of no known document: {other}"),
        }
        checked.push(name.as_str());
    }
    assert_eq!(
        checked,
        [
            "appointments",
            "documents",
            "medications/course",
            "medications/pharmacy",
            "medications/request",
            "medications/requested_course",
            "messages/message",
            "messages/thread",
            "profile",
            "record",
            "results",
        ],
        "one example of every document and kind"
    );
}

const COMPRESSED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/compressed.json");

/// The compressed frames of the recorded exchange (`tests/vectors/compressed.json`).
#[derive(Debug, Serialize, Deserialize)]
struct CompressedVectors {
    /// The coding's name: the WebSocket subprotocol and HTTP content coding.
    coding: String,
    /// The largest previous frame (CBOR bytes) that joins the next frame's dictionary.
    max_history_bytes: usize,
    /// The static dictionary, in hex.
    dictionary_hex: String,
    /// Its SHA-256, in hex.
    dictionary_sha256: String,
    /// The exchange over one WebSocket at a time (a new one at each reconnect).
    websocket: Vec<CompressedStep>,
    /// Every frame of the exchange over `POST /api/v1/sync`: the static dictionary alone.
    post: Vec<CompressedStep>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CompressedStep {
    /// The step of `frames.json` (from 0) whose frame this is.
    step: usize,
    /// `device` or `server`.
    from: String,
    /// The step whose frame follows the static dictionary in this frame's dictionary, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after_step: Option<usize>,
    /// The frame compressed.
    compressed_hex: String,
}

/// Compresses the recorded exchange by the rule of `PROTOCOL.md`: over a WebSocket the
/// dictionary is the static one followed by the previous frame sent in the same direction on
/// the same connection (when at most `MAX_HISTORY_BYTES`); an empty server answer is not sent
/// on a WebSocket; a reconnect starts a new connection. Over POST, the static dictionary alone.
fn compress_exchange(vectors: &Vectors) -> CompressedVectors {
    use sha2::Digest;
    use sync_protocol::compressed::{self, MAX_HISTORY_BYTES, STATIC_DICTIONARY};
    let mut websocket = Vec::new();
    let mut previous: BTreeMap<&str, usize> = BTreeMap::new();
    for (at, step) in vectors.steps.iter().enumerate() {
        let cbor = unhex(&step.cbor_hex);
        if step.reconnect {
            previous.clear();
        }
        if step.from == "server" && Frame::decode(&cbor).unwrap().is_empty() {
            continue;
        }
        let after_step = previous
            .get(step.from.as_str())
            .copied()
            .filter(|&p| unhex(&vectors.steps[p].cbor_hex).len() <= MAX_HISTORY_BYTES);
        let dictionary = after_step.map(|p| unhex(&vectors.steps[p].cbor_hex));
        websocket.push(CompressedStep {
            step: at,
            from: step.from.clone(),
            after_step,
            compressed_hex: hex(&compressed::compress(&cbor, dictionary.as_deref())),
        });
        previous.insert(step.from.as_str(), at);
    }
    let post = vectors
        .steps
        .iter()
        .enumerate()
        .map(|(at, step)| CompressedStep {
            step: at,
            from: step.from.clone(),
            after_step: None,
            compressed_hex: hex(&compressed::compress(&unhex(&step.cbor_hex), None)),
        })
        .collect();
    CompressedVectors {
        coding: compressed::CODING.to_owned(),
        max_history_bytes: MAX_HISTORY_BYTES,
        dictionary_hex: hex(&STATIC_DICTIONARY),
        dictionary_sha256: hex(&sha2::Sha256::digest(STATIC_DICTIONARY)),
        websocket,
        post,
    }
}

#[test]
fn the_compressed_golden_frames_inflate_to_the_plain_frames_exactly() {
    use sync_protocol::compressed::{self, CODING, MAX_HISTORY_BYTES, STATIC_DICTIONARY};
    let vectors = load();
    // Written again with the frames, or alone (from the frames as they are) on purpose.
    if std::env::var_os("SYNC_PROTOCOL_WRITE_VECTORS").is_some()
        || std::env::var_os("SYNC_PROTOCOL_WRITE_COMPRESSED").is_some()
    {
        let json = serde_json::to_string_pretty(&compress_exchange(&vectors)).unwrap();
        std::fs::write(COMPRESSED, json + "\n").unwrap();
    }
    let text = std::fs::read_to_string(COMPRESSED).expect("tests/vectors/compressed.json");
    let compressed: CompressedVectors = serde_json::from_str(&text).unwrap();
    assert_eq!(compressed.coding, CODING);
    assert_eq!(compressed.max_history_bytes, MAX_HISTORY_BYTES);
    assert_eq!(compressed.dictionary_hex, hex(&STATIC_DICTIONARY));
    let rule = compress_exchange(&vectors);
    let plain = |step: usize| unhex(&vectors.steps[step].cbor_hex);
    for (transport, recorded, by_rule) in [
        ("websocket", &compressed.websocket, &rule.websocket),
        ("post", &compressed.post, &rule.post),
    ] {
        assert_eq!(recorded.len(), by_rule.len(), "{transport}");
        for (step, expected) in recorded.iter().zip(by_rule) {
            // Which frame precedes which is the rule's; the bytes may come from any deflater.
            assert_eq!(
                (step.step, &step.from, step.after_step),
                (expected.step, &expected.from, expected.after_step),
                "{transport}"
            );
            let previous = step.after_step.map(plain);
            let inflated =
                compressed::decompress(&unhex(&step.compressed_hex), previous.as_deref())
                    .unwrap_or_else(|e| panic!("{transport} step {}: {e}", step.step));
            assert_eq!(inflated, plain(step.step), "{transport} step {}", step.step);
        }
    }
    // The live push and its acknowledgement are much smaller than plain.
    let push = compressed
        .websocket
        .iter()
        .find(|s| vectors.steps[s.step].description.starts_with("A live push"))
        .unwrap();
    let acknowledgement = &compressed.websocket[compressed
        .websocket
        .iter()
        .position(|s| s.step == push.step)
        .unwrap()
        + 1];
    let on_the_wire = (push.compressed_hex.len() + acknowledgement.compressed_hex.len()) / 2;
    let plain_bytes = plain(push.step).len() + plain(acknowledgement.step).len();
    assert!(
        on_the_wire * 2 < plain_bytes,
        "{on_the_wire} B compressed, {plain_bytes} B plain"
    );
}

#[test]
fn the_static_dictionary_holds_every_item_field_as_automerge_writes_it() {
    let text = std::fs::read_to_string(ITEMS).expect("tests/vectors/items.json");
    let vectors: ItemVectors = serde_json::from_str(&text).unwrap();
    let dictionary = &sync_protocol::compressed::STATIC_DICTIONARY;
    for (name, fields) in &vectors.examples {
        for field in fields.keys() {
            // automerge's key column: the length in one byte, then the name.
            let key = [&[field.len() as u8][..], field.as_bytes()].concat();
            assert!(
                dictionary.windows(key.len()).any(|w| w == key),
                "{name}: `{field}` is missing from the static dictionary"
            );
        }
    }
}
