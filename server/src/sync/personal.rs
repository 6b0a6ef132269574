//! The personal document, server side: one per account and patient it acts for (read markers,
//! private notes, items hidden on the account's devices, drafts; the shape is
//! `sync_protocol::personal`). The account's devices write it and the server merges their
//! changes by CRDT, but only after applying them to a fork and validating the result against
//! the configured caps: a change that would make the document malformed or too large is
//! rejected, the stored document stays as it was, and the device is told to start again from
//! the server's copy.
//!
//! The caps count what is stored, history included: when a merged document's saved bytes pass
//! `sync.personal_max_stored_bytes`, its content alone (the winning values, no history) becomes
//! a new generation, and devices on the old one are told it is superseded; a change whose
//! content would not fit even then is rejected. The automerge work runs on the blocking pool,
//! outside any database transaction; the result is written in a short transaction only if the
//! stored document is still the one the work started from (otherwise the exchange starts
//! again from the newer copy).
//!
//! The audience key is `personal:{account_id}:{patient_id}`: a proxy has their own personal
//! document about the patient, never the patient's, and nobody else (staff included) ever gets
//! one. The caller has already resolved the account to a viewer of the patient under the access
//! rules; an adopted change announces the patient so the account's other live devices receive it.

use super::counts::{ChangeCount, Generation};
use super::exchange::{Round, Syncer};
use crate::config::SyncConfig;
use crate::db::entities::{device_sync_states, sync_documents};
use crate::error::{AppError, ErrorCode};
use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use sync_protocol::personal::{self, Invalid};
use sync_protocol::{DocumentBody, DocumentFrame, DocumentId, Section, server};
use uuid::Uuid;

/// Times an exchange starts again when another device's exchange stored the document first.
const ATTEMPTS: usize = 3;

/// The audience key of an account's personal document about a patient (UUIDs without hyphens,
/// so the key fits the 80 characters of `sync_documents.audience`).
pub fn audience(account_id: Uuid, patient_id: Uuid) -> String {
    format!("personal:{}:{}", account_id.simple(), patient_id.simple())
}

/// What the automerge work of one exchange produced.
struct Worked {
    answer: server::Answer,
    state: automerge::sync::State,
    /// The document to store, when the device's changes were adopted.
    adopted: Option<Adopted>,
}

/// A document to store: its saved bytes and change count, and whether it starts a new
/// generation (its history outgrew its content).
struct Adopted {
    bytes: Vec<u8>,
    change_count: usize,
    compacted: bool,
}

/// Answers one device frame (or, when `incoming` is `None`, pushes what the device lacks) for
/// the syncing account's personal document about `id.patient_id`, a patient of `practice_id`.
/// The account must already be known to act for the patient.
#[allow(clippy::too_many_arguments)] // The patient's practice travels with the document id.
pub(super) async fn exchange(
    db: &DatabaseConnection,
    syncer: Syncer,
    id: DocumentId,
    practice_id: Uuid,
    incoming: Option<&DocumentFrame>,
    settings: &SyncConfig,
    round: &Round,
    now: DateTime<Utc>,
) -> Result<Vec<DocumentFrame>, AppError> {
    let audience = audience(syncer.holder.account_id, id.patient_id);
    let key = format!("{audience}/{}", Section::Personal.as_str());
    for _ in 0..ATTEMPTS {
        let row = match current(db, &audience).await? {
            Some(row) => row,
            None => create(db, &audience, now).await?,
        };
        let generation = Generation::from_column(row.generation)?.number();
        let kept = device_sync_states::Entity::find_by_id((syncer.device_id, key.clone()))
            .one(db)
            .await?;
        let on_old_generation = kept
            .as_ref()
            .is_some_and(|s| s.generation != row.generation);
        let persisted = kept
            .filter(|s| s.generation == row.generation)
            .map(|s| s.state);
        let (limits, stored_cap, room) = (
            settings.personal_limits(),
            settings.personal_max_stored_bytes,
            round.room(),
        );
        let (base, owned) = (row.document.clone(), incoming.cloned());
        let worked = round
            .blocking(move || {
                work(
                    id,
                    generation,
                    &base,
                    persisted.as_deref(),
                    owned.as_ref(),
                    &limits,
                    stored_cap,
                    room,
                )
            })
            .await??;
        if let Some(invalid) = worked.answer.rejected {
            // The code only: never the content, the account or the patient.
            tracing::warn!(
                code = invalid.code(),
                "rejected device changes to a personal document"
            );
            metrics::counter!("sync_rejected_personal_changes_total", "code" => invalid.code())
                .increment(1);
        }
        let mut frames = Vec::new();
        if incoming.is_none() && on_old_generation {
            // Pushing to a device whose copy belongs to a compacted generation: tell it first.
            frames.push(superseded(id, generation));
        }
        let Some(adopted) = worked.adopted else {
            frames.extend(worked.answer.frames);
            // A push learns nothing of what the device holds (`save_device_state`).
            if incoming.is_some() {
                super::exchange::save_device_state(
                    db,
                    syncer.device_id,
                    key,
                    generation,
                    &worked.state,
                    now,
                )
                .await?;
            }
            return Ok(frames);
        };
        let txn = crate::db::begin_write(db).await?;
        // Stored by another exchange meanwhile: start again from the newer copy.
        let still = locked(&txn, &audience).await?;
        if still
            .as_ref()
            .is_none_or(|r| r.generation != row.generation || r.document != row.document)
        {
            txn.rollback().await?;
            continue;
        }
        let change_count = ChangeCount::of(adopted.change_count)?.column();
        let stored_generation = if adopted.compacted {
            let next = Generation::from_column(row.generation)?.next()?;
            sync_documents::Entity::update_many()
                .col_expr(sync_documents::Column::SupersededAt, Expr::value(now))
                .filter(sync_documents::Column::Audience.eq(&audience))
                .filter(sync_documents::Column::Section.eq(Section::Personal.as_str()))
                .filter(sync_documents::Column::SupersededAt.is_null())
                .exec(&txn)
                .await?;
            sync_documents::ActiveModel {
                audience: Set(audience.clone()),
                section: Set(Section::Personal.as_str().to_owned()),
                generation: Set(next.column()),
                document: Set(adopted.bytes),
                change_count: Set(change_count),
                heads: Set(None),
                superseded_at: Set(None),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
            metrics::counter!("sync_personal_compactions_total").increment(1);
            next.number()
        } else {
            let mut updated: sync_documents::ActiveModel = row.into();
            updated.document = Set(adopted.bytes);
            updated.change_count = Set(change_count);
            updated.updated_at = Set(now);
            updated.update(&txn).await?;
            generation
        };
        // The account's other live devices hear of it (the announcement carries the patient
        // id only; each connection computes its own documents).
        crate::outbox::mark_dirty(
            &txn,
            practice_id,
            id.patient_id,
            Section::Personal,
            "personal.write",
            now,
        )
        .await?;
        super::exchange::save_device_state(
            &txn,
            syncer.device_id,
            key,
            stored_generation,
            &worked.state,
            now,
        )
        .await?;
        txn.commit().await?;
        frames.extend(worked.answer.frames);
        return Ok(frames);
    }
    Err(AppError::new(ErrorCode::Conflict)
        .with_detail("the personal document kept changing; send the frame again"))
}

/// The automerge work of one exchange about a personal document stored as `stored` (its saved
/// bytes), without the database around it: the answer to the device's frame under the caps in
/// `settings`, and the bytes that would be stored when its changes are adopted. What a device
/// may send is fuzzed through this (`fuzz/`).
pub fn answer_stored(
    id: DocumentId,
    generation: u32,
    stored: &[u8],
    incoming: Option<&DocumentFrame>,
    settings: &SyncConfig,
    room: usize,
) -> Result<(server::Answer, Option<Vec<u8>>), AppError> {
    let worked = work(
        id,
        generation,
        stored,
        None,
        incoming,
        &settings.personal_limits(),
        settings.personal_max_stored_bytes,
        room,
    )?;
    Ok((worked.answer, worked.adopted.map(|adopted| adopted.bytes)))
}

/// The automerge work of one exchange, on the blocking pool: load the stored document, answer
/// the device (validating its changes on a fork), and decide what to store. A merged document
/// whose saved bytes pass `stored_cap` is compacted into a new generation, and the device is
/// answered that generation whole (after a `superseded` notice).
#[allow(clippy::too_many_arguments)]
fn work(
    id: DocumentId,
    generation: u32,
    stored: &[u8],
    persisted: Option<&[u8]>,
    incoming: Option<&DocumentFrame>,
    limits: &personal::Limits,
    stored_cap: usize,
    room: usize,
) -> Result<Worked, AppError> {
    let mut doc = AutoCommit::load(stored).map_err(AppError::internal)?;
    let mut state = server::device_state(persisted, true);
    let answer = server::answer_validated(
        id,
        generation,
        &mut doc,
        &mut state,
        incoming,
        room,
        |fork| {
            personal::validate(fork, limits)?;
            // History counts: a fork that would be stored larger than the cap must at least
            // fit once compacted.
            if fork.clone().save().len() > stored_cap
                && personal::compact(fork)
                    .map_err(|_| Invalid::Unreadable)?
                    .save()
                    .len()
                    > stored_cap
            {
                return Err(Invalid::TooLarge);
            }
            Ok(())
        },
    )
    .map_err(|e| AppError::new(ErrorCode::MalformedRequest).with_detail(e.to_string()))?;
    if !answer.changed {
        return Ok(Worked {
            answer,
            state,
            adopted: None,
        });
    }
    let bytes = doc.save();
    if bytes.len() <= stored_cap {
        let change_count = doc.get_changes(&[]).len();
        return Ok(Worked {
            answer,
            state,
            adopted: Some(Adopted {
                bytes,
                change_count,
                compacted: false,
            }),
        });
    }
    // History has outgrown the content: the content alone becomes the next generation, which
    // the device receives whole (and the account's other devices on their next exchange).
    let mut compacted = personal::compact(&doc).map_err(AppError::internal)?;
    let next = generation
        .checked_add(1)
        .ok_or_else(|| AppError::internal("personal document generation overflow"))?;
    let mut fresh = server::device_state(None, true);
    let whole = server::answer_within(id, next, &mut compacted, &mut fresh, true, None, room)
        .map_err(AppError::internal)?;
    let mut frames = vec![superseded(id, next)];
    frames.extend(whole.frames);
    Ok(Worked {
        answer: server::Answer {
            frames,
            state_reset: true,
            ..answer
        },
        state: fresh,
        adopted: Some(Adopted {
            change_count: compacted.get_changes(&[]).len(),
            bytes: compacted.save(),
            compacted: true,
        }),
    })
}

/// The notice that every generation before `generation` is superseded.
fn superseded(id: DocumentId, generation: u32) -> DocumentFrame {
    DocumentFrame {
        document: id,
        generation,
        body: DocumentBody::Superseded,
    }
}

/// The current personal document row (the newest generation not superseded).
async fn current(
    db: &impl ConnectionTrait,
    audience: &str,
) -> Result<Option<sync_documents::Model>, AppError> {
    Ok(sync_documents::Entity::find()
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::Section.eq(Section::Personal.as_str()))
        .filter(sync_documents::Column::SupersededAt.is_null())
        .order_by_desc(sync_documents::Column::Generation)
        .one(db)
        .await?)
}

/// Creates generation 0, empty, unless another exchange just did; returns the current row.
async fn create(
    db: &DatabaseConnection,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<sync_documents::Model, AppError> {
    sync_documents::Entity::insert(sync_documents::ActiveModel {
        audience: Set(audience.to_owned()),
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
    .exec_without_returning(db)
    .await?;
    current(db, audience)
        .await?
        .ok_or_else(|| AppError::internal("personal document row missing after insert"))
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
        .filter(sync_documents::Column::SupersededAt.is_null())
        .order_by_desc(sync_documents::Column::Generation);
    if db.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query.one(db).await?)
}
