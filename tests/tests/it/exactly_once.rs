//! Exactly once under cancellation: sync intents are claimed, applied and given their outcome in
//! one transaction, so a frame whose client went away part-way leaves every intent applied once
//! or not at all, and a resend delivers every outcome; an `Idempotency-Key` claim whose request
//! died becomes claimable when its lease passes; expired keys are purged on a schedule; keys are
//! bounded; a call's response is stored with its write, so a server that died after the
//! commit replays it; `POST /api/v1/sync` stays outside the `Idempotency-Key` layer, and replays of other
//! routes keep their content type.

use chrono::{Duration, NaiveDate};
use gp_online::access::{PracticeActor, StaffActor};
use gp_online::appointments::{CancellationRequest, PublishSlots, SlotCancellation};
use gp_online::db::entities::staff::StaffRole;
use gp_online::db::entities::{
    audit_events, idempotency_keys, message_threads, messages, proxy_grants, slots,
};
use gp_online::http::idempotency;
use gp_online::idempotent::IdempotentCall;
use gp_online::proxy::GrantRequest;
use gp_online::settings::PracticeSettings;
use gp_online_tests::fixtures::{
    NewPatient, account, device, open_slot, patient, practice_of, practice_with, staff_member,
};
use gp_online_tests::sync::post_frame;
use gp_online_tests::{TestApp, spawn_app, spawn_app_with};
use reqwest::Method;
use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;
use std::collections::BTreeSet;
use sync_protocol::{Frame, Intent, IntentAction, OutcomeResult};
use uuid::Uuid;

fn send_message(key: &str, patient_id: Uuid, n: usize) -> Intent {
    Intent {
        key: key.to_owned(),
        patient_id,
        action: IntentAction::SendMessage {
            thread_id: None,
            subject: Some(format!("Question {n}")),
            body: format!("Offline question number {n}"),
        },
    }
}

async fn message_count(app: &TestApp) -> u64 {
    messages::Entity::find().count(&app.db).await.unwrap()
}

/// A patient with messaging, their account's token, account and a device.
async fn arrange(app: &TestApp) -> (Uuid, String, Uuid, Uuid) {
    let practice = practice_with(app, PracticeSettings::default()).await;
    let me = patient(app, practice.id, None).await;
    let (account_id, token) = account(app, &me).await;
    let device_id = device(app, account_id, "Phone").await;
    (me.id, token, account_id, device_id)
}

#[tokio::test]
async fn a_frame_cut_off_mid_way_applies_every_intent_once_and_delivers_every_outcome_on_resend() {
    const INTENTS: usize = 150;
    let app = spawn_app().await;
    let (patient_id, token, account_id, device_id) = arrange(&app).await;
    let holder = gp_online::access::viewer::Holder {
        account_id,
        patient_id: Some(patient_id),
        carer_id: None,
    };
    let intents: Vec<Intent> = (0..INTENTS)
        .map(|n| send_message(&format!("cut-{n}"), patient_id, n))
        .collect();

    // The first delivery is abandoned part-way, wherever it has got to once some intents are
    // in: the exchange is dropped as a request is when its client goes away.
    let applying = tokio::spawn({
        let (db, intents, now) = (app.db.clone(), intents.clone(), app.clock.now());
        async move { gp_online::sync::intents::apply_all(&db, &holder, device_id, &intents, now).await }
    });
    while message_count(&app).await < 10 && !applying.is_finished() {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    applying.abort();
    let _ = applying.await;

    // Over HTTP too: the client gives up on the same frame mid-way.
    let frame = Frame {
        intents: intents.clone(),
        ..Frame::new()
    };
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        app.client
            .post(app.url("/api/v1/sync"))
            .bearer_auth(&token)
            .header("content-type", "application/cbor")
            .body(frame.encode())
            .send(),
    )
    .await;

    // The resend: an outcome for every intent, each accepted, each message stored once.
    let reply = post_frame(&app, &token, &frame).await;
    assert_eq!(reply.outcomes.len(), INTENTS);
    let keys: BTreeSet<&str> = reply.outcomes.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys.len(), INTENTS);
    let threads: BTreeSet<Uuid> = reply
        .outcomes
        .iter()
        .map(|o| match &o.result {
            OutcomeResult::Accepted { id: Some(id) } => *id,
            other => panic!("{}: {other:?}", o.key),
        })
        .collect();
    assert_eq!(threads.len(), INTENTS, "one thread per intent");
    assert_eq!(message_count(&app).await, INTENTS as u64);
    assert_eq!(
        message_threads::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        INTENTS as u64
    );
    // Every intent's claim holds its outcome: none is left without one.
    let unsettled = idempotency_keys::Entity::find()
        .filter(idempotency_keys::Column::ResponseBody.is_null())
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(unsettled, 0);

    // Another resend repeats the same outcomes and applies nothing.
    let again = post_frame(&app, &token, &frame).await;
    assert_eq!(again.outcomes, reply.outcomes);
    assert_eq!(message_count(&app).await, INTENTS as u64);
}

#[tokio::test]
async fn an_intent_key_out_of_bounds_is_rejected_and_applies_nothing() {
    let app = spawn_app().await;
    let (patient_id, token, _, _) = arrange(&app).await;
    let frame = Frame {
        intents: vec![
            send_message(&"k".repeat(256), patient_id, 1),
            send_message("", patient_id, 2),
            send_message("k".repeat(255).as_str(), patient_id, 3),
        ],
        ..Frame::new()
    };
    let reply = post_frame(&app, &token, &frame).await;
    let results: Vec<&OutcomeResult> = reply.outcomes.iter().map(|o| &o.result).collect();
    let invalid = OutcomeResult::Rejected {
        code: "idempotency_key_invalid".to_owned(),
    };
    assert_eq!(results[..2], [&invalid, &invalid]);
    assert!(matches!(results[2], OutcomeResult::Accepted { .. }));
    assert_eq!(message_count(&app).await, 1);
}

/// Sends a new thread through REST with `key`.
async fn post_thread(app: &TestApp, token: &str, patient_id: Uuid, key: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/patients/{patient_id}/messages")))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"subject": "Results", "body": "Are my results back?"}))
        .send()
        .await
        .unwrap()
}

/// Makes the stored row of `key` look as a process killed mid-request leaves it: claimed until
/// `until` (no lease: as a server from before leases left it), with no response.
async fn strand(app: &TestApp, key: &str, until: Option<chrono::DateTime<chrono::Utc>>) {
    let stranded = idempotency_keys::Entity::update_many()
        .col_expr(
            idempotency_keys::Column::ResponseStatus,
            Expr::value(Option::<i32>::None),
        )
        .col_expr(
            idempotency_keys::Column::ResponseBody,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(idempotency_keys::Column::ClaimedUntil, Expr::value(until))
        .filter(idempotency_keys::Column::Key.eq(key))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(stranded.rows_affected, 1);
}

#[tokio::test]
async fn a_stranded_idempotency_key_becomes_usable_once_its_lease_passes() {
    let app = spawn_app().await;
    let (patient_id, token, _, _) = arrange(&app).await;
    let first = post_thread(&app, &token, patient_id, "stranded-1").await;
    assert_eq!(first.status(), StatusCode::CREATED);

    // The process died while the request ran, before its transaction committed (which would
    // have stored the response with the thread): its claim holds the key for its lease only.
    strand(
        &app,
        "stranded-1",
        Some(app.clock.now() + Duration::seconds(60)),
    )
    .await;
    let in_flight = post_thread(&app, &token, patient_id, "stranded-1").await;
    assert_eq!(in_flight.status(), StatusCode::CONFLICT);
    let problem: serde_json::Value = in_flight.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_request_in_flight");

    app.clock.advance(Duration::seconds(61));
    let retried = post_thread(&app, &token, patient_id, "stranded-1").await;
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert!(retried.headers().get("idempotent-replayed").is_none());
    let retried: serde_json::Value = retried.json().await.unwrap();
    // From now on the retry's response is the one replayed.
    let replayed = post_thread(&app, &token, patient_id, "stranded-1").await;
    assert_eq!(replayed.status(), StatusCode::CREATED);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let replayed: serde_json::Value = replayed.json().await.unwrap();
    assert_eq!(replayed, retried);

    // A claim left by a server from before leases (no lease at all) is stale at once.
    let old = post_thread(&app, &token, patient_id, "stranded-2").await;
    assert_eq!(old.status(), StatusCode::CREATED);
    strand(&app, "stranded-2", None).await;
    let retried = post_thread(&app, &token, patient_id, "stranded-2").await;
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert!(retried.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn a_server_started_again_on_sqlite_frees_the_keys_its_dead_process_held_at_once() {
    let app = spawn_app().await;
    let (patient_id, token, _, _) = arrange(&app).await;
    let first = post_thread(&app, &token, patient_id, "killed-1").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    // The process was killed while the request ran: its claim's lease has a minute to go.
    strand(
        &app,
        "killed-1",
        Some(app.clock.now() + Duration::seconds(60)),
    )
    .await;
    let in_flight = post_thread(&app, &token, patient_id, "killed-1").await;
    assert_eq!(in_flight.status(), StatusCode::CONFLICT);

    // A server process starts on the same database, with the clock where it was.
    let (address, _stop) = app.second_node().await;
    let retried = app
        .client
        .post(format!("{address}/api/v1/patients/{patient_id}/messages"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "killed-1")
        .json(&json!({"subject": "Results", "body": "Are my results back?"}))
        .send()
        .await
        .unwrap();
    match app.db.get_database_backend() {
        // One process per embedded database: the claim was the dead process's, and the retry
        // runs now rather than a minute later.
        sea_orm::DatabaseBackend::Sqlite => {
            assert_eq!(retried.status(), StatusCode::CREATED);
            assert!(retried.headers().get("idempotent-replayed").is_none());
        }
        // Another node may still be running the request: the lease stands.
        _ => {
            assert_eq!(retried.status(), StatusCode::CONFLICT);
            let problem: serde_json::Value = retried.json().await.unwrap();
            assert_eq!(problem["code"], "idempotency_request_in_flight");
        }
    }
}

#[tokio::test]
async fn an_idempotency_key_out_of_bounds_is_refused_with_its_code() {
    let app = spawn_app().await;
    let (patient_id, token, _, _) = arrange(&app).await;
    for key in ["k".repeat(256), "naïve".to_owned()] {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/patients/{patient_id}/messages")))
            .bearer_auth(&token)
            .header("Idempotency-Key", key.as_bytes())
            .json(&json!({"subject": "Results", "body": "Are my results back?"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "idempotency_key_invalid");
    }
    assert_eq!(message_count(&app).await, 0);
}

#[tokio::test]
async fn expired_idempotency_rows_are_purged_on_a_schedule() {
    let app = spawn_app_with(|config| config.jobs.idempotency_purge_secs = 1).await;
    let (patient_id, token, _, _) = arrange(&app).await;
    assert_eq!(
        post_thread(&app, &token, patient_id, "purge-1")
            .await
            .status(),
        StatusCode::CREATED
    );
    let frame = Frame {
        intents: vec![send_message("purge-intent", patient_id, 1)],
        ..Frame::new()
    };
    assert_eq!(post_frame(&app, &token, &frame).await.outcomes.len(), 1);
    let rows = || idempotency_keys::Entity::find().count(&app.db);
    assert_eq!(rows().await.unwrap(), 2);

    // After a day the REST key has expired; the intent's outcome is kept for a week.
    app.clock.advance(Duration::hours(25));
    let mut waited = 0;
    while rows().await.unwrap() != 1 {
        waited += 1;
        assert!(waited < 600, "the purge never ran");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let left = idempotency_keys::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left.key, "purge-intent");

    app.clock.advance(Duration::days(7));
    let purged = gp_online::http::idempotency::purge_expired(&app.db, app.clock.now())
        .await
        .unwrap();
    assert!(purged <= 1);
    assert_eq!(rows().await.unwrap(), 0);
}

#[tokio::test]
async fn sync_is_outside_the_idempotency_layer_and_replays_keep_their_content_type() {
    let app = spawn_app().await;
    let (patient_id, token, _, _) = arrange(&app).await;
    let frame = Frame {
        intents: vec![send_message("in-a-frame", patient_id, 1)],
        ..Frame::new()
    };
    let post = || {
        app.client
            .post(app.url("/api/v1/sync"))
            .bearer_auth(&token)
            .header("content-type", "application/cbor")
            .header("Idempotency-Key", "sync-1")
            .body(frame.encode())
            .send()
    };
    for _ in 0..2 {
        let response = post().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("idempotent-replayed").is_none());
        assert_eq!(response.headers()["content-type"], "application/cbor");
    }
    // Only the intent's own key is stored, never a sync reply.
    let stored: Vec<String> = idempotency_keys::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.key)
        .collect();
    assert_eq!(stored, ["in-a-frame"]);

    // A replay carries the original's content type, or none when it had none (a 204).
    let created = post_thread(&app, &token, patient_id, "typed-1").await;
    let created: serde_json::Value = created.json().await.unwrap();
    let thread = created["id"].as_str().unwrap().to_owned();
    let delete = || {
        app.client
            .delete(app.url(&format!("/api/v1/patients/{patient_id}/messages/{thread}")))
            .bearer_auth(&token)
            .header("Idempotency-Key", "typed-2")
            .send()
    };
    let first = delete().await.unwrap();
    let replayed = delete().await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(replayed.status(), first.status());
    assert_eq!(
        replayed.headers().get("content-type"),
        first.headers().get("content-type")
    );
    let json_replay = post_thread(&app, &token, patient_id, "typed-1").await;
    assert_eq!(json_replay.headers()["idempotent-replayed"], "true");
    assert_eq!(json_replay.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn a_message_whose_server_died_after_its_commit_is_replayed_on_retry_not_sent_twice() {
    let app = spawn_app().await;
    let (patient_id, token, account_id, device_id) = arrange(&app).await;
    let key = "died-after-commit";
    let path = format!("/api/v1/patients/{patient_id}/messages");
    let body =
        serde_json::to_vec(&json!({"subject": "Results", "body": "Are my results back?"})).unwrap();
    let now = app.clock.now();

    // The server claimed the key and ran the call, whose transaction committed the thread;
    // the process died before it answered.
    let principal = idempotency::account_principal(account_id);
    let call =
        claimed_by_a_server_that_died(&app, principal, key, &Method::POST, &path, &body).await;
    let facts = gp_online::access::slice::facts(&app.db, patient_id)
        .await
        .unwrap()
        .unwrap();
    let actor = gp_online::access::Actor {
        viewer: gp_online::access::Viewer::Patient { account_id },
        device_id: Some(device_id),
    };
    let sent = gp_online::messages::start_thread(
        &app.db,
        &actor,
        &facts,
        Some("Results".to_owned()),
        Some("Are my results back?".to_owned()),
        now,
        Some(&call),
    )
    .await
    .unwrap();

    // The app retries with its key at once: it is told of the thread that was made, and no
    // second thread is made.
    let retried = app
        .client
        .post(app.url(&path))
        .bearer_auth(&token)
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    let retried: serde_json::Value = retried.json().await.unwrap();
    assert_eq!(retried, serde_json::to_value(&sent).unwrap());
    assert_eq!(
        message_threads::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        1
    );
}

/// Stores `key` of `principal` as a server killed after the call's commit leaves it: claimed for
/// the request (`method`, `path`, `body`) with no response. The call to hand the domain.
async fn claimed_by_a_server_that_died(
    app: &TestApp,
    principal: String,
    key: &str,
    method: &Method,
    path: &str,
    body: &[u8],
) -> IdempotentCall {
    let now = app.clock.now();
    idempotency_keys::ActiveModel {
        principal: Set(principal.clone()),
        key: Set(key.to_owned()),
        request_hash: Set(idempotency::fingerprint(method, path, body)),
        response_status: Set(None),
        response_body: Set(None),
        response_content_type: Set(None),
        created_at: Set(now),
        expires_at: Set(now + Duration::hours(24)),
        claimed_until: Set(Some(now + Duration::seconds(60))),
    }
    .insert(&app.db)
    .await
    .unwrap();
    IdempotentCall::new(principal, key.to_owned())
}

/// The client's retry of the call with its key and the same body, once the dead server's claim
/// has passed its lease: a claim left without a response would let the call run again now.
async fn retry(
    app: &TestApp,
    method: Method,
    token: &str,
    path: &str,
    key: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.clock.advance(Duration::seconds(61));
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Asserts `retried` is the replay, with `status`, of the response the call stored, `sent`.
async fn assert_replayed(retried: reqwest::Response, status: StatusCode, sent: serde_json::Value) {
    assert_eq!(retried.status(), status);
    let replayed = retried.headers().get("idempotent-replayed").cloned();
    assert_eq!(
        replayed.as_ref().and_then(|v| v.to_str().ok()),
        Some("true"),
        "the retry ran the call again"
    );
    let retried: serde_json::Value = retried.json().await.unwrap();
    assert_eq!(retried, sent);
}

async fn audited(app: &TestApp, action: &str) -> u64 {
    audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq(action))
        .count(&app.db)
        .await
        .unwrap()
}

/// The patient books over REST an open slot two days ahead at their practice: the slot's id and
/// the appointment's.
async fn booked(app: &TestApp, token: &str, patient_id: Uuid) -> (Uuid, Uuid) {
    let practice_id = practice_of(app, patient_id).await;
    let slot = open_slot(app, practice_id, Duration::days(2), |_| {}).await;
    let booked = app
        .client
        .post(app.url(&format!("/api/v1/patients/{patient_id}/appointments")))
        .bearer_auth(token)
        .json(&json!({"slot_id": slot, "reason": "A cough that will not go"}))
        .send()
        .await
        .unwrap();
    assert_eq!(booked.status(), StatusCode::CREATED);
    let booked: serde_json::Value = booked.json().await.unwrap();
    (slot, booked["id"].as_str().unwrap().parse().unwrap())
}

#[tokio::test]
async fn a_staff_reply_whose_server_died_after_its_commit_is_replayed_on_retry_not_sent_twice() {
    let app = spawn_app().await;
    let (patient_id, token, _, _) = arrange(&app).await;
    let practice_id = practice_of(&app, patient_id).await;
    let (staff_id, staff_token) = staff_member(&app, practice_id, StaffRole::Clinician).await;
    let thread = post_thread(&app, &token, patient_id, "question").await;
    let thread: serde_json::Value = thread.json().await.unwrap();
    let thread_id: Uuid = thread["id"].as_str().unwrap().parse().unwrap();
    let key = "reply-died-after-commit";
    let path = format!("/api/v1/practice/messages/{thread_id}");
    let text = "Your results are back and normal.";
    let body = serde_json::to_vec(&json!({ "body": text })).unwrap();

    // The server claimed the key and ran the reply, whose transaction committed the message;
    // the process died before it answered.
    let principal = idempotency::staff_principal(staff_id);
    let call =
        claimed_by_a_server_that_died(&app, principal, key, &Method::POST, &path, &body).await;
    let clinician = StaffActor {
        staff_id,
        practice_id,
        role: StaffRole::Clinician,
    };
    let sent = gp_online::messages::staff_reply(
        &app.db,
        &clinician,
        thread_id,
        Some(text.to_owned()),
        app.clock.now(),
        Some(&call),
    )
    .await
    .unwrap();

    // The retry is told of the reply that was sent, and sends no second one.
    let retried = retry(&app, Method::POST, &staff_token, &path, key, body).await;
    assert_eq!(message_count(&app).await, 2, "the question and one reply");
    assert_eq!(audited(&app, "message.reply").await, 1);
    let sent = serde_json::to_value(&sent).unwrap();
    assert_replayed(retried, StatusCode::CREATED, sent).await;
}

#[tokio::test]
async fn published_slots_whose_server_died_after_their_commit_are_replayed_on_retry_not_published_twice()
 {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let (staff_id, staff_token) = staff_member(&app, practice.id, StaffRole::Admin).await;
    let now = app.clock.now();
    let slot = |days: i64| {
        let starts = now + Duration::days(days);
        json!({
            "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + Duration::minutes(15)).to_rfc3339(),
            "clinician_name": "Dr Rhea Shah",
            "slot_type": "GP appointment",
            "location": "Room 1",
            "channel": "telephone",
        })
    };
    let key = "slots-died-after-commit";
    let path = "/api/v1/practice/slots";
    let body = serde_json::to_vec(&json!({ "slots": [slot(1), slot(2), slot(3)] })).unwrap();

    let principal = idempotency::staff_principal(staff_id);
    let call =
        claimed_by_a_server_that_died(&app, principal, key, &Method::POST, path, &body).await;
    let publication: PublishSlots = serde_json::from_slice(&body).unwrap();
    let actor = PracticeActor::staff(staff_id, practice.id);
    let published =
        gp_online::appointments::publish_slots(&app.db, &actor, &publication, now, Some(&call))
            .await
            .unwrap();

    // Slots without the clinical system's ids are new each time they are published: only the
    // replay keeps the retry from publishing them again.
    let retried = retry(&app, Method::POST, &staff_token, path, key, body).await;
    assert_eq!(slots::Entity::find().count(&app.db).await.unwrap(), 3);
    let published = serde_json::to_value(&published).unwrap();
    assert_replayed(retried, StatusCode::CREATED, published).await;
}

#[tokio::test]
async fn an_appointment_cancellation_whose_server_died_after_its_commit_is_replayed_on_retry() {
    let app = spawn_app().await;
    let (patient_id, token, account_id, device_id) = arrange(&app).await;
    let (_, appointment_id) = booked(&app, &token, patient_id).await;
    let key = "cancel-died-after-commit";
    let path = format!("/api/v1/patients/{patient_id}/appointments/{appointment_id}");
    let body = serde_json::to_vec(&json!({ "reason": "Cannot attend" })).unwrap();

    let principal = idempotency::account_principal(account_id);
    let call =
        claimed_by_a_server_that_died(&app, principal, key, &Method::DELETE, &path, &body).await;
    let facts = gp_online::access::slice::facts(&app.db, patient_id)
        .await
        .unwrap()
        .unwrap();
    let actor = gp_online::access::Actor {
        viewer: gp_online::access::Viewer::Patient { account_id },
        device_id: Some(device_id),
    };
    let request = CancellationRequest {
        reason: Some("Cannot attend".to_owned()),
    };
    let cancelled = gp_online::appointments::cancel_by_patient(
        &app.db,
        &actor,
        &facts,
        appointment_id,
        &request,
        app.clock.now(),
        Some(&call),
    )
    .await
    .unwrap();

    // The retry is the first answer again, not a new answer to a cancellation already made.
    let retried = retry(&app, Method::DELETE, &token, &path, key, body).await;
    assert_eq!(audited(&app, "appointment.cancel").await, 1);
    let cancelled = serde_json::to_value(&cancelled).unwrap();
    assert_eq!(cancelled["status"], "cancelled_by_patient");
    assert_replayed(retried, StatusCode::OK, cancelled).await;
}

#[tokio::test]
async fn a_withdrawn_slot_whose_server_died_after_its_commit_is_replayed_naming_the_appointment_it_cancelled()
 {
    let app = spawn_app().await;
    let (patient_id, token, _, _) = arrange(&app).await;
    let practice_id = practice_of(&app, patient_id).await;
    let (staff_id, staff_token) = staff_member(&app, practice_id, StaffRole::Admin).await;
    let (slot, appointment_id) = booked(&app, &token, patient_id).await;
    let key = "withdraw-died-after-commit";
    let path = format!("/api/v1/practice/slots/{slot}/cancel");
    let body = serde_json::to_vec(&json!({ "reason": "Clinician unavailable" })).unwrap();

    let principal = idempotency::staff_principal(staff_id);
    let call =
        claimed_by_a_server_that_died(&app, principal, key, &Method::POST, &path, &body).await;
    let actor = PracticeActor::staff(staff_id, practice_id);
    let request = SlotCancellation {
        reason: Some("Clinician unavailable".to_owned()),
    };
    let withdrawn = gp_online::appointments::cancel_slot_by_practice(
        &app.db,
        &actor,
        slot,
        &request,
        app.clock.now(),
        Some(&call),
    )
    .await
    .unwrap();

    // Run again, the withdrawal would find the slot withdrawn and empty; the replay still names
    // the appointment it cancelled.
    let retried = retry(&app, Method::POST, &staff_token, &path, key, body).await;
    assert_eq!(audited(&app, "slot.withdraw").await, 1);
    let withdrawn = serde_json::to_value(&withdrawn).unwrap();
    assert_eq!(withdrawn["cancelled_appointment_id"], json!(appointment_id));
    assert_replayed(retried, StatusCode::OK, withdrawn).await;
}

#[tokio::test]
async fn a_proxy_grant_whose_server_died_after_its_commit_is_replayed_on_retry_not_recorded_twice()
{
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let (staff_id, staff_token) = staff_member(&app, practice.id, StaffRole::Admin).await;
    let child = NewPatient::at(practice.id)
        .born(NaiveDate::from_ymd_opt(2018, 3, 4).unwrap())
        .competent(false)
        .insert(&app)
        .await;
    let parent = NewPatient::at(practice.id)
        .born(NaiveDate::from_ymd_opt(1985, 1, 1).unwrap())
        .insert(&app)
        .await;
    let key = "grant-died-after-commit";
    let path = "/api/v1/practice/proxy-grants";
    let body = serde_json::to_vec(&json!({
        "patient_id": child.id,
        "proxy": { "patient_id": parent.id },
        "relationship": "parent",
        "scopes": ["appointments"],
        "legal_basis": "parental_responsibility",
        "starts_on": "2026-11-01",
        "ends_on": "2030-01-01",
        "decision": "granted",
    }))
    .unwrap();

    let principal = idempotency::staff_principal(staff_id);
    let call =
        claimed_by_a_server_that_died(&app, principal, key, &Method::POST, path, &body).await;
    let decider = gp_online::proxy::Decider {
        staff_id,
        practice_id: practice.id,
        role: StaffRole::Admin,
    };
    let request: GrantRequest = serde_json::from_slice(&body).unwrap();
    let grant = gp_online::proxy::decide(&app.db, &decider, &request, app.clock.now(), Some(&call))
        .await
        .unwrap();

    let retried = retry(&app, Method::POST, &staff_token, path, key, body).await;
    assert_eq!(
        proxy_grants::Entity::find().count(&app.db).await.unwrap(),
        1
    );
    let grant = serde_json::to_value(&grant).unwrap();
    assert_replayed(retried, StatusCode::CREATED, grant).await;
}
