//! Push notifications end to end, against a local Web Push service that checks each request as
//! a real one would and decrypts it with its own RFC 8291 implementation
//! (`gp_online_tests::push`): the VAPID key, device channels and their checks, a clinician's
//! release reaching the patient's and the proxy's browsers (and a result hidden from proxies
//! reaching the patient's only), faults (500, 429 with `Retry-After`, a timeout, 410) with
//! nothing lost and nothing shown twice — also with two nodes delivering at once — the time to
//! live, quiet hours with collapse, per-device preferences, and a scan of every push body and
//! log line for planted record markers.

use axum::http::HeaderMap;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use gp_online::config::Config;
use gp_online::db::entities::notification_deliveries::{self, DeliveryState};
use gp_online::db::entities::{devices, patients, push_subscriptions, results, server_keys, staff};
use gp_online::notify::TEXT;
use gp_online_tests::fixtures::{self, NewPatient};
use gp_online_tests::push::{Fault, PushService, Subscriber};
use gp_online_tests::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use uuid::Uuid;

/// Fast delivery rounds, a short timeout and loopback endpoints, for tests.
fn push_settings(config: &mut Config) {
    config.push.allow_insecure_loopback = true;
    config.push.poll_interval_ms = 50;
    config.push.request_timeout_secs = 1;
}

/// Every log line the test process writes (all tests share one global subscriber).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_writer(move || Capture(sink.clone()))
            .try_init();
        logs
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Polls `check` for up to 20 s of real time.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A practice with a clinician and a patient with an account, and the local push service.
struct World {
    app: TestApp,
    service: PushService,
    clinician: String,
    patient: patients::Model,
    patient_token: String,
    patient_device: Uuid,
}

async fn world_with(adjust: impl FnOnce(&mut Config)) -> World {
    let app = spawn_app_with(|config| {
        push_settings(config);
        adjust(config);
    })
    .await;
    let key = vapid_public_key(&app).await;
    let service = PushService::start(&key).await;
    let practice = fixtures::practice(&app).await;
    let clinician = fixtures::staff_token(&app, practice.id, staff::StaffRole::Clinician).await;
    let patient = NewPatient::at(practice.id)
        .named("Ada", "Lovelace")
        .born(NaiveDate::from_ymd_opt(1980, 5, 17).unwrap())
        .access_level(patients::AccessLevel::Documents)
        .at_the_desk()
        .insert(&app)
        .await;
    let (account, patient_token) = fixtures::account(&app, &patient).await;
    let patient_device = device_of(&app, account).await;
    World {
        app,
        service,
        clinician,
        patient,
        patient_token,
        patient_device,
    }
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn vapid_public_key(app: &TestApp) -> String {
    let response = app.get("/api/v1/push/vapid-public-key").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["public_key"].as_str().unwrap().to_owned()
}

async fn device_of(app: &TestApp, account: Uuid) -> Uuid {
    devices::Entity::find()
        .filter(devices::Column::AccountId.eq(account))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn put_channel(
    app: &TestApp,
    token: &str,
    device: Uuid,
    body: &Value,
) -> (StatusCode, Value) {
    let response = app
        .client
        .put(app.url(&format!("/api/v1/me/devices/{device}/push-subscription")))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn subscribe(world: &World, token: &str, device: Uuid) -> Arc<Subscriber> {
    let subscriber = world.service.subscriber();
    let (status, body) = put_channel(&world.app, token, device, &subscriber.subscription()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    subscriber
}

/// A result of the patient waiting for review, changed by `adjust`.
async fn pending_result(world: &World, adjust: impl FnOnce(&mut results::Model)) -> results::Model {
    fixtures::result(&world.app, world.patient.id, |r| {
        r.review_state = results::ReviewState::Pending;
        r.reviewed_at = None;
        r.released_at = None;
        adjust(r);
    })
    .await
}

async fn release(world: &World, result: &results::Model) {
    let response = world
        .app
        .client
        .post(
            world
                .app
                .url(&format!("/api/v1/practice/results/{}/release", result.id)),
        )
        .bearer_auth(&world.clinician)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn deliveries(app: &TestApp) -> Vec<notification_deliveries::Model> {
    notification_deliveries::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
}

async fn settled(app: &TestApp) -> bool {
    let rows = deliveries(app).await;
    !rows.is_empty() && rows.iter().all(|d| d.state != DeliveryState::Pending)
}

/// The expected payload: the text, the dedupe id, the profile hint. Nothing else.
fn assert_content_free(payload: &Value, patient: &patients::Model) {
    let object = payload.as_object().unwrap();
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["hint", "id", "text"],
        "{payload}"
    );
    assert_eq!(payload["text"], TEXT);
    assert!(TEXT.chars().count() <= 200);
    assert_eq!(payload["hint"], patient.id.simple().to_string());
    assert!(Uuid::parse_str(payload["id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn the_vapid_key_is_made_once_kept_and_shared_by_every_node() {
    let app = spawn_app_with(push_settings).await;
    let key = vapid_public_key(&app).await;
    let bytes = base64_decode(&key);
    assert_eq!(
        (bytes.len(), bytes[0]),
        (65, 4),
        "an uncompressed P-256 point"
    );
    assert_eq!(vapid_public_key(&app).await, key);
    assert_eq!(server_keys::Entity::find().count(&app.db).await.unwrap(), 1);
    // A second node on the same database signs with the same key.
    let (second, _stop) = app.second_node().await;
    let body: Value = app
        .client
        .get(format!("{second}/api/v1/push/vapid-public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["public_key"], key.as_str());

    // A configured key is used instead.
    let configured = spawn_app_with(|config| {
        push_settings(config);
        config.push.vapid_private_key = Some(
            "IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY"
                .to_owned()
                .into(),
        );
    })
    .await;
    assert_eq!(
        vapid_public_key(&configured).await,
        "BMjQIp55pdbU8pfCBKyXcZjlmER_mXt5LqNrN1hrXbdBS5EnhIbMu3Au-RV53iIpztzNXkGI56BFB1udQ8Bq_H4"
    );
    assert_eq!(
        server_keys::Entity::find()
            .count(&configured.db)
            .await
            .unwrap(),
        0
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[tokio::test]
async fn channels_are_checked_owned_and_removed_with_the_device() {
    let w = world().await;
    let subscriber = w.service.subscriber();
    let good = subscriber.subscription();

    // Every bad field at once.
    let (status, problem) = put_channel(
        &w.app,
        &w.patient_token,
        w.patient_device,
        &json!({"endpoint": "http://push.example.net/x", "keys": {"p256dh": "AAAA", "auth": "!!"}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: BTreeMap<String, String> = problem["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(codes["endpoint"], "https_required");
    assert_eq!(codes["keys.p256dh"], "invalid_key");
    assert_eq!(codes["keys.auth"], "invalid_key");

    // Loopback http is refused unless the setting allows it.
    let strict = spawn_app_with(|_| {}).await;
    let practice = fixtures::practice(&strict).await;
    let someone = fixtures::patient(&strict, practice.id, None).await;
    let (account, token) = fixtures::account(&strict, &someone).await;
    let device = device_of(&strict, account).await;
    let (status, problem) = put_channel(&strict, &token, device, &good).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["invalid_params"][0]["code"], "https_required");

    // Another account's device is not found.
    let other = fixtures::patient(&w.app, w.patient.practice_id, None).await;
    let (_, other_token) = fixtures::account(&w.app, &other).await;
    let (status, _) = put_channel(&w.app, &other_token, w.patient_device, &good).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Stored, replaced by a native token, and back.
    let (status, body) = put_channel(&w.app, &w.patient_token, w.patient_device, &good).await;
    assert_eq!(
        (status, body["provider"].as_str()),
        (StatusCode::OK, Some("web_push"))
    );
    let apns = json!({"provider": "apns", "token": "ab".repeat(32)});
    let (status, body) = put_channel(&w.app, &w.patient_token, w.patient_device, &apns).await;
    assert_eq!(
        (status, body["provider"].as_str()),
        (StatusCode::OK, Some("apns"))
    );
    let bad_fcm = json!({"provider": "fcm", "token": "has spaces"});
    let (status, _) = put_channel(&w.app, &w.patient_token, w.patient_device, &bad_fcm).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = put_channel(&w.app, &w.patient_token, w.patient_device, &good).await;
    assert_eq!(status, StatusCode::OK);
    let channel = push_subscriptions::Entity::find_by_id(w.patient_device)
        .one(&w.app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        channel.endpoint.as_deref(),
        Some(subscriber.endpoint.as_str())
    );

    // DELETE is idempotent.
    let path = format!("/api/v1/me/devices/{}/push-subscription", w.patient_device);
    for _ in 0..2 {
        let response = w
            .app
            .client
            .delete(w.app.url(&path))
            .bearer_auth(&w.patient_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    assert!(
        push_subscriptions::Entity::find_by_id(w.patient_device)
            .one(&w.app.db)
            .await
            .unwrap()
            .is_none()
    );

    // Revoking the device removes its channel.
    subscribe(&w, &w.patient_token, w.patient_device).await;
    let response = w
        .app
        .client
        .delete(
            w.app
                .url(&format!("/api/v1/me/devices/{}", w.patient_device)),
        )
        .bearer_auth(&w.patient_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        push_subscriptions::Entity::find_by_id(w.patient_device)
            .one(&w.app.db)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_release_reaches_the_patient_and_the_proxy_and_a_result_hidden_from_proxies_the_patient_only()
 {
    let w = world().await;
    let mine = subscribe(&w, &w.patient_token, w.patient_device).await;
    let scopes = "appointments,prescriptions,messages,record_summary,record_detailed,documents";
    let (proxy_account, proxy_token) = fixtures::proxy_account(&w.app, &w.patient, scopes).await;
    let proxy_device = device_of(&w.app, proxy_account).await;
    let theirs = subscribe(&w, &proxy_token, proxy_device).await;

    let seen_by_both = pending_result(&w, |_| {}).await;
    release(&w, &seen_by_both).await;
    eventually("both browsers have the notice", || async {
        w.service.shown(&mine).len() == 1 && w.service.shown(&theirs).len() == 1
    })
    .await;
    for delivered in w.service.delivered() {
        assert_content_free(&delivered.payload, &w.patient);
        assert_eq!(delivered.status, 201);
        assert_eq!(delivered.urgency.as_deref(), Some("normal"));
        assert_eq!(delivered.topic.as_deref(), Some("record"));
        assert!(delivered.ttl > 6 * 24 * 3600 && delivered.ttl <= 7 * 24 * 3600);
    }

    let hidden = pending_result(&w, |r| r.hidden_from_proxies = true).await;
    release(&w, &hidden).await;
    eventually("the patient's browser has the second notice", || async {
        w.service.shown(&mine).len() == 2
    })
    .await;
    // Give the proxy's side every chance to (wrongly) arrive.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(w.service.shown(&theirs).len(), 1);
    assert_eq!(w.service.delivered().len(), 3);
    assert!(w.service.errors().is_empty(), "{:?}", w.service.errors());
}

#[tokio::test]
async fn faults_are_retried_with_backoff_and_retry_after_and_nothing_is_lost_or_shown_twice() {
    let w = world().await;
    let mine = subscribe(&w, &w.patient_token, w.patient_device).await;
    w.service.fail_next(&[
        Fault::Status(500),
        Fault::RetryAfter(120),
        Fault::Hang(std::time::Duration::from_secs(3)),
    ]);
    let result = pending_result(&w, |_| {}).await;
    release(&w, &result).await;

    eventually("the 500 is answered", || async {
        w.service.delivered().len() == 1
    })
    .await;
    eventually("the retry is scheduled", || async {
        deliveries(&w.app)
            .await
            .first()
            .is_some_and(|d| d.attempts == 1 && d.claimed_by.is_none())
    })
    .await;
    // The backoff (2.5 to 5 s) has not passed: nothing more is sent.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(w.service.delivered().len(), 1);
    w.app.clock.advance(Duration::seconds(11));
    eventually("the 429 is answered", || async {
        w.service.delivered().len() == 2
    })
    .await;
    eventually("the retry after 120 s is scheduled", || async {
        deliveries(&w.app)
            .await
            .first()
            .is_some_and(|d| d.attempts == 2 && d.claimed_by.is_none())
    })
    .await;
    let row = &deliveries(&w.app).await[0];
    assert_eq!(
        row.next_attempt_at,
        w.app.clock.now() + Duration::seconds(120)
    );
    w.app.clock.advance(Duration::seconds(60));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(w.service.delivered().len(), 2, "Retry-After is honoured");
    w.app.clock.advance(Duration::seconds(61));
    // The hang: the device gets it, the server times out and tries again later.
    eventually("the timed-out attempt is scheduled again", || async {
        deliveries(&w.app)
            .await
            .first()
            .is_some_and(|d| d.attempts == 3 && d.claimed_by.is_none())
    })
    .await;
    assert_eq!(w.service.delivered().len(), 3);
    w.app.clock.advance(Duration::seconds(41));
    eventually("delivered", || async { settled(&w.app).await }).await;

    let row = &deliveries(&w.app).await[0];
    assert_eq!((row.state, row.attempts), (DeliveryState::Sent, 4));
    // The device received the notice twice (the timed-out attempt and its retry), with one
    // id: it shows it once.
    let shown = w.service.shown(&mine);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown.values().copied().collect::<Vec<_>>(), [2]);
    assert_eq!(shown.keys().next().unwrap(), &row.id.to_string());
    assert!(w.service.errors().is_empty(), "{:?}", w.service.errors());

    let metrics = w.app.get("/metrics").await.text().await.unwrap();
    for outcome in ["sent", "retried"] {
        assert!(
            metrics.contains(&format!(
                "push_deliveries_total{{provider=\"web_push\",outcome=\"{outcome}\"}}"
            )),
            "{outcome} missing from /metrics"
        );
    }
}

#[tokio::test]
async fn a_gone_subscription_is_deleted_and_retries_stop_at_the_time_to_live() {
    // Backoff from an hour, doubling up to two days, so the week runs out in a few attempts.
    let w = world_with(|config| {
        config.push.backoff_secs = 3600;
        config.push.max_backoff_secs = 2 * 24 * 3600;
    })
    .await;
    subscribe(&w, &w.patient_token, w.patient_device).await;
    w.service.fail_next(&[Fault::Status(410)]);
    release(&w, &pending_result(&w, |_| {}).await).await;
    eventually("dropped", || async { settled(&w.app).await }).await;
    let gone = deliveries(&w.app).await[0].clone();
    assert_eq!(
        (gone.state, gone.last_status),
        (DeliveryState::Dropped, Some(410))
    );
    assert!(
        push_subscriptions::Entity::find_by_id(w.patient_device)
            .one(&w.app.db)
            .await
            .unwrap()
            .is_none()
    );

    // A push service that keeps failing: retried with growing waits until the week is over.
    subscribe(&w, &w.patient_token, w.patient_device).await;
    w.service.fail_next(&[Fault::Status(503); 64]);
    release(&w, &pending_result(&w, |_| {}).await).await;
    let expires = w.app.clock.now() + Duration::days(7);
    let current = || async {
        deliveries(&w.app)
            .await
            .into_iter()
            .find(|d| d.id != gone.id)
    };
    let mut waits = Vec::new();
    for _ in 0..30 {
        let before = w.service.delivered().len();
        eventually("an attempt", || async {
            w.service.delivered().len() > before
        })
        .await;
        eventually("settled or rescheduled", || async {
            current()
                .await
                .is_some_and(|d| d.claimed_by.is_none() && d.attempts > 0)
        })
        .await;
        let row = current().await.unwrap();
        if row.state != DeliveryState::Pending {
            assert_eq!(row.state, DeliveryState::Expired);
            break;
        }
        let wait = row.next_attempt_at - w.app.clock.now();
        waits.push(wait);
        w.app.clock.advance(wait);
    }
    assert_eq!(current().await.unwrap().state, DeliveryState::Expired);
    assert!(w.app.clock.now() <= expires);
    // Exponential with jitter, capped: later waits are longer, none beyond the cap (plus the
    // night's hold when a retry falls in quiet hours).
    assert!(waits.len() >= 3, "{waits:?}");
    assert!(waits[2] > waits[0], "{waits:?}");
    assert!(
        waits
            .iter()
            .all(|w| *w <= Duration::days(2) + Duration::hours(8))
    );
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

#[tokio::test]
async fn quiet_hours_hold_notices_until_six_and_collapse_them_into_one() {
    let w = world().await;
    let mine = subscribe(&w, &w.patient_token, w.patient_device).await;
    // Monday 23 November 2026, 22:30 GMT. (The rule on both sides of both clock changes is
    // tested in `notify::quiet_hours`.)
    w.app
        .clock
        .advance(instant("2026-11-23T22:30:00Z") - w.app.clock.now());
    for _ in 0..3 {
        release(&w, &pending_result(&w, |_| {}).await).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        w.service.delivered().is_empty(),
        "nothing during quiet hours"
    );
    w.app
        .clock
        .advance(instant("2026-11-24T05:59:00Z") - w.app.clock.now());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(w.service.delivered().is_empty());
    w.app.clock.advance(Duration::minutes(1));
    eventually("one notice at 06:00", || async {
        w.service.shown(&mine).len() == 1
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(w.service.delivered().len(), 1, "three releases, one notice");
    assert_content_free(&w.service.delivered()[0].payload, &w.patient);
}

#[tokio::test]
async fn a_device_that_turned_a_kind_off_does_not_get_it() {
    let w = world().await;
    let mine = subscribe(&w, &w.patient_token, w.patient_device).await;
    let path = format!(
        "/api/v1/me/devices/{}/notification-preferences",
        w.patient_device
    );
    let response = w
        .app
        .client
        .put(w.app.url(&path))
        .bearer_auth(&w.patient_token)
        .json(&json!({"kinds": {"result_released": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["kinds"]["result_released"], false);
    assert_eq!(body["kinds"]["message_received"], true);
    let response = w
        .app
        .client
        .put(w.app.url(&path))
        .bearer_auth(&w.patient_token)
        .json(&json!({"kinds": {"lottery_won": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    release(&w, &pending_result(&w, |_| {}).await).await;
    eventually("the outbox row is handled", || async {
        gp_online::db::entities::notification_outbox::Entity::find()
            .filter(gp_online::db::entities::notification_outbox::Column::DeliveredAt.is_not_null())
            .count(&w.app.db)
            .await
            .unwrap()
            == 1
    })
    .await;
    assert!(deliveries(&w.app).await.is_empty());
    assert!(w.service.shown(&mine).is_empty());
}

#[tokio::test]
async fn two_nodes_delivering_at_once_send_each_notice_once() {
    let w = world().await;
    // A second node on the same database delivers as well.
    let (_second, _stop) = w.app.second_node_with(push_settings).await;
    let account = devices::Entity::find_by_id(w.patient_device)
        .one(&w.app.db)
        .await
        .unwrap()
        .unwrap()
        .account_id;
    let mut subscribers = vec![subscribe(&w, &w.patient_token, w.patient_device).await];
    for n in 0..5 {
        let device = fixtures::device(&w.app, account, &format!("Tablet {n}")).await;
        subscribers.push(subscribe(&w, &w.patient_token, device).await);
    }
    w.service
        .fail_next(&[Fault::Status(500), Fault::Status(502), Fault::RetryAfter(1)]);
    // Five releases, each fanned out before the next: five notices (none collapsed) to six
    // devices.
    for _ in 0..5 {
        release(&w, &pending_result(&w, |_| {}).await).await;
        eventually("fanned out", || async {
            gp_online::db::entities::notification_outbox::Entity::find()
                .filter(gp_online::db::entities::notification_outbox::Column::DeliveredAt.is_null())
                .count(&w.app.db)
                .await
                .unwrap()
                == 0
        })
        .await;
    }
    for _ in 0..200 {
        if settled(&w.app).await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // Time moves on for the retries, never under an attempt in flight (whose lease would
        // otherwise run out and let the other node send it again).
        if deliveries(&w.app)
            .await
            .iter()
            .all(|d| d.claimed_by.is_none())
        {
            w.app.clock.advance(Duration::seconds(5));
        }
    }
    let rows = deliveries(&w.app).await;
    assert_eq!(rows.len(), 5 * subscribers.len());
    assert!(
        rows.iter().all(|d| d.state == DeliveryState::Sent),
        "{rows:?}"
    );
    for subscriber in &subscribers {
        let shown = w.service.shown(subscriber);
        assert_eq!(shown.len(), 5, "every notice reached every device");
        assert!(
            shown.values().all(|n| *n == 1),
            "a notice accepted twice: {shown:?}"
        );
    }
    assert!(w.service.errors().is_empty(), "{:?}", w.service.errors());
}

#[tokio::test]
async fn no_push_body_or_log_line_carries_anything_from_the_record() {
    let logs = captured_logs();
    let w = world().await;
    let marker = format!("MARKER{}", Uuid::new_v4().simple());
    let mine = subscribe(&w, &w.patient_token, w.patient_device).await;
    let result = pending_result(&w, |r| {
        r.test_name = format!("Serum {marker}");
        r.value = format!("40 {marker}");
        r.clinician_comment = Some(format!("Comment {marker}"));
        r.requester = Some(format!("Dr {marker}"));
    })
    .await;
    w.service.fail_next(&[Fault::Status(500)]);
    release(&w, &result).await;
    // Time moves on for the retry only once the failed attempt is settled.
    eventually("the retry is scheduled", || async {
        deliveries(&w.app)
            .await
            .first()
            .is_some_and(|d| d.attempts == 1 && d.claimed_by.is_none())
    })
    .await;
    w.app.clock.advance(Duration::seconds(11));
    eventually("delivered", || async { w.service.shown(&mine).len() == 1 }).await;
    for delivered in w.service.delivered() {
        for planted in [
            marker.as_str(),
            "Lovelace",
            "Ada",
            &w.patient.nhs_number,
            "Serum",
        ] {
            assert!(
                !delivered.text.contains(planted),
                "{planted} in a push body"
            );
        }
        assert_content_free(&delivered.payload, &w.patient);
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logs.contains("push attempt"),
        "the delivery logs its attempts"
    );
    assert!(!logs.contains(&marker), "a record marker in the logs");
    assert!(!logs.contains(&mine.endpoint), "an endpoint in the logs");
}

// ---------------------------------------------------------------------------------------------
// APNs and FCM: the same delivery through the other providers, each against a local double
// that checks the request as the real service does.
// ---------------------------------------------------------------------------------------------

/// What a native double saw: each accepted request's checked parts, and every check that
/// failed.
#[derive(Clone, Default)]
struct Seen {
    accepted: Arc<Mutex<Vec<Value>>>,
    errors: Arc<Mutex<Vec<String>>>,
    faults: Arc<Mutex<std::collections::VecDeque<(u16, &'static str)>>>,
    tokens_issued: Arc<Mutex<u32>>,
}

impl Seen {
    fn accepted(&self) -> Vec<Value> {
        self.accepted.lock().unwrap().clone()
    }
    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
    fn fail_next(&self, status: u16, reason: &'static str) {
        self.faults.lock().unwrap().push_back((status, reason));
    }
}

fn b64url(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_default()
}

/// Splits and verifies a compact JWS; returns its header and claims.
fn verify_jws(
    token: &str,
    algorithm: &'static dyn ring::signature::VerificationAlgorithm,
    public_key: &[u8],
) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err("not a compact JWS".into());
    }
    ring::signature::UnparsedPublicKey::new(algorithm, public_key)
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &b64url(parts[2]),
        )
        .map_err(|_| "signature does not verify".to_owned())?;
    let header = serde_json::from_slice(&b64url(parts[0])).map_err(|e| e.to_string())?;
    let claims = serde_json::from_slice(&b64url(parts[1])).map_err(|e| e.to_string())?;
    Ok((header, claims))
}

fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

const APNS_KEY_ID: &str = "ABC123DEFG";
const APNS_TEAM_ID: &str = "DEF123GHIJ";
const APNS_TOPIC: &str = "uk.nhs.example.gp";

/// An APNs double: HTTP/2 only, token authentication, the request headers Apple requires.
async fn apns_double(public_key: Vec<u8>) -> (String, Seen) {
    use axum::extract::{Path, Request, State};
    use axum::response::IntoResponse;
    let seen = Seen::default();
    async fn handle(
        State((seen, public_key)): State<(Seen, Arc<Vec<u8>>)>,
        Path(device): Path<String>,
        request: Request,
    ) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let checked = async {
            if parts.version != axum::http::Version::HTTP_2 {
                return Err(format!("{:?}, not HTTP/2", parts.version));
            }
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or(format!("no {name}"))
            };
            let bearer = header("authorization")?;
            // The scheme is case-insensitive (RFC 9110); Apple's examples write `bearer`.
            let token = bearer
                .get(..7)
                .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
                .map(|_| &bearer[7..])
                .ok_or("not a bearer token")?;
            let (jwt_header, claims) = verify_jws(
                token,
                &ring::signature::ECDSA_P256_SHA256_FIXED,
                &public_key,
            )?;
            if jwt_header != json!({"alg": "ES256", "kid": APNS_KEY_ID}) {
                return Err(format!("JWT header {jwt_header}"));
            }
            if claims["iss"] != APNS_TEAM_ID || !claims["iat"].is_i64() {
                return Err(format!("JWT claims {claims}"));
            }
            if header("apns-push-type")? != "alert" || header("apns-topic")? != APNS_TOPIC {
                return Err("apns-push-type or apns-topic".into());
            }
            if header("apns-collapse-id")?.len() > 64 {
                return Err("apns-collapse-id longer than 64 bytes".into());
            }
            let expiration: i64 = header("apns-expiration")?
                .parse()
                .map_err(|_| "apns-expiration")?;
            let priority = header("apns-priority")?;
            let id = Uuid::parse_str(&header("apns-id")?).map_err(|e| e.to_string())?;
            let body = axum::body::to_bytes(body, 4096)
                .await
                .map_err(|_| "payload larger than 4 KB")?;
            let body: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            Ok(json!({
                "device": device, "iat": claims["iat"], "expiration": expiration,
                "priority": priority, "apns_id": id.to_string(), "body": body,
            }))
        }
        .await;
        match checked {
            Err(error) => {
                seen.errors.lock().unwrap().push(error);
                (
                    StatusCode::FORBIDDEN,
                    "{\"reason\":\"InvalidProviderToken\"}",
                )
                    .into_response()
            }
            Ok(request) => {
                if let Some((status, reason)) = seen.faults.lock().unwrap().pop_front() {
                    let body = json!({"reason": reason}).to_string();
                    return (StatusCode::from_u16(status).unwrap(), body).into_response();
                }
                seen.accepted.lock().unwrap().push(request);
                StatusCode::OK.into_response()
            }
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/3/device/{device}", axum::routing::post(handle))
        .with_state((seen.clone(), Arc::new(public_key)));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (origin, seen)
}

#[tokio::test]
async fn apns_gets_token_authenticated_http2_requests_and_a_bad_device_token_ends_the_channel() {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .unwrap();
    let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .unwrap();
    let public = ring::signature::KeyPair::public_key(&pair)
        .as_ref()
        .to_vec();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("AuthKey.p8");
    std::fs::write(&key_file, pem(pkcs8.as_ref())).unwrap();
    let (origin, apns) = apns_double(public).await;
    let w = world_with(|config| {
        config.push.apns = Some(gp_online::config::ApnsConfig {
            key_file,
            key_id: APNS_KEY_ID.to_owned(),
            team_id: APNS_TEAM_ID.to_owned(),
            topic: APNS_TOPIC.to_owned(),
            endpoint: origin,
        });
    })
    .await;
    let device_token = "0f".repeat(32);
    let (status, _) = put_channel(
        &w.app,
        &w.patient_token,
        w.patient_device,
        &json!({"provider": "apns", "token": device_token}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    release(&w, &pending_result(&w, |_| {}).await).await;
    eventually("APNs answers", || async {
        apns.accepted().len() == 1 || !apns.errors().is_empty() || settled(&w.app).await
    })
    .await;
    assert!(apns.errors().is_empty(), "{:?}", apns.errors());
    let request = &apns.accepted()[0];
    assert_eq!(request["device"], device_token.as_str());
    assert_eq!(request["priority"], "10");
    assert_eq!(request["iat"], w.app.clock.now().timestamp());
    assert_eq!(
        request["expiration"],
        (w.app.clock.now() + Duration::days(7)).timestamp()
    );
    assert_eq!(
        request["body"],
        json!({
            "aps": {"alert": {"body": TEXT}, "sound": "default"},
            "id": request["apns_id"],
            "hint": w.patient.id.simple().to_string(),
        })
    );

    // A 500 is retried; then Apple says the token is bad: the channel is gone.
    apns.fail_next(500, "InternalServerError");
    apns.fail_next(400, "BadDeviceToken");
    release(&w, &pending_result(&w, |_| {}).await).await;
    eventually("the retry is scheduled", || async {
        deliveries(&w.app)
            .await
            .iter()
            .any(|d| d.attempts == 1 && d.state == DeliveryState::Pending && d.claimed_by.is_none())
    })
    .await;
    w.app.clock.advance(Duration::seconds(11));
    eventually("dropped", || async { settled(&w.app).await }).await;
    assert!(
        push_subscriptions::Entity::find_by_id(w.patient_device)
            .one(&w.app.db)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(apns.accepted().len(), 1);
}

const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// An FCM double: the OAuth token endpoint (an RS256 assertion from the service account) and
/// `messages:send` (the bearer token it issued, the `message` JSON).
async fn fcm_double(public_key: Vec<u8>) -> (String, Seen) {
    use axum::extract::{Path, State};
    use axum::response::IntoResponse;
    let seen = Seen::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let token_uri = format!("{origin}/token");
    type S = (Seen, Arc<Vec<u8>>, String);
    async fn token(
        State((seen, public_key, token_uri)): State<S>,
        headers: HeaderMap,
        body: String,
    ) -> axum::response::Response {
        let checked = (|| {
            if headers.get("content-type").and_then(|v| v.to_str().ok())
                != Some("application/x-www-form-urlencoded")
            {
                return Err("not a form".to_owned());
            }
            let form: BTreeMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            if form.get("grant_type").map(String::as_str)
                != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
            {
                return Err("grant_type".to_owned());
            }
            let (header, claims) = verify_jws(
                form.get("assertion").ok_or("no assertion")?,
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                &public_key,
            )?;
            let lifetime =
                claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
            if header["alg"] != "RS256"
                || claims["iss"] != "push@gp-online-test.iam.gserviceaccount.com"
                || claims["scope"] != FCM_SCOPE
                || claims["aud"] != token_uri.as_str()
                || !(1..=3600).contains(&lifetime)
            {
                return Err(format!("assertion {header} {claims}"));
            }
            Ok(())
        })();
        if let Err(error) = checked {
            seen.errors.lock().unwrap().push(error);
            return (StatusCode::BAD_REQUEST, "{\"error\":\"invalid_grant\"}").into_response();
        }
        let mut issued = seen.tokens_issued.lock().unwrap();
        *issued += 1;
        axum::Json(json!({"access_token": format!("ya29.test-{issued}"), "expires_in": 3599, "token_type": "Bearer"}))
            .into_response()
    }
    async fn send(
        State((seen, _, _)): State<S>,
        Path(project): Path<String>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        let checked = (|| {
            if project != "gp-online-test" {
                return Err(format!("project {project}"));
            }
            let issued = *seen.tokens_issued.lock().unwrap();
            let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
            if issued == 0 || bearer != Some(&format!("Bearer ya29.test-{issued}")) {
                return Err(format!("bearer {bearer:?}"));
            }
            let body: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            let message = &body["message"];
            let ttl = message["android"]["ttl"].as_str().unwrap_or_default();
            if message["notification"] != json!({"body": TEXT})
                || !message["data"]["id"].is_string()
                || !message["token"].is_string()
                || !ttl.ends_with('s')
                || ttl.trim_end_matches('s').parse::<u64>().is_err()
                || message["android"]["collapse_key"] != "record"
            {
                return Err(format!("message {body}"));
            }
            Ok(body)
        })();
        match checked {
            Err(error) => {
                seen.errors.lock().unwrap().push(error);
                StatusCode::BAD_REQUEST.into_response()
            }
            Ok(body) => {
                if let Some((status, reason)) = seen.faults.lock().unwrap().pop_front() {
                    let error = json!({"error": {"code": status, "status": reason}});
                    return (StatusCode::from_u16(status).unwrap(), axum::Json(error))
                        .into_response();
                }
                seen.accepted.lock().unwrap().push(body);
                axum::Json(json!({"name": "projects/gp-online-test/messages/1"})).into_response()
            }
        }
    }
    let router = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .route(
            "/v1/projects/{project}/messages:send",
            axum::routing::post(send),
        )
        .with_state((seen.clone(), Arc::new(public_key), token_uri));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (origin, seen)
}

#[tokio::test]
async fn fcm_gets_oauth_authenticated_v1_messages_and_an_unregistered_token_ends_the_channel() {
    let pem_text = include_str!("../../keys/fcm-test-key.pem");
    let der = {
        use base64::Engine;
        let body: String = pem_text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    };
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    let public = ring::signature::KeyPair::public_key(&pair)
        .as_ref()
        .to_vec();
    let (origin, fcm) = fcm_double(public).await;
    let dir = tempfile::tempdir().unwrap();
    let account_file = dir.path().join("service-account.json");
    std::fs::write(
        &account_file,
        json!({
            "type": "service_account",
            "project_id": "gp-online-test",
            "client_email": "push@gp-online-test.iam.gserviceaccount.com",
            "private_key": pem_text,
            "token_uri": format!("{origin}/token"),
        })
        .to_string(),
    )
    .unwrap();
    let w = world_with(|config| {
        config.push.fcm = Some(gp_online::config::FcmConfig {
            service_account_file: account_file,
            endpoint: origin,
        });
    })
    .await;
    let registration = "fcm-registration:APA91b_test-token";
    let (status, _) = put_channel(
        &w.app,
        &w.patient_token,
        w.patient_device,
        &json!({"provider": "fcm", "token": registration}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    release(&w, &pending_result(&w, |_| {}).await).await;
    eventually("FCM answers", || async {
        fcm.accepted().len() == 1 || !fcm.errors().is_empty() || settled(&w.app).await
    })
    .await;
    assert!(fcm.errors().is_empty(), "{:?}", fcm.errors());
    let message = &fcm.accepted()[0]["message"];
    assert_eq!(message["token"], registration);
    assert_eq!(message["data"]["hint"], w.patient.id.simple().to_string());
    assert_eq!(message["android"]["priority"], "HIGH");

    // A second notice reuses the access token; then the token is unregistered.
    release(&w, &pending_result(&w, |_| {}).await).await;
    eventually("FCM has the second notice", || async {
        fcm.accepted().len() == 2
    })
    .await;
    assert_eq!(
        *fcm.tokens_issued.lock().unwrap(),
        1,
        "the access token is kept"
    );
    fcm.fail_next(404, "UNREGISTERED");
    release(&w, &pending_result(&w, |_| {}).await).await;
    eventually("dropped", || async {
        deliveries(&w.app).await.len() == 3 && settled(&w.app).await
    })
    .await;
    assert!(
        push_subscriptions::Entity::find_by_id(w.patient_device)
            .one(&w.app.db)
            .await
            .unwrap()
            .is_none()
    );
    assert!(fcm.errors().is_empty(), "{:?}", fcm.errors());
}
