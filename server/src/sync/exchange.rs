//! Answers a device: for each document it follows, resolve the viewer (the account acting for
//! that patient), project the permitted items, and run the sync protocol with the device's
//! persisted sync state. A document the viewer may no longer see is answered `removed`; a
//! device on an old generation is told it is superseded; changes a device sends for
//! server-written documents are ignored and counted. The same per-document step serves a
//! device's frame and a live push after a change. The personal document, which devices write,
//! is answered by [`super::personal`] once the account is known to act for the patient.

use super::intents;
use super::personal;
use super::projection::{self, audience};
use crate::access::{slice, viewer};
use crate::config::SyncConfig;
use crate::db::entities::device_sync_states;
use crate::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Set};
use std::collections::BTreeSet;
use sync_protocol::{DocumentBody, DocumentFrame, DocumentId, Frame, Section, server};
use uuid::Uuid;

/// Who is syncing.
#[derive(Debug, Clone, Copy)]
pub struct Syncer {
    /// The account.
    pub account_id: Uuid,
    /// The device (sync states are kept per device).
    pub device_id: Uuid,
}

/// Answers a device's `frame`: first its intents, so the documents in the same reply already
/// show their outcomes, then its documents. Changes to the personal document are validated
/// against the caps in `settings`. A malformed frame applies nothing.
pub async fn handle(
    db: &DatabaseConnection,
    syncer: Syncer,
    frame: &Frame,
    settings: &SyncConfig,
    now: DateTime<Utc>,
) -> Result<Frame, AppError> {
    let mut seen = BTreeSet::new();
    if !frame.documents.iter().all(|d| seen.insert(d.document)) {
        return Err(AppError::new(ErrorCode::MalformedRequest)
            .with_detail("a frame names each document at most once"));
    }
    let mut reply = Frame::new();
    reply.outcomes =
        intents::apply_all(db, syncer.account_id, syncer.device_id, &frame.intents, now).await?;
    let mut ignored = 0;
    for incoming in &frame.documents {
        // Boxed: one document's exchange holds an automerge document across awaits.
        let (frames, count) = Box::pin(document(
            db,
            syncer,
            incoming.document,
            Some(incoming),
            settings,
            now,
        ))
        .await?;
        reply.documents.extend(frames);
        ignored += count;
    }
    if ignored > 0 {
        // Counts only: the changes themselves are never logged.
        tracing::warn!(
            changes = ignored,
            "ignored device changes to server-written documents"
        );
        metrics::counter!("sync_ignored_device_changes_total").increment(ignored as u64);
    }
    Ok(reply)
}

/// What changed for `documents` since the device's last exchange, unprompted (live push).
pub async fn push(
    db: &DatabaseConnection,
    syncer: Syncer,
    documents: &[DocumentId],
    settings: &SyncConfig,
    now: DateTime<Utc>,
) -> Result<Frame, AppError> {
    let mut reply = Frame::new();
    for id in documents {
        let (frames, _) = Box::pin(document(db, syncer, *id, None, settings, now)).await?;
        reply.documents.extend(frames);
    }
    Ok(reply)
}

/// One document's answer, and how many device changes were ignored.
async fn document(
    db: &DatabaseConnection,
    syncer: Syncer,
    id: DocumentId,
    incoming: Option<&DocumentFrame>,
    settings: &SyncConfig,
    now: DateTime<Utc>,
) -> Result<(Vec<DocumentFrame>, usize), AppError> {
    let today = now.date_naive();
    let removed = || {
        (
            vec![DocumentFrame {
                document: id,
                generation: incoming.map_or(0, |f| f.generation),
                body: DocumentBody::Removed,
            }],
            0,
        )
    };
    let Some(facts) = slice::facts(db, id.patient_id).await? else {
        return Ok(removed());
    };
    let Some(viewer) = viewer::for_account(db, syncer.account_id, &facts, today).await? else {
        return Ok(removed());
    };
    if id.section == Section::Personal {
        // The account's own document about the patient (a proxy's is their own, not the
        // patient's); staff never have one.
        if matches!(viewer, crate::access::Viewer::Staff { .. }) {
            return Ok(removed());
        }
        let frames =
            personal::exchange(db, syncer, id, incoming, &settings.personal_limits(), now).await?;
        return Ok((frames, 0));
    }
    let Some(wanted) = projection::permitted(db, &viewer, &facts, id.section, now).await? else {
        return Ok(removed());
    };
    let audience = audience(&viewer, &facts);
    let key = format!("{audience}/{}", projection::section_name(id.section));
    let txn = crate::db::begin_write(db).await?;
    let mut projected = projection::project(
        &txn,
        &audience,
        id.section,
        &wanted,
        settings.history_threshold,
        now,
    )
    .await?;
    let stored = device_sync_states::Entity::find_by_id((syncer.device_id, key.clone()))
        .one(&txn)
        .await?;
    let current = stored
        .as_ref()
        .filter(|s| i64::from(s.generation) == i64::from(projected.generation));
    let mut state = server::device_state(current.map(|s| s.state.as_slice()), false);
    let mut frames = Vec::new();
    // Pushing to a device whose copy belongs to an older generation: tell it first.
    if incoming.is_none() && stored.is_some() && current.is_none() {
        frames.push(DocumentFrame {
            document: id,
            generation: projected.generation,
            body: DocumentBody::Superseded,
        });
    }
    let answer = server::answer(
        id,
        projected.generation,
        &mut projected.doc,
        &mut state,
        false,
        incoming,
    )
    .map_err(|e| AppError::new(ErrorCode::MalformedRequest).with_detail(e.to_string()))?;
    frames.extend(answer.frames);
    save_device_state(
        &txn,
        syncer.device_id,
        key,
        projected.generation,
        &state,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok((frames, answer.ignored_changes))
}

/// Persists a device's sync state for one document (`audience/section`) and generation, so a
/// reconnect costs one round trip.
pub(super) async fn save_device_state(
    db: &impl ConnectionTrait,
    device_id: Uuid,
    document_key: String,
    generation: u32,
    state: &automerge::sync::State,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    device_sync_states::Entity::insert(device_sync_states::ActiveModel {
        device_id: Set(device_id),
        document_key: Set(document_key),
        generation: Set(i32::try_from(generation).unwrap_or(i32::MAX)),
        state: Set(state.encode()),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            device_sync_states::Column::DeviceId,
            device_sync_states::Column::DocumentKey,
        ])
        .update_columns([
            device_sync_states::Column::Generation,
            device_sync_states::Column::State,
            device_sync_states::Column::UpdatedAt,
        ])
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}
