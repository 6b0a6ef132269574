//! Offline sync, server side: each viewer's permitted slice of a record as automerge documents
//! (the wire protocol is the `sync-protocol` crate).
//!
//! - [`projection`]: the items a viewer may see of a section, from the access module, and the
//!   document kept equal to them, with a new generation whenever something already sent must
//!   disappear.
//! - [`exchange`]: answers a device's frame: projects each followed document, runs the sync
//!   protocol with the device's persisted state, and reports documents the viewer may no longer
//!   see as removed.
//!
//! - [`live`]: fan-out of changes to live connections, across nodes through PostgreSQL
//!   `LISTEN/NOTIFY`.
//! - [`intents`]: offline writes applied exactly once through the REST service functions.
//! - [`rebuild`]: `gp-online sync rebuild`, recomputing every stored section document as a new
//!   generation.
//! - [`personal`]: the personal document the account's devices write, validated on a fork
//!   before it is adopted.
//! - [`services`]: the appointments, medications and messages documents' items, from the same
//!   service read functions as the REST API.
//!
//! Documents are projected on demand when a device syncs, so what a device receives is always
//! computed from the access module at that moment.

pub mod exchange;
pub mod intents;
pub mod live;
pub mod personal;
pub mod projection;
pub mod rebuild;
pub mod services;
