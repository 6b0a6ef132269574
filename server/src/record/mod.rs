//! The GP record: import from the clinical system, review and release by clinicians, and the
//! outboxes that tell the projector and push delivery that something changed. Reads of the
//! record go through [`crate::access`], never around it.

pub mod access_log;
pub mod import;
pub mod outbox;
pub mod review;
