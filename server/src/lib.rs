//! # gp-online server
//!
//! The backend of a patient-facing GP app: registration by linkage key and passkey, the GP
//! record filtered by one access module, appointments, repeat prescriptions, messages, proxy
//! access, offline sync and push notifications.
//!
//! ## Layout
//! - [`access`]: the permitted slice of a record for a viewer at `now` — the only filter.
//! - [`appointments`]: slots, booking and cancelling, and the practice's publishing and moves.
//! - [`cli`]: the `gp-online` command line (`serve`, `migrate`, `demo`).
//! - [`config`]: layered configuration (defaults → TOML file → environment).
//! - [`db`]: connection set-up, migrations and the sea-orm entities.
//! - [`error`]: the one error type and its stable codes.
//! - [`fhir`]: FHIR R4 in and out: the Bundle import and the record export.
//! - [`http`]: the axum router, problem+json errors, extractors and operational endpoints.
//! - [`idempotent`]: a call made with an `Idempotency-Key`: its response stored in the
//!   handler's own transaction.
//! - [`identity`]: linkage details, passkey registration and sign-in, sessions.
//! - [`jobs`]: periodic background work (the proxy time rules), safe with several nodes.
//! - [`record`]: clinical-system import, review and release, the patient's access log.
//! - [`outbox`]: the projection and notification outboxes every domain write fills on its own
//!   transaction.
//! - [`proxy`]: proxy grants and refusals, the patient's view of their proxies, time rules.
//! - [`messages`]: threads with the practice, replies and read status both ways, closing.
//! - [`notify`]: push notifications (Web Push, APNs, FCM): channels, quiet hours, delivery.
//! - [`prescriptions`]: repeat courses, orders, the practice's decisions, the nominated pharmacy.
//! - [`sync`]: offline sync, server side: projection, generations, the exchange.
//! - [`tls`]: rustls server configuration and the self-signed development certificate.
//! - [`validate`]: NHS numbers, ODS codes and dates, checked the same way everywhere.
//! - [`settings`]: per-practice settings and feature switches with the national defaults.
//! - [`audit`]: the append-only audit trail, and the practice's view of it.
//! - [`practice`]: what staff see of their practice: themselves, patients found by NHS number
//!   or name with their online access, the diary of slots and bookings.
//! - [`uptake`]: uptake of the online services against the 10% target, month by month.
//! - [`demo`]: the deterministic demo practice.
//! - [`clock`]: time as a parameter, so rules that depend on `now` are testable.
//!
//! Domain modules depend on `db` and `access`, never on `http`.

pub mod access;
pub mod appointments;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod fhir;
pub mod http;
pub mod idempotent;
pub mod identity;
pub mod jobs;
pub mod messages;
pub mod notify;
pub mod outbox;
pub mod practice;
pub mod prescriptions;
pub mod proxy;
pub mod record;
pub mod settings;
pub mod sync;
pub mod tls;
pub mod uptake;
pub mod validate;
