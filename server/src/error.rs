//! The one error type of the product, [`AppError`], and its stable [`ErrorCode`]s.
//!
//! Every failure a client can see has a stable, greppable code that apps branch on and support
//! staff can quote. Domain modules return `AppError`; `http::error` renders it as RFC 9457
//! problem+json. Server faults keep their cause for the log and never send it.

use crate::validate::InvalidField;
use axum::http::StatusCode;
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;

/// Declares [`ErrorCode`] from one table: each row gives a code its wire name, HTTP status,
/// whether a client should try the same request again later (`retry`) or not (`no_retry`), and
/// the RFC 9457 `title`. Every method and [`ErrorCode::ALL`] come from the same rows, so a code
/// cannot be half-declared.
macro_rules! error_codes {
    ($(
        $(#[doc = $doc:literal])+
        $code:ident: $wire:literal, $status:ident, $retry:ident, $title:literal;
    )+) => {
        /// Stable error codes. Renaming one breaks apps: add new ones instead.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        pub enum ErrorCode {
            $(
                $(#[doc = $doc])+
                #[serde(rename = $wire)]
                $code,
            )+
        }

        impl ErrorCode {
            /// Every code, in the order of the table.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$code),+];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$code => $wire,)+
                }
            }

            /// The HTTP status that goes with the code.
            pub fn status(self) -> StatusCode {
                match self {
                    $(Self::$code => StatusCode::$status,)+
                }
            }

            /// A short, fixed summary of the problem type (RFC 9457 `title`).
            pub fn title(self) -> &'static str {
                match self {
                    $(Self::$code => $title,)+
                }
            }

            /// Whether the same request may succeed if sent again later, unchanged: the failure
            /// was on our side or of the moment (busy, timed out, rate limited), not in the
            /// request. The sync intent path frees an intent's key for these, so the device
            /// delivers it again; every other code is the intent's final answer.
            pub fn worth_retrying(self) -> bool {
                match self {
                    $(Self::$code => error_codes!(@retry $retry),)+
                }
            }
        }
    };
    (@retry retry) => { true };
    (@retry no_retry) => { false };
}

error_codes! {
    /// One or more request fields are invalid; `invalid_params` lists them.
    ValidationFailed: "validation_failed", UNPROCESSABLE_ENTITY, no_retry, "The request has invalid fields";
    /// The request body is not well-formed JSON of the expected shape.
    MalformedRequest: "malformed_request", BAD_REQUEST, no_retry, "The request is malformed";
    /// A sync message was refused before it was applied (a bloom filter's parameters, a change
    /// chunk's type or length, or more change bytes than allowed); `detail` is the reason.
    /// Nothing in the frame was applied.
    SyncMessageRefused: "sync_message_refused", UNPROCESSABLE_ENTITY, no_retry, "The sync message was refused";
    /// The request body exceeds the size limit.
    PayloadTooLarge: "payload_too_large", PAYLOAD_TOO_LARGE, no_retry, "The request is too large";
    /// No such resource (or the caller may not know it exists).
    NotFound: "not_found", NOT_FOUND, no_retry, "Not found";
    /// No valid credentials were presented.
    Unauthenticated: "unauthenticated", UNAUTHORIZED, no_retry, "Sign-in required";
    /// The caller is known but not allowed to do this.
    Forbidden: "forbidden", FORBIDDEN, no_retry, "Not allowed";
    /// The request conflicts with the current state (e.g. a duplicate).
    Conflict: "conflict", CONFLICT, no_retry, "Conflict with the current state";
    /// An `Idempotency-Key` was reused with a different request.
    IdempotencyKeyReused: "idempotency_key_reused", UNPROCESSABLE_ENTITY, no_retry, "Idempotency key reused with a different request";
    /// The original request with this `Idempotency-Key` is still being processed.
    IdempotencyRequestInFlight: "idempotency_request_in_flight", CONFLICT, retry, "The original request is still in progress";
    /// An `Idempotency-Key` header or an intent key is empty, longer than 255 bytes or not
    /// visible ASCII.
    IdempotencyKeyInvalid: "idempotency_key_invalid", BAD_REQUEST, no_retry, "The idempotency key is not valid";
    /// A sync frame, or a live connection's followed documents, would name more documents
    /// than `sync.max_followed_documents`.
    TooManyFollowedDocuments: "too_many_followed_documents", UNPROCESSABLE_ENTITY, no_retry, "Too many documents followed at once";
    /// Too many requests; retry after `Retry-After` seconds.
    RateLimited: "rate_limited", TOO_MANY_REQUESTS, retry, "Too many requests";
    /// The request took too long.
    Timeout: "timeout", REQUEST_TIMEOUT, retry, "The request timed out";
    /// A dependency (the database) is unavailable.
    ServiceUnavailable: "service_unavailable", SERVICE_UNAVAILABLE, retry, "Temporarily unavailable";
    /// An unexpected server fault; the request id identifies it in the logs.
    InternalError: "internal_error", INTERNAL_SERVER_ERROR, retry, "Something went wrong on our side";
    /// The Account ID, Linkage Key and ODS code do not identify valid linkage details.
    InvalidLinkageDetails: "invalid_linkage_details", FORBIDDEN, no_retry, "The linkage details are not valid";
    /// The surname or date of birth do not match the person the linkage details are for.
    NoPatientMatch: "no_patient_match", FORBIDDEN, no_retry, "The details do not match the practice's records";
    /// The practice has not switched online services on.
    PracticeNotLive: "practice_not_live", FORBIDDEN, no_retry, "The practice does not offer online services yet";
    /// The person already has an account: sign in instead, or ask the practice for recovery.
    AlreadyLinked: "already_linked", FORBIDDEN, no_retry, "An account already exists for this person";
    /// The patient is no longer registered at the practice.
    PatientArchived: "patient_archived", FORBIDDEN, no_retry, "No longer registered at this practice";
    /// Under 16 and not recorded by the practice as competent to use online services.
    UnderMinimumAge: "under_minimum_age", FORBIDDEN, no_retry, "Too young to register without the practice's agreement";
    /// The linkage details have expired: ask the practice for new ones.
    LinkageKeyExpired: "linkage_key_expired", FORBIDDEN, no_retry, "The linkage details have expired";
    /// Too many failed attempts: ask the practice for new linkage details.
    LinkageKeyLocked: "linkage_key_locked", FORBIDDEN, no_retry, "The linkage details are locked after too many attempts";
    /// The sign-in or registration ceremony is unknown or already used.
    CeremonyInvalid: "ceremony_invalid", UNAUTHORIZED, no_retry, "The sign-in attempt is not valid";
    /// The ceremony took longer than five minutes: start again.
    CeremonyExpired: "ceremony_expired", UNAUTHORIZED, no_retry, "The sign-in attempt has expired";
    /// The passkey's answer failed verification (origin, challenge, signature, user verification).
    PasskeyRejected: "passkey_rejected", UNAUTHORIZED, no_retry, "The passkey could not be verified";
    /// This passkey is already registered to an account.
    CredentialAlreadyRegistered: "credential_already_registered", CONFLICT, no_retry, "This passkey is already registered";
    /// The session has ended (expired, signed out or revoked): sign in again.
    SessionEnded: "session_ended", UNAUTHORIZED, no_retry, "The session has ended";
    /// A refresh token was used twice; every session of this sign-in has been revoked.
    RefreshTokenReused: "refresh_token_reused", UNAUTHORIZED, no_retry, "The session was revoked for safety";
    /// The enrolment code is unknown, used or expired.
    EnrolmentCodeInvalid: "enrolment_code_invalid", FORBIDDEN, no_retry, "The enrolment code is not valid";
    /// A document is larger than the per-document limit (4 MiB).
    DocumentTooLarge: "document_too_large", PAYLOAD_TOO_LARGE, no_retry, "The document is too large";
    /// A document's content is not one of the accepted types (PDF, images, RTF, plain text).
    UnsupportedDocumentType: "unsupported_document_type", UNSUPPORTED_MEDIA_TYPE, no_retry, "This type of document is not accepted";
    /// The result or document is not awaiting review (already decided otherwise, or retracted).
    NotPending: "not_pending", CONFLICT, no_retry, "The item is not awaiting review";
    /// The result or document is not released, so it cannot be retracted.
    NotReleased: "not_released", CONFLICT, no_retry, "The item is not released";
    /// The practice has switched this online service off.
    FeatureDisabled: "feature_disabled", FORBIDDEN, no_retry, "The practice does not offer this service online";
    /// Someone else booked the slot first; pick another.
    SlotTaken: "slot_taken", CONFLICT, no_retry, "The slot has just been booked by someone else";
    /// The slot is not (or no longer) offered: withdrawn, past, outside the booking window or
    /// unknown.
    SlotUnavailable: "slot_unavailable", CONFLICT, no_retry, "The slot is no longer available";
    /// The patient already holds as many future appointments as the practice allows.
    BookingLimitReached: "booking_limit_reached", CONFLICT, no_retry, "Too many future appointments";
    /// The appointment starts too soon to be cancelled online: contact the practice.
    TooLateToCancel: "too_late_to_cancel", CONFLICT, no_retry, "Too late to cancel online";
    /// The appointment is not booked (already cancelled, or attended).
    AppointmentNotBooked: "appointment_not_booked", CONFLICT, no_retry, "The appointment is not booked";
    /// None of the courses of a prescription order could be requested; `unsuccessful` lists
    /// each course with its own code.
    NothingOrdered: "nothing_ordered", CONFLICT, no_retry, "None of the medicines could be ordered";
    /// The prescription request (or item) is no longer waiting for a decision.
    RequestNotPending: "request_not_pending", CONFLICT, no_retry, "The request is no longer waiting for a decision";
    /// The message thread has been closed by the practice: start a new one.
    ThreadClosed: "thread_closed", CONFLICT, no_retry, "The conversation has been closed by the practice";
    /// The practice does not let patients delete message threads.
    MessageDeletionNotAllowed: "message_deletion_not_allowed", FORBIDDEN, no_retry, "The practice does not allow deleting messages";
    /// The proxy grant is not in force (revoked, refused or expired), so it cannot change.
    GrantNotActive: "grant_not_active", CONFLICT, no_retry, "The proxy access is no longer in force";
    /// Only a patient aged 16 or over, or recorded as competent, can do this.
    CapacityRequired: "capacity_required", FORBIDDEN, no_retry, "Only the patient, with capacity, can do this";
    /// The patient is 16 or over: proxy access continues only with their recorded consent.
    YoungPersonConsentRequired: "young_person_consent_required", UNPROCESSABLE_ENTITY, no_retry, "The patient is 16 or over: proxy access needs their consent";
}

/// The `Retry-After` of a 503: a restarting database is usually back within seconds, and a
/// client that waits a second spreads its retries instead of hammering a recovering server.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

/// An error of any layer; the HTTP layer renders it as problem+json.
#[derive(Debug)]
pub struct AppError {
    pub(crate) code: ErrorCode,
    pub(crate) detail: Option<String>,
    pub(crate) invalid_params: Vec<InvalidField>,
    pub(crate) retry_after_secs: Option<u64>,
    /// The cause of a server fault, logged and never sent.
    pub(crate) cause: Option<String>,
}

impl AppError {
    /// An error with a code and the default wording.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            detail: None,
            invalid_params: Vec::new(),
            retry_after_secs: None,
            cause: None,
        }
    }

    /// Adds an explanation for this occurrence. It is shown to clients: no internals.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// 422 listing every invalid field.
    pub fn validation(invalid_params: Vec<InvalidField>) -> Self {
        Self {
            invalid_params,
            ..Self::new(ErrorCode::ValidationFailed)
        }
    }

    /// 422 for one invalid field.
    pub fn invalid_field(name: &str, invalid: crate::validate::Invalid) -> Self {
        Self::validation(vec![InvalidField {
            name: name.to_owned(),
            code: invalid.code,
            reason: invalid.reason,
        }])
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound)
    }

    /// 429 with a `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(ErrorCode::RateLimited)
        }
    }

    /// 503 with a `Retry-After`: the database is out of reach for now. The cause is logged.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        Self {
            cause: Some(cause.to_string()),
            retry_after_secs: Some(UNAVAILABLE_RETRY_AFTER_SECS),
            ..Self::new(ErrorCode::ServiceUnavailable)
        }
    }

    /// 500 whose cause is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            cause: Some(cause.to_string()),
            ..Self::new(ErrorCode::InternalError)
        }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Whether the same request may succeed if sent again later (see
    /// [`ErrorCode::worth_retrying`]).
    pub fn worth_retrying(&self) -> bool {
        self.code.worth_retrying()
    }

    /// The invalid fields of a `validation_failed` error.
    pub fn invalid_params(&self) -> &[InvalidField] {
        &self.invalid_params
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code.as_str())?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None => write!(f, ": {}", self.code.title()),
        }
    }
}

impl std::error::Error for AppError {}

impl From<Vec<InvalidField>> for AppError {
    fn from(fields: Vec<InvalidField>) -> Self {
        Self::validation(fields)
    }
}

/// The single place database errors become API errors: constraint violations are conflicts the
/// client caused; a database out of reach for now is 503 with `Retry-After`
/// ([`crate::db::is_unavailable`]); anything else is a server fault.
impl From<DbErr> for AppError {
    fn from(error: DbErr) -> Self {
        match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::new(ErrorCode::Conflict),
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                Self::new(ErrorCode::Conflict).with_detail("a referenced item does not exist")
            }
            _ if crate::db::is_unavailable(&error) => Self::unavailable(error),
            _ => Self::internal(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_has_one_distinct_snake_case_wire_name_a_title_and_an_error_status() {
        let names: HashSet<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(
            names.len(),
            ErrorCode::ALL.len(),
            "two codes share a wire name"
        );
        for &code in ErrorCode::ALL {
            let wire = code.as_str();
            assert_eq!(serde_json::to_value(code).unwrap(), wire);
            assert!(
                wire.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{wire} is not snake_case"
            );
            assert!(!code.title().is_empty(), "{wire} has no title");
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{wire} is not an error status"
            );
        }
    }

    #[test]
    fn server_faults_are_worth_retrying_and_refusals_are_final() {
        for &code in ErrorCode::ALL {
            if code.status().is_server_error() {
                assert!(code.worth_retrying(), "{}", code.as_str());
            }
        }
        assert!(ErrorCode::RateLimited.worth_retrying());
        assert!(!ErrorCode::ValidationFailed.worth_retrying());
        assert!(!ErrorCode::SlotTaken.worth_retrying());
        assert!(!ErrorCode::NotFound.worth_retrying());
    }
}
