//! Review and release by clinicians: results and documents arrive pending and reach the patient
//! only when a clinician releases them.
//!
//! The state machine (the same for results and documents):
//!
//! ```text
//!            release                      retract
//! pending ──────────────► released ─────────────────► retracted (terminal)
//!    │                       ▲
//!    │ withhold              │ release (a later decision)
//!    ▼                       │
//! withheld ──────────────────┘
//! ```
//!
//! `retracted` is stored as `review_state = released` with `retracted_at` set. Repeating the
//! decision an item already carries (the same release comment, withhold reason or retraction
//! reason) is a replay: it answers with the current state and writes nothing, so retries are
//! safe. Any other move is refused with `not_pending` (release, withhold) or `not_released`
//! (retract).
//!
//! Every decision is one transaction holding the change, its audit event, the projection
//! outbox row (the section is dirty) and, for releases, the patient's notification. Items are
//! scoped to the reviewer's practice: another practice's item is not found.

use crate::access::rules;
use crate::access::{Section, StaffActor};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::documents::{self, DocumentType};
use crate::db::entities::patients;
use crate::db::entities::results::{
    self, AbnormalFlag, ReviewState, WithholdReason as StoredWithholdReason,
};
use crate::error::{AppError, ErrorCode};
use crate::outbox;
use crate::validate::{Invalid, Validator};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Value,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

mod decision;
pub use decision::*;
mod store;
pub(crate) use store::*;
mod queue;
pub use queue::*;
mod reads;
pub use reads::*;

/// Longest clinician comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1000;
/// Longest retraction reason, in characters.
pub const MAX_RETRACTION_REASON_CHARS: usize = 1000;
/// Queue page size when none is asked for.
pub const DEFAULT_QUEUE_LIMIT: u64 = 50;
/// Largest queue page.
pub const MAX_QUEUE_LIMIT: u64 = 200;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-23T09:{minute:02}:00Z"))
            .map(|t| t.to_utc())
            .unwrap_or_default()
    }

    fn pending_fields() -> ReviewFields {
        ReviewFields {
            state: ReviewState::Pending,
            reviewed_at: None,
            reviewed_by_staff_id: None,
            clinician_comment: None,
            withhold_reason: None,
            released_at: None,
            retracted_at: None,
            retraction_reason: None,
        }
    }

    fn applied(result: Result<Transition, AppError>) -> ReviewFields {
        match result {
            Ok(Transition::Apply(fields)) => fields,
            other => panic!("expected a change, got {other:?}"),
        }
    }

    fn refused(result: Result<Transition, AppError>) -> ErrorCode {
        match result {
            Err(error) => error.code(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_state_machine_moves_and_refuses_as_documented() {
        let staff = Uuid::new_v4();
        let release = Decision::release(Some(" Normal – no action ".to_owned())).unwrap();
        let withhold = Decision::withhold(Some(WithholdReason::ThirdParty)).unwrap();
        let retract = Decision::retract(Some("wrong patient".to_owned())).unwrap();

        let released = applied(transition(&pending_fields(), &release, staff, at(1)));
        assert_eq!(released.status(), ReviewStatus::Released);
        assert_eq!(
            released.clinician_comment.as_deref(),
            Some("Normal – no action")
        );
        assert_eq!(released.released_at, Some(at(1)));
        assert_eq!(
            transition(&released, &release, staff, at(2)).unwrap(),
            Transition::Replay
        );
        let other_comment = Decision::release(None).unwrap();
        assert_eq!(
            refused(transition(&released, &other_comment, staff, at(2))),
            ErrorCode::NotPending
        );
        assert_eq!(
            refused(transition(&released, &withhold, staff, at(2))),
            ErrorCode::NotPending
        );

        let withheld = applied(transition(&pending_fields(), &withhold, staff, at(1)));
        assert_eq!(withheld.status(), ReviewStatus::Withheld);
        assert_eq!(
            withheld.withhold_reason,
            Some(StoredWithholdReason::ThirdParty)
        );
        assert_eq!(
            transition(&withheld, &withhold, staff, at(2)).unwrap(),
            Transition::Replay
        );
        assert_eq!(
            refused(transition(&withheld, &retract, staff, at(2))),
            ErrorCode::NotReleased
        );
        let later = applied(transition(&withheld, &release, staff, at(3)));
        assert_eq!(later.status(), ReviewStatus::Released);
        assert_eq!(later.withhold_reason, None);

        let retracted = applied(transition(&released, &retract, staff, at(4)));
        assert_eq!(retracted.status(), ReviewStatus::Retracted);
        assert_eq!(retracted.released_at, Some(at(1)), "the release is kept");
        assert_eq!(
            transition(&retracted, &retract, staff, at(5)).unwrap(),
            Transition::Replay
        );
        assert_eq!(
            refused(transition(&retracted, &release, staff, at(5))),
            ErrorCode::NotPending
        );
        assert_eq!(
            refused(transition(&pending_fields(), &retract, staff, at(5))),
            ErrorCode::NotReleased
        );
    }

    #[test]
    fn decisions_validate_their_fields() {
        assert_eq!(
            Decision::release(Some("   ".to_owned())).unwrap(),
            Decision::Release { comment: None }
        );
        let long = "x".repeat(MAX_COMMENT_CHARS + 1);
        let error = Decision::release(Some(long)).unwrap_err();
        assert_eq!(error.invalid_params()[0].name, "comment");
        assert_eq!(
            Decision::release(Some("é".repeat(MAX_COMMENT_CHARS)))
                .map(|_| ())
                .map_err(|e| e.code()),
            Ok(())
        );
        assert_eq!(
            Decision::withhold(None).unwrap_err().invalid_params()[0].code,
            "required"
        );
        assert_eq!(
            Decision::retract(Some(" ".to_owned()))
                .unwrap_err()
                .invalid_params()[0]
                .name,
            "reason"
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            received_at: at(7) + chrono::Duration::microseconds(123_456),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("not a cursor").is_err());
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_QUEUE_LIMIT);
        assert_eq!(parse_limit(Some("200")).unwrap(), 200);
        assert!(parse_limit(Some("0")).is_err());
        assert!(parse_limit(Some("201")).is_err());
        assert!(parse_limit(Some("ten")).is_err());
    }
}
