//! Offline sync, server side: each viewer's permitted slice of a record as automerge documents
//! (the wire protocol is the `sync-protocol` crate).
//!
//! - [`projection`]: the items a viewer may see of a section, from the access module, and the
//!   document kept equal to them, with a new generation whenever something already sent must
//!   disappear.
//! - [`projector`]: projection on write: when the outbox says a patient changed, their stored
//!   documents are made equal to what the access module permits, with their heads stored.
//! - [`exchange`]: answers a device's frame from the stored documents: a device already holding
//!   the stored heads costs no document load; documents the viewer may no longer see are
//!   reported removed; a frame with no documents asks "anything new?".
//!
//! - [`calendar`]: date boundaries: per patient, the first instant at which their documents
//!   change with nothing written (a birthday, a grant's or code's end, a switch-on date), and
//!   the job that marks the patients whose instant has come in the projection outbox.
//! - [`cache`]: a bounded per-node cache of loaded documents, checked against stored heads.
//! - [`counts`]: generations and change counts, converted between their columns and the
//!   protocol in one place.
//! - [`live`]: fan-out of changes to live connections, across nodes through PostgreSQL
//!   `LISTEN/NOTIFY`.
//! - [`intents`]: offline writes applied exactly once through the REST service functions.
//! - [`reads`]: deliveries of record, results and documents items to a device, in the patient's
//!   access log.
//! - [`rebuild`]: `gp-online sync rebuild`, recomputing every stored section document as a new
//!   generation.
//! - [`personal`]: the personal document the account's devices write, validated on a fork
//!   before it is adopted.
//! - [`services`]: the appointments, medications and messages documents' items, from the same
//!   service read functions as the REST API.
//!
//! Documents are projected when the data behind them is written (the projection outbox), not
//! when a device syncs, or when a date boundary comes ([`calendar`]); a document is projected on
//! request only the first time a viewer asks for it.

pub mod cache;
pub mod calendar;
pub mod counts;
pub mod exchange;
pub mod intents;
pub mod live;
pub mod live_writes;
pub mod personal;
pub mod projection;
pub mod projector;
pub mod reads;
pub mod rebuild;
pub mod services;
