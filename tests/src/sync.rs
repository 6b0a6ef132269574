//! Helpers shared by the sync tests: syncing a [`DevicePeer`] until quiet over
//! `POST /api/v1/sync`, a [`Wire`] that records everything the server sent with every automerge
//! change decoded (so a search for a marker cannot miss it in a compressed change), and the
//! comparisons of each section document with what the REST read API returns the same viewer,
//! item by item and field by field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

use crate::TestApp;
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeMap;
use sync_protocol::automerge::{Automerge, Bundle, Change, sync as automerge_sync};
use sync_protocol::items::{Fields, ItemError, item_from};
use sync_protocol::schema::{
    AppointmentItem, CourseItem, DocumentItem, MedicationsItem, MessageItem, MessagesItem,
    PharmacyItem, PrescriptionRequestItem, ProfileItem, RecordItem, RequestedCourseItem,
    ResultItem, ThreadItem,
};
use sync_protocol::{DevicePeer, DocumentBody, DocumentId, Event, Frame, Section};
use uuid::Uuid;

/// The documents built from the record: the profile, coded entries, results and letters.
pub const RECORD_SECTIONS: [Section; 4] = [
    Section::Profile,
    Section::Record,
    Section::Results,
    Section::Documents,
];

/// The documents built by the services.
pub const SERVICE_SECTIONS: [Section; 3] = [
    Section::Appointments,
    Section::Medications,
    Section::Messages,
];

/// Every server-written section document.
pub const ALL_SECTIONS: [Section; 7] = [
    Section::Profile,
    Section::Record,
    Section::Results,
    Section::Documents,
    Section::Appointments,
    Section::Medications,
    Section::Messages,
];

/// A new device following `sections` of `patient`.
pub fn following(patient: Uuid, sections: &[Section]) -> DevicePeer {
    let mut device = DevicePeer::new();
    for section in sections {
        device.follow(DocumentId::new(patient, *section));
    }
    device
}

/// Everything the server sent a device, searchable: the raw frames, and every automerge change
/// they carried decoded one by one (automerge may compress a change's columns, so its text need
/// not appear in the raw bytes; a change is decoded on its own, whether or not the changes it
/// depends on were sent in the same exchange).
#[derive(Debug, Default)]
pub struct Wire {
    raw: Vec<u8>,
    decoded: Vec<String>,
}

impl Wire {
    /// Records one reply: its bytes as received and the frame decoded from them.
    pub fn record(&mut self, bytes: &[u8], reply: &Frame) {
        self.raw.extend_from_slice(bytes);
        for document in &reply.documents {
            let DocumentBody::Sync(message) = &document.body else {
                continue;
            };
            let message = automerge_sync::Message::decode(message).unwrap();
            for bytes in message.changes.iter() {
                for chunk in chunks(bytes) {
                    self.decoded.extend(decode(chunk));
                }
            }
        }
    }

    /// Whether `needle` was in anything sent: the frames' own fields or any change's keys and
    /// values.
    pub fn contains(&self, needle: &str) -> bool {
        contains(&self.raw, needle) || self.decoded.iter().any(|text| text.contains(needle))
    }

    /// How many bytes were received in all.
    pub fn bytes(&self) -> usize {
        self.raw.len()
    }

    /// How many automerge changes were sent.
    pub fn changes(&self) -> usize {
        self.decoded.len()
    }

    /// Whether nothing at all was received.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// Splits a sync message's change data into automerge chunks: a chunk is the magic bytes, a
/// checksum, its type, its length (unsigned LEB128) and that many bytes (a version 2 message
/// carries several changes back to back).
fn chunks(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    while !bytes.is_empty() {
        let (mut length, mut shift, mut at) = (0usize, 0, 9);
        loop {
            let byte = bytes[at];
            length |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            at += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let (chunk, rest) = bytes.split_at(at + length);
        chunks.push(chunk);
        bytes = rest;
    }
    chunks
}

/// Every change of one chunk (a change, compressed or not, a bundle or a whole document),
/// decoded into readable text.
fn decode(chunk: &[u8]) -> Vec<String> {
    let changes = if let Ok(change) = Change::try_from(chunk) {
        vec![change]
    } else if let Ok(bundle) = Bundle::try_from(chunk) {
        bundle.to_changes().unwrap()
    } else {
        Automerge::load(chunk)
            .unwrap_or_else(|e| panic!("not a change, a bundle or a document: {e}"))
            .get_changes(&[])
    };
    changes
        .iter()
        .map(|change| format!("{:?}", change.decode()))
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// One `POST /api/v1/sync` with `frame`; returns the reply's bytes and the frame decoded.
pub async fn exchange(app: &TestApp, token: &str, frame: &Frame) -> (Vec<u8>, Frame) {
    let response = app
        .client
        .post(app.url("/api/v1/sync"))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .body(frame.encode())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.unwrap().to_vec();
    let reply = Frame::decode(&bytes).unwrap();
    (bytes, reply)
}

/// `POST /api/v1/sync` with raw `body` (compressed with `gp-sync-deflate`, and such a reply
/// accepted, when `compressed`), for refusals: the status and the problem (null when the reply
/// is not JSON).
pub async fn post_refusable(
    app: &TestApp,
    token: &str,
    body: Vec<u8>,
    compressed: bool,
) -> (StatusCode, Value) {
    use sync_protocol::compressed::CODING;
    let mut request = app
        .client
        .post(app.url("/api/v1/sync"))
        .bearer_auth(token)
        .header("content-type", "application/cbor");
    if compressed {
        request = request
            .header("content-encoding", CODING)
            .header("accept-encoding", CODING);
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// One `POST /api/v1/sync` with `frame` compressed (`Content-Encoding` and `Accept-Encoding:
/// gp-sync-deflate`); returns the request's and the reply's bytes as they travelled and the
/// reply inflated and decoded.
pub async fn exchange_compressed(
    app: &TestApp,
    token: &str,
    frame: &Frame,
) -> (Vec<u8>, Vec<u8>, Frame) {
    use sync_protocol::compressed::{CODING, compress, decompress};
    let body = compress(&frame.encode(), None);
    let response = app
        .client
        .post(app.url("/api/v1/sync"))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .header("content-encoding", CODING)
        .header("accept-encoding", format!("gzip, {CODING}"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-encoding"],
        CODING,
        "the reply is compressed with the frames' own coding, not wrapped in gzip"
    );
    let bytes = response.bytes().await.unwrap().to_vec();
    let reply = Frame::decode(&decompress(&bytes, None).unwrap()).unwrap();
    (body, bytes, reply)
}

/// One `POST /api/v1/sync` with `frame`; returns the reply.
pub async fn post_frame(app: &TestApp, token: &str, frame: &Frame) -> Frame {
    exchange(app, token, frame).await.1
}

/// Says in the projection outbox that `patient`'s data changed, as every domain write does in
/// its own transaction: for tests that change the database directly (every section, since the
/// test does not say which it changed).
pub async fn changed(app: &TestApp, patient: Uuid) {
    gp_online::outbox::mark_patient_dirty(
        &app.db,
        crate::fixtures::practice_of(app, patient).await,
        patient,
        "test.write",
        app.clock.now(),
    )
    .await
    .unwrap();
}

/// A problem entered on 2024-06-01 in `patient`'s record (hidden from proxies or not), written
/// as the clinical system's import writes it: the row and its projection outbox row.
pub async fn import_entry(app: &TestApp, patient: Uuid, term: &str, hidden_from_proxies: bool) {
    use gp_online::db::entities::record_entries;
    use sea_orm::{ActiveModelTrait, Set};
    let now = app.clock.now();
    let practice = crate::fixtures::practice_of(app, patient).await;
    let entered = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
    let id = Uuid::new_v4();
    record_entries::ActiveModel {
        id: Set(id),
        practice_id: Set(practice),
        patient_id: Set(patient),
        external_id: Set(None),
        section: Set(record_entries::RecordSection::Problems),
        snomed_code: Set("38341003".to_owned()),
        term: Set(term.to_owned()),
        effective_date: Set(entered),
        entered_on: Set(entered),
        end_date: Set(None),
        detail: Set(None),
        author: Set(None),
        hidden: Set(false),
        hidden_from_proxies: Set(hidden_from_proxies),
        retracted_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    gp_online::outbox::mark_items_dirty(
        &app.db,
        practice,
        patient,
        Section::Record,
        &std::collections::BTreeSet::from([id]),
        "record.import",
        now,
    )
    .await
    .unwrap();
}

/// Reconnects and syncs until quiet (the device had nothing to send and the server nothing to
/// answer), as an app does when it opens; returns what the server sent and the events seen.
pub async fn sync(app: &TestApp, token: &str, device: &mut DevicePeer) -> (Wire, Vec<Event>) {
    sync_within(app, token, device, 20, || async {})
        .await
        .unwrap_or_else(|frames| panic!("sync did not settle:\n{frames}"))
}

/// [`sync`] with every frame compressed both ways ([`exchange_compressed`]); the [`Wire`]
/// records the replies' bytes as they travelled (compressed), so only its decoded changes are
/// searchable as text.
pub async fn sync_compressed(
    app: &TestApp,
    token: &str,
    device: &mut DevicePeer,
) -> (Wire, Vec<Event>) {
    exchange_until_quiet(app, token, device, 20, true, || async {})
        .await
        .unwrap_or_else(|frames| panic!("sync did not settle:\n{frames}"))
}

/// [`sync`] within `rounds` round trips, running `between` after each (a write, the relay):
/// what the server sent and the events seen, or, when the device and the server are not quiet
/// by then, every frame exchanged (described, one round trip a line).
pub async fn sync_within<Between: std::future::Future<Output = ()>>(
    app: &TestApp,
    token: &str,
    device: &mut DevicePeer,
    rounds: usize,
    between: impl FnMut() -> Between,
) -> Result<(Wire, Vec<Event>), String> {
    exchange_until_quiet(app, token, device, rounds, false, between).await
}

/// The loop of [`sync_within`], with frames compressed both ways or not.
async fn exchange_until_quiet<Between: std::future::Future<Output = ()>>(
    app: &TestApp,
    token: &str,
    device: &mut DevicePeer,
    rounds: usize,
    compressed: bool,
    mut between: impl FnMut() -> Between,
) -> Result<(Wire, Vec<Event>), String> {
    device.reconnect();
    let mut wire = Wire::default();
    let mut events = Vec::new();
    let mut frames = Vec::new();
    for _ in 0..rounds {
        let request = device.outgoing();
        let (bytes, reply) = if compressed {
            let (_, bytes, reply) = exchange_compressed(app, token, &request).await;
            (bytes, reply)
        } else {
            exchange(app, token, &request).await
        };
        wire.record(&bytes, &reply);
        frames.push(format!(
            "up {} / down {}",
            describe(&request.documents),
            describe(&reply.documents)
        ));
        events.extend(device.receive(&reply).unwrap());
        let quiet = reply.documents.is_empty() && reply.outcomes.is_empty();
        if quiet && request.documents.is_empty() {
            return Ok((wire, events));
        }
        between().await;
    }
    Err(frames.join("\n"))
}

/// Waits until the relay has claimed (projected and announced) every projection outbox row of
/// `patient`; fails after 10 seconds.
pub async fn relayed(app: &TestApp, patient: Uuid) {
    use gp_online::db::entities::projection_outbox;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    for _ in 0..1000 {
        let waiting = projection_outbox::Entity::find()
            .filter(projection_outbox::Column::PatientId.eq(patient))
            .filter(projection_outbox::Column::ClaimedUntil.is_null())
            .count(&app.db)
            .await
            .unwrap();
        if waiting == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the relay never claimed the patient's rows");
}

/// A short account of document frames for a failure message: each frame's section and body
/// (a sync message as its heads, needs, haves and change count).
fn describe(frames: &[sync_protocol::DocumentFrame]) -> String {
    use sync_protocol::automerge::sync::Message;
    let short = |h: &sync_protocol::automerge::ChangeHash| hex::encode(&h.0[..3]);
    frames
        .iter()
        .map(|f| match &f.body {
            DocumentBody::Sync(bytes) => match Message::decode(bytes) {
                Ok(m) => format!(
                    "{:?} heads {:?} need {} have {:?} changes {}",
                    f.document.section,
                    m.heads.iter().map(short).collect::<Vec<_>>(),
                    m.need.len(),
                    m.have
                        .iter()
                        .map(|h| h.last_sync.iter().map(short).collect::<Vec<_>>())
                        .collect::<Vec<_>>(),
                    m.changes.len()
                ),
                Err(_) => format!("{:?} undecodable", f.document.section),
            },
            other => format!("{:?} {other:?}", f.document.section),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// REST calls
// ---------------------------------------------------------------------------------------------

/// `/api/v1/patients/{patient}/{rest}`.
pub fn path(patient: Uuid, rest: &str) -> String {
    format!("/api/v1/patients/{patient}/{rest}")
}

/// A REST call; returns the status and the JSON body (`Null` when there is none).
pub async fn call(
    app: &TestApp,
    method: Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A successful REST call's body.
pub async fn ok(
    app: &TestApp,
    method: Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let (status, value) = call(app, method, token, path, body).await;
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

/// A GET the viewer may be refused: the body, or `None` for 403 (no access to the service) and
/// 404 (no access to the patient). Anything else fails.
pub async fn get_unless_refused(app: &TestApp, token: &str, path: &str) -> Option<Value> {
    let (status, value) = call(app, Method::GET, token, path, None).await;
    match status {
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => None,
        status if status.is_success() => Some(value),
        status => panic!("{path}: {status} {value}"),
    }
}

/// An instant, checked to be in the one form REST and sync both use: RFC 3339 in UTC with `Z`.
pub fn instant(text: &str) -> String {
    let parsed = DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert!(text.ends_with('Z'), "an instant not in UTC with Z: {text}");
    assert_eq!(
        parsed
            .with_timezone(&Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        text
    );
    text.to_owned()
}

/// A JSON string.
pub fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_owned()
}

/// A JSON string or null.
pub fn optional(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// An RFC 3339 instant or null, in canonical form.
pub fn optional_instant(value: &Value) -> Option<String> {
    value.as_str().map(instant)
}

fn flag(value: &Value) -> bool {
    value
        .as_bool()
        .unwrap_or_else(|| panic!("not a boolean: {value}"))
}

// ---------------------------------------------------------------------------------------------
// What the device holds
// ---------------------------------------------------------------------------------------------

/// Whether the device holds the document (it is removed when the viewer may see none of it).
pub fn holds(device: &DevicePeer, patient: Uuid, section: Section) -> bool {
    device.document(DocumentId::new(patient, section)).is_some()
}

/// The items of one of the device's documents, by id, read with `read` (the section's
/// `item_from`).
pub fn held<T>(
    device: &DevicePeer,
    patient: Uuid,
    section: Section,
    read: impl Fn(&Fields) -> Result<T, ItemError>,
) -> BTreeMap<String, T> {
    device
        .items(DocumentId::new(patient, section))
        .unwrap()
        .iter()
        .map(|(id, fields)| (id.clone(), read(fields).unwrap()))
        .collect()
}

/// The device's profile document's single item, if it holds the document.
pub fn device_profile(device: &DevicePeer, patient: Uuid) -> Option<ProfileItem> {
    if !holds(device, patient, Section::Profile) {
        return None;
    }
    let mut items = held(device, patient, Section::Profile, item_from::<ProfileItem>);
    assert_eq!(items.len(), 1, "one profile item: {items:?}");
    items.remove("profile")
}

/// The device's record document (coded entries by id).
pub fn device_record(device: &DevicePeer, patient: Uuid) -> BTreeMap<String, RecordItem> {
    held(device, patient, Section::Record, item_from::<RecordItem>)
}

/// The device's results document, instants in canonical form.
pub fn device_results(device: &DevicePeer, patient: Uuid) -> BTreeMap<String, ResultItem> {
    held(device, patient, Section::Results, item_from::<ResultItem>)
        .into_iter()
        .map(|(id, r)| {
            let item = ResultItem {
                filed_at: r.filed_at.as_deref().map(instant),
                ..r
            };
            (id, item)
        })
        .collect()
}

/// The device's documents document, instants in canonical form.
pub fn device_documents(device: &DevicePeer, patient: Uuid) -> BTreeMap<String, DocumentItem> {
    held(
        device,
        patient,
        Section::Documents,
        item_from::<DocumentItem>,
    )
    .into_iter()
    .map(|(id, d)| {
        let item = DocumentItem {
            filed_at: d.filed_at.as_deref().map(instant),
            ..d
        };
        (id, item)
    })
    .collect()
}

/// The device's appointments document, instants in canonical form.
pub fn device_appointments(
    device: &DevicePeer,
    patient: Uuid,
) -> BTreeMap<String, AppointmentItem> {
    held(
        device,
        patient,
        Section::Appointments,
        item_from::<AppointmentItem>,
    )
    .into_iter()
    .map(|(id, a)| {
        let item = AppointmentItem {
            booked_at: instant(&a.booked_at),
            cancelled_at: a.cancelled_at.as_deref().map(instant),
            starts_at: instant(&a.starts_at),
            ends_at: instant(&a.ends_at),
            ..a
        };
        (id, item)
    })
    .collect()
}

/// The device's medications document, instants in canonical form.
pub fn device_medications(device: &DevicePeer, patient: Uuid) -> BTreeMap<String, MedicationsItem> {
    held(
        device,
        patient,
        Section::Medications,
        item_from::<MedicationsItem>,
    )
    .into_iter()
    .map(|(id, item)| {
        let item = match item {
            MedicationsItem::Request(r) => MedicationsItem::Request(PrescriptionRequestItem {
                created_at: instant(&r.created_at),
                ..r
            }),
            MedicationsItem::RequestedCourse(i) => {
                MedicationsItem::RequestedCourse(RequestedCourseItem {
                    decided_at: i.decided_at.as_deref().map(instant),
                    ..i
                })
            }
            other => other,
        };
        (id, item)
    })
    .collect()
}

/// The device's messages document, instants in canonical form; threads only unless
/// `messages`.
pub fn device_messages(
    device: &DevicePeer,
    patient: Uuid,
    messages: bool,
) -> BTreeMap<String, MessagesItem> {
    held(
        device,
        patient,
        Section::Messages,
        item_from::<MessagesItem>,
    )
    .into_iter()
    .filter_map(|(id, item)| {
        let item = match item {
            MessagesItem::Thread(t) => MessagesItem::Thread(ThreadItem {
                created_at: instant(&t.created_at),
                last_message_at: instant(&t.last_message_at),
                ..t
            }),
            MessagesItem::Message(m) if messages => MessagesItem::Message(MessageItem {
                sent_at: instant(&m.sent_at),
                read_by_patient_at: m.read_by_patient_at.as_deref().map(instant),
                read_by_practice_at: m.read_by_practice_at.as_deref().map(instant),
                ..m
            }),
            MessagesItem::Message(_) => return None,
        };
        Some((id, item))
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// What the REST API shows, in the documents' shapes (`None`: the API refuses the viewer)
// ---------------------------------------------------------------------------------------------

/// The viewer's profile of `patient` as `GET /api/v1/me` lists it, or `None` when it is not
/// listed (the account may not act for the patient).
pub async fn rest_profile(app: &TestApp, token: &str, patient: Uuid) -> Option<ProfileItem> {
    let me = ok(app, Method::GET, token, "/api/v1/me", None).await;
    let profiles = me["profiles"].as_array().unwrap();
    let mut listed = profiles
        .iter()
        .filter(|p| p["patient_id"] == Value::String(patient.to_string()));
    let p = listed.next()?;
    assert!(listed.next().is_none(), "{patient} is listed once: {me}");
    let capabilities = &p["capabilities"];
    Some(ProfileItem {
        given_name: text(&p["given_name"]),
        family_name: text(&p["family_name"]),
        relationship: text(&p["relationship"]),
        acting_as_proxy: flag(&p["acting_as_proxy"]),
        ods_code: text(&p["ods_code"]),
        practice_name: text(&p["practice_name"]),
        record_sections: capabilities["record_sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .collect::<Vec<_>>()
            .join(","),
        appointments: flag(&capabilities["appointments"]),
        prescriptions: flag(&capabilities["prescriptions"]),
        messages: flag(&capabilities["messages"]),
    })
}

/// One record section as `GET /api/v1/patients/{id}/record/{section}` shows it, or `None` when
/// the patient is unknown to the viewer or the section `unavailable` to them.
async fn rest_section(app: &TestApp, token: &str, patient: Uuid, section: &str) -> Option<Value> {
    let view = get_unless_refused(app, token, &path(patient, &format!("record/{section}"))).await?;
    match view["status"].as_str() {
        Some("ok") => Some(view),
        Some("unavailable") => None,
        _ => panic!("{section}: {view}"),
    }
}

/// The coded record sections the record document gathers.
pub const CODED_SECTIONS: [&str; 5] = [
    "allergies",
    "medications",
    "immunisations",
    "problems",
    "consultations",
];

/// Every coded entry of the sections the viewer may read, in the record document's shape, or
/// `None` when they may read none of them.
pub async fn rest_record(
    app: &TestApp,
    token: &str,
    patient: Uuid,
) -> Option<BTreeMap<String, RecordItem>> {
    let mut any = false;
    let mut items = BTreeMap::new();
    for section in CODED_SECTIONS {
        let Some(view) = rest_section(app, token, patient, section).await else {
            continue;
        };
        any = true;
        for e in view["entries"].as_array().unwrap() {
            let item = RecordItem {
                section: section.to_owned(),
                snomed_code: text(&e["snomed_code"]),
                term: text(&e["term"]),
                effective_date: text(&e["effective_date"]),
                end_date: optional(&e["end_date"]),
                detail: optional(&e["detail"]),
                author: optional(&e["author"]),
            };
            assert!(items.insert(text(&e["id"]), item).is_none(), "{e}");
        }
    }
    any.then_some(items)
}

/// The results section in the results document's shape (the trend is the device's to draw).
pub async fn rest_results(
    app: &TestApp,
    token: &str,
    patient: Uuid,
) -> Option<BTreeMap<String, ResultItem>> {
    let view = rest_section(app, token, patient, "results").await?;
    let number = |value: &Value| value.as_f64();
    Some(
        view["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let item = ResultItem {
                    test_code: text(&r["test_code"]),
                    test_name: text(&r["test_name"]),
                    value: text(&r["value"]),
                    numeric_value: number(&r["numeric_value"]),
                    unit: optional(&r["unit"]),
                    range_low: number(&r["range_low"]),
                    range_high: number(&r["range_high"]),
                    range_text: optional(&r["range_text"]),
                    abnormal_flag: text(&r["abnormal_flag"]),
                    requester: optional(&r["requester"]),
                    effective_date: text(&r["effective_date"]),
                    filed_at: optional_instant(&r["filed_at"]),
                    clinician_comment: optional(&r["clinician_comment"]),
                };
                (text(&r["id"]), item)
            })
            .collect(),
    )
}

/// The documents section in the documents document's shape.
pub async fn rest_documents(
    app: &TestApp,
    token: &str,
    patient: Uuid,
) -> Option<BTreeMap<String, DocumentItem>> {
    let view = rest_section(app, token, patient, "documents").await?;
    Some(
        view["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let item = DocumentItem {
                    document_type: text(&d["document_type"]),
                    title: text(&d["title"]),
                    author_organisation: optional(&d["author_organisation"]),
                    effective_date: text(&d["effective_date"]),
                    content_type: text(&d["content_type"]),
                    size_bytes: d["size_bytes"].as_i64().unwrap(),
                    filed_at: optional_instant(&d["filed_at"]),
                    clinician_comment: optional(&d["clinician_comment"]),
                };
                (text(&d["id"]), item)
            })
            .collect(),
    )
}

/// The appointments list (upcoming and past) in the appointments document's shape.
pub async fn rest_appointments(
    app: &TestApp,
    token: &str,
    patient: Uuid,
) -> Option<BTreeMap<String, AppointmentItem>> {
    let list = get_unless_refused(app, token, &path(patient, "appointments")).await?;
    let upcoming = list["upcoming"].as_array().unwrap().iter();
    Some(
        upcoming
            .chain(list["past"].as_array().unwrap())
            .map(|a| {
                let slot = &a["slot"];
                let item = AppointmentItem {
                    status: text(&a["status"]),
                    reason: optional(&a["reason"]),
                    booked_at: instant(&text(&a["booked_at"])),
                    booked_by_proxy: flag(&a["booked_by_proxy"]),
                    cancelled_at: optional_instant(&a["cancelled_at"]),
                    cancellation_reason: optional(&a["cancellation_reason"]),
                    slot_id: text(&slot["id"]),
                    starts_at: instant(&text(&slot["starts_at"])),
                    ends_at: instant(&text(&slot["ends_at"])),
                    clinician_name: text(&slot["clinician_name"]),
                    clinician_staff_id: optional(&slot["clinician_staff_id"]),
                    slot_type: text(&slot["slot_type"]),
                    session_name: text(&slot["session_name"]),
                    location: text(&slot["location"]),
                    channel: text(&slot["channel"]),
                };
                (text(&a["id"]), item)
            })
            .collect(),
    )
}

/// Courses, prescription requests (each requested course its own item) and the pharmacy, in
/// the medications document's shape; `None` when any of the three is refused.
pub async fn rest_medications(
    app: &TestApp,
    token: &str,
    patient: Uuid,
) -> Option<BTreeMap<String, MedicationsItem>> {
    let mut items = BTreeMap::new();
    let courses = get_unless_refused(app, token, &path(patient, "courses")).await?;
    for c in courses.as_array().unwrap() {
        let item = MedicationsItem::Course(CourseItem {
            medication: text(&c["medication"]),
            dosage: text(&c["dosage"]),
            quantity: text(&c["quantity"]),
            course_type: text(&c["type"]),
            can_be_requested: flag(&c["can_be_requested"]),
            last_issue_date: optional(&c["last_issue_date"]),
            next_issue_date: optional(&c["next_issue_date"]),
            review_date: optional(&c["review_date"]),
            review_due: flag(&c["review_due"]),
            request_pending: flag(&c["request_pending"]),
            pending_request_id: optional(&c["pending_request_id"]),
        });
        items.insert(text(&c["id"]), item);
    }
    let requests = get_unless_refused(app, token, &path(patient, "prescription-requests")).await?;
    for r in requests.as_array().unwrap() {
        let request = MedicationsItem::Request(PrescriptionRequestItem {
            created_at: instant(&text(&r["created_at"])),
            requested_by_proxy: flag(&r["requested_by_proxy"]),
            pharmacy_ods: optional(&r["pharmacy_ods"]),
            note: optional(&r["note"]),
        });
        items.insert(text(&r["id"]), request);
        for i in r["items"].as_array().unwrap() {
            let item = MedicationsItem::RequestedCourse(RequestedCourseItem {
                request_id: text(&r["id"]),
                course_id: text(&i["course_id"]),
                medication: text(&i["medication"]),
                status: text(&i["status"]),
                routed_to_clinician: flag(&i["routed_to_clinician"]),
                rejection_reason: optional(&i["rejection_reason"]),
                decided_at: optional_instant(&i["decided_at"]),
            });
            items.insert(text(&i["id"]), item);
        }
    }
    let pharmacy = get_unless_refused(app, token, &path(patient, "pharmacy")).await?;
    items.insert(
        "pharmacy".to_owned(),
        MedicationsItem::Pharmacy(PharmacyItem {
            ods_code: optional(&pharmacy["ods_code"]),
        }),
    );
    Some(items)
}

fn rest_thread(t: &Value) -> ThreadItem {
    ThreadItem {
        subject: optional(&t["subject"]),
        status: text(&t["status"]),
        started_by: text(&t["started_by"]),
        created_at: instant(&text(&t["created_at"])),
        last_message_at: instant(&text(&t["last_message_at"])),
        unread_count: t["unread_count"].as_i64().unwrap(),
    }
}

/// The viewer's threads as the REST list shows them, and, when `open` (which marks the
/// practice's messages read, as opening a thread does), every message of them.
pub async fn rest_messages(
    app: &TestApp,
    token: &str,
    patient: Uuid,
    open: bool,
) -> Option<BTreeMap<String, MessagesItem>> {
    let mut items = BTreeMap::new();
    let list = path(patient, "messages");
    if open {
        let threads = get_unless_refused(app, token, &list).await?;
        for t in threads.as_array().unwrap() {
            let id = text(&t["id"]);
            let view = ok(app, Method::GET, token, &format!("{list}/{id}"), None).await;
            for m in view["messages"].as_array().unwrap() {
                let item = MessagesItem::Message(MessageItem {
                    thread_id: id.clone(),
                    sender: text(&m["sender"]),
                    sender_name: optional(&m["sender_name"]),
                    sent_by_you: flag(&m["sent_by_you"]),
                    body: text(&m["body"]),
                    sent_at: instant(&text(&m["sent_at"])),
                    read_by_patient_at: optional_instant(&m["read_by_patient_at"]),
                    read_by_practice_at: optional_instant(&m["read_by_practice_at"]),
                });
                items.insert(text(&m["id"]), item);
            }
        }
    }
    // The list read after any opening, so its unread counts include it.
    let threads = get_unless_refused(app, token, &list).await?;
    for t in threads.as_array().unwrap() {
        items.insert(text(&t["id"]), MessagesItem::Thread(rest_thread(t)));
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::automerge::sync::SyncDoc;
    use sync_protocol::automerge::transaction::Transactable;
    use sync_protocol::automerge::{AutoCommit, ROOT};

    /// A frame carrying `doc`'s changes in a sync message, as the server sends them.
    fn frame_with(doc: &mut AutoCommit) -> Frame {
        let mut peer = AutoCommit::new();
        let mut ours = automerge_sync::State::new();
        let mut theirs = automerge_sync::State::new();
        let mut messages = Vec::new();
        for _ in 0..5 {
            if let Some(m) = doc.sync().generate_sync_message(&mut ours) {
                messages.push(m.clone().encode());
                peer.sync().receive_sync_message(&mut theirs, m).unwrap();
            }
            if let Some(m) = peer.sync().generate_sync_message(&mut theirs) {
                doc.sync().receive_sync_message(&mut ours, m).unwrap();
            }
        }
        let mut frame = Frame::new();
        for message in messages {
            frame.documents.push(sync_protocol::DocumentFrame {
                document: DocumentId::new(Uuid::nil(), Section::Record),
                generation: 0,
                body: DocumentBody::Sync(message),
            });
        }
        frame
    }

    #[test]
    fn a_marker_in_a_compressed_change_is_found_only_decoded() {
        let mut doc = AutoCommit::new();
        let long = format!("MARKER-{}", "abcdefgh".repeat(200));
        doc.put(ROOT, "note", long.as_str()).unwrap();
        doc.commit();
        let frame = frame_with(&mut doc);
        let bytes = frame.encode();
        assert!(
            !contains(&bytes, "MARKER-"),
            "the change travels compressed, so the raw bytes do not show it"
        );
        let mut wire = Wire::default();
        wire.record(&bytes, &frame);
        assert!(wire.changes() > 0);
        assert!(wire.contains("MARKER-"));
        assert!(!wire.contains("ABSENT-"));
    }

    #[test]
    fn changes_are_found_even_when_the_changes_they_depend_on_were_sent_before() {
        let mut doc = AutoCommit::new();
        for i in 0..10 {
            doc.put(ROOT, format!("first-{i}"), "FIRST-value").unwrap();
            doc.commit();
        }
        // The peer holds the first changes already; only the new ones travel, back to back in
        // one chunk list (automerge sends the whole document instead when most of it is new).
        let mut peer = doc.fork();
        let mut ours = automerge_sync::State::new();
        let mut theirs = automerge_sync::State::new();
        for _ in 0..5 {
            if let Some(m) = doc.sync().generate_sync_message(&mut ours) {
                peer.sync().receive_sync_message(&mut theirs, m).unwrap();
            }
            if let Some(m) = peer.sync().generate_sync_message(&mut theirs) {
                doc.sync().receive_sync_message(&mut ours, m).unwrap();
            }
        }
        doc.put(ROOT, "second", "SECOND-value").unwrap();
        doc.commit();
        doc.put(ROOT, "third", "THIRD-value").unwrap();
        doc.commit();
        let mut wire = Wire::default();
        for _ in 0..5 {
            if let Some(m) = doc.sync().generate_sync_message(&mut ours) {
                let frame = Frame {
                    documents: vec![sync_protocol::DocumentFrame {
                        document: DocumentId::new(Uuid::nil(), Section::Record),
                        generation: 0,
                        body: DocumentBody::Sync(m.clone().encode()),
                    }],
                    ..Frame::new()
                };
                wire.record(&frame.encode(), &frame);
                peer.sync().receive_sync_message(&mut theirs, m).unwrap();
            }
            if let Some(m) = peer.sync().generate_sync_message(&mut theirs) {
                doc.sync().receive_sync_message(&mut ours, m).unwrap();
            }
        }
        assert_eq!(wire.changes(), 2, "only the new changes were sent");
        assert!(wire.contains("SECOND-value"));
        assert!(wire.contains("THIRD-value"));
        assert!(!wire.contains("FIRST-value"));
    }
}
