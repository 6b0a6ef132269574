//! Sync end to end over `POST /api/v1/sync` with the protocol's device peer: documents hydrate
//! to exactly what the REST read API returns, nothing hidden ever crosses the wire, and a
//! retraction starts a new generation that erases the item from the device.

use gp_online::db::entities::results;
use gp_online_tests::live::Live;
use gp_online_tests::scenario::{
    Item, Kind, Rules, State, arrange, date, item, second_patient_at, standard_record, visible,
};
use gp_online_tests::sync::{
    RECORD_SECTIONS, device_documents, device_profile, device_record, device_results, following,
    holds, post_frame, rest_documents, rest_profile, rest_record, rest_results, sync,
};
use gp_online_tests::{TestApp, spawn_app};
use patients_level::AccessLevel;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::BTreeSet;
use sync_protocol::schema::{DocumentItem, RecordItem, ResultItem};
use sync_protocol::{DevicePeer, DocumentId, Event, Frame, Section};
use uuid::Uuid;

mod patients_level {
    pub use gp_online::db::entities::patients::AccessLevel;
}

/// A device following the record documents of `patient`.
fn follow_all(patient: Uuid) -> DevicePeer {
    following(patient, &RECORD_SECTIONS)
}

/// The markers the device holds, read from its documents.
fn device_markers(device: &DevicePeer, patient: Uuid) -> BTreeSet<String> {
    let mut markers = BTreeSet::new();
    for entry in device
        .item_list::<RecordItem>(DocumentId::new(patient, Section::Record))
        .unwrap()
    {
        markers.insert(entry.term);
    }
    for result in device
        .item_list::<ResultItem>(DocumentId::new(patient, Section::Results))
        .unwrap()
    {
        markers.insert(result.test_name);
    }
    for document in device
        .item_list::<DocumentItem>(DocumentId::new(patient, Section::Documents))
        .unwrap()
    {
        markers.insert(document.title);
    }
    markers
}

#[tokio::test]
async fn every_audience_hydrates_to_exactly_what_the_rest_api_returns() {
    let app = spawn_app().await;
    let audiences = [
        Rules {
            access_level: AccessLevel::Documents,
            ..Rules::default()
        },
        Rules::default(),
        Rules {
            access_level: AccessLevel::Summary,
            ..Rules::default()
        },
        Rules {
            codes: vec![("1364731000000104", 0)],
            ..Rules::default()
        },
        Rules {
            proxy_scopes: Some("record_summary"),
            ..Rules::default()
        },
        Rules {
            proxy_scopes: Some("record_detailed,documents"),
            ..Rules::default()
        },
    ];
    for rules in audiences {
        let (patient, token) = arrange(&app, &rules, &standard_record()).await;
        let mut device = follow_all(patient);
        sync(&app, &token, &mut device).await;
        let rest = visible(&app, patient, &token).await.unwrap();
        assert_eq!(device_markers(&device, patient), rest, "{rules:?}");
        // Item by item, every field.
        let p = patient;
        let held = holds(&device, p, Section::Record).then(|| device_record(&device, p));
        assert_eq!(held, rest_record(&app, &token, p).await, "{rules:?}");
        let held = holds(&device, p, Section::Results).then(|| device_results(&device, p));
        assert_eq!(held, rest_results(&app, &token, p).await, "{rules:?}");
        let held = holds(&device, p, Section::Documents).then(|| device_documents(&device, p));
        assert_eq!(held, rest_documents(&app, &token, p).await, "{rules:?}");
        assert_eq!(
            device_profile(&device, p),
            rest_profile(&app, &token, p).await,
            "{rules:?}"
        );
    }
}

#[tokio::test]
async fn nothing_hidden_withheld_pending_or_out_of_scope_crosses_the_wire() {
    let app = spawn_app().await;
    let secret = |marker: &str, kind: Kind| Item {
        marker: format!("LEAK-{marker}"),
        ..item(marker, kind, date(2024, 3, 1))
    };
    let mut record = standard_record();
    record.extend([
        Item {
            hidden: true,
            ..secret("hidden-consult", Kind::Consultation)
        },
        Item {
            hidden_from_proxies: true,
            marker: "PROXY-HIDDEN-problem".to_owned(),
            ..item("p", Kind::Problem, date(2024, 3, 1))
        },
        Item {
            state: State::Pending,
            ..secret("pending-result", Kind::Result)
        },
        Item {
            state: State::Withheld,
            ..secret("withheld-result", Kind::Result)
        },
        Item {
            state: State::Pending,
            ..secret("pending-letter", Kind::Document)
        },
        Item {
            state: State::Retracted,
            ..secret("retracted-consult", Kind::Consultation)
        },
        Item {
            marker: "LEAK-before-access-date".to_owned(),
            ..item("old", Kind::Problem, date(2015, 1, 1))
        },
    ]);
    for rules in [
        Rules {
            access_level: AccessLevel::Documents,
            ..Rules::default()
        },
        Rules {
            proxy_scopes: Some("record_summary,record_detailed,documents"),
            ..Rules::default()
        },
        Rules {
            proxy_scopes: Some("record_summary"),
            ..Rules::default()
        },
    ] {
        let (patient, token) = arrange(&app, &rules, &record).await;
        let mut device = follow_all(patient);
        let (wire, _) = sync(&app, &token, &mut device).await;
        // The search works: everything the viewer may see is found by it.
        let shown = visible(&app, patient, &token).await.unwrap();
        assert!(!shown.is_empty(), "{rules:?}");
        for marker in &shown {
            assert!(wire.contains(marker), "{marker} not found for {rules:?}");
        }
        assert!(
            !wire.contains("LEAK-"),
            "a hidden marker crossed the wire for {rules:?}"
        );
        // Hidden from proxies, not from the patient.
        let proxy = rules.proxy_scopes.is_some();
        assert_eq!(
            wire.contains("PROXY-HIDDEN-"),
            !proxy && rules.access_level != AccessLevel::Summary,
            "{rules:?}"
        );
    }
}

#[tokio::test]
async fn a_retraction_starts_a_new_generation_that_erases_the_result() {
    let app = spawn_app().await;
    let (patient, token) = arrange(
        &app,
        &Rules::default(),
        &[
            item("RETRACT-ME", Kind::Result, date(2024, 5, 1)),
            item("keep", Kind::Result, date(2024, 6, 1)),
        ],
    )
    .await;
    let mut device = follow_all(patient);
    let (first, _) = sync(&app, &token, &mut device).await;
    assert!(
        first.contains("RETRACT-ME"),
        "the search finds it when sent"
    );
    let results_doc = DocumentId::new(patient, Section::Results);
    assert_eq!(
        device.item_list::<ResultItem>(results_doc).unwrap().len(),
        2
    );

    let target = results::Entity::find()
        .filter(results::Column::TestName.eq("RETRACT-ME"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut retracted: results::ActiveModel = target.into();
    retracted.retracted_at = sea_orm::Set(Some(app.clock.now()));
    sea_orm::ActiveModelTrait::update(retracted, &app.db)
        .await
        .unwrap();
    gp_online_tests::sync::changed(&app, patient).await;

    let (received, events) = sync(&app, &token, &mut device).await;
    assert!(
        events.contains(&Event::Superseded(results_doc)),
        "{events:?}"
    );
    assert_eq!(device.generation(results_doc), Some(1));
    let left: Vec<String> = device
        .item_list::<ResultItem>(results_doc)
        .unwrap()
        .into_iter()
        .map(|r| r.test_name)
        .collect();
    assert_eq!(left, ["keep"]);
    assert!(
        !received.contains("RETRACT-ME"),
        "the new generation carries nothing of the retracted result"
    );
}

#[tokio::test]
async fn a_section_the_viewer_may_not_see_is_removed_and_another_patient_is_unknown() {
    let app = spawn_app().await;
    let (patient, token) = arrange(
        &app,
        &Rules {
            proxy_scopes: Some("record_summary"),
            ..Rules::default()
        },
        &standard_record(),
    )
    .await;
    let mut device = follow_all(patient);
    let stranger = Uuid::new_v4();
    device.follow(DocumentId::new(stranger, Section::Record));
    let (_, events) = sync(&app, &token, &mut device).await;
    assert!(
        events.contains(&Event::Removed(DocumentId::new(patient, Section::Results))),
        "{events:?}"
    );
    assert!(events.contains(&Event::Removed(DocumentId::new(stranger, Section::Record))));
    let remaining: Vec<DocumentId> = device.documents().collect();
    assert_eq!(
        remaining,
        vec![
            DocumentId::new(patient, Section::Profile),
            DocumentId::new(patient, Section::Record)
        ]
    );
}

#[tokio::test]
async fn a_sync_request_must_be_a_cbor_frame() {
    let app = spawn_app().await;
    let (_, token) = arrange(&app, &Rules::default(), &[]).await;
    let json = app
        .client
        .post(app.url("/api/v1/sync"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), reqwest::StatusCode::BAD_REQUEST);
    let garbage = app
        .client
        .post(app.url("/api/v1/sync"))
        .bearer_auth(&token)
        .header("content-type", "application/cbor")
        .body(vec![0xff, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), reqwest::StatusCode::BAD_REQUEST);
    let anonymous = app
        .client
        .post(app.url("/api/v1/sync"))
        .header("content-type", "application/cbor")
        .body(Frame::new().encode())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), reqwest::StatusCode::UNAUTHORIZED);
}

/// An open slot tomorrow at the patient's practice.
async fn open_slot(app: &TestApp, patient: Uuid) -> Uuid {
    use gp_online::db::entities::{patients, slots};
    use sea_orm::ActiveModelTrait;
    let practice_id = patients::Entity::find_by_id(patient)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .practice_id;
    let now = app.clock.now();
    let starts = now + chrono::Duration::days(1);
    slots::ActiveModel {
        id: sea_orm::Set(Uuid::new_v4()),
        practice_id: sea_orm::Set(practice_id),
        external_id: sea_orm::Set(None),
        clinician_staff_id: sea_orm::Set(None),
        clinician_name: sea_orm::Set("Dr A Patel".to_owned()),
        slot_type: sea_orm::Set("GP appointment".to_owned()),
        session_name: sea_orm::Set("Morning surgery".to_owned()),
        location: sea_orm::Set("Main surgery".to_owned()),
        channel: sea_orm::Set(slots::Channel::InPerson),
        starts_at: sea_orm::Set(starts),
        ends_at: sea_orm::Set(starts + chrono::Duration::minutes(10)),
        status: sea_orm::Set(slots::SlotStatus::Open),
        created_at: sea_orm::Set(now),
        updated_at: sea_orm::Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

fn book(key: &str, patient: Uuid, slot_id: Uuid) -> sync_protocol::Intent {
    sync_protocol::Intent {
        key: key.to_owned(),
        patient_id: patient,
        action: sync_protocol::IntentAction::BookAppointment {
            slot_id,
            reason: Some("Persistent cough".to_owned()),
        },
    }
}

#[tokio::test]
async fn an_offline_booking_is_applied_exactly_once_under_retries_and_reconnects() {
    use gp_online::db::entities::appointments;
    use sea_orm::PaginatorTrait;
    let app = spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &[]).await;
    let slot = open_slot(&app, patient).await;
    let mut device = DevicePeer::new();
    device.queue(book("offline-1", patient, slot));

    // The first delivery's reply is lost; the device resends after reconnecting, twice.
    let lost = post_frame(&app, &token, &device.outgoing()).await;
    assert_eq!(lost.outcomes.len(), 1);
    device.reconnect();
    let again = post_frame(&app, &token, &device.outgoing()).await;
    let events = device.receive(&again).unwrap();
    assert_eq!(
        again.outcomes, lost.outcomes,
        "a repeat gets the stored outcome"
    );
    assert!(
        matches!(&events[..], [Event::Settled(outcome)] if matches!(outcome.result, sync_protocol::OutcomeResult::Accepted { .. })),
        "{events:?}"
    );
    assert!(device.pending_intents().is_empty());
    let booked = appointments::Entity::find()
        .filter(appointments::Column::PatientId.eq(patient))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(booked, 1);

    // The same key for another intent is refused, not applied.
    let other_slot = open_slot(&app, patient).await;
    let reused = post_frame(
        &app,
        &token,
        &Frame {
            intents: vec![book("offline-1", patient, other_slot)],
            ..Frame::new()
        },
    )
    .await;
    assert_eq!(
        reused.outcomes[0].result,
        sync_protocol::OutcomeResult::Rejected {
            code: "idempotency_key_reused".to_owned()
        }
    );
}

#[tokio::test]
async fn an_offline_booking_of_a_slot_taken_meanwhile_is_rejected_with_slot_taken() {
    let app = spawn_app().await;
    let (first, first_token) = arrange(&app, &Rules::default(), &[]).await;
    let slot = open_slot(&app, first).await;
    // Someone else at the same practice books the slot through the REST API first.
    let (second, second_token) = {
        use gp_online::db::entities::patients;
        let practice = patients::Entity::find_by_id(first)
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .practice_id;
        second_patient_at(&app, practice).await
    };
    let taken = app
        .client
        .post(app.url(&format!("/api/v1/patients/{second}/appointments")))
        .bearer_auth(&second_token)
        .json(&serde_json::json!({"slot_id": slot, "reason": "Rash"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        taken.status(),
        reqwest::StatusCode::CREATED,
        "{}",
        taken.text().await.unwrap()
    );

    let mut device = DevicePeer::new();
    device.queue(book("offline-2", first, slot));
    let reply = post_frame(&app, &first_token, &device.outgoing()).await;
    device.receive(&reply).unwrap();
    assert_eq!(
        reply.outcomes[0].result,
        sync_protocol::OutcomeResult::Rejected {
            code: "slot_taken".to_owned()
        }
    );
    assert!(device.pending_intents().is_empty());
}

#[tokio::test]
async fn a_release_reaches_a_live_device_and_a_revocation_closes_it() {
    use gp_online::db::entities::{devices, results};
    use sea_orm::{ActiveModelTrait, Set};
    let app = spawn_app().await;
    let (patient, token) = arrange(
        &app,
        &Rules::default(),
        &[Item {
            state: State::Pending,
            ..item("LIVE-RESULT", Kind::Result, date(2024, 7, 1))
        }],
    )
    .await;
    let results_doc = DocumentId::new(patient, Section::Results);
    let mut device = DevicePeer::new();
    device.follow(results_doc);
    let mut live = Live::connect(&app, &token).await;
    live.settle(&mut device).await;
    assert!(
        device
            .item_list::<ResultItem>(results_doc)
            .unwrap()
            .is_empty(),
        "pending is not sent"
    );

    // A clinician releases the result; the device hears of it without asking.
    let pending = results::Entity::find()
        .filter(results::Column::PatientId.eq(patient))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let practice_id = pending.practice_id;
    let mut released: results::ActiveModel = pending.into();
    released.review_state = Set(results::ReviewState::Released);
    released.released_at = Set(Some(app.clock.now()));
    released.update(&app.db).await.unwrap();
    gp_online::outbox::mark_dirty(
        &app.db,
        practice_id,
        patient,
        sync_protocol::Section::Results,
        "result.release",
        app.clock.now(),
    )
    .await
    .unwrap();
    let pushed = live.next(10).await.expect("a pushed frame");
    device.receive(&pushed).unwrap();
    live.settle(&mut device).await;
    let names: Vec<String> = device
        .item_list::<ResultItem>(results_doc)
        .unwrap()
        .into_iter()
        .map(|r| r.test_name)
        .collect();
    assert_eq!(names, ["LIVE-RESULT"]);

    // The device is revoked through the API: the revocation is announced, so the revoked frame
    // arrives at once (the periodic re-check is 30 s away) and the socket closes.
    let device_row = devices::Entity::find().one(&app.db).await.unwrap().unwrap();
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/me/devices/{}", device_row.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    let mut revoked = false;
    while let Some(frame) = live.next(5).await {
        if frame.revoked {
            revoked = device.receive(&frame).unwrap() == vec![Event::Revoked];
        }
    }
    assert!(revoked, "a revoked frame wiped the device");
    assert!(device.items(results_doc).unwrap().is_empty());
}

#[tokio::test]
async fn an_offline_message_is_sent_once_and_read_markers_apply_idempotently() {
    use gp_online::db::entities::{message_threads, messages};
    use sea_orm::PaginatorTrait;
    let app = spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &[]).await;
    let send = sync_protocol::Intent {
        key: "msg-1".to_owned(),
        patient_id: patient,
        action: sync_protocol::IntentAction::SendMessage {
            thread_id: None,
            subject: Some("Blood test results".to_owned()),
            body: "Could someone explain my latest results?".to_owned(),
        },
    };
    let frame = Frame {
        intents: vec![send.clone(), send],
        ..Frame::new()
    };
    let first = post_frame(&app, &token, &frame).await;
    let again = post_frame(&app, &token, &frame).await;
    assert!(
        matches!(
            first.outcomes[0].result,
            sync_protocol::OutcomeResult::Accepted { .. }
        ),
        "{:?}",
        first.outcomes
    );
    assert_eq!(first.outcomes[0], again.outcomes[0]);
    let threads = message_threads::Entity::find()
        .filter(message_threads::Column::PatientId.eq(patient))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(threads, 1);
    assert_eq!(messages::Entity::find().count(&app.db).await.unwrap(), 1);

    // Marking the patient's own message read is harmless and idempotent.
    let message = messages::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let read = sync_protocol::Intent {
        key: "read-1".to_owned(),
        patient_id: patient,
        action: sync_protocol::IntentAction::MarkMessageRead {
            message_id: message.id,
        },
    };
    let reply = post_frame(
        &app,
        &token,
        &Frame {
            intents: vec![read],
            ..Frame::new()
        },
    )
    .await;
    assert!(
        matches!(
            reply.outcomes[0].result,
            sync_protocol::OutcomeResult::Accepted { .. }
        ),
        "{:?}",
        reply.outcomes
    );
}

/// Cross-node fan-out is PostgreSQL's LISTEN/NOTIFY; a SQLite deployment is one process, so
/// this runs when the suite runs against PostgreSQL (CI does both).
#[tokio::test]
async fn a_release_through_node_a_reaches_a_device_live_on_node_b() {
    use gp_online::db::entities::{patients, results, staff};
    use gp_online::identity::sessions::{self, Subject};
    use sea_orm::{ActiveModelTrait, Set};
    let app = spawn_app().await;
    if app.database.backend != "postgres" {
        eprintln!(
            "cross-node fan-out needs PostgreSQL: not applicable on {}",
            app.database.backend
        );
        return;
    }
    let (patient, token) = arrange(
        &app,
        &Rules::default(),
        &[Item {
            state: State::Pending,
            ..item("NODE-B-RESULT", Kind::Result, date(2024, 7, 1))
        }],
    )
    .await;
    let (node_b, _stop_b) = app.second_node().await;
    let results_doc = DocumentId::new(patient, Section::Results);
    let mut device = DevicePeer::new();
    device.follow(results_doc);
    let mut live = Live::connect_to(&app, &node_b, &token).await;
    live.settle(&mut device).await;
    assert!(
        device
            .item_list::<ResultItem>(results_doc)
            .unwrap()
            .is_empty()
    );

    // A clinician releases the result through node A (the test app itself).
    let practice_id = patients::Entity::find_by_id(patient)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .practice_id;
    let now = app.clock.now();
    let clinician = staff::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(practice_id),
        display_name: Set("Dr N Node".to_owned()),
        role: Set(staff::StaffRole::Clinician),
        job_title: Set(None),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let staff_token = sessions::open(
        &app.db,
        &gp_online::config::IdentityConfig::default(),
        Subject::Staff {
            staff_id: clinician.id,
        },
        now,
    )
    .await
    .unwrap()
    .access_token;
    let pending = results::Entity::find()
        .filter(results::Column::PatientId.eq(patient))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let released = app
        .client
        .post(app.url(&format!("/api/v1/practice/results/{}/release", pending.id)))
        .bearer_auth(&staff_token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(released.status().is_success());

    let pushed = live.next(10).await.expect("node B pushed the release");
    device.receive(&pushed).unwrap();
    live.settle(&mut device).await;
    let names: Vec<String> = device
        .item_list::<ResultItem>(results_doc)
        .unwrap()
        .into_iter()
        .map(|r| r.test_name)
        .collect();
    assert_eq!(names, ["NODE-B-RESULT"]);

    // Signing out everywhere through node A closes the socket on node B at once.
    let signed_out = app
        .client
        .delete(app.url("/api/v1/me/devices"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), reqwest::StatusCode::NO_CONTENT);
    let mut revoked = false;
    while let Some(frame) = live.next(5).await {
        revoked |= frame.revoked;
    }
    assert!(revoked, "node B closed the revoked device's socket");
}
