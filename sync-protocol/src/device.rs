//! The device's half: a sans-I/O peer that keeps its documents, their generations and sync
//! states, and its queue of intents. The SDK wraps it with storage and a transport; tests use it
//! as the device.
//!
//! Each connection should start from persisted sync states ([`DevicePeer::reconnect`]), which
//! is also how a lost, duplicated or reordered message is recovered from: automerge's sync
//! protocol assumes an in-order stream within one connection.

use crate::documents::DocumentId;
use crate::envelope::{DocumentBody, DocumentFrame, Frame};
use crate::intents::{Intent, IntentOutcome};
use crate::items::{self, ItemError, Items};
use automerge::AutoCommit;
use automerge::sync::{self, SyncDoc};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// Something the app should react to.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A document's content changed.
    Changed(DocumentId),
    /// A generation was superseded: its local copy was destroyed and a new one started.
    Superseded(DocumentId),
    /// The viewer may no longer see this document: it was destroyed.
    Removed(DocumentId),
    /// The device was revoked: every document was destroyed.
    Revoked,
    /// The server refused the device's changes to a document it writes: the local copy (with
    /// the refused changes) was destroyed and is synced again from the server's.
    Rejected {
        /// Which document.
        document: DocumentId,
        /// Why: `too_large` or `invalid_shape`.
        code: String,
    },
    /// An intent was settled.
    Settled(IntentOutcome),
}

/// Why a frame could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// A sync message could not be decoded.
    #[error("malformed sync message: {0}")]
    Malformed(String),
    /// automerge refused a message.
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// A document's persisted form ([`DevicePeer::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The generation held.
    pub generation: u32,
    /// The document's heads (change hashes).
    pub heads: Vec<Vec<u8>>,
    /// The automerge document, saved whole.
    pub document: Vec<u8>,
    /// The sync state with the server, encoded (what both sides are known to share).
    pub state: Vec<u8>,
}

/// What decides whether a persisted copy is current ([`DevicePeer::fingerprint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The generation held.
    pub generation: u32,
    /// The document's heads.
    pub heads: Vec<Vec<u8>>,
    /// The encoded sync state.
    pub state: Vec<u8>,
}

struct Local {
    generation: u32,
    doc: AutoCommit,
    state: sync::State,
}

impl Local {
    fn empty(generation: u32) -> Self {
        Self {
            generation,
            doc: AutoCommit::new(),
            state: sync::State::new(),
        }
    }
}

/// A device's documents and pending intents.
#[derive(Default)]
pub struct DevicePeer {
    documents: BTreeMap<DocumentId, Local>,
    intents: Vec<Intent>,
}

impl std::fmt::Debug for DevicePeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Counts only: document contents are health data.
        f.debug_struct("DevicePeer")
            .field("documents", &self.documents.len())
            .field("intents", &self.intents.len())
            .finish()
    }
}

impl DevicePeer {
    /// A device with nothing synced yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts following a document (its generation is learnt from the server).
    pub fn follow(&mut self, id: DocumentId) {
        self.documents.entry(id).or_insert_with(|| Local::empty(0));
    }

    /// The documents followed.
    pub fn documents(&self) -> impl Iterator<Item = DocumentId> + '_ {
        self.documents.keys().copied()
    }

    /// The generation held of a document.
    pub fn generation(&self, id: DocumentId) -> Option<u32> {
        self.documents.get(&id).map(|local| local.generation)
    }

    /// Queues an offline write; it is sent in every frame until its outcome arrives.
    pub fn queue(&mut self, intent: Intent) {
        if !self.intents.iter().any(|i| i.key == intent.key) {
            self.intents.push(intent);
        }
    }

    /// Intents sent but not yet settled.
    pub fn pending_intents(&self) -> &[Intent] {
        &self.intents
    }

    /// Starts a new connection: sync states keep only what both sides are known to share, so
    /// messages lost with the old connection are sent again. A document whose heads are the
    /// shared heads is known to be in sync and says nothing until it changes: the next
    /// [`outgoing`] frame is empty when every document is, which asks the server "anything
    /// new?" (it answers the documents that changed, with their changes). A document never
    /// synced, or changed since its last sync, names its heads as automerge does.
    ///
    /// [`outgoing`]: DevicePeer::outgoing
    pub fn reconnect(&mut self) {
        for local in self.documents.values_mut() {
            let mut state = sync::State::decode(&local.state.encode()).unwrap_or_default();
            let heads = local.doc.get_heads();
            if !heads.is_empty() && state.shared_heads == heads {
                state.their_heads = Some(heads.clone());
                state.last_sent_heads = heads;
                state.have_responded = true;
            }
            local.state = state;
        }
    }

    /// The next frame to send (empty when there is nothing to say).
    pub fn outgoing(&mut self) -> Frame {
        let mut frame = Frame::new();
        for (id, local) in &mut self.documents {
            if let Some(message) = local.doc.sync().generate_sync_message(&mut local.state) {
                frame.documents.push(DocumentFrame {
                    document: *id,
                    generation: local.generation,
                    body: DocumentBody::Sync(message.encode()),
                });
            }
        }
        frame.intents = self.intents.clone();
        frame
    }

    /// Applies a frame from the server.
    pub fn receive(&mut self, frame: &Frame) -> Result<Vec<Event>, PeerError> {
        let mut events = Vec::new();
        if frame.revoked {
            self.documents.clear();
            self.intents.clear();
            return Ok(vec![Event::Revoked]);
        }
        for document in &frame.documents {
            let id = document.document;
            match &document.body {
                DocumentBody::Removed => {
                    if self.documents.remove(&id).is_some() {
                        events.push(Event::Removed(id));
                    }
                }
                DocumentBody::Rejected { code } => {
                    // The refused changes can never be accepted: start again from the server's.
                    if let Some(local) = self.documents.get_mut(&id) {
                        *local = Local::empty(document.generation);
                        events.push(Event::Rejected {
                            document: id,
                            code: code.clone(),
                        });
                    }
                }
                DocumentBody::Superseded => {
                    let local = self.documents.entry(id).or_insert_with(|| Local::empty(0));
                    if local.generation < document.generation {
                        *local = Local::empty(document.generation);
                        events.push(Event::Superseded(id));
                    }
                }
                DocumentBody::Sync(bytes) => {
                    let local = self.documents.entry(id).or_insert_with(|| Local::empty(0));
                    if document.generation < local.generation {
                        continue; // A late message of a generation already destroyed.
                    }
                    if document.generation > local.generation {
                        // A new device (or one that destroyed its copy) is answered the
                        // current generation directly: only a copy that held something is
                        // superseded.
                        let held = !local.doc.get_heads().is_empty();
                        *local = Local::empty(document.generation);
                        if held {
                            events.push(Event::Superseded(id));
                        }
                    }
                    let message = sync::Message::decode(bytes)
                        .map_err(|e| PeerError::Malformed(e.to_string()))?;
                    let carried_changes = !message.changes.is_empty();
                    let before = local.doc.get_heads();
                    crate::needs::receive(&mut local.doc, &mut local.state, message)?;
                    if local.doc.get_heads() != before {
                        events.push(Event::Changed(id));
                    } else if carried_changes {
                        // Changes this copy already held: the server does not know it holds
                        // them (an acknowledgement was lost, or the server stopped before it
                        // saved one). automerge would say nothing, having told these heads
                        // already, and the server would send the same at every "anything
                        // new?"; the next frame names the heads again instead.
                        local.state.last_sent_heads.clear();
                    }
                }
            }
        }
        for outcome in &frame.outcomes {
            let before = self.intents.len();
            self.intents.retain(|intent| intent.key != outcome.key);
            if self.intents.len() != before {
                events.push(Event::Settled(outcome.clone()));
            }
        }
        Ok(events)
    }

    /// A document's persisted form: its generation, the automerge document
    /// (`AutoCommit::save`) and its sync state (`State::encode`), for a device that keeps its
    /// copies on disk. `None` for a document not followed.
    pub fn snapshot(&mut self, id: DocumentId) -> Option<Snapshot> {
        self.documents.get_mut(&id).map(|local| Snapshot {
            generation: local.generation,
            heads: local.doc.get_heads().iter().map(|h| h.0.to_vec()).collect(),
            document: local.doc.save(),
            state: local.state.encode(),
        })
    }

    /// What [`snapshot`](Self::snapshot) would tell without saving the document: its
    /// generation, heads and encoded sync state, to decide whether it must be saved again.
    pub fn fingerprint(&mut self, id: DocumentId) -> Option<Fingerprint> {
        self.documents.get_mut(&id).map(|local| Fingerprint {
            generation: local.generation,
            heads: local.doc.get_heads().iter().map(|h| h.0.to_vec()).collect(),
            state: local.state.encode(),
        })
    }

    /// Follows a document from its persisted form (see [`snapshot`](Self::snapshot)).
    pub fn restore(
        &mut self,
        id: DocumentId,
        generation: u32,
        document: &[u8],
        state: &[u8],
    ) -> Result<(), PeerError> {
        let doc = AutoCommit::load(document)?;
        let state = sync::State::decode(state).map_err(|e| PeerError::Malformed(e.to_string()))?;
        self.documents.insert(
            id,
            Local {
                generation,
                doc,
                state,
            },
        );
        Ok(())
    }

    /// Stops following a document and forgets the device's copy of it.
    pub fn forget(&mut self, id: DocumentId) {
        self.documents.remove(&id);
    }

    /// Every item of a document, as flat fields.
    pub fn items(&self, id: DocumentId) -> Result<Items, ItemError> {
        match self.documents.get(&id) {
            Some(local) => items::read_items(&local.doc),
            None => Ok(Items::new()),
        }
    }

    /// Every item of a document as `T` (the section's item type).
    pub fn item_list<T: DeserializeOwned>(&self, id: DocumentId) -> Result<Vec<T>, ItemError> {
        self.items(id)?.values().map(items::item_from).collect()
    }

    /// The device's copy of a document, to read (for the personal document with
    /// [`crate::personal::read`]).
    pub fn document(&self, id: DocumentId) -> Option<&AutoCommit> {
        self.documents.get(&id).map(|local| &local.doc)
    }

    /// Edits the device's copy of a document it may write (the personal document), typically
    /// with the helpers of [`crate::personal`]; the changes go out in the next [`outgoing`]
    /// frame. Returns `None`, changing nothing, for a document devices may not write.
    ///
    /// [`outgoing`]: DevicePeer::outgoing
    pub fn edit<R>(
        &mut self,
        id: DocumentId,
        edit: impl FnOnce(&mut AutoCommit) -> R,
    ) -> Option<R> {
        if !id.section.device_writable() {
            return None;
        }
        let local = self.documents.entry(id).or_insert_with(|| Local::empty(0));
        let result = edit(&mut local.doc);
        local.doc.commit();
        Some(result)
    }
}
