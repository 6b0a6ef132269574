//! Generators of hostile input, run as property tests (cargo-fuzz needs a nightly compiler):
//! frames for the envelope decoder, automerge sync messages for the guard and the server's half
//! of an exchange (what the guard lets through must be answerable by automerge without a panic
//! and within the caps), and personal documents for their validation. `cargo test` runs a few
//! dozen cases of each; for a longer run set `PROPTEST_CASES`, e.g.
//! `PROPTEST_CASES=20000 cargo test -p sync-protocol --test hostile --release`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

use automerge::sync::SyncDoc;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue};
use proptest::prelude::*;
use std::io::Write;
use sync_protocol::guard::{self, Exchange, Limits};
use sync_protocol::personal::{self, Limits as PersonalLimits};
use sync_protocol::{DocumentBody, DocumentFrame, DocumentId, Frame, Section, server};

const LIMITS: Limits = Limits {
    max_change_bytes_per_message: 256 * 1024,
    max_change_bytes_per_exchange: 512 * 1024,
};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A value that is sometimes ordinary and sometimes extreme.
fn extreme(ordinary: std::ops::Range<u64>) -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => ordinary,
        1 => Just(0u64),
        1 => Just(u64::from(u32::MAX)),
        1 => (20u32..40).prop_map(|shift| 1u64 << shift),
    ]
}

/// A bloom filter's bytes: parameters from sensible to absurd, with some filter bytes.
fn bloom() -> impl Strategy<Value = Vec<u8>> {
    (extreme(0..200), extreme(0..80), extreme(0..64), 0usize..300).prop_map(
        |(entries, bits, probes, data)| {
            let mut out = Vec::new();
            leb(&mut out, entries);
            leb(&mut out, bits);
            leb(&mut out, probes);
            out.extend(std::iter::repeat_n(0xa5, data));
            out
        },
    )
}

/// A chunk: the magic bytes (or not), a type, a declared length (true or not) and data that is
/// sometimes deflated zeros.
fn chunk() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        0u8..5,
        prop_oneof![Just(None), extreme(0..1000).prop_map(Some)],
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200).prop_map(|bytes| (bytes, false)),
            (0usize..4_000_000).prop_map(|zeros| {
                let mut encoder =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
                encoder.write_all(&vec![0u8; zeros]).unwrap();
                (encoder.finish().unwrap(), true)
            }),
        ],
    )
        .prop_map(|(magic, kind, declared, (data, _))| {
            let mut out = if magic {
                vec![0x85, 0x6f, 0x4a, 0x83]
            } else {
                vec![0, 1, 2, 3]
            };
            out.extend([9, 9, 9, 9, kind]);
            leb(&mut out, declared.unwrap_or(data.len() as u64));
            out.extend(data);
            out
        })
}

/// A sync message from a hostile peer: heads and needs (real hashes of the document or
/// random), `have` entries with hostile blooms, chunks, and sometimes flags or garbage after.
fn message(known: Vec<[u8; 32]>) -> impl Strategy<Value = Vec<u8>> {
    let hash = prop_oneof![proptest::sample::select(known), any::<[u8; 32]>(),];
    (
        prop_oneof![Just(0x42u8), Just(0x43u8), any::<u8>()],
        proptest::collection::vec(hash.clone(), 0..3),
        proptest::collection::vec(hash.clone(), 0..3),
        proptest::collection::vec((proptest::collection::vec(hash, 0..2), bloom()), 0..6),
        proptest::collection::vec(chunk(), 0..3),
        proptest::collection::vec(any::<u8>(), 0..8),
    )
        .prop_map(|(kind, heads, need, haves, chunks, tail)| {
            let mut out = vec![kind];
            for hashes in [&heads, &need] {
                leb(&mut out, hashes.len() as u64);
                hashes.iter().for_each(|h| out.extend(h));
            }
            leb(&mut out, haves.len() as u64);
            for (last_sync, bloom) in &haves {
                leb(&mut out, last_sync.len() as u64);
                last_sync.iter().for_each(|h| out.extend(h));
                leb(&mut out, bloom.len() as u64);
                out.extend(bloom);
            }
            leb(&mut out, chunks.len() as u64);
            for chunk in &chunks {
                leb(&mut out, chunk.len() as u64);
                out.extend(chunk);
            }
            out.extend(tail);
            out
        })
}

/// A document with some history, and its change hashes.
fn document() -> (AutoCommit, Vec<[u8; 32]>) {
    let mut doc = AutoCommit::new();
    for i in 0..30 {
        doc.put(ROOT, format!("k{}", i % 7), format!("value {i}"))
            .unwrap();
        doc.commit();
    }
    let hashes = doc.get_changes(&[]).iter().map(|c| c.hash().0).collect();
    (doc, hashes)
}

/// What the server does with a device's message: the guard first, then (if it passes) the
/// exchange, for a read-only document and for a personal one.
fn exchange_after_guard(bytes: &[u8]) {
    let mut budget = Exchange::new(&LIMITS);
    if guard::check(bytes, &LIMITS, &mut budget).is_err() {
        return;
    }
    let id = DocumentId::new(uuid::Uuid::nil(), Section::Record);
    let frame = DocumentFrame {
        document: id,
        generation: 0,
        body: DocumentBody::Sync(bytes.to_vec()),
    };
    let (mut doc, _) = document();
    let mut state = server::device_state(None, false);
    let _ = server::answer(id, 0, &mut doc, &mut state, false, Some(&frame));
    let personal_id = DocumentId::new(uuid::Uuid::nil(), Section::Personal);
    let frame = DocumentFrame {
        document: personal_id,
        ..frame
    };
    let mut doc = personal::genesis();
    let mut state = server::device_state(None, true);
    let limits = PersonalLimits::default();
    let _ = server::answer_validated(
        personal_id,
        0,
        &mut doc,
        &mut state,
        Some(&frame),
        server::MESSAGE_ROOM,
        |fork| personal::validate(fork, &limits),
    );
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_guard_and_the_exchange_survive_hostile_messages(
        bytes in message(document().1)
    ) {
        exchange_after_guard(&bytes);
    }

    #[test]
    fn the_guard_and_the_exchange_survive_random_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..400)
    ) {
        exchange_after_guard(&bytes);
    }

    #[test]
    fn an_honest_message_with_mutated_bytes_never_gets_past_the_guard_unsafely(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        // An honest device's first message after a change, then a few bytes changed.
        let mut device = AutoCommit::new();
        personal::set_note(&mut device, "a", "a note").unwrap();
        let mut state = automerge::sync::State::new();
        let mut bytes = device.sync().generate_sync_message(&mut state).unwrap().encode();
        for (at, value) in flips {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        exchange_after_guard(&bytes);
    }

    #[test]
    fn the_frame_decoder_survives_hostile_bytes(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            // A frame map with a document whose body is arbitrary.
            (any::<u32>(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(|(generation, body)| {
                let mut frame = Frame::new();
                frame.documents.push(DocumentFrame {
                    document: DocumentId::new(uuid::Uuid::nil(), Section::Record),
                    generation,
                    body: DocumentBody::Sync(body),
                });
                let mut bytes = frame.encode();
                let n = bytes.len();
                bytes.truncate(n - (generation as usize % n.max(1)) % 8);
                bytes
            }),
            // Deep nesting and huge declared lengths.
            (1usize..2000).prop_map(|depth| {
                let mut bytes = vec![0xa1, 0x67];
                bytes.extend(b"version");
                bytes.extend(std::iter::repeat_n(0x81, depth));
                bytes
            }),
            any::<u64>().prop_map(|length| {
                let mut bytes = vec![0xa1, 0x69];
                bytes.extend(b"documents");
                bytes.push(0x9b);
                bytes.extend(length.to_be_bytes());
                bytes
            }),
        ]
    ) {
        if let Ok(frame) = Frame::decode(&bytes) {
            // Whatever decodes re-encodes and decodes the same.
            prop_assert_eq!(Frame::decode(&frame.encode()).unwrap(), frame);
        }
    }

    #[test]
    fn personal_validation_survives_any_document(
        ops in proptest::collection::vec(
            (0usize..6, "[a-z_]{0,12}|[\\x00-\\u{7f}]{0,80}", 0u8..6, 0usize..3000),
            0..30,
        )
    ) {
        let limits = PersonalLimits { max_bytes: 4_000, max_entries: 40, max_text_bytes: 500 };
        let mut doc = if ops.len() % 2 == 0 { personal::genesis() } else { AutoCommit::new() };
        for (part, key, kind, size) in ops {
            let parent = match part {
                0..=3 => {
                    let name = ["read_markers", "notes", "hidden", "drafts"][part];
                    match doc.get(ROOT, name).unwrap() {
                        Some((automerge::Value::Object(_), id)) => id,
                        _ => doc.put_object(ROOT, name, ObjType::Map).unwrap(),
                    }
                }
                _ => ROOT,
            };
            let key = if key.is_empty() { "k".to_owned() } else { key };
            let _ = match kind {
                0 => doc.put(&parent, key.as_str(), "x".repeat(size)),
                1 => doc.put(&parent, key.as_str(), ScalarValue::Boolean(size % 2 == 0)),
                2 => doc.put(&parent, key.as_str(), ScalarValue::Int(size as i64)),
                3 => doc.put_object(&parent, key.as_str(), ObjType::Map).map(|_| ()),
                4 => doc.put_object(&parent, key.as_str(), ObjType::Text).map(|_| ()),
                _ => doc.delete(&parent, key.as_str()),
            };
            doc.commit();
        }
        if personal::validate(&doc, &limits).is_ok() {
            // A valid document reads, and compacts to the same content.
            let content = personal::read(&doc).unwrap();
            let compacted = personal::compact(&doc).unwrap();
            prop_assert_eq!(personal::read(&compacted).unwrap(), content);
        }
    }
}
