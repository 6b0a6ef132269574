//! The server's half of a document exchange, without I/O: given the stored document, its
//! generation and the device's sync state, answer one incoming document frame (or push after a
//! change). Section documents are read-only for devices: their changes are not applied, only
//! counted, so the caller can log them (without content). A document devices write (the
//! personal document) is answered by [`answer_validated`]: the device's changes are applied to a
//! fork, and adopted only if the fork passes validation; otherwise they are rejected.

use crate::documents::DocumentId;
use crate::envelope::{DocumentBody, DocumentFrame, MAX_FRAME_BYTES};
use crate::personal::Invalid;
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
    /// Whether the device's sync state was reset (it was on an old generation, or its changes
    /// were rejected).
    pub state_reset: bool,
    /// Whether the device's changes were adopted and changed the document (the caller stores
    /// it).
    pub changed: bool,
    /// Why the device's changes were rejected, if they were (the document is unchanged).
    pub rejected: Option<Invalid>,
}

/// Makes a state restored from its persisted form ready to push: as if the device had just
/// said it holds exactly the shared heads, so the next message carries the changes after them
/// directly (a restored state alone would only announce heads and wait for the device to ask,
/// two more frames). A device that holds less recovers through the ordinary exchange.
pub fn expect_shared_heads(state: &mut sync::State) {
    let shared = state.shared_heads.clone();
    state.their_heads = Some(shared.clone());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![sync::Have {
        last_sync: shared,
        bloom: sync::BloomFilter::default(),
    }]);
}

/// The code of a `rejected` answer to changes a device made to a read-only document.
pub const READ_ONLY: &str = "read_only";

/// Answers `incoming` (or, when `None`, pushes what the device lacks) for one document.
///
/// - A device on another generation is told `superseded` and sent the current generation in
///   the same frame, except a device whose copy is empty (a new device, or one that destroyed
///   its copy): it is simply answered the current generation.
/// - A device that made changes to a document it may not write (its heads name changes the
///   server does not have) is answered `rejected` with code [`READ_ONLY`] and a sync message
///   from a fresh state: its copy can never converge, so it must start again from empty.
/// - Nothing is answered when the device already holds the server's heads and needs nothing.
pub fn answer(
    id: DocumentId,
    generation: u32,
    doc: &mut AutoCommit,
    state: &mut sync::State,
    device_writable: bool,
    incoming: Option<&DocumentFrame>,
) -> Result<Answer, ExchangeError> {
    answer_within(
        id,
        generation,
        doc,
        state,
        device_writable,
        incoming,
        MESSAGE_ROOM,
    )
}

/// Room for one sync message in a frame: the frame limit less room for the frame's other
/// fields.
pub const MESSAGE_ROOM: usize = MAX_FRAME_BYTES - FRAME_SLACK;

/// Bytes of a frame kept for everything but sync messages (document ids, generations, notices).
pub const FRAME_SLACK: usize = 64 * 1024;

/// [`answer`], with the server's sync message kept within `room` bytes: when the changes a
/// device lacks do not fit, the message carries as many as fit (in causal order) and the device
/// asks for the rest in its next frame, as the ordinary exchange does until both sides are
/// quiet. A message is never dropped: at worst it carries heads and no changes.
pub fn answer_within(
    id: DocumentId,
    generation: u32,
    doc: &mut AutoCommit,
    state: &mut sync::State,
    device_writable: bool,
    incoming: Option<&DocumentFrame>,
    room: usize,
) -> Result<Answer, ExchangeError> {
    let mut answer = Answer::default();
    let message = match incoming {
        Some(DocumentFrame {
            body: DocumentBody::Sync(bytes),
            ..
        }) => Some(
            sync::Message::decode(bytes).map_err(|e| ExchangeError::Malformed(e.to_string()))?,
        ),
        // A device does not send the other bodies; nothing to apply.
        Some(_) | None => None,
    };
    match (incoming, message) {
        (Some(frame), message) if frame.generation != generation => {
            *state = device_state(None, device_writable);
            answer.state_reset = true;
            match message {
                Some(message) if is_empty_copy(&message) && frame.generation < generation => {
                    crate::needs::receive(doc, state, message)?;
                }
                // The device holds a superseded generation: it must destroy it and start
                // again, so the current generation follows at once, whole.
                _ => {
                    answer.frames.push(DocumentFrame {
                        document: id,
                        generation,
                        body: DocumentBody::Superseded,
                    });
                    expect_shared_heads(state);
                }
            }
        }
        (Some(_), Some(message)) => {
            let foreign = !device_writable
                && (!message.changes.is_empty()
                    || !doc.get_missing_deps(&message.heads).is_empty());
            if foreign {
                answer.ignored_changes = message.changes.len();
                *state = device_state(None, device_writable);
                answer.state_reset = true;
                answer.frames.push(DocumentFrame {
                    document: id,
                    generation,
                    body: DocumentBody::Rejected {
                        code: READ_ONLY.to_owned(),
                    },
                });
            } else {
                crate::needs::receive(doc, state, message)?;
            }
        }
        (Some(_), None) => {}
        // A push from a restored state: send the changes after the shared heads directly.
        // Within a connection where the device has spoken, automerge already knows better.
        (None, _) if state.their_heads.is_none() => expect_shared_heads(state),
        (None, _) => {}
    }
    if let Some(message) = reply(doc, state, room) {
        answer.frames.push(DocumentFrame {
            document: id,
            generation,
            body: DocumentBody::Sync(message),
        });
    }
    Ok(answer)
}

/// The push [`answer`] would make to a device whose persisted state (restored, with nothing
/// heard from it since) shares exactly `from`, when `changes` are the raw bytes of every change
/// after `from`, in causal order, leading to `heads`: one sync message carrying them, built
/// without asking automerge to find the changes again and rebuild them from the document's
/// operations (a walk of every operation of the document). `None` when the state does not
/// match (the caller then answers through [`answer_within`]) or the message would not fit in
/// `room`.
pub fn push_changes(
    id: DocumentId,
    generation: u32,
    state: &sync::State,
    from: &[automerge::ChangeHash],
    heads: &[automerge::ChangeHash],
    changes: &[Vec<u8>],
    room: usize,
) -> Option<DocumentFrame> {
    let restored = state.their_heads.is_none() && state.sent_hashes.is_empty();
    if !restored || !state.read_only || state.shared_heads != from || changes.is_empty() {
        return None;
    }
    let mut flags = sync::MessageFlags::new();
    flags.set(sync::MessageFlags::SUPPORTS_SYNC_RESET);
    flags.set(sync::MessageFlags::READ_ONLY);
    let message = sync::Message {
        heads: heads.to_vec(),
        need: Vec::new(),
        have: Vec::new(),
        changes: changes.to_vec().into(),
        flags: Some(flags),
        version: sync::MessageVersion::V1,
    };
    let encoded = message.encode();
    (encoded.len() <= room).then_some(DocumentFrame {
        document: id,
        generation,
        body: DocumentBody::Sync(encoded),
    })
}

/// Whether a device's message comes from an empty copy (no heads, no changes).
fn is_empty_copy(message: &sync::Message) -> bool {
    message.heads.is_empty() && message.changes.is_empty()
}

/// The server's next sync message for a device, encoded, if there is anything to say: nothing
/// when the device is known to hold the server's heads and needs nothing. A read-only
/// document's message carries no bloom filter of the server's changes (the device has nothing
/// the server wants), which keeps a new device's first answer to the changes themselves. A
/// writable document's message carries no flags, so the device never learns that the server
/// could take a whole document in one chunk: devices send changes, which [`crate::guard`] can
/// check. A message larger than `room` is made again from changes alone, as many as fit.
fn reply(doc: &mut AutoCommit, state: &mut sync::State, room: usize) -> Option<Vec<u8>> {
    let up_to_date = state.their_heads.as_deref() == Some(doc.get_heads().as_slice())
        && state.their_need.as_ref().is_none_or(Vec::is_empty);
    if up_to_date {
        return None;
    }
    let before = state.clone();
    let message = shaped(doc.sync().generate_sync_message(state)?, state);
    let encoded = message.clone().encode();
    if encoded.len() <= room {
        return Some(encoded);
    }
    // Too large: again from the state before, without whole-document messages, keeping the
    // changes that fit and forgetting that the others were sent.
    *state = before;
    state.their_capabilities = None;
    let mut message = shaped(doc.sync().generate_sync_message(state)?, state);
    let changes: Vec<Vec<u8>> = message.changes.iter().map(<[u8]>::to_vec).collect();
    message.changes = automerge::sync::ChunkList::empty();
    let mut used = message.clone().encode().len();
    let mut kept = Vec::new();
    let mut fits = true;
    for change in changes {
        // A change's length prefix takes at most 10 bytes.
        fits = fits && used + change.len() + 10 <= room;
        if fits {
            used += change.len() + 10;
            kept.push(change);
        } else if let Ok(dropped) = automerge::Change::from_bytes(change) {
            state.sent_hashes.remove(&dropped.hash());
        }
    }
    message.changes = kept.into();
    Some(message.encode())
}

/// A message as the server sends it: no `have` for a read-only document, no flags for a
/// writable one.
fn shaped(mut message: sync::Message, state: &sync::State) -> sync::Message {
    if state.read_only {
        message.have.clear();
    } else {
        message.flags = None;
    }
    message
}

/// Answers `incoming` for a document the device writes. A sync message carrying changes is
/// applied to a fork of `doc` with a copy of `state`; when the fork passes `validate` both are
/// adopted. Otherwise `doc` is left as it was, the device's state is reset (the server must not
/// believe the device shares the rejected changes, and the device starts again from empty), and
/// the answer is a `rejected` notice followed by a sync message from the fresh state.
pub fn answer_validated(
    id: DocumentId,
    generation: u32,
    doc: &mut AutoCommit,
    state: &mut sync::State,
    incoming: Option<&DocumentFrame>,
    room: usize,
    validate: impl FnOnce(&AutoCommit) -> Result<(), Invalid>,
) -> Result<Answer, ExchangeError> {
    let Some(DocumentFrame {
        generation: sent_generation,
        body: DocumentBody::Sync(bytes),
        ..
    }) = incoming
    else {
        return answer_within(id, generation, doc, state, true, incoming, room);
    };
    if *sent_generation != generation {
        return answer_within(id, generation, doc, state, true, incoming, room);
    }
    let message =
        sync::Message::decode(bytes).map_err(|e| ExchangeError::Malformed(e.to_string()))?;
    let mut answer = Answer::default();
    if message.changes.is_empty() {
        // Heads and bloom filters only: nothing to validate.
        crate::needs::receive(doc, state, message)?;
    } else {
        let before = doc.get_heads();
        let mut fork = doc.fork();
        let mut fork_state = state.clone();
        let applied = crate::needs::receive(&mut fork, &mut fork_state, message);
        let verdict = applied
            .map_err(Invalid::from)
            .and_then(|()| validate(&fork));
        match verdict {
            Ok(()) => {
                answer.changed = fork.get_heads() != before;
                *doc = fork;
                *state = fork_state;
            }
            Err(invalid) => {
                *state = device_state(None, true);
                answer.state_reset = true;
                answer.rejected = Some(invalid);
                answer.frames.push(DocumentFrame {
                    document: id,
                    generation,
                    body: DocumentBody::Rejected {
                        code: invalid.code().to_owned(),
                    },
                });
            }
        }
    }
    if let Some(message) = reply(doc, state, room) {
        answer.frames.push(DocumentFrame {
            document: id,
            generation,
            body: DocumentBody::Sync(message),
        });
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{DevicePeer, Event};
    use crate::documents::Section;
    use crate::envelope::Frame;
    use crate::personal::{self, Limits};

    const LIMITS: Limits = Limits {
        max_bytes: 10_000,
        max_entries: 100,
        max_text_bytes: 50,
    };

    /// Exchanges frames until quiet; returns the events and every frame the server sent.
    fn settle(
        id: DocumentId,
        device: &mut DevicePeer,
        doc: &mut AutoCommit,
        state: &mut sync::State,
    ) -> (Vec<Event>, Vec<DocumentFrame>, bool) {
        let (mut events, mut sent, mut changed) = (Vec::new(), Vec::new(), false);
        for _ in 0..10 {
            let request = device.outgoing();
            let incoming = request.documents.iter().find(|d| d.document == id);
            let answer = answer_validated(id, 0, doc, state, incoming, MESSAGE_ROOM, |fork| {
                personal::validate(fork, &LIMITS)
            })
            .unwrap();
            changed |= answer.changed;
            let reply = Frame {
                documents: answer.frames,
                ..Frame::new()
            };
            sent.extend(reply.documents.clone());
            let quiet = request.is_empty() && reply.is_empty();
            events.extend(device.receive(&reply).unwrap());
            if quiet {
                return (events, sent, changed);
            }
        }
        panic!("no convergence");
    }

    #[test]
    fn valid_changes_are_adopted_and_invalid_ones_rejected_leaving_the_document_unchanged() {
        let id = DocumentId::new(uuid::Uuid::nil(), Section::Personal);
        let mut stored = AutoCommit::new();
        let mut state = device_state(None, true);
        let mut device = DevicePeer::new();
        device.follow(id);
        device
            .edit(id, |doc| personal::set_note(doc, "e1", "kept"))
            .unwrap()
            .unwrap();
        let (_, _, changed) = settle(id, &mut device, &mut stored, &mut state);
        assert!(changed);
        assert_eq!(personal::read(&stored).unwrap().notes["e1"], "kept");
        let heads = stored.get_heads();

        // Too long a note: refused, the stored copy is as it was, the device starts again.
        device
            .edit(id, |doc| personal::set_note(doc, "e2", &"x".repeat(51)))
            .unwrap()
            .unwrap();
        let (events, sent, changed) = settle(id, &mut device, &mut stored, &mut state);
        assert!(!changed);
        assert_eq!(
            stored.get_heads(),
            heads,
            "the stored document is unchanged"
        );
        assert!(
            events.contains(&Event::Rejected {
                document: id,
                code: "too_large".to_owned()
            }),
            "{events:?}"
        );
        assert!(sent.iter().all(|f| {
            match &f.body {
                DocumentBody::Sync(bytes) => sync::Message::decode(bytes)
                    .unwrap()
                    .changes
                    .iter()
                    .all(|c| c.windows(51).all(|w| w != [b'x'; 51])),
                _ => true,
            }
        }));
        let on_device = personal::read(device.document(id).unwrap()).unwrap();
        assert_eq!(on_device.notes.keys().collect::<Vec<_>>(), ["e1"]);

        // After the reset the device writes again, and its valid change is adopted.
        device
            .edit(id, |doc| personal::hide(doc, "e1"))
            .unwrap()
            .unwrap();
        let (_, _, changed) = settle(id, &mut device, &mut stored, &mut state);
        assert!(changed);
        assert!(personal::read(&stored).unwrap().hidden.contains("e1"));
    }

    #[test]
    fn an_answer_larger_than_its_room_is_split_over_several_frames() {
        let id = DocumentId::new(uuid::Uuid::nil(), Section::Record);
        let mut doc = AutoCommit::new();
        let mut wanted = crate::items::Items::new();
        let mut x = 7u64;
        for i in 0..300 {
            // Text deflate cannot shrink much, so the whole document is well over the room.
            let text: String = (0..60)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    char::from(b'a' + ((x >> 33) % 26) as u8)
                })
                .collect();
            let mut fields = crate::items::Fields::new();
            fields.insert(
                "term".to_owned(),
                crate::items::Field::Text(format!("entry {i} {text}")),
            );
            wanted.insert(format!("e{i:03}"), fields);
        }
        crate::items::reconcile(&mut doc, &wanted).unwrap();
        let room = 4_000;
        let mut state = device_state(None, false);
        let mut device = DevicePeer::new();
        device.follow(id);
        let mut frames = 0;
        for _ in 0..200 {
            let request = device.outgoing();
            let incoming = request.documents.iter().find(|d| d.document == id);
            let answer = answer_within(id, 0, &mut doc, &mut state, false, incoming, room).unwrap();
            for frame in &answer.frames {
                if let DocumentBody::Sync(bytes) = &frame.body {
                    assert!(bytes.len() <= room, "{} bytes", bytes.len());
                }
            }
            let reply = Frame {
                documents: answer.frames,
                ..Frame::new()
            };
            frames += 1;
            let quiet = request.is_empty() && reply.is_empty();
            device.receive(&reply).unwrap();
            if quiet {
                break;
            }
        }
        assert!(frames > 3, "split over {frames} frames");
        let held = crate::items::read_items(device.document(id).unwrap()).unwrap();
        assert_eq!(held, wanted, "the device holds everything in the end");
    }

    #[test]
    fn devices_may_edit_only_the_personal_document() {
        let mut device = DevicePeer::new();
        let record = DocumentId::new(uuid::Uuid::nil(), Section::Record);
        assert!(device.edit(record, |_| ()).is_none());
        assert!(device.document(record).is_none());
    }

    #[test]
    fn a_push_of_known_changes_is_the_message_the_exchange_would_send() {
        use automerge::transaction::Transactable as _;
        let id = DocumentId::new(uuid::Uuid::nil(), Section::Record);
        let mut doc = AutoCommit::new();
        for i in 0..20 {
            doc.put(automerge::ROOT, format!("e{i}"), i).unwrap();
            doc.commit();
        }
        // The device acknowledged these heads; its state is persisted.
        let shared = doc.get_heads();
        let mut acknowledged = sync::State::new();
        acknowledged.shared_heads = shared.clone();
        let persisted = acknowledged.encode();
        for i in 20..23 {
            doc.put(automerge::ROOT, format!("e{i}"), i).unwrap();
            doc.commit();
        }
        let changes: Vec<Vec<u8>> = doc
            .get_changes(&shared)
            .iter()
            .map(|change| change.raw_bytes().to_vec())
            .collect();
        let heads = doc.get_heads();

        let mut state = device_state(Some(&persisted), false);
        let fast = push_changes(id, 0, &state, &shared, &heads, &changes, MESSAGE_ROOM).unwrap();
        let answered = answer(id, 0, &mut doc, &mut state, false, None).unwrap();
        assert_eq!(answered.frames, vec![fast.clone()], "byte for byte");

        // A device that holds other heads, or a state that has heard from the device, is left
        // to the exchange; so is a message that does not fit.
        let other = device_state(None, false);
        assert!(push_changes(id, 0, &other, &shared, &heads, &changes, MESSAGE_ROOM).is_none());
        assert!(push_changes(id, 0, &state, &shared, &heads, &changes, MESSAGE_ROOM).is_none());
        let fresh = device_state(Some(&persisted), false);
        assert!(push_changes(id, 0, &fresh, &shared, &heads, &changes, 10).is_none());
        let writable = device_state(Some(&persisted), true);
        assert!(push_changes(id, 0, &writable, &shared, &heads, &changes, MESSAGE_ROOM).is_none());
    }
}
