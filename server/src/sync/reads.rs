//! Reads through sync, in the patient's access log: every delivery of items of the record,
//! results or documents document to a device is one line (who: the patient, or the proxy with
//! their relationship; which device; which document; when), written before the frame leaves,
//! whatever the number of items it carries. A frame that carries no changes (heads only, a
//! `superseded` or `removed` notice) delivers nothing and is not logged.

use crate::access::Viewer;
use crate::access::rules::PatientFacts;
use crate::record::access_log;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use sync_protocol::{DocumentBody, DocumentFrame, DocumentId, Section};
use uuid::Uuid;

/// Records the delivery of `frames` about document `id` to `device_id`, when they carry items
/// of a record section.
pub async fn record_delivery(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    id: DocumentId,
    device_id: Uuid,
    frames: &[DocumentFrame],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if !delivers_items(id, frames) {
        return Ok(());
    }
    let section = id.section.as_str();
    access_log::record_sync_delivery(db, viewer, facts, section, device_id, now).await
}

/// Whether `frames` about document `id` deliver items of a record section, so their delivery
/// is logged.
pub fn delivers_items(id: DocumentId, frames: &[DocumentFrame]) -> bool {
    matches!(
        id.section,
        Section::Record | Section::Results | Section::Documents
    ) && frames.iter().any(carries_changes)
}

/// Whether a frame carries document changes (items), not only heads or a notice.
fn carries_changes(frame: &DocumentFrame) -> bool {
    match &frame.body {
        DocumentBody::Sync(bytes) => automerge::sync::Message::decode(bytes)
            .map(|message| !message.changes.is_empty())
            // Unreadable here means unreadable to the device too, but count it as sent.
            .unwrap_or(true),
        _ => false,
    }
}
