//! Exactly once under cancellation: sync intents are claimed, applied and given their outcome in
//! one transaction, so a frame whose client went away part-way leaves every intent applied once
//! or not at all, and a resend delivers every outcome; an `Idempotency-Key` claim whose request
//! died becomes claimable when its lease passes; expired keys are purged on a schedule; keys are
//! bounded; a call's response is stored with its write, so a server that died after the
//! commit replays it; `POST /api/v1/sync` stays outside the `Idempotency-Key` layer, and replays of other
//! routes keep their content type.

use chrono::Duration;
use gp_online::db::entities::{idempotency_keys, message_threads, messages};
use gp_online::http::idempotency;
use gp_online::idempotent::IdempotentCall;
use gp_online::settings::PracticeSettings;
use gp_online_tests::fixtures::{account, device, patient, practice_with};
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
    idempotency_keys::ActiveModel {
        principal: Set(principal.clone()),
        key: Set(key.to_owned()),
        request_hash: Set(idempotency::fingerprint(&Method::POST, &path, &body)),
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
    let facts = gp_online::access::slice::facts(&app.db, patient_id)
        .await
        .unwrap()
        .unwrap();
    let actor = gp_online::access::Actor {
        viewer: gp_online::access::Viewer::Patient { account_id },
        device_id: Some(device_id),
    };
    let call = IdempotentCall::new(principal, key.to_owned());
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
