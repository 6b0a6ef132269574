//! The device's state and how it moves: the documents (a [`DevicePeer`] restored from the
//! store), the outbox, the session and the profiles, kept in the encrypted store after every
//! change. [`Local::apply`] takes a frame from the server, saves each document whose heads,
//! generation or sync state moved, destroys superseded and removed ones (their key first) and
//! only then drops the intents the frame settled. `exchange` runs the batch sync, `live` the
//! WebSocket.

pub mod exchange;
pub mod live;

use crate::error::{Result, SdkError};
use crate::model::{DocumentRef, IntentResult, Profile};
use crate::outbox::Outbox;
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use sync_protocol::personal::{self, Limits};
use sync_protocol::{DevicePeer, DocumentId, Event, Fingerprint, Frame, Section};
use uuid::Uuid;

/// The session's store entry.
pub const SESSION: &str = "session";
/// The profiles' store entry.
pub const PROFILES: &str = "profiles";
/// Prefix of the documents' entries.
pub const DOC_PREFIX: &str = "doc/";
/// Prefix of the downloaded letters' entries.
pub const LETTER_PREFIX: &str = "letter/";

/// The signed-in session.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Single-use token for new tokens.
    pub refresh_token: String,
    /// The session (token family).
    pub session_id: String,
    /// This device.
    pub device_id: String,
}

/// A document's store entry.
#[derive(Serialize, Deserialize)]
struct DocRecord {
    patient_id: Uuid,
    section: Section,
    generation: u32,
    #[serde(with = "serde_bytes")]
    document: Vec<u8>,
    #[serde(with = "serde_bytes")]
    state: Vec<u8>,
}

/// What applying a frame did.
#[derive(Debug, Default)]
pub struct Applied {
    /// Documents whose content changed.
    pub changed: Vec<DocumentRef>,
    /// Documents destroyed.
    pub destroyed: Vec<DocumentRef>,
    /// Intents settled.
    pub settled: Vec<IntentResult>,
    /// The device was revoked and wiped.
    pub revoked: bool,
}

/// The device's state.
pub struct Local {
    /// The encrypted store.
    pub store: Store,
    /// The documents.
    pub peer: DevicePeer,
    /// Intents not yet settled.
    pub outbox: Outbox,
    /// The session, when signed in.
    pub session: Option<Session>,
    /// The people the account acts for.
    pub profiles: Vec<Profile>,
    saved: HashMap<DocumentId, Fingerprint>,
}

/// The store entry of a document.
pub fn doc_entry(id: DocumentId) -> String {
    format!("{DOC_PREFIX}{}/{}", id.patient_id, section_name(id.section))
}

/// A section's wire name.
pub fn section_name(section: Section) -> String {
    serde_json::to_value(section)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Local {
    /// The state kept in `store`.
    pub fn open(store: Store) -> Result<Self> {
        let mut peer = DevicePeer::new();
        let mut saved = HashMap::new();
        let names: Vec<String> = store
            .names()
            .filter(|n| n.starts_with(DOC_PREFIX))
            .map(str::to_owned)
            .collect();
        for name in names {
            let Some(record) = store.get_cbor::<DocRecord>(&name)? else {
                continue;
            };
            let id = DocumentId::new(record.patient_id, record.section);
            peer.restore(id, record.generation, &record.document, &record.state)
                .map_err(|_| SdkError::storage("a stored document does not load"))?;
            if let Some(fingerprint) = peer.fingerprint(id) {
                saved.insert(id, fingerprint);
            }
        }
        Ok(Self {
            outbox: Outbox::load(&store)?,
            session: store.get_cbor(SESSION)?,
            profiles: store.get_cbor(PROFILES)?.unwrap_or_default(),
            store,
            peer,
            saved,
        })
    }

    /// Keeps a new session.
    pub fn set_session(&mut self, session: Session) -> Result<()> {
        self.store.put_cbor(SESSION, &session)?;
        self.session = Some(session);
        Ok(())
    }

    /// Keeps the profiles from `GET /api/v1/me`; documents of a person no longer listed are
    /// destroyed.
    pub fn set_profiles(&mut self, profiles: Vec<Profile>) -> Result<()> {
        if profiles != self.profiles {
            self.store.put_cbor(PROFILES, &profiles)?;
        }
        let listed: Vec<String> = profiles.iter().map(|p| p.patient_id.clone()).collect();
        self.profiles = profiles;
        let gone: Vec<DocumentId> = self
            .peer
            .documents()
            .filter(|id| !listed.contains(&id.patient_id.to_string()))
            .collect();
        for id in gone {
            self.peer.forget(id);
        }
        self.persist()?;
        Ok(())
    }

    /// Follows every document the profiles' capabilities allow.
    pub fn follow_profiles(&mut self) {
        for profile in &self.profiles {
            let Ok(patient) = Uuid::parse_str(&profile.patient_id) else {
                continue;
            };
            for section in profile.followed() {
                self.peer.follow(DocumentId::new(patient, section));
            }
        }
    }

    /// The next frame, with every queued intent.
    pub fn outgoing(&mut self) -> Frame {
        for queued in &self.outbox.queued {
            self.peer.queue(queued.intent.clone());
        }
        self.peer.outgoing()
    }

    /// Saves what moved: each document whose fingerprint changed (a new generation under a
    /// new key, its predecessor's key destroyed first), and destroys documents no longer held.
    /// Returns the documents destroyed.
    pub fn persist(&mut self) -> Result<Vec<DocumentId>> {
        let held: Vec<DocumentId> = self.peer.documents().collect();
        for id in &held {
            let Some(fingerprint) = self.peer.fingerprint(*id) else {
                continue;
            };
            let previous = self.saved.get(id);
            if previous == Some(&fingerprint) {
                continue;
            }
            if previous.is_some_and(|p| p.generation != fingerprint.generation)
                || (fingerprint.heads.is_empty() && previous.is_some_and(|p| !p.heads.is_empty()))
            {
                // A rollover or a refused copy: the old copy's key goes first.
                self.store.shred(&[doc_entry(*id)])?;
                self.saved.remove(id);
            }
            let Some(snapshot) = self.peer.snapshot(*id) else {
                continue;
            };
            self.store.put_cbor(
                &doc_entry(*id),
                &DocRecord {
                    patient_id: id.patient_id,
                    section: id.section,
                    generation: snapshot.generation,
                    document: snapshot.document,
                    state: snapshot.state,
                },
            )?;
            self.saved.insert(*id, fingerprint);
        }
        let dropped: Vec<DocumentId> = self
            .saved
            .keys()
            .filter(|id| !held.contains(id))
            .copied()
            .collect();
        if !dropped.is_empty() {
            let names: Vec<String> = dropped.iter().map(|id| doc_entry(*id)).collect();
            self.store.shred(&names)?;
            for id in &dropped {
                self.saved.remove(id);
                if id.section == Section::Documents {
                    self.store
                        .shred_prefix(&format!("{LETTER_PREFIX}{}/", id.patient_id))?;
                }
            }
        }
        Ok(dropped)
    }

    /// Applies a frame from the server: documents saved (or destroyed), then the settled
    /// intents dropped from the outbox. A `revoked` frame wipes the store.
    pub fn apply(&mut self, frame: &Frame) -> Result<Applied> {
        let events = self
            .peer
            .receive(frame)
            .map_err(|_| SdkError::other("the server sent a malformed sync message"))?;
        let mut applied = Applied::default();
        if events.contains(&Event::Revoked) {
            self.wipe()?;
            applied.revoked = true;
            return Ok(applied);
        }
        let destroyed = self.persist()?;
        let mut settled = Vec::new();
        for event in &events {
            match event {
                Event::Changed(id) => applied.changed.push(DocumentRef::of(*id)),
                Event::Superseded(id) | Event::Rejected { document: id, .. } => {
                    applied.destroyed.push(DocumentRef::of(*id));
                    if id.section == Section::Documents {
                        self.prune_letters(id.patient_id)?;
                    }
                }
                Event::Settled(outcome) => {
                    settled.push(outcome.key.clone());
                    applied.settled.push(IntentResult::from_outcome(outcome));
                }
                Event::Removed(_) | Event::Revoked => {}
            }
        }
        for id in destroyed {
            let document = DocumentRef::of(id);
            if !applied.destroyed.contains(&document) {
                applied.destroyed.push(document);
            }
        }
        for document in &applied.changed {
            if document.section == "documents"
                && let Ok(patient) = Uuid::parse_str(&document.patient_id)
            {
                self.prune_letters(patient)?;
            }
        }
        // Only now, with the documents that carry their effects saved.
        self.outbox.settle(&mut self.store, &settled)?;
        Ok(applied)
    }

    /// Destroys downloaded letters no longer in the patient's documents document.
    fn prune_letters(&mut self, patient: Uuid) -> Result<()> {
        let listed = self
            .peer
            .items(DocumentId::new(patient, Section::Documents))
            .unwrap_or_default();
        let prefix = format!("{LETTER_PREFIX}{patient}/");
        let stale: Vec<String> = self
            .store
            .names()
            .filter(|name| {
                name.strip_prefix(&prefix)
                    .is_some_and(|id| !listed.contains_key(id))
            })
            .map(str::to_owned)
            .collect();
        self.store.shred(&stale)
    }

    /// Edits the personal document about `patient`, refusing (and undoing) an edit that the
    /// server's rules would refuse.
    pub fn edit_personal(
        &mut self,
        patient: Uuid,
        edit: impl FnOnce(&mut sync_protocol::automerge::AutoCommit) -> Result<(), personal::WriteError>,
    ) -> Result<()> {
        let id = DocumentId::new(patient, Section::Personal);
        let before = self.peer.snapshot(id);
        let outcome = self.peer.edit(id, edit);
        let valid = match (outcome, self.peer.document(id)) {
            (Some(Ok(())), Some(doc)) => personal::validate(doc, &Limits::default())
                .map_err(|invalid| invalid.code().to_owned()),
            (Some(Err(personal::WriteError::Invalid(invalid))), _) => {
                Err(invalid.code().to_owned())
            }
            _ => Err("invalid_shape".to_owned()),
        };
        if let Err(code) = valid {
            match before {
                Some(snapshot) => {
                    self.peer
                        .restore(id, snapshot.generation, &snapshot.document, &snapshot.state)
                        .map_err(|_| SdkError::storage("undoing an edit"))?;
                }
                None => self.peer.forget(id),
            }
            return Err(SdkError::Refused { code });
        }
        self.persist()?;
        Ok(())
    }

    /// Destroys everything the device holds: keys first, then files; forgets the session.
    pub fn wipe(&mut self) -> Result<()> {
        self.store.wipe()?;
        self.peer = DevicePeer::new();
        self.outbox = Outbox::default();
        self.session = None;
        self.profiles.clear();
        self.saved.clear();
        Ok(())
    }
}
