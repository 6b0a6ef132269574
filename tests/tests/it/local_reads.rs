//! Reads answered on the calling thread (`gp_online::db::local_reads`): on SQLite they return
//! exactly what the pool returns, for every column of every table, and the reads every
//! request makes (its session, the patient's facts, the grants it acts under) are answered
//! there; on PostgreSQL everything goes to the pool.

use gp_online::access::viewer::{Holder, grants_held};
use gp_online::db::entities::*;
use gp_online::db::local_reads::Reads;
use gp_online_tests::{fixtures, spawn_app};
use sea_orm::{DatabaseBackend, DatabaseConnection, EntityTrait, PaginatorTrait};
use std::fmt::Debug;

fn on_sqlite(db: &DatabaseConnection) -> bool {
    sea_orm::ConnectionTrait::get_database_backend(db) == DatabaseBackend::Sqlite
}

/// Reads every row of `E` both ways, asserts they are equal, and returns how many rows.
async fn same_rows<E>(reads: &Reads, db: &DatabaseConnection) -> usize
where
    E: EntityTrait,
    E::Model: PartialEq + Debug,
{
    let through_pool = E::find().all(db).await.unwrap();
    let here = E::find().all(reads).await.unwrap();
    assert_eq!(here, through_pool, "{}", E::default().table_name());
    through_pool.len()
}

#[tokio::test]
async fn every_table_reads_the_same_on_the_calling_thread_as_through_the_pool() {
    let app = spawn_app().await;
    gp_online::demo::load(&app.db, app.clock.now())
        .await
        .unwrap();
    // Sessions, devices and proxy grants beside the demo practice's data.
    let practice = fixtures::practice(&app).await;
    let child = fixtures::patient(&app, practice.id, None).await;
    let parent = fixtures::patient(&app, practice.id, Some("FA123")).await;
    fixtures::account(&app, &parent).await;
    fixtures::proxy_grant(&app, &child, parent.id, "appointments", |_| {}).await;

    let reads = Reads::new(app.db.clone());
    let mut tables = 0;
    let mut rows = 0;
    macro_rules! same {
        ($($table:ident),* $(,)?) => {$(
            rows += same_rows::<$table::Entity>(&reads, &app.db).await;
            tables += 1;
        )*};
    }
    same!(
        access_codes,
        access_log,
        accounts,
        appointments,
        audit_events,
        blobs,
        carers,
        ceremonies,
        courses,
        device_sync_states,
        devices,
        documents,
        idempotency_keys,
        integration_keys,
        linkage_keys,
        message_threads,
        messages,
        notification_deliveries,
        notification_outbox,
        notification_preferences,
        passkeys,
        patients,
        practices,
        prescription_request_items,
        prescription_requests,
        projection_due,
        projection_outbox,
        proxy_grants,
        push_subscriptions,
        record_access_requests,
        record_entries,
        results,
        server_keys,
        session_families,
        session_tokens,
        slots,
        staff,
        staff_enrolments,
        sync_document_digests,
        sync_documents,
    );
    assert!(
        rows > 500,
        "the demo practice fills the tables ({rows} rows)"
    );
    // Every column of every table is typed, so every one of these reads was answered here.
    let expected = if on_sqlite(&app.db) { tables } else { 0 };
    assert_eq!(reads.answered_locally(), expected);
}

#[tokio::test]
async fn a_requests_session_facts_and_grants_are_read_on_the_calling_thread() {
    let app = spawn_app().await;
    let practice = fixtures::practice(&app).await;
    let child = fixtures::patient(&app, practice.id, None).await;
    let parent = fixtures::patient(&app, practice.id, None).await;
    let (parent_account, token) = fixtures::account(&app, &parent).await;
    fixtures::proxy_grant(&app, &child, parent.id, "appointments", |_| {}).await;
    let reads = Reads::new(app.db.clone());
    let now = app.clock.now();

    let session = gp_online::identity::sessions::authenticate(&reads, &token, now).await;
    let expected = gp_online::identity::sessions::authenticate(&app.db, &token, now).await;
    assert_eq!(session.unwrap(), expected.unwrap());
    let ended = gp_online::identity::sessions::authenticate(&reads, "not-a-token", now).await;
    assert!(
        ended.is_err(),
        "an unknown token ends the session on this path too"
    );

    let facts = gp_online::access::slice::facts(&reads, child.id)
        .await
        .unwrap();
    let expected = gp_online::access::slice::facts(&app.db, child.id)
        .await
        .unwrap();
    assert_eq!(format!("{facts:?}"), format!("{expected:?}"));
    assert_eq!(facts.unwrap().patient, child);

    let holder = Holder {
        account_id: parent_account,
        patient_id: Some(parent.id),
        carer_id: None,
    };
    let grants = grants_held(&reads, &holder).await.unwrap();
    assert_eq!(grants, grants_held(&app.db, &holder).await.unwrap());
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].patient_id, child.id);

    // The session (one statement), the facts (two) and the grants (one), and one more of each
    // for the unknown token; a count is an expression, not a column, and goes to the pool.
    let answered = reads.answered_locally();
    let patients_counted = patients::Entity::find().count(&reads).await.unwrap();
    assert_eq!(
        patients_counted,
        patients::Entity::find().count(&app.db).await.unwrap()
    );
    assert_eq!(reads.answered_locally(), answered);
    let expected = if on_sqlite(&app.db) { 5 } else { 0 };
    assert_eq!(answered, expected);
}
