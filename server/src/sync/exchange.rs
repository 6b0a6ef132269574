//! Answers one frame from a device: for each document it follows, resolve the viewer (the
//! account acting for that patient), project the permitted items, and run the sync protocol
//! with the device's persisted sync state. A document the viewer may no longer see is answered
//! `removed`; changes a device sends for server-written documents are ignored and counted.

use super::intents;
use super::projection::{self, audience};
use crate::access::{slice, viewer};
use crate::db::entities::device_sync_states;
use crate::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set, TransactionTrait};
use std::collections::BTreeSet;
use sync_protocol::{DocumentBody, DocumentFrame, Frame, server};
use uuid::Uuid;

/// Who is syncing.
#[derive(Debug, Clone, Copy)]
pub struct Syncer {
    /// The account.
    pub account_id: Uuid,
    /// The device (sync states are kept per device).
    pub device_id: Uuid,
}

/// Answers `frame`.
pub async fn handle(
    db: &DatabaseConnection,
    syncer: Syncer,
    frame: &Frame,
    now: DateTime<Utc>,
) -> Result<Frame, AppError> {
    let today = now.date_naive();
    let mut reply = Frame::new();
    let mut seen = BTreeSet::new();
    let mut ignored = 0;
    for incoming in &frame.documents {
        let id = incoming.document;
        if !seen.insert(id) {
            return Err(AppError::new(ErrorCode::MalformedRequest)
                .with_detail("a frame names each document at most once"));
        }
        let removed = DocumentFrame {
            document: id,
            generation: incoming.generation,
            body: DocumentBody::Removed,
        };
        let Some(facts) = slice::facts(db, id.patient_id).await? else {
            reply.documents.push(removed);
            continue;
        };
        let Some(viewer) = viewer::for_account(db, syncer.account_id, &facts, today).await? else {
            reply.documents.push(removed);
            continue;
        };
        let Some(wanted) = projection::permitted(db, &viewer, &facts, id.section, today).await?
        else {
            reply.documents.push(removed);
            continue;
        };
        let audience = audience(&viewer, &facts);
        let key = format!("{audience}/{}", projection::section_name(id.section));
        let txn = db.begin().await?;
        let mut projected = projection::project(&txn, &audience, id.section, &wanted, now).await?;
        let stored = device_sync_states::Entity::find_by_id((syncer.device_id, key.clone()))
            .one(&txn)
            .await?
            .filter(|s| i64::from(s.generation) == i64::from(projected.generation));
        let mut state = server::device_state(stored.as_ref().map(|s| s.state.as_slice()), false);
        let answer = server::answer(
            id,
            projected.generation,
            &mut projected.doc,
            &mut state,
            false,
            Some(incoming),
        )
        .map_err(|e| AppError::new(ErrorCode::MalformedRequest).with_detail(e.to_string()))?;
        ignored += answer.ignored_changes;
        device_sync_states::Entity::insert(device_sync_states::ActiveModel {
            device_id: Set(syncer.device_id),
            document_key: Set(key),
            generation: Set(i32::try_from(projected.generation).unwrap_or(i32::MAX)),
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
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        reply.documents.extend(answer.frames);
    }
    if ignored > 0 {
        // Counts only: the changes themselves are never logged.
        tracing::warn!(
            changes = ignored,
            "ignored device changes to server-written documents"
        );
        metrics::counter!("sync_ignored_device_changes_total").increment(ignored as u64);
    }
    reply.outcomes =
        intents::apply_all(db, syncer.account_id, syncer.device_id, &frame.intents, now).await?;
    Ok(reply)
}
