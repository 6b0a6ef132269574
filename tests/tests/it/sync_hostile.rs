//! Sync under attack: hostile automerge sync messages are refused with `sync_message_refused`
//! before automerge sees them (a bloom filter with zero bits per entry, or millions of probes;
//! a deflate-compressed change bomb), over `POST /api/v1/sync` and over the WebSocket, and
//! nothing in the frame is applied, while other patients' writes go on; the personal
//! document's caps count its stored history, which is compacted into a new generation that
//! every device picks up.

use gp_online::db::entities::{messages, sync_documents};
use gp_online::settings::PracticeSettings;
use gp_online_tests::live::Live;
use gp_online_tests::sync::{post_refusable, sync};
use gp_online_tests::{TestApp, fixtures, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::io::Write;
use sync_protocol::personal;
use sync_protocol::{
    DevicePeer, DocumentBody, DocumentFrame, DocumentId, Event, Frame, Intent, IntentAction,
    Section,
};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Hostile messages, built byte by byte (automerge itself would never write them)
// ---------------------------------------------------------------------------------------------

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

/// A sync message with no heads or needs, one `have` whose bloom filter declares `entries`,
/// `bits` per entry and `probes` (with `data` bytes of filter), and `chunks` as its changes.
pub(crate) fn hostile_message(
    bloom: Option<(u64, u64, u64, usize)>,
    chunks: &[Vec<u8>],
) -> Vec<u8> {
    let mut out = vec![0x42, 0, 0];
    match bloom {
        Some((entries, bits, probes, data)) => {
            let mut filter = Vec::new();
            leb(&mut filter, entries);
            leb(&mut filter, bits);
            leb(&mut filter, probes);
            filter.extend(vec![0xff; data]);
            out.extend([1, 0]);
            leb(&mut out, filter.len() as u64);
            out.extend(filter);
        }
        None => out.push(0),
    }
    leb(&mut out, chunks.len() as u64);
    for chunk in chunks {
        leb(&mut out, chunk.len() as u64);
        out.extend(chunk);
    }
    out
}

/// The message of the report: a bloom filter with zero bits per entry (10 bytes).
pub(crate) fn zero_bits_bloom() -> Vec<u8> {
    hostile_message(Some((1, 0, 7, 0)), &[])
}

/// A bloom filter declaring 2^25 probes.
pub(crate) fn huge_probes_bloom() -> Vec<u8> {
    hostile_message(Some((1, 10, 1 << 25, 2)), &[])
}

/// A change chunk of type 2 (deflate) holding `zeros` zero bytes.
pub(crate) fn deflate_bomb(zeros: usize) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![0u8; 1024 * 1024];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(block.len());
        encoder.write_all(&block[..n]).unwrap();
        left -= n;
    }
    let data = encoder.finish().unwrap();
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    leb(&mut chunk, data.len() as u64);
    chunk.extend(data);
    hostile_message(None, &[chunk])
}

/// A frame carrying `message` for `id`.
pub(crate) fn frame_with(id: DocumentId, message: Vec<u8>) -> Frame {
    Frame {
        documents: vec![DocumentFrame {
            document: id,
            generation: 0,
            body: DocumentBody::Sync(message),
        }],
        ..Frame::new()
    }
}

/// `POST /api/v1/sync` with `frame`: the status and the body as JSON (a problem) or null.
async fn post(app: &TestApp, token: &str, frame: &Frame) -> (StatusCode, Value) {
    post_refusable(app, token, frame.encode(), false).await
}

/// Asserts `frame` is refused with `sync_message_refused` and `reason`.
async fn assert_refused(app: &TestApp, token: &str, frame: &Frame, reason: &str) {
    let (status, problem) = post(app, token, frame).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "sync_message_refused", "{problem}");
    assert_eq!(problem["detail"], reason, "{problem}");
}

async fn patient_with_account(app: &TestApp) -> (Uuid, String) {
    let practice = fixtures::practice_with(app, PracticeSettings::default()).await;
    let patient = fixtures::patient(app, practice.id, None).await;
    let (_, token) = fixtures::account(app, &patient).await;
    (patient.id, token)
}

// ---------------------------------------------------------------------------------------------
// 1. A 10-byte message that crashed or stalled the server
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_bloom_with_zero_bits_per_entry_is_refused_over_post_and_closes_a_socket_cleanly() {
    let app = spawn_app().await;
    let (patient, token) = patient_with_account(&app).await;
    let id = DocumentId::new(patient, Section::Profile);
    // With an intent beside it: a refused frame applies nothing at all.
    let mut frame = frame_with(id, zero_bits_bloom());
    frame.intents.push(Intent {
        key: "k-1".to_owned(),
        patient_id: patient,
        action: IntentAction::SendMessage {
            thread_id: None,
            subject: Some("Refused with its frame".to_owned()),
            body: "Never stored".to_owned(),
        },
    });
    assert_refused(&app, &token, &frame, "bloom_bits_per_entry").await;
    assert_eq!(
        messages::Entity::find().count(&app.db).await.unwrap(),
        0,
        "the frame's intent was not applied"
    );

    // Over the WebSocket: a close frame saying why, not a dropped connection.
    let mut live = Live::connect(&app, &token).await;
    live.send(&frame).await;
    let close = live.closed(10).await.expect("a close frame");
    assert_eq!(close.0, 1008);
    assert_eq!(close.1, "sync_message_refused: bloom_bits_per_entry");

    // The server is fine: an honest device syncs as before.
    let mut device = DevicePeer::new();
    device.follow(id);
    sync(&app, &token, &mut device).await;
    assert!(device.document(id).is_some());
}

#[tokio::test]
async fn a_bloom_with_millions_of_probes_is_refused_while_another_patients_writes_succeed() {
    let app = spawn_app().await;
    let (patient, token) = patient_with_account(&app).await;
    let (other, other_token) = patient_with_account(&app).await;
    // A document with history to probe against.
    let mut device = DevicePeer::new();
    let id = DocumentId::new(patient, Section::Profile);
    device.follow(id);
    sync(&app, &token, &mut device).await;

    let hostile = frame_with(id, huge_probes_bloom());
    let attacks = (0..4).map(|_| post(&app, &token, &hostile));
    let write = async {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/patients/{other}/messages")))
            .bearer_auth(&other_token)
            .json(&json!({"subject": "Sick note", "body": "Could I have a fit note?"}))
            .send()
            .await
            .unwrap();
        response.status()
    };
    let (answers, written) = tokio::join!(futures_util::future::join_all(attacks), write);
    assert_eq!(written, StatusCode::CREATED);
    for (status, problem) in answers {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["detail"], "bloom_probes");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. A compressed-change bomb
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_compressed_change_bomb_is_refused_before_it_is_inflated() {
    let app = spawn_app().await;
    let (patient, token) = patient_with_account(&app).await;
    let id = DocumentId::new(patient, Section::Personal);
    let bomb = deflate_bomb(64 * 1024 * 1024);
    assert!(bomb.len() < 600 * 1024, "{}", bomb.len());
    assert_refused(&app, &token, &frame_with(id, bomb), "too_large").await;
    let stored = sync_documents::Entity::find()
        .filter(sync_documents::Column::Section.eq("personal"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing was stored");
    // A whole-document chunk (which may hide compressed columns) is refused too.
    let mut doc = sync_protocol::automerge::AutoCommit::new();
    personal::set_note(&mut doc, "a", "b").unwrap();
    let whole = hostile_message(None, &[doc.save()]);
    assert_refused(&app, &token, &frame_with(id, whole), "chunk_type").await;
}

// ---------------------------------------------------------------------------------------------
// 3. The personal document's caps count its history
// ---------------------------------------------------------------------------------------------

/// Text that deflate cannot shrink much, `n` bytes from `seed`.
fn noise(seed: u64, n: usize) -> String {
    let mut x = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'a' + ((x >> 33) % 26) as u8)
        })
        .collect()
}

const STORED_CAP: usize = 48 * 1024;

#[tokio::test]
async fn the_personal_documents_history_counts_and_is_compacted_into_a_new_generation() {
    let app = spawn_app_with(|config| {
        config.sync.personal_max_bytes = 16 * 1024;
        config.sync.personal_max_text_bytes = 4 * 1024;
        config.sync.personal_max_stored_bytes = STORED_CAP;
    })
    .await;
    let practice = fixtures::practice_with(&app, PracticeSettings::default()).await;
    let patient = fixtures::patient(&app, practice.id, None).await;
    let (account, phone_token) = fixtures::account(&app, &patient).await;
    let tablet_token = fixtures::device_token(&app, account, "Tablet").await;
    let id = DocumentId::new(patient.id, Section::Personal);
    let (mut phone, mut tablet) = (DevicePeer::new(), DevicePeer::new());
    phone.follow(id);
    tablet.follow(id);
    phone
        .edit(id, |doc| {
            personal::set_note(doc, "kept", "Ask about the ferritin")
        })
        .unwrap()
        .unwrap();
    sync(&app, &phone_token, &mut phone).await;
    sync(&app, &tablet_token, &mut tablet).await;

    // Notes written and deleted, one after another: each exchange is within the caps, but
    // together their history is several times the stored cap.
    for i in 0..40u64 {
        let text = format!("DELETED-{i}-{}", noise(i, 3500));
        phone
            .edit(id, |doc| personal::set_note(doc, "scratch", &text))
            .unwrap()
            .unwrap();
        sync(&app, &phone_token, &mut phone).await;
        phone
            .edit(id, |doc| personal::clear_note(doc, "scratch"))
            .unwrap()
            .unwrap();
        sync(&app, &phone_token, &mut phone).await;
    }

    let rows = sync_documents::Entity::find()
        .filter(sync_documents::Column::Section.eq("personal"))
        .filter(sync_documents::Column::SupersededAt.is_null())
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].generation >= 1, "compacted into a new generation");
    assert!(
        rows[0].document.len() <= STORED_CAP,
        "{} stored bytes",
        rows[0].document.len()
    );
    let expected = personal::read(phone.document(id).unwrap()).unwrap();
    assert_eq!(expected.notes.keys().collect::<Vec<_>>(), ["kept"]);

    // The tablet, on the old generation, is told so and takes the new one.
    let (_, events) = sync(&app, &tablet_token, &mut tablet).await;
    assert!(events.contains(&Event::Superseded(id)), "{events:?}");
    assert_eq!(
        personal::read(tablet.document(id).unwrap()).unwrap(),
        expected
    );

    // A new device of the account receives the content, not the history.
    let third_token = fixtures::device_token(&app, account, "Laptop").await;
    let mut laptop = DevicePeer::new();
    laptop.follow(id);
    let (wire, _) = sync(&app, &third_token, &mut laptop).await;
    assert_eq!(
        personal::read(laptop.document(id).unwrap()).unwrap(),
        expected
    );
    // What it downloads is bounded by the stored cap (history since the compaction included),
    // not by everything ever written.
    assert!(
        wire.bytes() <= STORED_CAP + 16 * 1024,
        "a new device received {} bytes",
        wire.bytes()
    );
}

// ---------------------------------------------------------------------------------------------
// 4. A correction leaves the history
// ---------------------------------------------------------------------------------------------

/// Text the clinical system removes from an entry's detail.
const THIRD_PARTY: &str = "THIRD-PARTY-neighbour-Mrs-Example";

#[tokio::test]
async fn a_corrected_entry_leaves_no_trace_of_the_old_text_in_any_history() {
    let app = spawn_app().await;
    // Prospective access from the account's creation (the test's first day): an entry of 2024
    // filed that day is in the patient's record.
    let practice = fixtures::NewPractice::default().insert(&app).await;
    let key = fixtures::integration_key(&app, &practice).await;
    let patient = fixtures::NewPatient::at(practice.id).insert(&app).await;
    let (account, token) = fixtures::account(&app, &patient).await;
    let external = patient
        .external_id
        .clone()
        .expect("known to the clinical system");
    let import = |detail: String| {
        let body = json!({"entries": [{
            "external_id": "E1",
            "patient_external_id": external,
            "section": "problems",
            "snomed_code": "195967001",
            "term": "Asthma",
            "effective_date": "2024-03-01",
            "entered_on": "2026-11-23",
            "detail": detail,
            "hidden": false,
            "hidden_from_proxies": false,
        }]});
        let request = app
            .client
            .post(app.url("/api/v1/integration/batches"))
            .bearer_auth(&key)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    };
    import(format!("Seen with {THIRD_PARTY}, who reports wheeze")).await;
    let id = DocumentId::new(patient.id, Section::Record);
    let mut phone = DevicePeer::new();
    phone.follow(id);
    let (wire, _) = sync(&app, &token, &mut phone).await;
    assert!(
        wire.contains(THIRD_PARTY),
        "the first import reached the device"
    );

    // The clinical system re-sends the entry with the third party removed.
    import("Seen alone, reports wheeze".to_owned()).await;
    let (_, events) = sync(&app, &token, &mut phone).await;
    assert!(events.contains(&Event::Superseded(id)), "{events:?}");
    let history: Vec<String> = phone
        .document(id)
        .unwrap()
        .clone()
        .get_changes(&[])
        .iter()
        .map(|change| format!("{:?}", change.decode()))
        .collect();
    assert!(history.iter().all(|c| !c.contains(THIRD_PARTY)));
    assert!(history.iter().any(|c| c.contains("Seen alone")));

    // A brand-new device syncing from empty: the old text is nowhere in what it receives.
    let tablet_token = fixtures::device_token(&app, account, "Tablet").await;
    let mut tablet = DevicePeer::new();
    tablet.follow(id);
    let (wire, _) = sync(&app, &tablet_token, &mut tablet).await;
    assert!(wire.contains("Seen alone"));
    assert!(
        !wire.contains(THIRD_PARTY),
        "the corrected text reached a new device"
    );
}
