//! Secure messages between a patient (or a proxy on their behalf) and their practice: threads,
//! replies both ways, read status both ways, the patient deleting a thread (when the practice
//! allows it) and the practice closing one.
//!
//! Every function takes its connection, the actor, the patient's facts (for patient-side calls),
//! its input and `now`, and returns a typed outcome, so the REST handlers and offline sync
//! intents share one implementation. No HTTP types appear here.
//!
//! Messaging is not for emergencies: `/me` carries the notice the app shows
//! ([`crate::record::reads::NOT_FOR_EMERGENCIES`]).
//!
//! # Who sees which thread
//!
//! - The patient sees every thread of theirs that they have not deleted, including those a
//!   proxy started on their behalf.
//! - A proxy with the `messages` scope sees only threads started by a proxy on the patient's
//!   behalf or by the practice: never a thread the patient started themself. This is the
//!   conservative reading of docs/domain.md: a patient who writes to their practice on their own has
//!   not shared that conversation with the people who hold proxy access, and the practice may
//!   have answered things the patient never meant a carer to read. A thread the proxy cannot
//!   see is `not_found` to them, exactly as if it did not exist.
//! - Staff see every thread of their practice's patients, deleted by the patient or not (the
//!   practice keeps its record of the conversation); another practice's thread is `not_found`.
//!
//! Every change is one transaction with its audit event (codes and ids only: never the subject
//! or the text of a message) and the `messages` projection outbox row; a staff reply also queues
//! the patient's content-free `message_received` notification.

use crate::access::rules::{self, PatientFacts};
use crate::access::{self, Actor, Scope, StaffActor, Viewer};
use crate::db::entities::message_threads::{self as threads, ThreadStatus};
use crate::db::entities::messages::{self, SenderKind};
use crate::db::entities::staff;
use crate::db::entities::{patients, practices};
use crate::error::{AppError, ErrorCode};
use crate::outbox;
use crate::record::review::QueuePatient;
use crate::settings::PracticeSettings;
use crate::validate::{Invalid, Validator};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use sync_protocol::Section;
use utoipa::ToSchema;
use uuid::Uuid;

mod views;
pub use views::*;
mod patient;
pub use patient::*;
mod practice;
pub use practice::*;

/// Longest subject of a thread, in characters.
pub const MAX_SUBJECT_CHARS: usize = 120;
/// Most threads listed for a patient (most recently active first).
pub const MAX_LISTED_THREADS: u64 = 200;
/// Queue size when none is asked for.
pub const DEFAULT_QUEUE_LIMIT: u64 = 100;
/// Largest queue page.
pub const MAX_QUEUE_LIMIT: u64 = 500;
/// The projection section threads belong to.
const SECTION: Section = Section::Messages;

/// How a message from `actor` is marked: sent by the patient, or by a proxy on their behalf.
fn sender_kind(actor: &Actor) -> SenderKind {
    if actor.is_proxy() {
        SenderKind::Proxy
    } else {
        SenderKind::Patient
    }
}

/// A message body: required, at most `max` characters (after trimming).
fn body_text(value: Option<String>, max: usize) -> Result<String, Invalid> {
    let value = value.unwrap_or_default();
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Invalid::new("required", "write a message"));
    }
    if trimmed.chars().count() > max {
        return Err(Invalid::new(
            "too_long",
            format!("at most {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// A subject: one line of at most [`MAX_SUBJECT_CHARS`]; blank means none, which is refused
/// when the practice requires a subject.
fn subject_text(value: Option<String>, required: bool) -> Result<Option<String>, Invalid> {
    let value = value.unwrap_or_default();
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return if required {
            Err(Invalid::new("required", "the practice asks for a subject"))
        } else {
            Ok(None)
        };
    }
    if trimmed.chars().count() > MAX_SUBJECT_CHARS {
        return Err(Invalid::new(
            "too_long",
            format!("at most {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Invalid::new(
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(Some(trimmed.to_owned()))
}

fn max_chars(settings: &PracticeSettings) -> usize {
    usize::try_from(settings.message_max_chars).unwrap_or(usize::MAX)
}

/// A validated reply body, for a practice's settings.
pub fn reply_body(body: Option<String>, settings: &PracticeSettings) -> Result<String, AppError> {
    let mut v = Validator::new();
    let body = v.check("body", body_text(body, max_chars(settings)));
    v.finish()?;
    body.ok_or_else(|| AppError::new(ErrorCode::ValidationFailed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_bodies_are_trimmed_and_bounded() {
        assert_eq!(subject_text(Some("  ".to_owned()), false).unwrap(), None);
        assert_eq!(subject_text(None, true).unwrap_err().code, "required");
        assert_eq!(
            subject_text(Some(" Sick note ".to_owned()), true).unwrap(),
            Some("Sick note".to_owned())
        );
        assert_eq!(
            subject_text(Some("x".repeat(MAX_SUBJECT_CHARS + 1)), false)
                .unwrap_err()
                .code,
            "too_long"
        );
        assert_eq!(
            body_text(Some(" ".to_owned()), 10).unwrap_err().code,
            "required"
        );
        assert_eq!(body_text(Some("é".repeat(10)), 10).unwrap(), "é".repeat(10));
        assert_eq!(
            body_text(Some("é".repeat(11)), 10).unwrap_err().code,
            "too_long"
        );
    }

    #[test]
    fn the_queue_filters_parse() {
        assert_eq!(parse_status(None).unwrap(), ThreadState::Open);
        assert_eq!(parse_status(Some("closed")).unwrap(), ThreadState::Closed);
        assert!(parse_status(Some("all")).is_err());
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_QUEUE_LIMIT);
        assert!(parse_limit(Some("0")).is_err());
        assert!(parse_limit(Some("501")).is_err());
    }
}
