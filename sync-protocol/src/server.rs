//! The server's half of a document exchange, without I/O: given the stored document, its
//! generation and the device's sync state, answer one incoming document frame (or push after a
//! change). Section documents are read-only for devices: their changes are not applied, only
//! counted, so the caller can log them (without content).

use crate::documents::DocumentId;
use crate::envelope::{DocumentBody, DocumentFrame};
use automerge::AutoCommit;
use automerge::sync::{self, SyncDoc};

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The device's sync message could not be decoded.
    #[error("malformed sync message: {0}")]
    Malformed(String),
    /// automerge refused the message.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// A device's sync state as the server keeps it: restored from its persisted form (which
/// also clears anything "in flight" from a lost connection), read-only unless the device may
/// write the document.
pub fn device_state(persisted: Option<&[u8]>, device_writable: bool) -> sync::State {
    let mut state = persisted
        .and_then(|bytes| sync::State::decode(bytes).ok())
        .unwrap_or_default();
    state.read_only = !device_writable;
    state
}

/// What answering one document produced.
#[derive(Debug, Default)]
pub struct Answer {
    /// Frames to send back (a supersede notice first, when the device is behind).
    pub frames: Vec<DocumentFrame>,
    /// Changes the device sent for a document it may not write, ignored.
    pub ignored_changes: usize,
    /// Whether the device's sync state was reset (it was on an old generation).
    pub state_reset: bool,
}

/// Answers `incoming` (or, when `None`, pushes what the device lacks) for one document.
pub fn answer(
    id: DocumentId,
    generation: u32,
    doc: &mut AutoCommit,
    state: &mut sync::State,
    device_writable: bool,
    incoming: Option<&DocumentFrame>,
) -> Result<Answer, ExchangeError> {
    let mut answer = Answer::default();
    match incoming {
        Some(frame) if frame.generation != generation => {
            // The device holds a superseded generation: it must destroy it and start again.
            *state = device_state(None, device_writable);
            answer.state_reset = true;
            answer.frames.push(DocumentFrame {
                document: id,
                generation,
                body: DocumentBody::Superseded,
            });
        }
        Some(DocumentFrame {
            body: DocumentBody::Sync(bytes),
            ..
        }) => {
            let message = sync::Message::decode(bytes)
                .map_err(|e| ExchangeError::Malformed(e.to_string()))?;
            if state.read_only {
                answer.ignored_changes = message.changes.len();
            }
            doc.sync().receive_sync_message(state, message)?;
        }
        // A device does not send supersede or removal notices; nothing to apply.
        Some(_) | None => {}
    }
    if let Some(message) = doc.sync().generate_sync_message(state) {
        answer.frames.push(DocumentFrame {
            document: id,
            generation,
            body: DocumentBody::Sync(message.encode()),
        });
    }
    Ok(answer)
}
