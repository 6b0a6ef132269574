//! The database goes away under load: a private PostgreSQL cluster is stopped at once (as a crash
//! or an immediate restart would) while a patient reads and writes. Every answer meanwhile is a
//! 503 with `Retry-After`, never a 500; readiness says so; the same server serves again within
//! seconds of the database's return, and every write retried by its Idempotency-Key is stored
//! exactly once.

use gp_online::db::entities::message_threads;
use gp_online_tests::fixtures::{account, patient, practice};
use gp_online_tests::private_postgres::PrivatePostgres;
use gp_online_tests::{TestApp, TestDatabase, spawn_app_on};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What one request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    Ok(u16),
    Unavailable { retry_after: bool },
    Other(u16),
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    match status {
        s if s.is_success() => Answer::Ok(s.as_u16()),
        StatusCode::SERVICE_UNAVAILABLE => {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .is_some();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            assert_eq!(body["code"], "service_unavailable", "{body}");
            Answer::Unavailable { retry_after }
        }
        other => Answer::Other(other.as_u16()),
    }
}

async fn read_me(app: &TestApp, token: &str) -> Answer {
    match app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(15))
        .send()
        .await
    {
        Ok(response) => answer(response).await,
        Err(error) => panic!("the server did not answer: {error}"),
    }
}

/// Starts a message thread with `key`; the subject carries the key so the ledger can find it.
async fn write_message(app: &TestApp, token: &str, patient_id: Uuid, key: Uuid) -> Answer {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/patients/{patient_id}/messages")))
        .bearer_auth(token)
        .header("Idempotency-Key", key.to_string())
        .json(&json!({"subject": format!("ledger {key}"), "body": "Is my repeat ready?"}))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .unwrap();
    answer(response).await
}

async fn readiness(app: &TestApp) -> Answer {
    answer(app.get("/readyz").await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_answers_503_with_retry_after_and_recovers() {
    let cluster = PrivatePostgres::start();
    let database = TestDatabase::create_on(Some(cluster.url())).await;
    let app = spawn_app_on(database, |config| {
        // How long a request waits for a connection before answering 503.
        config.database.connect_timeout_secs = 2;
    })
    .await;
    let practice = practice(&app).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;

    // Before: all is well.
    assert_eq!(read_me(&app, &token).await, Answer::Ok(200));
    assert_eq!(readiness(&app).await, Answer::Ok(200));
    let mut written: Vec<Uuid> = Vec::new();
    for _ in 0..3 {
        let key = Uuid::new_v4();
        assert_eq!(
            write_message(&app, &token, me.id, key).await,
            Answer::Ok(201)
        );
        written.push(key);
    }

    // The database goes away.
    cluster.stop();
    let mut seen: BTreeMap<Answer, usize> = BTreeMap::new();
    let mut unacknowledged: Vec<Uuid> = Vec::new();
    for round in 0..2 {
        *seen.entry(read_me(&app, &token).await).or_default() += 1;
        let key = Uuid::new_v4();
        let written_now = write_message(&app, &token, me.id, key).await;
        *seen.entry(written_now).or_default() += 1;
        match written_now {
            Answer::Ok(_) => written.push(key),
            _ => unacknowledged.push(key),
        }
        if round == 0 {
            *seen.entry(readiness(&app).await).or_default() += 1;
        }
    }
    assert!(
        seen.keys()
            .all(|answer| *answer == Answer::Unavailable { retry_after: true }),
        "while the database is down every answer is 503 with Retry-After: {seen:?}"
    );

    // It comes back: the same server serves again within 10 seconds, with no restart of its own.
    cluster.start_again();
    let back = Instant::now();
    loop {
        match read_me(&app, &token).await {
            Answer::Ok(200) => break,
            Answer::Unavailable { retry_after: true } => {}
            other => panic!("after the database returned: {other:?}"),
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "the server did not recover within 10 s of the database's return"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(readiness(&app).await, Answer::Ok(200));

    // Every write the patient retries by its key lands exactly once.
    for key in unacknowledged {
        assert_eq!(
            write_message(&app, &token, me.id, key).await,
            Answer::Ok(201),
            "a retry after the outage"
        );
        written.push(key);
    }
    for key in &written {
        let stored = message_threads::Entity::find()
            .filter(message_threads::Column::Subject.eq(format!("ledger {key}")))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(stored, 1, "the write with key {key} is stored once");
    }
}
