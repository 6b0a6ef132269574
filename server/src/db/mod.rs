//! Database access: connecting with durable settings, running migrations and the sea-orm
//! entities. SQLite (the embedded default) and PostgreSQL (production) behave alike here.

pub mod entities;
pub mod local_reads;

use crate::config::Config;
use gp_online_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, RuntimeErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use secrecy::ExposeSecret;
use std::time::Duration;

/// Why the database could not be opened; never includes the URL (it may hold a password).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The data directory for the SQLite file could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database did not answer or refused the connection.
    #[error("cannot reach the {backend} database: {reason}")]
    Unreachable {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The driver's reason, with credentials removed.
        reason: String,
    },
}

/// Connects to the configured database. SQLite runs in WAL mode with `synchronous=FULL` and
/// foreign keys on, so an acknowledged write survives power loss; PostgreSQL keeps its
/// durable defaults (`fsync`, `synchronous_commit`).
pub async fn connect(config: &Config) -> Result<DatabaseConnection, ConnectError> {
    let url = config.database_url();
    let url = url.expose_secret();
    let backend = if url.starts_with("sqlite:") {
        if config.database.url.is_none() {
            let dir = &config.server.data_dir;
            std::fs::create_dir_all(dir).map_err(|source| ConnectError::DataDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        "sqlite"
    } else {
        "postgres"
    };
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(config.database.max_connections)
        .connect_timeout(Duration::from_secs(config.database.connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(config.database.connect_timeout_secs))
        // A pooled connection is pinged before use only when it sat idle for a second or more
        // (one that may have gone stale, as after a database restart): a ping on every
        // checkout doubled the round trips of a request made of short queries.
        .test_before_acquire_if_idle_for(Duration::from_secs(1))
        // Statements are logged by our own spans; sqlx's logging would print bound values.
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|options| {
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
        });
    Database::connect(options)
        .await
        .map_err(|error| ConnectError::Unreachable {
            backend,
            reason: redact(&error.to_string(), url),
        })
}

/// Removes the URL (and so any password in it) from a driver message.
fn redact(message: &str, url: &str) -> String {
    message.replace(url, "<database url>")
}

/// Brings the schema up to date.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// `sqlite` or `postgres`, for readiness output and logs.
pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => "sqlite",
        DatabaseBackend::Postgres => "postgres",
        _ => "other",
    }
}

/// Whether `error` means the database is out of reach for now, so the same request may succeed a
/// moment later: it is restarting or unreachable, the connection broke, the pool has no
/// connection to give within its timeout, PostgreSQL refuses connections (SQLSTATE class 08,
/// `57P01`–`57P03` shutdown and start-up, `53300` too many connections), or another writer held
/// SQLite's lock past the busy timeout. These answer 503 with `Retry-After`, never 500; a
/// constraint violation or a bad query is not one of them.
pub fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Driver;
    let runtime = match error {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    let RuntimeErr::SqlxError(driver) = runtime else {
        return matches!(error, DbErr::Conn(_));
    };
    match driver.as_ref() {
        Driver::Io(_)
        | Driver::Tls(_)
        | Driver::Protocol(_)
        | Driver::PoolTimedOut
        | Driver::PoolClosed
        | Driver::WorkerCrashed => true,
        Driver::Database(database) => {
            if database
                .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                .is_some()
            {
                // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes in the high bits.
                let primary = database
                    .code()
                    .and_then(|code| code.parse::<i32>().ok())
                    .map(|code| code & 0xff);
                matches!(primary, Some(5 | 6))
            } else {
                database.code().is_some_and(|code| {
                    code.starts_with("08")
                        || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
                })
            }
        }
        _ => false,
    }
}

/// The database, or a transaction on it: what a service function that runs its own write
/// transaction ([`begin_write`]) accepts, so a caller may run it inside a larger transaction.
pub trait Writer: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction> {}

impl<T: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>> Writer for T {}

/// Begins a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`IMMEDIATE`), so a transaction that reads and then writes never fails because another
/// writer committed in between (SQLite cannot upgrade a stale read snapshot); waiting for the
/// lock is bounded by the busy timeout. PostgreSQL locks rows as they are written or read
/// `FOR UPDATE`.
///
/// Inside another transaction (a [`Writer`] that is one) it is a savepoint of that transaction:
/// its work commits or rolls back with the outer one, and an error inside it rolls back to the
/// savepoint without spoiling the outer transaction (sync intents apply a service function and
/// record its outcome in one transaction this way).
pub async fn begin_write(db: &impl Writer) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}
