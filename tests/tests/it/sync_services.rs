//! The appointments, medications and messages documents over `POST /api/v1/sync` with the
//! protocol's device peer: each hydrates to exactly what the REST read API returns the same
//! viewer (a proxy without the scope gets them removed), offline intents settle and their
//! outcome shows in the documents (a slot taken meanwhile leaves no appointment behind), and
//! nothing hidden from a proxy ever crosses the wire to their device.

use chrono::Duration;
use gp_online::db::entities::courses::{self, CourseType};
use gp_online::db::entities::{patients, practices, slots, staff};
use gp_online::settings::PracticeSettings;
use gp_online_tests::fixtures::{account, patient, practice_with, proxy_grant, staff_token};
use gp_online_tests::sync::{
    SERVICE_SECTIONS, call, changed, device_appointments, device_medications, device_messages,
    following, ok, path, rest_appointments, rest_medications, rest_messages, sync, text,
};
use gp_online_tests::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use sync_protocol::schema::{MedicationsItem, MessagesItem};
use sync_protocol::{
    DevicePeer, DocumentId, Event, Frame, Intent, IntentAction, OutcomeResult, Section,
};
use uuid::Uuid;

/// Reconnects with the queued intents and syncs until quiet, as a device does when it comes
/// back online; every intent must have settled. Returns the events seen.
async fn settle_intents(app: &TestApp, token: &str, device: &mut DevicePeer) -> Vec<Event> {
    let (_, events) = sync(app, token, device).await;
    assert!(device.pending_intents().is_empty(), "{events:?}");
    events
}

/// A device following the three service documents of `patient`.
fn device_for(patient: Uuid) -> DevicePeer {
    following(patient, &SERVICE_SECTIONS)
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
    gp_online_tests::fixtures::open_slot(app, practice_id, starts_in, |slot| {
        slot.clinician_name = "Dr A Patel".to_owned();
        slot.location = "Main surgery".to_owned();
        slot.channel = slots::Channel::Telephone;
    })
    .await
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
        practice_id: gp_online_tests::fixtures::practice_of(app, patient_id).await,
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

        let rest = rest_appointments(&app, token, p).await.unwrap();
        assert_eq!(rest.len(), 4, "{who}: every appointment is listed");
        assert_eq!(device_appointments(&device, p), rest, "{who}");

        let rest = rest_medications(&app, token, p).await.unwrap();
        assert!(rest.len() > 5, "{who}: {rest:?}");
        assert_eq!(device_medications(&device, p), rest, "{who}");

        // Threads with their unread counts, before anything is opened.
        let rest = rest_messages(&app, token, p, false).await.unwrap();
        assert!(!rest.is_empty(), "{who}");
        assert_eq!(device_messages(&device, p, false), rest, "{who}");
        // Every message, once opened through REST (which marks them read) and synced again.
        let rest = rest_messages(&app, token, p, true).await.unwrap();
        sync(&app, token, &mut device).await;
        assert_eq!(device_messages(&device, p, true), rest, "{who}");
    }

    // A proxy without the scopes is refused by REST and gets every service document removed.
    let mut device = device_for(p);
    let (received, events) = sync(&app, &f.narrow_token, &mut device).await;
    for section in SERVICE_SECTIONS {
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
    changed(&app, p).await;

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
    assert_eq!(
        held,
        rest_appointments(&app, &f.patient_token, p).await.unwrap()
    );

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
    assert_eq!(
        held,
        rest_medications(&app, &f.patient_token, p).await.unwrap()
    );

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
    assert_eq!(
        held,
        rest_medications(&app, &f.patient_token, p).await.unwrap()
    );
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
        rest_messages(&app, &f.patient_token, p, false)
            .await
            .unwrap()
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
        rest_messages(&app, &f.proxy_token, p, true).await.unwrap()
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
    changed(&app, p).await;
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

#[tokio::test]
async fn a_staff_reply_and_a_withdrawn_slot_reach_a_live_device_unasked() {
    let app = spawn_app().await;
    let f = family(&app).await;
    let p = f.patient.id;
    let thread = start_thread(&app, &f.patient_token, p, "Hay fever", "Can I get a spray?").await;
    let withdrawn = slot(&app, f.practice.id, Duration::days(2)).await;
    let appointment = book(&app, &f.patient_token, p, withdrawn, "Hay fever").await;
    let mut device = device_for(p);
    let mut live = gp_online_tests::live::Live::connect(&app, &f.patient_token).await;
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
