//! The schema migrates up and down on both backends, and down-to-zero then up rebuilds exactly
//! the same schema.

use gp_online_migrations::{Migrator, MigratorTrait};
use gp_online_tests::{TestDatabase, query_strings};
use sea_orm::DatabaseConnection;

/// Tables, columns (type, nullability, default), indexes and foreign keys, as sorted text.
async fn schema_snapshot(db: &DatabaseConnection, backend: &str) -> Vec<Vec<String>> {
    let sql = if backend == "postgres" {
        "SELECT 'column', table_name::text, column_name::text, data_type::text, is_nullable::text, \
                COALESCE(column_default, '')::text \
           FROM information_schema.columns WHERE table_schema = 'public' \
         UNION ALL \
         SELECT 'index', tablename::text, indexname::text, indexdef::text, '', '' \
           FROM pg_indexes WHERE schemaname = 'public' \
         UNION ALL \
         SELECT 'constraint', conrelid::regclass::text, conname::text, pg_get_constraintdef(oid), '', '' \
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
         ORDER BY 1, 2, 3"
    } else {
        "SELECT type, tbl_name, name, COALESCE(sql, '') FROM sqlite_master \
          WHERE name NOT LIKE 'sqlite_%' ORDER BY 1, 2, 3"
    };
    query_strings(db, sql).await
}

fn table_names(snapshot: &[Vec<String>]) -> Vec<String> {
    let mut tables: Vec<String> = snapshot
        .iter()
        .filter(|row| row[0] == "table" || row[0] == "column")
        .map(|row| row[1].clone())
        .collect();
    tables.dedup();
    tables
}

#[tokio::test]
async fn down_to_zero_then_up_rebuilds_the_same_schema() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    Migrator::up(&db, None).await.unwrap();
    let first = schema_snapshot(&db, database.backend).await;
    let tables = table_names(&first);
    for expected in [
        "practices",
        "patients",
        "record_entries",
        "results",
        "documents",
        "slots",
        "appointments",
        "courses",
        "prescription_requests",
        "message_threads",
        "proxy_grants",
        "audit_events",
        "idempotency_keys",
        "projection_outbox",
        "notification_outbox",
        "passkeys",
        "session_families",
        "linkage_keys",
        "integration_keys",
        "sync_documents",
    ] {
        assert!(
            tables.iter().any(|t| t == expected),
            "missing table {expected} on {}",
            database.backend
        );
    }

    Migrator::down(&db, None).await.unwrap();
    let empty = schema_snapshot(&db, database.backend).await;
    let left: Vec<String> = table_names(&empty)
        .into_iter()
        .filter(|t| t != "seaql_migrations")
        .collect();
    assert!(
        left.is_empty(),
        "tables left after down on {}: {left:?}",
        database.backend
    );

    Migrator::up(&db, None).await.unwrap();
    let second = schema_snapshot(&db, database.backend).await;
    assert_eq!(
        first, second,
        "schema differs after down and up on {}",
        database.backend
    );
}

#[tokio::test]
async fn every_migration_steps_down_and_up_one_at_a_time() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    let count = Migrator::migrations().len();
    Migrator::up(&db, None).await.unwrap();
    for _ in 0..count {
        Migrator::down(&db, Some(1)).await.unwrap();
    }
    assert!(
        Migrator::get_applied_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    for step in 1..=count {
        Migrator::up(&db, Some(1)).await.unwrap();
        assert_eq!(
            Migrator::get_applied_migrations(&db).await.unwrap().len(),
            step
        );
    }
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
}
