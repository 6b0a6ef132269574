//! The personal document, server side: one per account and patient it acts for (read markers,
//! private notes, items hidden on the account's devices, drafts; the shape is
//! `sync_protocol::personal`). The account's devices write it and the server merges their
//! changes by CRDT, but only after applying them to a fork and validating the result against
//! the configured caps: a change that would make the document malformed or too large is
//! rejected, the stored document stays as it was, and the device is told to start again from
//! the server's copy.
//!
//! The audience key is `personal:{account_id}:{patient_id}`: a proxy has their own personal
//! document about the patient, never the patient's, and nobody else (staff included) ever gets
//! one. The caller has already resolved the account to a viewer of the patient under the access
//! rules; an adopted change announces the patient so the account's other live devices receive it.

use super::counts::{ChangeCount, Generation};
use super::exchange::Syncer;
use crate::db::entities::{device_sync_states, sync_documents};
use crate::error::{AppError, ErrorCode};
use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, QueryFilter, QuerySelect, Set,
};
use sync_protocol::personal::{self, Limits};
use sync_protocol::{DocumentFrame, DocumentId, Section, server};
use uuid::Uuid;

/// The audience key of an account's personal document about a patient (UUIDs without hyphens,
/// so the key fits the 80 characters of `sync_documents.audience`).
pub fn audience(account_id: Uuid, patient_id: Uuid) -> String {
    format!("personal:{}:{}", account_id.simple(), patient_id.simple())
}

/// Answers one device frame (or, when `incoming` is `None`, pushes what the device lacks) for
/// the syncing account's personal document about `id.patient_id`. The account must already be
/// known to act for the patient.
pub async fn exchange(
    db: &DatabaseConnection,
    syncer: Syncer,
    id: DocumentId,
    incoming: Option<&DocumentFrame>,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Vec<DocumentFrame>, AppError> {
    let audience = audience(syncer.account_id, id.patient_id);
    let key = format!("{audience}/{}", Section::Personal.as_str());
    let txn = crate::db::begin_write(db).await?;
    // Locked for the exchange, so two devices of the account merge one after the other.
    let row = match locked(&txn, &audience).await? {
        Some(row) => row,
        None => {
            sync_documents::Entity::insert(sync_documents::ActiveModel {
                audience: Set(audience.clone()),
                section: Set(Section::Personal.as_str().to_owned()),
                generation: Set(0),
                document: Set(AutoCommit::new().save()),
                change_count: Set(0),
                heads: Set(None),
                superseded_at: Set(None),
                updated_at: Set(now),
            })
            .on_conflict(
                OnConflict::columns([
                    sync_documents::Column::Audience,
                    sync_documents::Column::Section,
                    sync_documents::Column::Generation,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
            locked(&txn, &audience)
                .await?
                .ok_or_else(|| AppError::internal("personal document row missing after insert"))?
        }
    };
    let generation = Generation::from_column(row.generation)?.number();
    let mut doc = AutoCommit::load(&row.document).map_err(AppError::internal)?;
    let stored = device_sync_states::Entity::find_by_id((syncer.device_id, key.clone()))
        .one(&txn)
        .await?
        .filter(|s| s.generation == row.generation);
    let mut state = server::device_state(stored.as_ref().map(|s| s.state.as_slice()), true);
    let answer = server::answer_validated(id, generation, &mut doc, &mut state, incoming, |fork| {
        personal::validate(fork, limits)
    })
    .map_err(|e| AppError::new(ErrorCode::MalformedRequest).with_detail(e.to_string()))?;
    if let Some(invalid) = answer.rejected {
        // The code only: never the content, the account or the patient.
        tracing::warn!(
            code = invalid.code(),
            "rejected device changes to a personal document"
        );
        metrics::counter!("sync_rejected_personal_changes_total", "code" => invalid.code())
            .increment(1);
    }
    if answer.changed {
        let change_count = ChangeCount::of(doc.get_changes(&[]).len())?.column();
        let mut updated: sync_documents::ActiveModel = row.into();
        updated.document = Set(doc.save());
        updated.change_count = Set(change_count);
        updated.updated_at = Set(now);
        updated.update(&txn).await?;
        // The account's other live devices hear of it (the announcement carries the patient
        // id only; each connection computes its own documents).
        crate::outbox::mark_dirty(
            &txn,
            id.patient_id,
            Section::Personal,
            "personal.write",
            now,
        )
        .await?;
    }
    super::exchange::save_device_state(&txn, syncer.device_id, key, generation, &state, now)
        .await?;
    txn.commit().await?;
    Ok(answer.frames)
}

/// The current personal document row, locked until the transaction ends (PostgreSQL; a SQLite
/// write transaction holds the database's write lock already).
async fn locked(
    db: &impl ConnectionTrait,
    audience: &str,
) -> Result<Option<sync_documents::Model>, AppError> {
    let mut query = sync_documents::Entity::find()
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::Section.eq(Section::Personal.as_str()))
        .filter(sync_documents::Column::Generation.eq(0));
    if db.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query.one(db).await?)
}
