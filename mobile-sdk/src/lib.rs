//! Device SDK (placeholder until the SDK issue): it will hold the local encrypted store, the sync
//! engine wrapping `sync_protocol`, the offline outbox of intents and the uniffi exports.

pub use sync_protocol::WIRE_VERSION;
