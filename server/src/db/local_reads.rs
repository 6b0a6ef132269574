//! Reads on SQLite answered on the calling thread.
//!
//! sqlx's SQLite driver runs every statement on the connection's own thread: a query is a
//! hand-off to that thread and back, and returning the connection to the pool is a second one
//! (it pings the connection). For the short reads every request makes (its session, the
//! patient's facts, the grants it acts under) those hand-offs cost more than SQLite's own work:
//! most of the CPU of an authenticated `GET /api/v1/me` was thread wake-ups (docs/PERFORMANCE.md).
//!
//! [`Reads`] is a [`ConnectionTrait`] for those reads. On SQLite a query is run on the calling
//! thread by one of a few read-only connections of its own (WAL mode: a reader never waits for
//! the writer), from the same SQL and bound values sea-orm built, and its rows are typed by the
//! column types of the entities they come from ([`column_types`]); the rows reach sea-orm as the
//! same [`QueryResult`]s, so the calling code is the code every other read uses. A statement
//! this path cannot type (a computed column, a value kind outside the schema's), a busy database
//! or no free connection is answered by the pool instead, and so is everything on PostgreSQL
//! and every write. Values are bound exactly as sqlx binds them (UUIDs as 16-byte blobs,
//! instants as RFC 3339 text, dates as `YYYY-MM-DD`), so comparisons agree with what sqlx wrote.

use crate::db::entities::column_types;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
use sea_orm::sea_query::{ColumnType, Value};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, ExecResult, MockDatabase,
    QueryResult, Statement,
};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Read-only connections per database: one per core is enough, as a read holds one only while
/// it runs on a runtime thread, never across an `.await`.
fn connections_wanted() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get().max(2))
}

/// Distinct statements whose column kinds one connection remembers (statements with `IN`
/// lists of varying length are distinct); past this the memory is cleared.
const KINDS_REMEMBERED: usize = 512;

/// The pool, and on SQLite the connections that answer reads on the calling thread.
#[derive(Clone)]
pub struct Reads {
    db: DatabaseConnection,
    local: Arc<OnceCell<Option<Local>>>,
}

/// The read-only connections to the SQLite file, opened on first use.
struct Local {
    path: PathBuf,
    slots: Vec<Mutex<Option<Slot>>>,
    next: AtomicUsize,
    answered: AtomicU64,
}

/// One read-only connection and the column kinds of the statements it has run.
struct Slot {
    conn: rusqlite::Connection,
    kinds: HashMap<String, Option<Arc<[Column]>>>,
}

/// A row: each column's value by the column's name, as sea-orm reads it.
type Row = BTreeMap<String, Value>;

/// A result column: its name and the kind of value it holds.
struct Column {
    name: String,
    kind: Kind,
}

/// The value kinds of the schema, each read into the [`Value`] variant sea-orm expects.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    BigInt,
    Bool,
    Double,
    Text,
    Bytes,
    Uuid,
    Instant,
    Date,
    Json,
}

/// A statement this path leaves to the pool: it cannot be typed or bound here, the database
/// was busy, or no connection was free.
struct Defer;

impl Reads {
    /// Reads through `db`, on the calling thread where `db` is a SQLite file.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            local: Arc::new(OnceCell::new()),
        }
    }

    /// How many statements were answered on the calling thread (for tests and profiles).
    pub fn answered_locally(&self) -> u64 {
        self.local
            .get()
            .and_then(Option::as_ref)
            .map_or(0, |local| local.answered.load(Ordering::Relaxed))
    }

    /// The local connections, if the database is a SQLite file.
    async fn local(&self) -> Option<&Local> {
        self.local
            .get_or_init(|| async {
                if self.db.get_database_backend() != DatabaseBackend::Sqlite {
                    return None;
                }
                let list = Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA database_list");
                let rows = self.db.query_all_raw(list).await.ok()?;
                let path = rows.iter().find_map(|row| {
                    let name: String = row.try_get("", "name").ok()?;
                    let file: String = row.try_get("", "file").ok()?;
                    (name == "main" && !file.is_empty()).then_some(file)
                })?;
                Some(Local {
                    path: PathBuf::from(path),
                    slots: (0..connections_wanted())
                        .map(|_| Mutex::new(None))
                        .collect(),
                    next: AtomicUsize::new(0),
                    answered: AtomicU64::new(0),
                })
            })
            .await
            .as_ref()
    }

    /// `stmt`'s rows read on the calling thread, or `None` for the pool to answer.
    async fn query(&self, stmt: &Statement, limit: Option<usize>) -> Option<Vec<QueryResult>> {
        let local = self.local().await?;
        let Ok(rows) = local.query(stmt, limit) else {
            metrics::counter!("db_local_reads_deferred_total").increment(1);
            return None;
        };
        local.answered.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("db_local_reads_total").increment(1);
        // sea-orm makes typed rows readable only through its mock connection (its `proxy`
        // feature, the other way, does not build in this version): they pass through one,
        // which answers whatever it is asked with them.
        let empty = Statement::from_string(DatabaseBackend::Sqlite, String::new());
        MockDatabase::new(DatabaseBackend::Sqlite)
            .append_query_results([rows])
            .into_connection()
            .query_all_raw(empty)
            .await
            .ok()
    }
}

impl Local {
    /// Runs `stmt` on a free connection, or defers when none is free.
    fn query(&self, stmt: &Statement, limit: Option<usize>) -> Result<Vec<Row>, Defer> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.slots.len() {
            let Ok(mut guard) = self.slots[(start + i) % self.slots.len()].try_lock() else {
                continue;
            };
            if guard.is_none() {
                *guard = Some(self.open().map_err(|_| Defer)?);
            }
            let slot = guard.as_mut().ok_or(Defer)?;
            return slot.query(stmt, limit);
        }
        Err(Defer)
    }

    fn open(&self) -> rusqlite::Result<Slot> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Busy means a moment's wait; the pool's connections wait for it, this thread does not.
        conn.busy_timeout(std::time::Duration::ZERO)?;
        conn.set_prepared_statement_cache_capacity(KINDS_REMEMBERED);
        Ok(Slot {
            conn,
            kinds: HashMap::new(),
        })
    }
}

impl Slot {
    fn query(&mut self, stmt: &Statement, limit: Option<usize>) -> Result<Vec<Row>, Defer> {
        let mut prepared = self.conn.prepare_cached(&stmt.sql).map_err(|_| Defer)?;
        if self.kinds.len() >= KINDS_REMEMBERED {
            self.kinds.clear();
        }
        let columns = match self.kinds.get(&stmt.sql) {
            Some(columns) => columns.clone(),
            None => {
                let columns = columns_of(&prepared);
                self.kinds.insert(stmt.sql.clone(), columns.clone());
                columns
            }
        }
        .ok_or(Defer)?;
        for (i, value) in stmt.values.iter().flat_map(|v| v.0.iter()).enumerate() {
            prepared
                .raw_bind_parameter(i + 1, bound(value)?)
                .map_err(|_| Defer)?;
        }
        let mut rows = prepared.raw_query();
        let mut out = Vec::new();
        while limit.is_none_or(|limit| out.len() < limit) {
            let Some(row) = rows.next().map_err(|_| Defer)? else {
                break;
            };
            let mut values = BTreeMap::new();
            for (i, column) in columns.iter().enumerate() {
                let raw = row.get_ref(i).map_err(|_| Defer)?;
                values.insert(column.name.clone(), read(column.kind, raw)?);
            }
            out.push(values);
        }
        Ok(out)
    }
}

/// The kinds of a statement's result columns, or `None` when one is not a column of a table
/// of the schema (an expression, a count).
fn columns_of(stmt: &rusqlite::Statement<'_>) -> Option<Arc<[Column]>> {
    let types = column_types();
    stmt.columns_with_metadata()
        .iter()
        .map(|meta| {
            let key = (meta.table_name()?, meta.origin_name()?);
            let kind = kind_of(types.get(&key)?)?;
            Some(Column {
                name: meta.name().to_owned(),
                kind,
            })
        })
        .collect()
}

fn kind_of(column_type: &ColumnType) -> Option<Kind> {
    Some(match column_type {
        ColumnType::Integer => Kind::Int,
        ColumnType::BigInteger => Kind::BigInt,
        ColumnType::Boolean => Kind::Bool,
        ColumnType::Double => Kind::Double,
        ColumnType::Char(_) | ColumnType::String(_) | ColumnType::Text => Kind::Text,
        ColumnType::Blob | ColumnType::Binary(_) | ColumnType::VarBinary(_) => Kind::Bytes,
        ColumnType::Uuid => Kind::Uuid,
        ColumnType::TimestampWithTimeZone => Kind::Instant,
        ColumnType::Date => Kind::Date,
        ColumnType::Json | ColumnType::JsonBinary => Kind::Json,
        _ => return None,
    })
}

/// A bound value as sqlx binds it on SQLite.
fn bound(value: &Value) -> Result<ToSqlOutput<'_>, Defer> {
    fn owned(v: Sql) -> Result<ToSqlOutput<'static>, Defer> {
        Ok(ToSqlOutput::Owned(v))
    }
    fn borrowed(v: ValueRef<'_>) -> Result<ToSqlOutput<'_>, Defer> {
        Ok(ToSqlOutput::Borrowed(v))
    }
    match value {
        Value::Bool(Some(b)) => owned(Sql::Integer(i64::from(*b))),
        Value::TinyInt(Some(i)) => owned(Sql::Integer(i64::from(*i))),
        Value::SmallInt(Some(i)) => owned(Sql::Integer(i64::from(*i))),
        Value::Int(Some(i)) => owned(Sql::Integer(i64::from(*i))),
        Value::BigInt(Some(i)) => owned(Sql::Integer(*i)),
        Value::TinyUnsigned(Some(i)) => owned(Sql::Integer(i64::from(*i))),
        Value::SmallUnsigned(Some(i)) => owned(Sql::Integer(i64::from(*i))),
        Value::Unsigned(Some(i)) => owned(Sql::Integer(i64::from(*i))),
        Value::BigUnsigned(Some(i)) => owned(Sql::Integer(i64::try_from(*i).map_err(|_| Defer)?)),
        Value::Double(Some(f)) => owned(Sql::Real(*f)),
        Value::String(Some(s)) => borrowed(ValueRef::Text(s.as_bytes())),
        Value::Bytes(Some(b)) => borrowed(ValueRef::Blob(b)),
        Value::Uuid(Some(u)) => borrowed(ValueRef::Blob(u.as_bytes())),
        Value::ChronoDate(Some(d)) => owned(Sql::Text(d.format("%F").to_string())),
        Value::ChronoDateTimeUtc(Some(t)) => {
            owned(Sql::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false)))
        }
        Value::Json(Some(j)) => owned(Sql::Text(j.to_string())),
        v if is_null(v) => owned(Sql::Null),
        _ => Err(Defer),
    }
}

/// Whether `value` is a null of a kind this path binds.
fn is_null(value: &Value) -> bool {
    matches!(
        value,
        Value::Bool(None)
            | Value::TinyInt(None)
            | Value::SmallInt(None)
            | Value::Int(None)
            | Value::BigInt(None)
            | Value::TinyUnsigned(None)
            | Value::SmallUnsigned(None)
            | Value::Unsigned(None)
            | Value::BigUnsigned(None)
            | Value::Double(None)
            | Value::String(None)
            | Value::Bytes(None)
            | Value::Uuid(None)
            | Value::ChronoDate(None)
            | Value::ChronoDateTimeUtc(None)
            | Value::Json(None)
    )
}

/// A stored value as the [`Value`] variant of its kind (sea-orm reads each field from exactly
/// that variant, a typed null included).
fn read(kind: Kind, raw: ValueRef<'_>) -> Result<Value, Defer> {
    fn text(raw: ValueRef<'_>) -> Result<&str, Defer> {
        raw.as_str().map_err(|_| Defer)
    }
    if raw == ValueRef::Null {
        return Ok(match kind {
            Kind::Int => Value::Int(None),
            Kind::BigInt => Value::BigInt(None),
            Kind::Bool => Value::Bool(None),
            Kind::Double => Value::Double(None),
            Kind::Text => Value::String(None),
            Kind::Bytes => Value::Bytes(None),
            Kind::Uuid => Value::Uuid(None),
            Kind::Instant => Value::ChronoDateTimeUtc(None),
            Kind::Date => Value::ChronoDate(None),
            Kind::Json => Value::Json(None),
        });
    }
    let value = match kind {
        Kind::Int => {
            let i = raw.as_i64().map_err(|_| Defer)?;
            Value::Int(Some(i32::try_from(i).map_err(|_| Defer)?))
        }
        Kind::BigInt => Value::BigInt(Some(raw.as_i64().map_err(|_| Defer)?)),
        Kind::Bool => Value::Bool(Some(raw.as_i64().map_err(|_| Defer)? != 0)),
        Kind::Double => Value::Double(Some(match raw {
            ValueRef::Integer(i) => i as f64,
            _ => raw.as_f64().map_err(|_| Defer)?,
        })),
        Kind::Text => Value::String(Some(text(raw)?.to_owned())),
        Kind::Bytes => Value::Bytes(Some(raw.as_blob().map_err(|_| Defer)?.to_vec())),
        Kind::Uuid => Value::Uuid(Some(match raw {
            ValueRef::Blob(b) => uuid::Uuid::from_slice(b).map_err(|_| Defer)?,
            _ => text(raw)?.parse().map_err(|_| Defer)?,
        })),
        Kind::Instant => Value::ChronoDateTimeUtc(Some(
            DateTime::parse_from_rfc3339(text(raw)?)
                .map_err(|_| Defer)?
                .with_timezone(&Utc),
        )),
        Kind::Date => Value::ChronoDate(Some(
            NaiveDate::parse_from_str(text(raw)?, "%F").map_err(|_| Defer)?,
        )),
        Kind::Json => Value::Json(Some(serde_json::from_str(text(raw)?).map_err(|_| Defer)?)),
    };
    Ok(value)
}

#[async_trait::async_trait]
impl ConnectionTrait for Reads {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.db.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.db.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self.query(&stmt, Some(1)).await {
            Some(rows) => Ok(rows.into_iter().next()),
            None => self.db.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self.query(&stmt, None).await {
            Some(rows) => Ok(rows),
            None => self.db.query_all_raw(stmt).await,
        }
    }
}
