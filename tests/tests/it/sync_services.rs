//! The appointments, medications and messages documents over `POST /api/v1/sync` with the
//! protocol's device peer: each hydrates to exactly what the REST read API returns the same
//! viewer (a proxy without the scope gets them removed), offline intents settle and their
//! outcome shows in the documents (a slot taken meanwhile leaves no appointment behind), and
//! nothing hidden from a proxy ever crosses the wire to their device.

use chrono::{DateTime, Duration, Utc};
use gp_online::db::entities::courses::{self, CourseType};
use gp_online::db::entities::{patients, practices, slots, staff};
use gp_online::settings::PracticeSettings;
use gp_online_tests::fixtures::{account, patient, practice_with, proxy_grant, staff_token};
use gp_online_tests::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use sync_protocol::automerge::{Automerge, sync};
use sync_protocol::items::{Fields, ItemError, item_from};
use sync_protocol::schema::{
    AppointmentItem, CourseItem, MedicationsItem, MessageItem, MessagesItem, PharmacyItem,
    PrescriptionRequestItem, RequestedCourseItem, ThreadItem,
};
use sync_protocol::{
    DevicePeer, DocumentBody, DocumentId, Event, Frame, Intent, IntentAction, OutcomeResult,
    Section,
};
use uuid::Uuid;

const SERVICES: [Section; 3] = [
    Section::Appointments,
    Section::Medications,
    Section::Messages,
];

/// Everything the server sent a device, readable: the raw frames and, because automerge may
/// compress the columns of a change, every change they carried, loaded and saved uncompressed.
#[derive(Default)]
struct Wire {
    raw: Vec<u8>,
    changes: BTreeMap<(DocumentId, u32), Automerge>,
}

impl Wire {
    fn record(&mut self, bytes: &[u8], reply: &Frame) {
        self.raw.extend_from_slice(bytes);
        for document in &reply.documents {
            if let DocumentBody::Sync(message) = &document.body {
                let message = sync::Message::decode(message).unwrap();
                let doc = self
                    .changes
                    .entry((document.document, document.generation))
                    .or_default();
                for chunk in message.changes.iter() {
                    doc.load_incremental(chunk).unwrap();
                }
            }
        }
    }

    /// Whether `needle` was in anything sent.
    fn contains(&self, needle: &str) -> bool {
        contains(&self.raw, needle)
            || self
                .changes
                .values()
                .any(|doc| contains(&doc.save_nocompress(), needle))
    }
}

/// Syncs until quiet; returns what the server sent and the events seen.
async fn sync(app: &TestApp, token: &str, device: &mut DevicePeer) -> (Wire, Vec<Event>) {
    device.reconnect();
    let mut wire = Wire::default();
    let mut events = Vec::new();
    for _ in 0..20 {
        let response = app
            .client
            .post(app.url("/api/v1/sync"))
            .bearer_auth(token)
            .header("content-type", "application/cbor")
            .body(device.outgoing().encode())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.bytes().await.unwrap().to_vec();
        let reply = Frame::decode(&bytes).unwrap();
        wire.record(&bytes, &reply);
        let quiet = reply.documents.is_empty() && reply.outcomes.is_empty();
        events.extend(device.receive(&reply).unwrap());
        if quiet {
            return (wire, events);
        }
    }
    panic!("sync did not settle");
}

/// Reconnects with the queued intents and syncs until quiet, then syncs again, as a device does
/// after its intents settle: the server answers a frame's documents before it applies the
/// frame's intents, so their effects reach the documents in the next exchange (or a live
/// push). Returns the events of both.
async fn settle_intents(app: &TestApp, token: &str, device: &mut DevicePeer) -> Vec<Event> {
    let (_, events) = sync(app, token, device).await;
    assert!(device.pending_intents().is_empty(), "{events:?}");
    events
}

/// A device following the three service documents of `patient`.
fn device_for(patient: Uuid) -> DevicePeer {
    let mut device = DevicePeer::new();
    for section in SERVICES {
        device.follow(DocumentId::new(patient, section));
    }
    device
}

/// The items of one of the device's documents, by id, read with `read` (the section's
/// `item_from`).
fn held<T>(
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

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn call(
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
async fn ok(app: &TestApp, method: Method, token: &str, path: &str, body: Option<Value>) -> Value {
    let (status, value) = call(app, method, token, path, body).await;
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

/// An instant in one canonical form, whichever RFC 3339 form it came in.
fn instant(text: &str) -> String {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
        .to_rfc3339()
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_owned()
}

fn optional(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn optional_instant(value: &Value) -> Option<String> {
    value.as_str().map(instant)
}

// ---------------------------------------------------------------------------------------------
// Arrangement
// ---------------------------------------------------------------------------------------------

/// A practice with a patient (pharmacy nominated), their token, proxies and a clinician.
struct Family {
    practice: practices::Model,
    patient: patients::Model,
    patient_token: String,
    /// A proxy with the appointments, prescriptions and messages scopes.
    proxy_token: String,
    /// Another proxy with the same scopes.
    other_proxy_token: String,
    /// A proxy with the record summary only.
    narrow_token: String,
    clinician_token: String,
}

async fn proxy(app: &TestApp, patient: &patients::Model, scopes: &str) -> String {
    let carer = self::patient(app, patient.practice_id, None).await;
    proxy_grant(app, patient, carer.id, scopes, |_| {}).await;
    account(app, &carer).await.1
}

async fn family(app: &TestApp) -> Family {
    let practice = practice_with(app, PracticeSettings::default()).await;
    let patient = patient(app, practice.id, Some("FQ123")).await;
    let patient_token = account(app, &patient).await.1;
    let services = "appointments,prescriptions,messages";
    Family {
        proxy_token: proxy(app, &patient, services).await,
        other_proxy_token: proxy(app, &patient, services).await,
        narrow_token: proxy(app, &patient, "record_summary").await,
        clinician_token: staff_token(app, practice.id, staff::StaffRole::Clinician).await,
        practice,
        patient,
        patient_token,
    }
}

/// An open slot of the practice starting `starts_in` from now.
async fn slot(app: &TestApp, practice_id: Uuid, starts_in: Duration) -> Uuid {
    let now = app.clock.now();
    let starts = now + starts_in;
    slots::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(practice_id),
        external_id: Set(None),
        clinician_staff_id: Set(None),
        clinician_name: Set("Dr A Patel".to_owned()),
        slot_type: Set("GP appointment".to_owned()),
        session_name: Set("Morning surgery".to_owned()),
        location: Set("Main surgery".to_owned()),
        channel: Set(slots::Channel::Telephone),
        starts_at: Set(starts),
        ends_at: Set(starts + Duration::minutes(10)),
        status: Set(slots::SlotStatus::Open),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

/// A repeat course of the patient, adjusted by `adjust`.
async fn course(
    app: &TestApp,
    patient_id: Uuid,
    medication: &str,
    adjust: impl FnOnce(&mut courses::Model),
) -> Uuid {
    let now = app.clock.now();
    let today = now.date_naive();
    let mut model = courses::Model {
        id: Uuid::new_v4(),
        patient_id,
        external_id: None,
        snomed_code: "322236009".to_owned(),
        medication: medication.to_owned(),
        dosage: "One a day".to_owned(),
        quantity: "28 tablets".to_owned(),
        course_type: CourseType::Repeat,
        can_be_requested: true,
        last_issue_date: Some(today - Duration::days(60)),
        next_issue_date: Some(today - Duration::days(32)),
        review_date: Some(today + Duration::days(200)),
        hidden: false,
        hidden_from_proxies: false,
        ended_on: None,
        created_at: now,
        updated_at: now,
    };
    adjust(&mut model);
    courses::ActiveModel::from(model)
        .insert(&app.db)
        .await
        .unwrap()
        .id
}

fn path(patient: Uuid, rest: &str) -> String {
    format!("/api/v1/patients/{patient}/{rest}")
}

async fn book(app: &TestApp, token: &str, patient: Uuid, slot: Uuid, reason: &str) -> Uuid {
    let booked = ok(
        app,
        Method::POST,
        token,
        &path(patient, "appointments"),
        Some(json!({"slot_id": slot, "reason": reason})),
    )
    .await;
    text(&booked["id"]).parse().unwrap()
}

async fn order(
    app: &TestApp,
    token: &str,
    patient: Uuid,
    course_ids: &[Uuid],
    note: &str,
) -> Value {
    ok(
        app,
        Method::POST,
        token,
        &path(patient, "prescription-requests"),
        Some(json!({"course_ids": course_ids, "note": note})),
    )
    .await
}

async fn start_thread(
    app: &TestApp,
    token: &str,
    patient: Uuid,
    subject: &str,
    body: &str,
) -> Uuid {
    let thread = ok(
        app,
        Method::POST,
        token,
        &path(patient, "messages"),
        Some(json!({"subject": subject, "body": body})),
    )
    .await;
    text(&thread["id"]).parse().unwrap()
}

async fn staff_reply(app: &TestApp, clinician_token: &str, thread: Uuid, body: &str) {
    ok(
        app,
        Method::POST,
        clinician_token,
        &format!("/api/v1/practice/messages/{thread}"),
        Some(json!({"body": body})),
    )
    .await;
}

/// Appointments past and upcoming (one cancelled, one booked by a proxy), courses of every
/// kind with requests made, decided and noted, and threads started by the patient and a proxy
/// with the practice's replies.
async fn a_busy_patient(app: &TestApp, f: &Family) {
    let p = f.patient.id;
    // Attended already: booked for three hours ahead, then the clock moves past it.
    let soon = slot(app, f.practice.id, Duration::hours(3)).await;
    book(app, &f.patient_token, p, soon, "Blood pressure check").await;
    app.clock.advance(Duration::hours(4));
    let upcoming = slot(app, f.practice.id, Duration::days(2)).await;
    book(app, &f.patient_token, p, upcoming, "Knee pain").await;
    let later = slot(app, f.practice.id, Duration::days(3)).await;
    let cancelled = book(app, &f.patient_token, p, later, "Rash").await;
    ok(
        app,
        Method::DELETE,
        &f.patient_token,
        &path(p, &format!("appointments/{cancelled}")),
        Some(json!({"reason": "Cannot attend"})),
    )
    .await;
    let by_proxy = slot(app, f.practice.id, Duration::days(4)).await;
    book(app, &f.proxy_token, p, by_proxy, "Follow-up for my mother").await;

    let amlodipine = course(app, p, "Amlodipine 5mg tablets", |_| {}).await;
    let sertraline = course(app, p, "Sertraline 50mg tablets", |c| {
        c.hidden_from_proxies = true;
    })
    .await;
    let atorvastatin = course(app, p, "Atorvastatin 20mg tablets", |c| {
        c.review_date = Some(app.clock.now().date_naive() - Duration::days(1));
    })
    .await;
    course(app, p, "Amoxicillin 500mg capsules", |c| {
        c.course_type = CourseType::Acute;
        c.can_be_requested = false;
    })
    .await;
    let ordered = order(
        app,
        &f.patient_token,
        p,
        &[amlodipine, sertraline],
        "Going away next week",
    )
    .await;
    let request = text(&ordered["request_id"]);
    let requests = ok(
        app,
        Method::GET,
        &f.patient_token,
        &path(p, "prescription-requests"),
        None,
    )
    .await;
    let sertraline_item = requests[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["course_id"] == json!(sertraline))
        .unwrap()["id"]
        .clone();
    ok(
        app,
        Method::POST,
        &f.clinician_token,
        &format!(
            "/api/v1/practice/prescription-requests/{request}/items/{}/reject",
            text(&sertraline_item)
        ),
        Some(json!({"reason": "Please book a review first"})),
    )
    .await;
    order(app, &f.proxy_token, p, &[atorvastatin], "Collect on Friday").await;

    let patients_thread = start_thread(
        app,
        &f.patient_token,
        p,
        "My knee",
        "It still hurts after the physio.",
    )
    .await;
    staff_reply(
        app,
        &f.clinician_token,
        patients_thread,
        "Please book an appointment.",
    )
    .await;
    let proxys_thread = start_thread(
        app,
        &f.proxy_token,
        p,
        "Repeat prescription",
        "Could my mother's inhaler be added to her repeats?",
    )
    .await;
    staff_reply(
        app,
        &f.clinician_token,
        proxys_thread,
        "The GP will look at it.",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// What the REST API shows, in the documents' shapes
// ---------------------------------------------------------------------------------------------

async fn rest_appointments(
    app: &TestApp,
    token: &str,
    patient: Uuid,
) -> BTreeMap<String, AppointmentItem> {
    let list = ok(
        app,
        Method::GET,
        token,
        &path(patient, "appointments"),
        None,
    )
    .await;
    let upcoming = list["upcoming"].as_array().unwrap().iter();
    upcoming
        .chain(list["past"].as_array().unwrap())
        .map(|a| {
            let slot = &a["slot"];
            let item = AppointmentItem {
                status: text(&a["status"]),
                reason: optional(&a["reason"]),
                booked_at: instant(&text(&a["booked_at"])),
                booked_by_proxy: a["booked_by_proxy"].as_bool().unwrap(),
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
        .collect()
}

fn device_appointments(device: &DevicePeer, patient: Uuid) -> BTreeMap<String, AppointmentItem> {
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

async fn rest_medications(
    app: &TestApp,
    token: &str,
    patient: Uuid,
) -> BTreeMap<String, MedicationsItem> {
    let mut items = BTreeMap::new();
    let courses = ok(app, Method::GET, token, &path(patient, "courses"), None).await;
    for c in courses.as_array().unwrap() {
        let item = MedicationsItem::Course(CourseItem {
            medication: text(&c["medication"]),
            dosage: text(&c["dosage"]),
            quantity: text(&c["quantity"]),
            course_type: text(&c["type"]),
            can_be_requested: c["can_be_requested"].as_bool().unwrap(),
            last_issue_date: optional(&c["last_issue_date"]),
            next_issue_date: optional(&c["next_issue_date"]),
            review_date: optional(&c["review_date"]),
            review_due: c["review_due"].as_bool().unwrap(),
            request_pending: c["request_pending"].as_bool().unwrap(),
            pending_request_id: optional(&c["pending_request_id"]),
        });
        items.insert(text(&c["id"]), item);
    }
    let requests = ok(
        app,
        Method::GET,
        token,
        &path(patient, "prescription-requests"),
        None,
    )
    .await;
    for r in requests.as_array().unwrap() {
        let request = MedicationsItem::Request(PrescriptionRequestItem {
            created_at: instant(&text(&r["created_at"])),
            requested_by_proxy: r["requested_by_proxy"].as_bool().unwrap(),
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
                routed_to_clinician: i["routed_to_clinician"].as_bool().unwrap(),
                rejection_reason: optional(&i["rejection_reason"]),
                decided_at: optional_instant(&i["decided_at"]),
            });
            items.insert(text(&i["id"]), item);
        }
    }
    let pharmacy = ok(app, Method::GET, token, &path(patient, "pharmacy"), None).await;
    items.insert(
        "pharmacy".to_owned(),
        MedicationsItem::Pharmacy(PharmacyItem {
            ods_code: optional(&pharmacy["ods_code"]),
        }),
    );
    items
}

fn device_medications(device: &DevicePeer, patient: Uuid) -> BTreeMap<String, MedicationsItem> {
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

/// The patient's threads as the REST list shows them, and, when `open` (which marks the
/// practice's messages read, as opening a thread does), every message of them.
async fn rest_messages(
    app: &TestApp,
    token: &str,
    patient: Uuid,
    open: bool,
) -> BTreeMap<String, MessagesItem> {
    let mut items = BTreeMap::new();
    let list = path(patient, "messages");
    if open {
        let threads = ok(app, Method::GET, token, &list, None).await;
        for t in threads.as_array().unwrap() {
            let id = text(&t["id"]);
            let view = ok(app, Method::GET, token, &format!("{list}/{id}"), None).await;
            for m in view["messages"].as_array().unwrap() {
                let item = MessagesItem::Message(MessageItem {
                    thread_id: id.clone(),
                    sender: text(&m["sender"]),
                    sender_name: optional(&m["sender_name"]),
                    sent_by_you: m["sent_by_you"].as_bool().unwrap(),
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
    let threads = ok(app, Method::GET, token, &list, None).await;
    for t in threads.as_array().unwrap() {
        items.insert(text(&t["id"]), MessagesItem::Thread(rest_thread(t)));
    }
    items
}

/// The device's messages document; threads only unless `messages`.
fn device_messages(
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
// Hydration
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn each_service_document_hydrates_to_exactly_what_the_rest_api_returns() {
    let app = spawn_app().await;
    let f = family(&app).await;
    a_busy_patient(&app, &f).await;
    let p = f.patient.id;
    for (who, token) in [
        ("patient", &f.patient_token),
        ("proxy who booked, ordered and wrote", &f.proxy_token),
        ("another proxy", &f.other_proxy_token),
    ] {
        let mut device = device_for(p);
        let (_, events) = sync(&app, token, &mut device).await;
        assert!(
            !events.iter().any(|e| matches!(e, Event::Removed(_))),
            "{who}: {events:?}"
        );

        let rest = rest_appointments(&app, token, p).await;
        assert_eq!(rest.len(), 4, "{who}: every appointment is listed");
        assert_eq!(device_appointments(&device, p), rest, "{who}");

        let rest = rest_medications(&app, token, p).await;
        assert!(rest.len() > 5, "{who}: {rest:?}");
        assert_eq!(device_medications(&device, p), rest, "{who}");

        // Threads with their unread counts, before anything is opened.
        let rest = rest_messages(&app, token, p, false).await;
        assert!(!rest.is_empty(), "{who}");
        assert_eq!(device_messages(&device, p, false), rest, "{who}");
        // Every message, once opened through REST (which marks them read) and synced again.
        let rest = rest_messages(&app, token, p, true).await;
        sync(&app, token, &mut device).await;
        assert_eq!(device_messages(&device, p, true), rest, "{who}");
    }

    // A proxy without the scopes is refused by REST and gets every service document removed.
    let mut device = device_for(p);
    let (received, events) = sync(&app, &f.narrow_token, &mut device).await;
    for section in SERVICES {
        assert!(
            events.contains(&Event::Removed(DocumentId::new(p, section))),
            "{section:?}: {events:?}"
        );
    }
    for rest in [
        "appointments",
        "courses",
        "prescription-requests",
        "messages",
    ] {
        let (status, _) = call(&app, Method::GET, &f.narrow_token, &path(p, rest), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{rest}");
    }
    assert_eq!(device.documents().count(), 0);
    assert!(!received.contains("Knee pain"));
}

#[tokio::test]
async fn a_service_the_practice_switches_off_is_removed_from_the_device() {
    let app = spawn_app().await;
    let f = family(&app).await;
    let p = f.patient.id;
    let upcoming = slot(&app, f.practice.id, Duration::days(2)).await;
    book(&app, &f.patient_token, p, upcoming, "Knee pain").await;
    start_thread(&app, &f.patient_token, p, "Hello", "A question").await;
    let mut device = device_for(p);
    sync(&app, &f.patient_token, &mut device).await;
    assert_eq!(device_appointments(&device, p).len(), 1);
    assert_eq!(device.documents().count(), 3);

    let mut settings = PracticeSettings::from_json(&f.practice.settings).unwrap();
    settings.features.appointments = false;
    settings.features.messages = false;
    let mut practice: practices::ActiveModel = f.practice.clone().into();
    practice.settings = Set(settings.to_json());
    practice.update(&app.db).await.unwrap();

    let (_, events) = sync(&app, &f.patient_token, &mut device).await;
    assert!(events.contains(&Event::Removed(DocumentId::new(p, Section::Appointments))));
    assert!(events.contains(&Event::Removed(DocumentId::new(p, Section::Messages))));
    let left: Vec<DocumentId> = device.documents().collect();
    assert_eq!(left, [DocumentId::new(p, Section::Medications)]);
}

// ---------------------------------------------------------------------------------------------
// The offline path
// ---------------------------------------------------------------------------------------------

fn intent(key: &str, patient: Uuid, action: IntentAction) -> Intent {
    Intent {
        key: key.to_owned(),
        patient_id: patient,
        action,
    }
}

/// The outcome of the intent `key` among `events`.
fn outcome(events: &[Event], key: &str) -> OutcomeResult {
    events
        .iter()
        .find_map(|e| match e {
            Event::Settled(outcome) if outcome.key == key => Some(outcome.result.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no outcome for {key}: {events:?}"))
}

fn accepted_id(result: &OutcomeResult) -> String {
    match result {
        OutcomeResult::Accepted { id: Some(id) } => id.to_string(),
        other => panic!("not accepted: {other:?}"),
    }
}

#[tokio::test]
async fn offline_bookings_and_cancellations_settle_into_the_appointments_document() {
    let app = spawn_app().await;
    let f = family(&app).await;
    let p = f.patient.id;
    let contested = slot(&app, f.practice.id, Duration::days(2)).await;
    let free = slot(&app, f.practice.id, Duration::days(3)).await;
    let mut device = device_for(p);
    sync(&app, &f.patient_token, &mut device).await;
    assert!(device_appointments(&device, p).is_empty());

    // Offline: the device queues two bookings; meanwhile someone else books the first slot.
    let booking = |key: &str, slot_id: Uuid| {
        intent(
            key,
            p,
            IntentAction::BookAppointment {
                slot_id,
                reason: Some("Sore throat".to_owned()),
            },
        )
    };
    device.queue(booking("book-contested", contested));
    device.queue(booking("book-free", free));
    let neighbour = patient(&app, f.practice.id, None).await;
    let neighbour_token = account(&app, &neighbour).await.1;
    book(&app, &neighbour_token, neighbour.id, contested, "Rash").await;

    // Back online.
    let events = settle_intents(&app, &f.patient_token, &mut device).await;
    assert_eq!(
        outcome(&events, "book-contested"),
        OutcomeResult::Rejected {
            code: "slot_taken".to_owned()
        }
    );
    let booked = accepted_id(&outcome(&events, "book-free"));
    let held = device_appointments(&device, p);
    assert!(
        held.values().all(|a| a.slot_id != contested.to_string()),
        "the slot someone else took is not the patient's: {held:?}"
    );
    assert_eq!(held.keys().collect::<Vec<_>>(), [&booked]);
    assert_eq!(held[&booked].slot_id, free.to_string());
    assert_eq!(held[&booked].status, "booked");
    assert_eq!(held[&booked].reason.as_deref(), Some("Sore throat"));
    assert_eq!(held, rest_appointments(&app, &f.patient_token, p).await);

    // Offline cancellation of it.
    device.queue(intent(
        "cancel-free",
        p,
        IntentAction::CancelAppointment {
            appointment_id: booked.parse().unwrap(),
            reason: "Cannot attend".to_owned(),
        },
    ));
    let events = settle_intents(&app, &f.patient_token, &mut device).await;
    assert_eq!(accepted_id(&outcome(&events, "cancel-free")), booked);
    let held = device_appointments(&device, p);
    assert_eq!(held[&booked].status, "cancelled_by_patient");
    assert_eq!(
        held[&booked].cancellation_reason.as_deref(),
        Some("Cannot attend")
    );
}

#[tokio::test]
async fn the_reply_carrying_an_intents_outcome_already_shows_its_effect() {
    let app = spawn_app().await;
    let f = family(&app).await;
    let p = f.patient.id;
    let free = slot(&app, f.practice.id, Duration::days(3)).await;
    let mut device = device_for(p);
    sync(&app, &f.patient_token, &mut device).await;
    device.queue(intent(
        "book-now",
        p,
        IntentAction::BookAppointment {
            slot_id: free,
            reason: Some("Sore throat".to_owned()),
        },
    ));

    // Back online, one request and one reply: the outcome and the appointment arrive together.
    device.reconnect();
    let response = app
        .client
        .post(app.url("/api/v1/sync"))
        .bearer_auth(&f.patient_token)
        .header("content-type", "application/cbor")
        .body(device.outgoing().encode())
        .send()
        .await
        .unwrap();
    let reply = Frame::decode(&response.bytes().await.unwrap()).unwrap();
    let events = device.receive(&reply).unwrap();
    let booked = accepted_id(&outcome(&events, "book-now"));
    let held = device_appointments(&device, p);
    assert_eq!(held.keys().collect::<Vec<_>>(), [&booked], "{events:?}");
}

#[tokio::test]
async fn an_offline_order_and_a_decision_on_it_show_in_the_medications_document() {
    let app = spawn_app().await;
    let f = family(&app).await;
    let p = f.patient.id;
    let amlodipine = course(&app, p, "Amlodipine 5mg tablets", |_| {}).await;
    let mut device = device_for(p);
    sync(&app, &f.patient_token, &mut device).await;

    device.queue(intent(
        "order-1",
        p,
        IntentAction::OrderRepeat {
            course_ids: vec![amlodipine],
            note: Some("Before my holiday".to_owned()),
        },
    ));
    let events = settle_intents(&app, &f.patient_token, &mut device).await;
    let request = accepted_id(&outcome(&events, "order-1"));
    let held = device_medications(&device, p);
    let MedicationsItem::Request(made) = &held[&request] else {
        panic!("{held:?}");
    };
    assert_eq!(made.note.as_deref(), Some("Before my holiday"));
    assert_eq!(made.pharmacy_ods.as_deref(), Some("FQ123"));
    let MedicationsItem::Course(ordered) = &held[&amlodipine.to_string()] else {
        panic!("{held:?}");
    };
    assert!(ordered.request_pending);
    assert_eq!(
        ordered.pending_request_id.as_deref(),
        Some(request.as_str())
    );
    let (item_id, requested) = held
        .iter()
        .find_map(|(id, item)| match item {
            MedicationsItem::RequestedCourse(r) => Some((id.clone(), r.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(requested.request_id, request);
    assert_eq!(requested.status, "requested");
    assert_eq!(held, rest_medications(&app, &f.patient_token, p).await);

    // The clinician approves it: the document follows.
    ok(
        &app,
        Method::POST,
        &f.clinician_token,
        &format!("/api/v1/practice/prescription-requests/{request}/items/{item_id}/approve"),
        None,
    )
    .await;
    sync(&app, &f.patient_token, &mut device).await;
    let held = device_medications(&device, p);
    let MedicationsItem::RequestedCourse(decided) = &held[&item_id] else {
        panic!("{held:?}");
    };
    assert_eq!(decided.status, "approved");
    assert!(decided.decided_at.is_some());
    assert_eq!(held, rest_medications(&app, &f.patient_token, p).await);
}

#[tokio::test]
async fn an_offline_message_a_staff_reply_and_reading_it_show_in_the_messages_document() {
    let app = spawn_app().await;
    let f = family(&app).await;
    let p = f.patient.id;
    let mut device = device_for(p);
    sync(&app, &f.patient_token, &mut device).await;

    device.queue(intent(
        "send-1",
        p,
        IntentAction::SendMessage {
            thread_id: None,
            subject: Some("Travel vaccines".to_owned()),
            body: "Which vaccines do I need for Kenya?".to_owned(),
        },
    ));
    let events = settle_intents(&app, &f.patient_token, &mut device).await;
    let thread = accepted_id(&outcome(&events, "send-1"));
    let held = device_messages(&device, p, true);
    let MessagesItem::Thread(started) = &held[&thread] else {
        panic!("{held:?}");
    };
    assert_eq!(started.subject.as_deref(), Some("Travel vaccines"));
    assert_eq!(started.started_by, "patient");
    assert_eq!(held.len(), 2, "the thread and its message: {held:?}");

    // The practice replies: the reply appears, unread.
    staff_reply(
        &app,
        &f.clinician_token,
        thread.parse().unwrap(),
        "Please book with the practice nurse.",
    )
    .await;
    sync(&app, &f.patient_token, &mut device).await;
    let held = device_messages(&device, p, true);
    let (reply_id, reply) = held
        .iter()
        .find_map(|(id, item)| match item {
            MessagesItem::Message(m) if m.sender == "staff" => Some((id.clone(), m.clone())),
            _ => None,
        })
        .expect("the staff reply is in the document");
    assert_eq!(reply.body, "Please book with the practice nurse.");
    assert_eq!(reply.thread_id, thread);
    assert!(reply.read_by_patient_at.is_none());
    let MessagesItem::Thread(replied) = &held[&thread] else {
        panic!("{held:?}");
    };
    assert_eq!(replied.unread_count, 1);
    assert_eq!(
        device_messages(&device, p, false),
        rest_messages(&app, &f.patient_token, p, false).await
    );

    // Read on the device, offline: once settled the document says so.
    device.queue(intent(
        "read-1",
        p,
        IntentAction::MarkMessageRead {
            message_id: reply_id.parse().unwrap(),
        },
    ));
    let events = settle_intents(&app, &f.patient_token, &mut device).await;
    assert_eq!(accepted_id(&outcome(&events, "read-1")), thread);
    let held = device_messages(&device, p, true);
    let MessagesItem::Thread(read) = &held[&thread] else {
        panic!("{held:?}");
    };
    assert_eq!(read.unread_count, 0);
    let MessagesItem::Message(reply) = &held[&reply_id] else {
        panic!("{held:?}");
    };
    assert!(reply.read_by_patient_at.is_some());
}

// ---------------------------------------------------------------------------------------------
// Nothing hidden crosses the wire
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn nothing_hidden_from_a_proxy_crosses_the_wire_to_their_device() {
    let app = spawn_app().await;
    let f = family(&app).await;
    let p = f.patient.id;
    // The patient's booking reason, thread, order note and a course hidden from proxies.
    let patients_slot = slot(&app, f.practice.id, Duration::days(2)).await;
    book(&app, &f.patient_token, p, patients_slot, "SECRET-REASON").await;
    let secret_thread =
        start_thread(&app, &f.patient_token, p, "SECRET-SUBJECT", "SECRET-BODY").await;
    staff_reply(&app, &f.clinician_token, secret_thread, "SECRET-REPLY").await;
    let hidden = course(&app, p, "SECRET-COURSE", |c| c.hidden_from_proxies = true).await;
    let shown = course(&app, p, "Amlodipine 5mg tablets", |_| {}).await;
    order(&app, &f.patient_token, p, &[hidden, shown], "SECRET-NOTE").await;
    // Another proxy's booking reason is theirs alone.
    let other_slot = slot(&app, f.practice.id, Duration::days(3)).await;
    book(
        &app,
        &f.other_proxy_token,
        p,
        other_slot,
        "SECRET-OTHER-PROXY",
    )
    .await;
    // What the proxy may see.
    start_thread(&app, &f.proxy_token, p, "Shared subject", "Shared body").await;

    let mut patients_device = device_for(p);
    let (to_patient, _) = sync(&app, &f.patient_token, &mut patients_device).await;
    for marker in [
        "SECRET-REASON",
        "SECRET-SUBJECT",
        "SECRET-BODY",
        "SECRET-REPLY",
        "SECRET-COURSE",
        "SECRET-NOTE",
    ] {
        assert!(to_patient.contains(marker), "the patient sees {marker}");
    }

    let mut proxys_device = device_for(p);
    let (to_proxy, _) = sync(&app, &f.proxy_token, &mut proxys_device).await;
    assert!(
        !to_proxy.contains("SECRET-"),
        "something hidden from the proxy crossed the wire"
    );
    // The proxy still has the documents, with what they may see.
    let appointments = device_appointments(&proxys_device, p);
    assert_eq!(appointments.len(), 2);
    assert!(appointments.values().all(|a| a.reason.is_none()));
    assert!(to_proxy.contains("Amlodipine"));
    assert!(to_proxy.contains("Shared body"));
    assert_eq!(
        device_messages(&proxys_device, p, true),
        rest_messages(&app, &f.proxy_token, p, true).await
    );

    // A course the proxy has seen is then hidden from proxies: the document starts a new
    // generation without it, and nothing of it is sent again.
    let mut narrowed: courses::ActiveModel = courses::Entity::find_by_id(shown)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .into();
    narrowed.hidden_from_proxies = Set(true);
    narrowed.update(&app.db).await.unwrap();
    let (again, events) = sync(&app, &f.proxy_token, &mut proxys_device).await;
    let medications = DocumentId::new(p, Section::Medications);
    assert!(
        events.contains(&Event::Superseded(medications)),
        "{events:?}"
    );
    assert_eq!(proxys_device.generation(medications), Some(1));
    assert!(!again.contains("Amlodipine"));
    assert!(!again.contains("SECRET-"));
    assert!(
        device_medications(&proxys_device, p)
            .values()
            .all(|item| !matches!(item, MedicationsItem::Course(_)))
    );
}

// ---------------------------------------------------------------------------------------------
// Live updates
// ---------------------------------------------------------------------------------------------

/// A live sync connection over TLS to the test server.
struct Live {
    socket:
        tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
}

impl Live {
    async fn connect(app: &TestApp, token: &str) -> Self {
        use rustls::pki_types::pem::PemObject;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from_pem_slice(&app.certificate_pem).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let address = app.address.trim_start_matches("https://").to_owned();
        let tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        let mut request = format!("wss://{address}/api/v1/sync/ws")
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (socket, _) = tokio_tungstenite::client_async(request, tls).await.unwrap();
        Self { socket }
    }

    /// The next frame, waiting at most `seconds`.
    async fn next(&mut self, seconds: u64) -> Option<Frame> {
        use futures_util::StreamExt;
        loop {
            let message =
                tokio::time::timeout(std::time::Duration::from_secs(seconds), self.socket.next())
                    .await
                    .ok()??
                    .ok()?;
            if let tokio_tungstenite::tungstenite::Message::Binary(bytes) = message {
                return Some(Frame::decode(&bytes).unwrap());
            }
        }
    }

    /// Exchanges frames until the server has nothing more to say.
    async fn settle(&mut self, device: &mut DevicePeer) {
        use futures_util::SinkExt;
        for _ in 0..20 {
            let request = device.outgoing();
            if request.documents.is_empty() && request.intents.is_empty() {
                return;
            }
            self.socket
                .send(tokio_tungstenite::tungstenite::Message::Binary(
                    request.encode().into(),
                ))
                .await
                .unwrap();
            match self.next(2).await {
                Some(reply) => {
                    device.receive(&reply).unwrap();
                }
                None => return,
            }
        }
    }

    /// Takes pushes (settling after each) until `arrived` holds of the device; pushes for
    /// earlier changes may come first. Fails when no push comes for 10 seconds.
    async fn pushed_until(
        &mut self,
        device: &mut DevicePeer,
        arrived: impl Fn(&DevicePeer) -> bool,
    ) {
        while !arrived(device) {
            let frame = self.next(10).await.expect("a pushed frame");
            device.receive(&frame).unwrap();
            self.settle(device).await;
        }
    }
}

#[tokio::test]
async fn a_staff_reply_and_a_withdrawn_slot_reach_a_live_device_unasked() {
    let app = spawn_app().await;
    let f = family(&app).await;
    let p = f.patient.id;
    let thread = start_thread(&app, &f.patient_token, p, "Hay fever", "Can I get a spray?").await;
    let withdrawn = slot(&app, f.practice.id, Duration::days(2)).await;
    let appointment = book(&app, &f.patient_token, p, withdrawn, "Hay fever").await;
    let mut device = device_for(p);
    let mut live = Live::connect(&app, &f.patient_token).await;
    live.settle(&mut device).await;
    assert_eq!(device_messages(&device, p, true).len(), 2);

    staff_reply(
        &app,
        &f.clinician_token,
        thread,
        "Yes, collect it tomorrow.",
    )
    .await;
    live.pushed_until(&mut device, |device| {
        device_messages(device, p, true).values().any(
            |item| matches!(item, MessagesItem::Message(m) if m.body == "Yes, collect it tomorrow."),
        )
    })
    .await;

    ok(
        &app,
        Method::POST,
        &f.clinician_token,
        &format!("/api/v1/practice/slots/{withdrawn}/cancel"),
        Some(json!({"reason": "Clinician unavailable"})),
    )
    .await;
    live.pushed_until(&mut device, |device| {
        device_appointments(device, p)[&appointment.to_string()].status != "booked"
    })
    .await;
    let held = device_appointments(&device, p);
    let cancelled = &held[&appointment.to_string()];
    assert_eq!(cancelled.status, "cancelled_by_practice");
    assert_eq!(
        cancelled.cancellation_reason.as_deref(),
        Some("Clinician unavailable")
    );
}
