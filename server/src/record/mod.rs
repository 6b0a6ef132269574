//! The GP record: import from the clinical system, review and release by clinicians, and the
//! patient's access log. Reads of the record go through [`crate::access`], never around it;
//! writes tell the projector and push delivery through [`crate::outbox`].

pub mod access_log;
pub mod controls;
pub mod import;
pub mod reads;
pub mod review;
