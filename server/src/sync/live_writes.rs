//! The writes of live connections, committed together. An announcement reaches every
//! connection following the patient at once, and each then writes: the access-log line of its
//! push (written before the frame leaves) and, when the device acknowledges, its sync state.
//! Written one by one, that is a commit (and on SQLite an `fsync`) per connection and write.
//! Here every connection hands its writes to the node's one writer and waits for them to be
//! committed; the writer takes whatever has queued meanwhile and writes it as one statement per
//! table in one transaction. A lone write is written at once, as before; nothing waits for a
//! batch to fill. A read of the whole record over REST writes its seven access-log lines here
//! too (`record::reads::whole_record`), so concurrent reads share a commit. When a batch fails,
//! each connection's writes are tried again alone, so one connection's bad write fails only
//! that connection. `/metrics` counts the batches
//! (`sync_live_writes_batches_total`), the connections' writes in them
//! (`sync_live_writes_jobs_total`: their ratio is the average batch) and the batches retried
//! (`sync_live_writes_batches_retried_total`).

use crate::db::entities::{access_log, device_sync_states};
use crate::error::AppError;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
};
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// One write of a live connection.
#[derive(Debug, Clone)]
pub enum Write {
    /// An access-log line: of a push that delivered items of the record, or of a read of the
    /// whole record over REST.
    AccessLog(access_log::Model),
    /// A device's sync state for one document, after it acknowledged a push.
    SyncState(device_sync_states::Model),
}

/// The node's writer of live connections' writes.
#[derive(Clone)]
pub struct LiveWrites {
    sender: mpsc::Sender<Job>,
}

/// One connection's writes, and where to say they were committed.
struct Job {
    writes: Vec<Write>,
    done: oneshot::Sender<Result<(), AppError>>,
}

/// Jobs taken into one batch at most.
const BATCH: usize = 128;

/// Rows in one statement at most: with a table's columns (eleven at most), well under SQLite's
/// and PostgreSQL's limits on bound values per statement.
const ROWS: usize = 256;

impl LiveWrites {
    /// Starts the writer on `db`; it runs until every handle is dropped.
    pub fn start(db: DatabaseConnection) -> Self {
        let (sender, receiver) = mpsc::channel(4 * BATCH);
        tokio::spawn(run(db, receiver));
        Self { sender }
    }

    /// Writes `writes` in one transaction (with those of other connections), returning once
    /// they are committed.
    pub async fn write(&self, writes: Vec<Write>) -> Result<(), AppError> {
        if writes.is_empty() {
            return Ok(());
        }
        let (done, committed) = oneshot::channel();
        self.sender
            .send(Job { writes, done })
            .await
            .map_err(|_| AppError::internal("the live writer has stopped"))?;
        committed
            .await
            .map_err(|_| AppError::internal("the live writer has stopped"))?
    }
}

async fn run(db: DatabaseConnection, mut receiver: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut jobs, BATCH).await > 0 {
        metrics::counter!("sync_live_writes_batches_total").increment(1);
        metrics::counter!("sync_live_writes_jobs_total").increment(jobs.len() as u64);
        let all: Vec<&Write> = jobs.iter().flat_map(|job| &job.writes).collect();
        match write_all(&db, &all).await {
            Ok(()) => {
                for job in jobs.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            Err(error) if jobs.len() == 1 => {
                if let Some(job) = jobs.pop() {
                    let _ = job.done.send(Err(error));
                }
            }
            Err(_) => {
                metrics::counter!("sync_live_writes_batches_retried_total").increment(1);
                for job in jobs.drain(..) {
                    let alone: Vec<&Write> = job.writes.iter().collect();
                    let _ = job.done.send(write_all(&db, &alone).await);
                }
            }
        }
    }
}

/// Writes `writes`: the access-log lines in one statement, the sync states in another (the last
/// of a device's document wins; [`ROWS`] to a statement), in one transaction when there is
/// more than one statement.
async fn write_all(db: &DatabaseConnection, writes: &[&Write]) -> Result<(), AppError> {
    let mut lines = Vec::new();
    let mut states = BTreeMap::new();
    for write in writes {
        match write {
            Write::AccessLog(line) => lines.push(line.clone().into_active_model().reset_all()),
            Write::SyncState(state) => {
                let key: (Uuid, String) = (state.device_id, state.document_key.clone());
                states.insert(key, state.clone().into_active_model().reset_all());
            }
        }
    }
    // One statement commits alone; more are one transaction.
    if lines.len().div_ceil(ROWS) + states.len().div_ceil(ROWS) <= 1 {
        return write_rows(db, lines, states.into_values().collect()).await;
    }
    let txn = crate::db::begin_write(db).await?;
    write_rows(&txn, lines, states.into_values().collect()).await?;
    txn.commit().await?;
    Ok(())
}

async fn write_rows(
    db: &impl ConnectionTrait,
    lines: Vec<access_log::ActiveModel>,
    states: Vec<device_sync_states::ActiveModel>,
) -> Result<(), AppError> {
    for lines in lines.chunks(ROWS) {
        access_log::Entity::insert_many(lines.to_vec())
            .exec_without_returning(db)
            .await?;
    }
    for states in states.chunks(ROWS) {
        device_sync_states::Entity::insert_many(states.to_vec())
            .on_conflict(sync_state_conflict())
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// A device's sync state replaces the one it had for the document.
pub(super) fn sync_state_conflict() -> OnConflict {
    OnConflict::columns([
        device_sync_states::Column::DeviceId,
        device_sync_states::Column::DocumentKey,
    ])
    .update_columns([
        device_sync_states::Column::Generation,
        device_sync_states::Column::State,
        device_sync_states::Column::UpdatedAt,
    ])
    .to_owned()
}
