//! Every row of a patient's data carries the patient's practice (docs/SCALING.md: the practice
//! is what a database split across machines is distributed by). Read from the migrated
//! database's own catalogue on both backends: each table with a patient column, and each table
//! whose rows belong to such a row through a foreign key, has a required `practice_id` that
//! references `practices`. Existing rows take their patient's practice when the column arrives.

use gp_online_migrations::{Migrator, MigratorTrait};
use gp_online_tests::{TestDatabase, query_strings};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::collections::{BTreeMap, BTreeSet};

/// Tables whose `practice_id` may be absent on a row, each with the reason. Nothing else is
/// exempt: a new table with a patient column and no required practice fails the test.
const PRACTICE_MAY_BE_ABSENT: &[(&str, &str)] = &[
    // The audit trail records actions, not patient data, and some have no practice: a failed
    // sign-in before anyone is known, an operator's command. Its rows are never deleted with
    // a practice, so the column has no foreign key either.
    ("audit_events", "actions without a practice are audited too"),
];

/// Tables a patient-scoped row may point at without their own rows being patient data. An
/// account carries its practice itself; the rows hanging off it (devices, passkeys, sessions,
/// push channels) are found by credential, token or device before any practice is known, and
/// docs/SCALING.md says how they are placed.
const NOT_FOLLOWED: &[&str] = &["accounts"];

/// Tables the rule must reach, so a catalogue query that finds nothing cannot pass.
const KNOWN_PATIENT_SCOPED: &[&str] = &[
    "access_codes",
    "access_log",
    "appointments",
    "courses",
    "documents",
    "message_threads",
    "messages",
    "notification_deliveries",
    "notification_outbox",
    "prescription_request_items",
    "prescription_requests",
    "projection_outbox",
    "proxy_grants",
    "record_access_requests",
    "record_entries",
    "results",
];

/// Each table's columns, with whether they are required.
async fn columns(
    db: &DatabaseConnection,
    backend: &str,
) -> BTreeMap<String, BTreeMap<String, bool>> {
    let sql = if backend == "postgres" {
        "SELECT table_name::text, column_name::text, is_nullable::text \
           FROM information_schema.columns WHERE table_schema = current_schema()"
    } else {
        "SELECT m.name, c.name, CASE WHEN c.\"notnull\" = 1 THEN 'NO' ELSE 'YES' END \
           FROM sqlite_master m JOIN pragma_table_info(m.name) c \
          WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
    };
    let mut tables: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for row in query_strings(db, sql).await {
        tables
            .entry(row[0].clone())
            .or_default()
            .insert(row[1].clone(), row[2] == "NO");
    }
    tables
}

/// Each foreign key as (table, column, referenced table).
async fn foreign_keys(
    db: &DatabaseConnection,
    backend: &str,
) -> BTreeSet<(String, String, String)> {
    let sql = if backend == "postgres" {
        "SELECT k.table_name::text, k.column_name::text, u.table_name::text \
           FROM information_schema.table_constraints c \
           JOIN information_schema.key_column_usage k \
             ON k.constraint_name = c.constraint_name AND k.constraint_schema = c.constraint_schema \
           JOIN information_schema.constraint_column_usage u \
             ON u.constraint_name = c.constraint_name AND u.constraint_schema = c.constraint_schema \
          WHERE c.constraint_type = 'FOREIGN KEY' AND c.table_schema = current_schema()"
    } else {
        "SELECT m.name, f.\"from\", f.\"table\" \
           FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
          WHERE m.type = 'table'"
    };
    query_strings(db, sql)
        .await
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone(), row[2].clone()))
        .collect()
}

/// The tables holding a patient's data: those with a patient column, and those whose rows
/// belong to such a table's rows through a foreign key (not through `NOT_FOLLOWED`).
fn patient_scoped(
    tables: &BTreeMap<String, BTreeMap<String, bool>>,
    keys: &BTreeSet<(String, String, String)>,
) -> BTreeSet<String> {
    let mut scoped: BTreeSet<String> = tables
        .iter()
        .filter(|(_, columns)| {
            columns
                .keys()
                .any(|c| c == "patient_id" || c.ends_with("_patient_id"))
        })
        .map(|(table, _)| table.clone())
        .collect();
    loop {
        let reached: Vec<String> = keys
            .iter()
            .filter(|(table, _, parent)| {
                scoped.contains(parent)
                    && !NOT_FOLLOWED.contains(&parent.as_str())
                    && !scoped.contains(table)
            })
            .map(|(table, _, _)| table.clone())
            .collect();
        if reached.is_empty() {
            return scoped;
        }
        scoped.extend(reached);
    }
}

#[tokio::test]
async fn every_table_of_patient_data_carries_a_required_practice() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    gp_online::db::migrate_up(&db).await.unwrap();
    let backend = database.backend;
    let tables = columns(&db, backend).await;
    let keys = foreign_keys(&db, backend).await;
    let scoped = patient_scoped(&tables, &keys);
    for known in KNOWN_PATIENT_SCOPED {
        assert!(
            scoped.contains(*known),
            "{known} is not found holding patient data on {backend}: {scoped:?}"
        );
    }

    let mut problems = Vec::new();
    for table in &scoped {
        let exempt = PRACTICE_MAY_BE_ABSENT.iter().any(|(t, _)| t == table);
        match tables[table].get("practice_id") {
            None => problems.push(format!("{table} has no practice_id")),
            Some(_) if exempt => {}
            Some(false) => problems.push(format!("{table}.practice_id may be null")),
            Some(true) => {}
        }
        let references = keys.contains(&(
            table.clone(),
            "practice_id".to_owned(),
            "practices".to_owned(),
        ));
        if !exempt && !references {
            problems.push(format!("{table}.practice_id does not reference practices"));
        }
    }
    assert!(problems.is_empty(), "on {backend}: {problems:#?}");
}

/// Runs `sql` statements in order.
async fn execute(db: &DatabaseConnection, statements: &[String]) {
    for sql in statements {
        db.execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

async fn count(db: &DatabaseConnection, sql: &str) -> String {
    query_strings(db, &format!("SELECT CAST(({sql}) AS TEXT)"))
        .await
        .remove(0)
        .remove(0)
}

#[tokio::test]
async fn existing_rows_take_their_patients_practice_and_keep_their_children() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    // Every migration before the one that adds the column; later ones are undone at the end.
    let migrations = Migrator::migrations();
    let before = migrations
        .iter()
        .position(|m| m.name() == "m20261206_200001_patient_rows_carry_practice")
        .unwrap();
    let after = migrations.len() - before;
    Migrator::up(&db, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();

    // Two practices with a patient each, written as the schema stood before the column.
    let now = "'2026-12-01 09:00:00+00:00'";
    let mut rows = Vec::new();
    for (practice, patient, ods) in [
        (
            "00000000-0000-4000-8000-00000000000a",
            "00000000-0000-4000-8000-0000000000a1",
            "A00001",
        ),
        (
            "00000000-0000-4000-8000-00000000000b",
            "00000000-0000-4000-8000-0000000000b1",
            "B00001",
        ),
    ] {
        rows.push(format!(
            "INSERT INTO practices (id, ods_code, name, live, settings, created_at, updated_at) \
             VALUES ('{practice}', '{ods}', 'Surgery {ods}', TRUE, '{{}}', {now}, {now})"
        ));
        rows.push(format!(
            "INSERT INTO patients (id, practice_id, nhs_number, given_name, family_name, \
               date_of_birth, sex, access_level, competent, created_at, updated_at) \
             VALUES ('{patient}', '{practice}', '9434765919', 'Ada', 'Lovelace', '1970-01-01', \
               'female', 'detailed', TRUE, {now}, {now})"
        ));
    }
    let (a, b) = (
        "00000000-0000-4000-8000-0000000000a1",
        "00000000-0000-4000-8000-0000000000b1",
    );
    let account = "00000000-0000-4000-8000-0000000000c1";
    let (thread, course, request) = (
        "00000000-0000-4000-8000-0000000000d1",
        "00000000-0000-4000-8000-0000000000d2",
        "00000000-0000-4000-8000-0000000000d3",
    );
    let gone = "00000000-0000-4000-8000-0000000000ff";
    rows.extend([
        format!(
            "INSERT INTO accounts (id, practice_id, patient_id, status, created_at, updated_at) \
             VALUES ('{account}', '00000000-0000-4000-8000-00000000000b', '{b}', 'active', \
               {now}, {now})"
        ),
        format!(
            "INSERT INTO message_threads (id, patient_id, status, created_at, updated_at) \
             VALUES ('{thread}', '{a}', 'open', {now}, {now})"
        ),
        format!(
            "INSERT INTO messages (id, thread_id, sender_kind, body, sent_at) \
             VALUES ('00000000-0000-4000-8000-0000000000e1', '{thread}', 'patient', 'Hello', {now})"
        ),
        format!(
            "INSERT INTO courses (id, patient_id, snomed_code, medication, dosage, quantity, \
               course_type, can_be_requested, hidden, hidden_from_proxies, created_at, updated_at) \
             VALUES ('{course}', '{b}', '322236009', 'Paracetamol', 'Two', '100', 'repeat', TRUE, \
               FALSE, FALSE, {now}, {now})"
        ),
        format!(
            "INSERT INTO prescription_requests (id, patient_id, requested_by_proxy, created_at, \
               updated_at) VALUES ('{request}', '{b}', FALSE, {now}, {now})"
        ),
        format!(
            "INSERT INTO prescription_request_items (id, request_id, course_id, status, \
               routed_to_clinician, created_at, updated_at) \
             VALUES ('00000000-0000-4000-8000-0000000000e2', '{request}', '{course}', \
               'requested', FALSE, {now}, {now})"
        ),
        format!(
            "INSERT INTO projection_outbox (patient_id, reason, enqueued_at, attempts) \
             VALUES ('{a}', 'test', {now}, 0), ('{gone}', 'test', {now}, 0)"
        ),
        format!(
            "INSERT INTO notification_outbox (account_id, patient_id, kind, topic, created_at, \
               not_before, expires_at, attempts) \
             VALUES ('{account}', NULL, 'test', 'test', {now}, {now}, {now}, 0)"
        ),
    ]);
    execute(&db, &rows).await;

    Migrator::up(&db, None).await.unwrap();
    let practice_of = |table: &str, key: &str, value: &str| {
        format!("SELECT practice_id FROM {table} WHERE {key} = '{value}'")
    };
    for (table, key, value, practice) in [
        ("message_threads", "id", thread, "a"),
        ("messages", "thread_id", thread, "a"),
        ("courses", "id", course, "b"),
        ("prescription_requests", "id", request, "b"),
        ("prescription_request_items", "request_id", request, "b"),
        ("projection_outbox", "patient_id", a, "a"),
        ("notification_outbox", "account_id", account, "b"),
    ] {
        let found = count(&db, &practice_of(table, key, value)).await;
        assert_eq!(
            found,
            format!("00000000-0000-4000-8000-00000000000{practice}"),
            "{table} on {}",
            database.backend
        );
    }
    // Children kept (rebuilding a parent table must not cascade), dead work dropped.
    for (table, expected) in [
        ("messages", "1"),
        ("prescription_request_items", "1"),
        ("projection_outbox", "1"),
        ("notification_outbox", "1"),
    ] {
        assert_eq!(
            count(&db, &format!("SELECT COUNT(*) FROM {table}")).await,
            expected,
            "{table} on {}",
            database.backend
        );
    }

    // And back: the rows stay, the column goes.
    Migrator::down(&db, Some(u32::try_from(after).unwrap()))
        .await
        .unwrap();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM messages").await, "1");
    let tables = columns(&db, database.backend).await;
    assert!(!tables["messages"].contains_key("practice_id"));
    assert!(!tables["results"].contains_key("practice_id"));
}
