//! # gp-online-sdk
//!
//! The device half of gp-online, one Rust library for iOS and Android (through uniffi) and for
//! the `gp-patient` command line: sign in with a passkey, keep each person's permitted slice of
//! the GP record in an encrypted store that works offline, read every section from it, queue
//! bookings, orders and messages as intents that survive crashes and go out exactly once, and
//! hear when something changes.
//!
//! - [`facade`]: [`GpOnline`], the exported object (async network methods on a runtime the SDK
//!   owns; reads from the store).
//! - [`config`]: server, trust, store folder, the host's key material, device name.
//! - [`error`]: [`SdkError`], a few variants and no personal data.
//! - [`store`]: one file per document (and its sync state), each under its own key, keys
//!   wrapped by the host key; atomic writes; crypto-shredding.
//! - [`outbox`]: intents persisted before they are sent.
//! - [`engine`]: the device's state over `sync_protocol::DevicePeer`, the batch sync and live
//!   mode.
//! - [`api`], [`passkey`], [`shared`]: REST, WebAuthn JSON, the session and its refresh.
//! - [`listener`]: the foreign trait the app implements.
//! - [`model`]: the values handed to the app.

pub mod api;
pub mod config;
pub mod engine;
pub mod error;
pub mod facade;
pub mod listener;
pub mod model;
pub mod outbox;
pub mod passkey;
pub mod shared;
pub mod store;

pub use config::{SdkConfig, Trust};
pub use error::SdkError;
pub use facade::GpOnline;
pub use listener::{SdkEvent, SdkListener};
pub use model::*;
pub use sync_protocol::WIRE_VERSION;

uniffi::setup_scaffolding!();
