//! Periodic background work of a node: the proxy access time rules ([`crate::proxy::sweep`])
//! every `jobs.proxy_sweep_secs`, the purge of expired idempotency rows (REST keys and sync
//! intents' outcomes, [`crate::http::idempotency::purge_expired`]) every
//! `jobs.idempotency_purge_secs` (a plain `DELETE` of expired rows, safe on every node at once),
//! and the date boundaries of synced documents ([`crate::sync::calendar::mark_due`]) every
//! `jobs.date_boundaries_secs`, whether or not the sweep runs (each boundary is taken by one
//! conditional `DELETE`, so every node may run it at once). Every node runs the schedule; on
//! PostgreSQL a sweep holds a
//! transaction-scoped advisory lock, so when several nodes fire together one sweeps and the
//! others skip that round (SQLite has a single node). A failed run is logged and retried at the
//! next tick; the sweep itself is idempotent for a day, so a repeated run writes nothing new.

use crate::clock::Clock;
use crate::config::JobsConfig;
use crate::proxy::{self, SweepReport};
use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, TransactionTrait,
};
use std::time::Duration;

/// Advisory lock key of the proxy sweep (an arbitrary constant: "gp proxy" in ASCII).
const PROXY_SWEEP_LOCK: i64 = 0x6770_2070_726f_7879;

/// Starts this node's periodic jobs (none when every interval is `0`).
pub fn start(db: DatabaseConnection, clock: Clock, config: &JobsConfig) {
    if config.proxy_sweep_secs > 0 {
        let every = Duration::from_secs(config.proxy_sweep_secs);
        tokio::spawn(proxy_sweeps(db.clone(), clock.clone(), every));
    }
    if config.date_boundaries_secs > 0 {
        let every = Duration::from_secs(config.date_boundaries_secs);
        tokio::spawn(date_boundaries(db.clone(), clock.clone(), every));
    }
    if config.idempotency_purge_secs > 0 {
        let every = Duration::from_secs(config.idempotency_purge_secs);
        tokio::spawn(idempotency_purges(db, clock, every));
    }
}

async fn date_boundaries(db: DatabaseConnection, clock: Clock, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match crate::sync::calendar::mark_due(&db, clock.now()).await {
            Ok(marked) => {
                metrics::counter!("sync_date_boundaries_marked_total")
                    .increment(u64::try_from(marked).unwrap_or(u64::MAX));
                if marked > 0 {
                    tracing::info!(
                        marked,
                        "date boundaries came: patients marked for projection"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "date boundary run failed; retrying later"),
        }
    }
}

async fn idempotency_purges(db: DatabaseConnection, clock: Clock, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match crate::http::idempotency::purge_expired(&db, clock.now()).await {
            Ok(purged) => {
                metrics::counter!("idempotency_rows_purged_total").increment(purged);
            }
            Err(error) => tracing::warn!(%error, "idempotency purge failed; retrying later"),
        }
    }
}

async fn proxy_sweeps(db: DatabaseConnection, clock: Clock, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match run_proxy_sweep(&db, clock.now()).await {
            Ok(Some(report)) => {
                metrics::counter!("proxy_sweeps_total").increment(1);
                if report != SweepReport::default() {
                    tracing::info!(?report, "proxy access sweep applied the time rules");
                }
            }
            Ok(None) => tracing::debug!("proxy access sweep running on another node"),
            Err(error) => tracing::error!(%error, "proxy access sweep failed; retrying later"),
        }
    }
}

/// Runs the proxy sweep once as of `now`, unless another node is running it (`None`).
pub async fn run_proxy_sweep(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Option<SweepReport>, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return proxy::sweep(db, now).await.map(Some);
    }
    // The lock lives as long as this transaction; the sweep writes on other connections.
    let lock = db.begin().await?;
    let locked = lock
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS locked",
            [PROXY_SWEEP_LOCK.into()],
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "locked"))
        .transpose()?
        .unwrap_or(false);
    if !locked {
        lock.rollback().await?;
        return Ok(None);
    }
    let report = proxy::sweep(db, now).await;
    lock.rollback().await?;
    report.map(Some)
}
