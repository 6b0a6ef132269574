//! # sync-protocol
//!
//! The sans-I/O protocol that keeps each person's permitted slice of a GP record on their
//! devices, shared by the gp-online server and the device SDK. It performs no I/O: callers move
//! the bytes.
//!
//! - [`envelope`]: the versioned CBOR [`Frame`] carried by `POST /api/v1/sync` and the
//!   WebSocket: per document a generation and an automerge sync message (or a supersede or
//!   removal notice), plus intents and their outcomes.
//! - [`compressed`]: compressed frames (raw DEFLATE with the protocol's preset dictionary and,
//!   on a WebSocket, the previous frame in the same direction), inflated under the frame limit.
//! - [`guard`]: our own check of a peer's automerge sync message (bloom parameters, change
//!   chunk headers and lengths, inflated sizes under a cap) before automerge parses it.
//! - [`documents`]: which documents exist ([`Section`] per patient).
//! - [`items`]: section documents as maps of flat items, and the minimal-diff reconcile the
//!   server uses to make a document equal to the permitted slice.
//! - [`schema`]: the item types of each section document.
//! - [`redaction`]: per field of each item type, whether a change may be written in place or
//!   must start a new generation so the old value leaves every history a device can receive.
//! - [`server`]: the server's half of an exchange (device changes to server-written documents
//!   are ignored and counted).
//! - [`device`]: the device's half, a state machine the SDK wraps and tests use as the device.
//! - [`intents`]: offline writes with idempotency keys, and their outcomes.
//! - [`personal`]: the personal document the account's devices write (read markers, private
//!   notes, hidden items, drafts): its shape, validation against size limits, and the helpers a
//!   device writes it with.
//!
//! `PROTOCOL.md` beside this crate describes the protocol for outside implementers.
//!
//! ## A full two-peer loop
//!
//! ```
//! use automerge::AutoCommit;
//! use sync_protocol::{DevicePeer, DocumentId, Frame, Section, items, server};
//! use std::collections::BTreeMap;
//!
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! struct Allergy { term: String, date: String }
//!
//! // The server makes the results document equal to what the patient may see.
//! let patient = uuid::Uuid::nil();
//! let id = DocumentId::new(patient, Section::Record);
//! let mut server_doc = AutoCommit::new();
//! let mut wanted = items::Items::new();
//! let allergy = Allergy { term: "Allergy to penicillin".into(), date: "2019-04-02".into() };
//! wanted.insert("e1".into(), items::fields_of(&allergy).unwrap());
//! items::reconcile(&mut server_doc, &wanted).unwrap();
//! let mut device_state_on_server = server::device_state(None, false);
//!
//! // The device follows the document and the two exchange frames until both are quiet.
//! let mut device = DevicePeer::new();
//! device.follow(id);
//! loop {
//!     let request = Frame::decode(&device.outgoing().encode()).unwrap();
//!     let mut reply = Frame::new();
//!     let incoming = request.documents.iter().find(|d| d.document == id);
//!     let answer = server::answer(id, 0, &mut server_doc, &mut device_state_on_server, false, incoming).unwrap();
//!     reply.documents = answer.frames;
//!     let quiet = request.is_empty() && reply.is_empty();
//!     device.receive(&Frame::decode(&reply.encode()).unwrap()).unwrap();
//!     if quiet { break; }
//! }
//! assert_eq!(device.item_list::<Allergy>(id).unwrap(), vec![allergy]);
//! ```

pub mod compressed;
pub mod device;
pub mod documents;
pub mod envelope;
pub mod guard;
pub mod intents;
pub mod items;
mod needs;
pub mod personal;
pub mod redaction;
pub mod schema;
pub mod server;
mod uuids;

pub use automerge;
pub use device::{DevicePeer, Event, Fingerprint, Snapshot};
pub use documents::{DocumentId, Section};
pub use envelope::{DocumentBody, DocumentFrame, Frame, WIRE_VERSION};
pub use intents::{Intent, IntentAction, IntentOutcome, OutcomeResult};
