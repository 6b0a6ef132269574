//! Every row of a patient's data carries the patient's practice: a required `practice_id`
//! referencing `practices` on each table with a `patient_id`, and on the rows that belong to a
//! patient's row (a thread's messages, a prescription request's items). The practice is what a
//! database split across machines is distributed by (docs/SCALING.md), so each row can be routed
//! to its practice's shard without a join. Existing rows take the practice of their patient; an
//! outbox or delivery row without a patient (or whose patient is gone) takes the practice of its
//! account, and a work row whose patient and account are both gone is dropped as dead work.
//!
//! PostgreSQL adds the column, fills it and then makes it required. SQLite cannot add a required
//! column with a foreign key, so each table is rebuilt from its stored definition with the
//! column added and its rows copied ([`rebuild_sqlite`]); `down` rebuilds the same way without
//! the column. The migration runs in one transaction on both backends.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How a row finds its practice, as an SQL expression over the row's own columns.
const VIA_PATIENT: &str = "(SELECT p.practice_id FROM patients p WHERE p.id = patient_id)";
const VIA_PATIENT_OR_ACCOUNT: &str = "COALESCE(\
     (SELECT p.practice_id FROM patients p WHERE p.id = patient_id), \
     (SELECT a.practice_id FROM accounts a WHERE a.id = account_id))";
const VIA_THREAD: &str = "(SELECT p.practice_id FROM message_threads t \
     JOIN patients p ON p.id = t.patient_id WHERE t.id = thread_id)";
const VIA_REQUEST: &str = "(SELECT p.practice_id FROM prescription_requests r \
     JOIN patients p ON p.id = r.patient_id WHERE r.id = request_id)";

/// Each table given the practice, how its existing rows find it, and whether a row that finds
/// none is dropped (work rows without a foreign key to their patient) rather than impossible.
const TABLES: [(&str, &str, bool); 14] = [
    ("access_codes", VIA_PATIENT, false),
    ("access_log", VIA_PATIENT, false),
    ("appointments", VIA_PATIENT, false),
    ("courses", VIA_PATIENT, false),
    ("documents", VIA_PATIENT, false),
    ("message_threads", VIA_PATIENT, false),
    ("messages", VIA_THREAD, false),
    ("notification_deliveries", VIA_PATIENT_OR_ACCOUNT, true),
    ("notification_outbox", VIA_PATIENT_OR_ACCOUNT, true),
    ("prescription_requests", VIA_PATIENT, false),
    ("prescription_request_items", VIA_REQUEST, false),
    ("projection_outbox", VIA_PATIENT, true),
    ("record_entries", VIA_PATIENT, false),
    ("results", VIA_PATIENT, false),
];

/// Indexes for the practice's own queues and lists (the review queue, the inbox, the requests
/// waiting for a decision, the day's appointments).
const INDEXES: [(&str, &[&str]); 5] = [
    ("results", &["practice_id", "review_state"]),
    ("documents", &["practice_id", "review_state"]),
    ("message_threads", &["practice_id", "status"]),
    ("prescription_requests", &["practice_id"]),
    ("appointments", &["practice_id"]),
];

/// The column as SQLite's rebuilt tables declare it (the type sea-query gives a UUID there).
const SQLITE_COLUMN: &str = "\"practice_id\" uuid_text NOT NULL \
     REFERENCES \"practices\" (\"id\") ON DELETE CASCADE, ";

fn index_name(table: &str, columns: &[&str]) -> String {
    format!("idx_{table}_{}", columns.join("_"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for (table, practice, drop_orphans) in TABLES {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE {table} ADD COLUMN practice_id uuid \
                         REFERENCES practices (id) ON DELETE CASCADE"
                    ))
                    .await?;
                    db.execute_unprepared(&format!("UPDATE {table} SET practice_id = {practice}"))
                        .await?;
                    if drop_orphans {
                        db.execute_unprepared(&format!(
                            "DELETE FROM {table} WHERE practice_id IS NULL"
                        ))
                        .await?;
                    }
                    db.execute_unprepared(&format!(
                        "ALTER TABLE {table} ALTER COLUMN practice_id SET NOT NULL"
                    ))
                    .await?;
                }
            }
            _ => rebuild_sqlite(db, true).await?,
        }
        for (table, columns) in INDEXES {
            let mut index = Index::create();
            index.name(index_name(table, columns)).table(table);
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, columns) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .name(index_name(table, columns))
                        .table(table)
                        .to_owned(),
                )
                .await?;
        }
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for (table, _, _) in TABLES {
                    db.execute_unprepared(&format!("ALTER TABLE {table} DROP COLUMN practice_id"))
                        .await?;
                }
            }
            _ => rebuild_sqlite(db, false).await?,
        }
        Ok(())
    }
}

/// The name a table is renamed to while SQLite rebuilds it.
fn aside(table: &str) -> String {
    format!("{table}_before_rebuild")
}

/// Rebuilds every table of [`TABLES`] on SQLite, in order (parents before their children),
/// each from its stored definition with the practice column added (`adding`) or removed,
/// copying every row by column name.
///
/// With foreign keys on, SQLite rewrites a renamed table's name in the foreign keys of the
/// tables that refer to it, so each child is defined again with its parent's own name; and the
/// renamed copies are dropped only once every table is rebuilt, children first, so no drop
/// cascades to a row that was kept. Indexes are taken from their stored definitions before any
/// rename and created again at the end.
async fn rebuild_sqlite(db: &SchemaManagerConnection<'_>, adding: bool) -> Result<(), DbErr> {
    let strings = |sql: &'static str, table: &'static str| async move {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                [table.into()],
            ))
            .await?;
        rows.iter()
            .map(|row| row.try_get_by_index::<String>(0))
            .collect::<Result<Vec<_>, DbErr>>()
    };
    let mut indexes = Vec::new();
    for (table, _, _) in TABLES {
        indexes.extend(
            strings(
                "SELECT sql FROM sqlite_master \
                  WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                table,
            )
            .await?,
        );
    }
    for (table, practice, drop_orphans) in TABLES {
        let mut definition = strings(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            table,
        )
        .await?
        .pop()
        .ok_or_else(|| DbErr::Migration(format!("no table {table}")))?;
        for (parent, _, _) in TABLES {
            definition =
                definition.replace(&format!("\"{}\"", aside(parent)), &format!("\"{parent}\""));
        }
        let definition = if adding {
            let open = definition.find('(').map(|at| at + 1).ok_or_else(|| {
                DbErr::Migration(format!("no column list in the definition of {table}"))
            })?;
            format!(
                "{}{SQLITE_COLUMN}{}",
                &definition[..open],
                &definition[open..]
            )
        } else if definition.contains(SQLITE_COLUMN) {
            definition.replacen(SQLITE_COLUMN, "", 1)
        } else {
            return Err(DbErr::Migration(format!(
                "{table} does not declare practice_id as this migration added it"
            )));
        };
        // The columns both versions share, copied by name.
        let columns = strings(
            "SELECT name FROM pragma_table_info(?) WHERE name <> 'practice_id'",
            table,
        )
        .await?
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ");
        let aside = aside(table);
        db.execute_unprepared(&format!("ALTER TABLE \"{table}\" RENAME TO \"{aside}\""))
            .await?;
        db.execute_unprepared(&definition).await?;
        let copy = if adding {
            let only_placed = if drop_orphans {
                format!(" WHERE {practice} IS NOT NULL")
            } else {
                String::new()
            };
            format!(
                "INSERT INTO \"{table}\" ({columns}, \"practice_id\") \
                 SELECT {columns}, {practice} FROM \"{aside}\"{only_placed}"
            )
        } else {
            format!("INSERT INTO \"{table}\" ({columns}) SELECT {columns} FROM \"{aside}\"")
        };
        db.execute_unprepared(&copy).await?;
    }
    for (table, _, _) in TABLES.iter().rev() {
        db.execute_unprepared(&format!("DROP TABLE \"{}\"", aside(table)))
            .await?;
    }
    for index in indexes {
        db.execute_unprepared(&index).await?;
    }
    let broken = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA foreign_key_check",
        ))
        .await?;
    if broken.is_empty() {
        Ok(())
    } else {
        Err(DbErr::Migration(format!(
            "{} rows point at rows that do not exist after rebuilding tables",
            broken.len()
        )))
    }
}
