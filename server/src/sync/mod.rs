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
//!
//! Documents are projected on demand when a device syncs, so what a device receives is always
//! computed from the access module at that moment.

pub mod exchange;
pub mod intents;
pub mod live;
pub mod projection;
