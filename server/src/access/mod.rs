//! The access module: the one place that decides what of a patient's record a viewer may see.
//!
//! Given a viewer (the patient, a proxy acting under a grant, or practice staff), a patient, a
//! section and `now`, it computes the permitted slice. Every read of patient data — the REST
//! read API, the sync projector, the console — asks this module; nothing else filters.
//!
//! - [`rules`]: the rules as pure functions of the stored facts and `now` (no I/O), so they can
//!   be tested exhaustively: access levels, the prospective-access date, the 16+ rule, the
//!   SNOMED codes that block or restore automatic access, proxy scopes, hidden entries,
//!   pending, withheld and retracted items, and the practice's feature switches.
//! - [`slice`]: loads a patient's facts and items and applies the rules.
//! - [`viewer`]: resolves "this account, acting for this patient" to a [`Viewer`], or to
//!   nothing — in which case callers answer 404, never revealing that the patient exists.
//! - [`actor`]: who acts on a patient service — an [`Actor`] (that viewer and their device) or
//!   a [`StaffActor`] — with the account, actor kind and audit event every service records.
//! - [`gate`]: the service gate, [`require_service`]: whether a viewer may use the
//!   appointments, prescriptions or messages service for the patient today.

pub mod actor;
pub mod gate;
pub mod rules;
pub mod slice;
pub mod viewer;

pub use actor::{Actor, PracticeActor, StaffActor};
pub use gate::require_service;
pub use rules::{Capabilities, Scope, Section, Viewer};
