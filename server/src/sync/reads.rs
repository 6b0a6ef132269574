//! Reads through sync, in the patient's access log: every delivery of items of the record,
//! results or documents document to a device is one line (who: the patient, or the proxy with
//! their relationship; which device; which document; when), written before the frame leaves,
//! whatever the number of items it carries (`exchange`'s `Round::record_delivery` writes it, or
//! in a live push hands it to the node's writer). A frame that carries no changes (heads only, a
//! `superseded` or `removed` notice) delivers nothing and is not logged.

use sync_protocol::{DocumentBody, DocumentFrame, DocumentId, Section};

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
