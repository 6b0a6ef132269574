//! sea-orm entities, one module per database table (see `gp-online-migrations` for the schema).

#![allow(missing_docs)] // sea-orm derives generate undocumented items.

pub mod access_codes;
pub mod access_log;
pub mod accounts;
pub mod appointments;
pub mod audit_events;
pub mod blobs;
pub mod carers;
pub mod ceremonies;
pub mod courses;
pub mod device_sync_states;
pub mod devices;
pub mod documents;
pub mod idempotency_keys;
pub mod integration_keys;
pub mod linkage_keys;
pub mod message_threads;
pub mod messages;
pub mod notification_deliveries;
pub mod notification_outbox;
pub mod notification_preferences;
pub mod passkeys;
pub mod patients;
pub mod practices;
pub mod prescription_request_items;
pub mod prescription_requests;
pub mod projection_due;
pub mod projection_outbox;
pub mod proxy_grants;
pub mod push_subscriptions;
pub mod record_access_requests;
pub mod record_entries;
pub mod results;
pub mod server_keys;
pub mod session_families;
pub mod session_tokens;
pub mod slots;
pub mod staff;
pub mod staff_enrolments;
pub mod sync_document_digests;
pub mod sync_documents;
