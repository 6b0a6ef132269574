//! Repeat prescriptions: a patient's medication courses, orders of repeat courses, the
//! practice's decisions on them, the nominated pharmacy, and the clinical system's course feed.
//!
//! Every function takes its connection, the actor, the patient's facts (for patient-side calls),
//! its validated input and `now`, and returns a typed outcome, so the REST handlers and (later)
//! offline sync intents share one implementation. No HTTP types appear here.
//!
//! An order is partially successful by design: each course is accepted or refused on its own
//! with a stable code ([`RefusalCode`]). A course that already has a pending request is refused
//! by the database itself (`prescription_request_items.pending_course_id` is unique and equal to
//! the course id while the item is `requested`), so two concurrent orders of one course leave
//! exactly one pending. A course past its review date is accepted and routed to a clinician.
//!
//! The request item state machine:
//!
//! ```text
//!             approve (clinician)
//! requested ─────────────────────► approved   (course issued: last issue today)
//!     │  └──── reject (clinician) ─► rejected  (with a reason shown to the patient)
//!     └─────── cancel (patient) ───► cancelled
//! ```
//!
//! Repeating a decision an item already carries (approve an approved item, reject a rejected
//! one with the same reason) answers the current state and writes nothing; any other move from
//! a decided item is `request_not_pending`. Every change is one transaction with its audit event
//! (codes and ids only: never the note or the rejection reason), the `medications` projection
//! outbox row and, for decisions, the patient's content-free notification.

use crate::access::rules::{self, PatientFacts};
use crate::access::{self, Actor, Scope, StaffActor, Viewer};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::courses::{self, CourseType};
use crate::db::entities::prescription_request_items::{self as items, RequestItemStatus};
use crate::db::entities::{patients, prescription_requests as requests};
use crate::error::{AppError, ErrorCode};
use crate::identity::integration::IntegrationClient;
use crate::outbox;
use crate::record::review::QueuePatient;
use crate::validate::{Invalid, InvalidField, Validator};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use sync_protocol::Section;
use utoipa::ToSchema;
use uuid::Uuid;

mod pharmacy;
pub use pharmacy::*;
mod requestable;
pub use requestable::*;
mod orders;
pub use orders::*;
mod patient_requests;
pub use patient_requests::*;
mod decisions;
pub use decisions::*;
mod feed;
pub use feed::*;

/// Longest note on an order, in characters.
pub const MAX_NOTE_CHARS: usize = 500;
/// Most courses in one order.
pub const MAX_COURSES_PER_ORDER: usize = 50;
/// Longest rejection reason, in characters.
pub const MAX_REJECTION_REASON_CHARS: usize = 500;
/// Days an approved issue lasts: `next_issue_date` is the approval day plus this.
pub const ISSUE_INTERVAL_DAYS: i64 = 28;
/// Most requests listed for a patient (newest first).
pub const MAX_LISTED_REQUESTS: u64 = 100;
/// Queue size when none is asked for.
pub const DEFAULT_QUEUE_LIMIT: u64 = 100;
/// Largest queue page.
pub const MAX_QUEUE_LIMIT: u64 = 500;
/// Most courses in one integration feed.
pub const MAX_COURSES_PER_FEED: usize = 1000;
/// Longest free-text course field (medication, dosage, quantity, external ids).
const MAX_COURSE_TEXT: usize = 255;
/// The projection section courses and requests belong to.
const SECTION: Section = Section::Medications;

/// What only a clinician may do in the prescription queue: admins may view it only.
pub const CLINICIAN_DECIDES: &str = "approve or reject a prescription request";

fn reorder_interval_days(facts: &PatientFacts) -> u32 {
    facts.settings().reorder_interval_days
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pharmacy_codes_are_five_characters_starting_with_f() {
        for valid in ["FQ123", "fq123", " FA1B2 ", "FLM49"] {
            assert!(PharmacyOdsCode::parse(valid).is_ok(), "{valid}");
        }
        assert_eq!(PharmacyOdsCode::parse("fq123").unwrap().as_str(), "FQ123");
        for invalid in ["A81001", "Q1234", "FQ12", "FQ1234", "F-123", "", "FQ12é"] {
            assert_eq!(
                PharmacyOdsCode::parse(invalid).err().map(|e| e.code),
                Some("invalid_pharmacy_ods_code"),
                "{invalid}"
            );
        }
        let missing = pharmacy_field(None).unwrap_err();
        assert_eq!(
            (missing[0].name.as_str(), missing[0].code),
            ("ods_code", "required")
        );
    }

    #[test]
    fn orders_need_distinct_courses_and_a_short_note() {
        let a = Uuid::new_v4();
        let order = Order::new(Some(vec![a]), Some("  ".to_owned())).unwrap();
        assert_eq!(order.note, None);
        let error = Order::new(Some(vec![]), None).unwrap_err();
        assert_eq!(error.invalid_params()[0].name, "course_ids");
        let error = Order::new(Some(vec![a, a]), Some("x".repeat(MAX_NOTE_CHARS + 1))).unwrap_err();
        let names: Vec<&str> = error
            .invalid_params()
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["course_ids[1]", "note"]);
        assert!(Order::new(Some(vec![a]), Some("é".repeat(MAX_NOTE_CHARS))).is_ok());
    }

    fn course(course_type: CourseType) -> courses::Model {
        let now = DateTime::<Utc>::default();
        courses::Model {
            id: Uuid::new_v4(),
            practice_id: Uuid::new_v4(),
            patient_id: Uuid::new_v4(),
            external_id: None,
            snomed_code: "322236009".to_owned(),
            medication: "Paracetamol 500mg tablets".to_owned(),
            dosage: "Two four times a day".to_owned(),
            quantity: "100 tablets".to_owned(),
            course_type,
            can_be_requested: true,
            last_issue_date: None,
            next_issue_date: None,
            review_date: None,
            hidden: false,
            hidden_from_proxies: false,
            ended_on: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn requestability_follows_type_flag_visibility_and_end() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let patient = Viewer::Patient {
            account_id: Uuid::new_v4(),
        };
        assert!(course_requestable(
            &patient,
            &course(CourseType::Repeat),
            today
        ));
        assert!(!course_requestable(
            &patient,
            &course(CourseType::Acute),
            today
        ));
        let not_flagged = courses::Model {
            can_be_requested: false,
            ..course(CourseType::Repeat)
        };
        assert!(!course_requestable(&patient, &not_flagged, today));
        let ended = courses::Model {
            ended_on: Some(today),
            ..course(CourseType::Repeat)
        };
        assert!(!crate::access::rules::course_visible(
            &patient, &ended, today
        ));
        let proxy_hidden = courses::Model {
            hidden_from_proxies: true,
            ..course(CourseType::Repeat)
        };
        assert!(crate::access::rules::course_visible(
            &patient,
            &proxy_hidden,
            today
        ));
        let due = courses::Model {
            review_date: today.pred_opt(),
            ..course(CourseType::Repeat)
        };
        assert!(review_due(&due, today));
        assert!(!review_due(&course(CourseType::Repeat), today));
        // The review falls due the day after the review date, and not before.
        let ahead = courses::Model {
            review_date: Some(today),
            ..course(CourseType::Repeat)
        };
        let changes_on = review_due_changes_on(&ahead, today);
        assert_eq!(changes_on, today.succ_opt());
        assert!(!review_due(&ahead, today));
        assert!(changes_on.is_some_and(|day| review_due(&ahead, day)));
        assert_eq!(review_due_changes_on(&due, today), None);
    }

    #[test]
    fn decisions_move_requested_items_and_replay_the_same_decision() {
        let now = DateTime::<Utc>::default();
        let item = |status, reason: Option<&str>| items::Model {
            id: Uuid::new_v4(),
            practice_id: Uuid::new_v4(),
            request_id: Uuid::new_v4(),
            course_id: Uuid::new_v4(),
            pending_course_id: None,
            status,
            routed_to_clinician: false,
            rejection_reason: reason.map(str::to_owned),
            decided_at: None,
            decided_by_staff_id: None,
            created_at: now,
            updated_at: now,
        };
        let reject = Decision::reject(Some(" needs review ".to_owned())).unwrap();
        assert_eq!(
            reject,
            Decision::Reject {
                reason: "needs review".to_owned()
            }
        );
        let requested = item(RequestItemStatus::Requested, None);
        assert_eq!(
            transition(&requested, &Decision::Approve).unwrap(),
            Transition::Apply
        );
        assert_eq!(transition(&requested, &reject).unwrap(), Transition::Apply);
        let approved = item(RequestItemStatus::Approved, None);
        assert_eq!(
            transition(&approved, &Decision::Approve).unwrap(),
            Transition::Replay
        );
        assert_eq!(
            transition(&approved, &reject).unwrap_err().code(),
            ErrorCode::RequestNotPending
        );
        let rejected = item(RequestItemStatus::Rejected, Some("needs review"));
        assert_eq!(transition(&rejected, &reject).unwrap(), Transition::Replay);
        assert_eq!(
            transition(&rejected, &Decision::Approve)
                .unwrap_err()
                .code(),
            ErrorCode::RequestNotPending
        );
        let cancelled = item(RequestItemStatus::Cancelled, None);
        assert!(transition(&cancelled, &Decision::Approve).is_err());
        assert_eq!(
            Decision::reject(None).unwrap_err().invalid_params()[0].code,
            "required"
        );
    }
}
