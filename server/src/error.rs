//! The one error type of the product, [`AppError`], and its stable [`ErrorCode`]s.
//!
//! Every failure a client can see has a stable, greppable code that apps branch on and support
//! staff can quote. Domain modules return `AppError`; `http::error` renders it as RFC 9457
//! problem+json. Server faults keep their cause for the log and never send it.

use crate::validate::InvalidField;
use axum::http::StatusCode;
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;

/// Stable error codes. Renaming one breaks apps: add new ones instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// One or more request fields are invalid; `invalid_params` lists them.
    ValidationFailed,
    /// The request body is not well-formed JSON of the expected shape.
    MalformedRequest,
    /// The request body exceeds the size limit.
    PayloadTooLarge,
    /// No such resource (or the caller may not know it exists).
    NotFound,
    /// No valid credentials were presented.
    Unauthenticated,
    /// The caller is known but not allowed to do this.
    Forbidden,
    /// The request conflicts with the current state (e.g. a duplicate).
    Conflict,
    /// An `Idempotency-Key` was reused with a different request.
    IdempotencyKeyReused,
    /// The original request with this `Idempotency-Key` is still being processed.
    IdempotencyRequestInFlight,
    /// Too many requests; retry after `Retry-After` seconds.
    RateLimited,
    /// The request took too long.
    Timeout,
    /// A dependency (the database) is unavailable.
    ServiceUnavailable,
    /// An unexpected server fault; the request id identifies it in the logs.
    InternalError,
    /// The Account ID, Linkage Key and ODS code do not identify valid linkage details.
    InvalidLinkageDetails,
    /// The surname or date of birth do not match the person the linkage details are for.
    NoPatientMatch,
    /// The practice has not switched online services on.
    PracticeNotLive,
    /// The person already has an account: sign in instead, or ask the practice for recovery.
    AlreadyLinked,
    /// The patient is no longer registered at the practice.
    PatientArchived,
    /// Under 16 and not recorded by the practice as competent to use online services.
    UnderMinimumAge,
    /// The linkage details have expired: ask the practice for new ones.
    LinkageKeyExpired,
    /// Too many failed attempts: ask the practice for new linkage details.
    LinkageKeyLocked,
    /// The sign-in or registration ceremony is unknown or already used.
    CeremonyInvalid,
    /// The ceremony took longer than five minutes: start again.
    CeremonyExpired,
    /// The passkey's answer failed verification (origin, challenge, signature, user verification).
    PasskeyRejected,
    /// This passkey is already registered to an account.
    CredentialAlreadyRegistered,
    /// The session has ended (expired, signed out or revoked): sign in again.
    SessionEnded,
    /// A refresh token was used twice; every session of this sign-in has been revoked.
    RefreshTokenReused,
    /// The enrolment code is unknown, used or expired.
    EnrolmentCodeInvalid,
    /// A document is larger than the per-document limit (4 MiB).
    DocumentTooLarge,
    /// A document's content is not one of the accepted types (PDF, images, RTF, plain text).
    UnsupportedDocumentType,
    /// The result or document is not awaiting review (already decided otherwise, or retracted).
    NotPending,
    /// The result or document is not released, so it cannot be retracted.
    NotReleased,
    /// The practice has switched this online service off.
    FeatureDisabled,
    /// Someone else booked the slot first; pick another.
    SlotTaken,
    /// The slot is not (or no longer) offered: withdrawn, past, outside the booking window or
    /// unknown.
    SlotUnavailable,
    /// The patient already holds as many future appointments as the practice allows.
    BookingLimitReached,
    /// The appointment starts too soon to be cancelled online: contact the practice.
    TooLateToCancel,
    /// The appointment is not booked (already cancelled, or attended).
    AppointmentNotBooked,
    /// None of the courses of a prescription order could be requested; `unsuccessful` lists
    /// each course with its own code.
    NothingOrdered,
    /// The prescription request (or item) is no longer waiting for a decision.
    RequestNotPending,
    /// The message thread has been closed by the practice: start a new one.
    ThreadClosed,
    /// The practice does not let patients delete message threads.
    MessageDeletionNotAllowed,
    /// The proxy grant is not in force (revoked, refused or expired), so it cannot change.
    GrantNotActive,
    /// Only a patient aged 16 or over, or recorded as competent, can do this.
    CapacityRequired,
    /// The patient is 16 or over: proxy access continues only with their recorded consent.
    YoungPersonConsentRequired,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation_failed",
            Self::MalformedRequest => "malformed_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::NotFound => "not_found",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::Conflict => "conflict",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyRequestInFlight => "idempotency_request_in_flight",
            Self::RateLimited => "rate_limited",
            Self::Timeout => "timeout",
            Self::ServiceUnavailable => "service_unavailable",
            Self::InternalError => "internal_error",
            Self::InvalidLinkageDetails => "invalid_linkage_details",
            Self::NoPatientMatch => "no_patient_match",
            Self::PracticeNotLive => "practice_not_live",
            Self::AlreadyLinked => "already_linked",
            Self::PatientArchived => "patient_archived",
            Self::UnderMinimumAge => "under_minimum_age",
            Self::LinkageKeyExpired => "linkage_key_expired",
            Self::LinkageKeyLocked => "linkage_key_locked",
            Self::CeremonyInvalid => "ceremony_invalid",
            Self::CeremonyExpired => "ceremony_expired",
            Self::PasskeyRejected => "passkey_rejected",
            Self::CredentialAlreadyRegistered => "credential_already_registered",
            Self::SessionEnded => "session_ended",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::EnrolmentCodeInvalid => "enrolment_code_invalid",
            Self::DocumentTooLarge => "document_too_large",
            Self::UnsupportedDocumentType => "unsupported_document_type",
            Self::NotPending => "not_pending",
            Self::NotReleased => "not_released",
            Self::FeatureDisabled => "feature_disabled",
            Self::SlotTaken => "slot_taken",
            Self::SlotUnavailable => "slot_unavailable",
            Self::BookingLimitReached => "booking_limit_reached",
            Self::TooLateToCancel => "too_late_to_cancel",
            Self::AppointmentNotBooked => "appointment_not_booked",
            Self::NothingOrdered => "nothing_ordered",
            Self::RequestNotPending => "request_not_pending",
            Self::GrantNotActive => "grant_not_active",
            Self::CapacityRequired => "capacity_required",
            Self::YoungPersonConsentRequired => "young_person_consent_required",
            Self::ThreadClosed => "thread_closed",
            Self::MessageDeletionNotAllowed => "message_deletion_not_allowed",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::ValidationFailed | Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MalformedRequest => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Conflict | Self::IdempotencyRequestInFlight => StatusCode::CONFLICT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::InvalidLinkageDetails
            | Self::NoPatientMatch
            | Self::PracticeNotLive
            | Self::AlreadyLinked
            | Self::PatientArchived
            | Self::UnderMinimumAge
            | Self::LinkageKeyExpired
            | Self::LinkageKeyLocked
            | Self::EnrolmentCodeInvalid => StatusCode::FORBIDDEN,
            Self::CeremonyInvalid | Self::CeremonyExpired | Self::PasskeyRejected => {
                StatusCode::UNAUTHORIZED
            }
            Self::CredentialAlreadyRegistered => StatusCode::CONFLICT,
            Self::SessionEnded | Self::RefreshTokenReused => StatusCode::UNAUTHORIZED,
            Self::DocumentTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedDocumentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotPending | Self::NotReleased => StatusCode::CONFLICT,
            Self::FeatureDisabled => StatusCode::FORBIDDEN,
            Self::SlotTaken
            | Self::SlotUnavailable
            | Self::BookingLimitReached
            | Self::TooLateToCancel
            | Self::AppointmentNotBooked => StatusCode::CONFLICT,
            Self::NothingOrdered | Self::RequestNotPending => StatusCode::CONFLICT,
            Self::GrantNotActive => StatusCode::CONFLICT,
            Self::CapacityRequired => StatusCode::FORBIDDEN,
            Self::YoungPersonConsentRequired => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ThreadClosed => StatusCode::CONFLICT,
            Self::MessageDeletionNotAllowed => StatusCode::FORBIDDEN,
        }
    }

    /// A short, fixed summary of the problem type (RFC 9457 `title`).
    pub fn title(self) -> &'static str {
        match self {
            Self::ValidationFailed => "The request has invalid fields",
            Self::MalformedRequest => "The request is malformed",
            Self::PayloadTooLarge => "The request is too large",
            Self::NotFound => "Not found",
            Self::Unauthenticated => "Sign-in required",
            Self::Forbidden => "Not allowed",
            Self::Conflict => "Conflict with the current state",
            Self::IdempotencyKeyReused => "Idempotency key reused with a different request",
            Self::IdempotencyRequestInFlight => "The original request is still in progress",
            Self::RateLimited => "Too many requests",
            Self::Timeout => "The request timed out",
            Self::ServiceUnavailable => "Temporarily unavailable",
            Self::InternalError => "Something went wrong on our side",
            Self::InvalidLinkageDetails => "The linkage details are not valid",
            Self::NoPatientMatch => "The details do not match the practice's records",
            Self::PracticeNotLive => "The practice does not offer online services yet",
            Self::AlreadyLinked => "An account already exists for this person",
            Self::PatientArchived => "No longer registered at this practice",
            Self::UnderMinimumAge => "Too young to register without the practice's agreement",
            Self::LinkageKeyExpired => "The linkage details have expired",
            Self::LinkageKeyLocked => "The linkage details are locked after too many attempts",
            Self::CeremonyInvalid => "The sign-in attempt is not valid",
            Self::CeremonyExpired => "The sign-in attempt has expired",
            Self::PasskeyRejected => "The passkey could not be verified",
            Self::CredentialAlreadyRegistered => "This passkey is already registered",
            Self::SessionEnded => "The session has ended",
            Self::RefreshTokenReused => "The session was revoked for safety",
            Self::EnrolmentCodeInvalid => "The enrolment code is not valid",
            Self::DocumentTooLarge => "The document is too large",
            Self::UnsupportedDocumentType => "This type of document is not accepted",
            Self::NotPending => "The item is not awaiting review",
            Self::NotReleased => "The item is not released",
            Self::FeatureDisabled => "The practice does not offer this service online",
            Self::SlotTaken => "The slot has just been booked by someone else",
            Self::SlotUnavailable => "The slot is no longer available",
            Self::BookingLimitReached => "Too many future appointments",
            Self::TooLateToCancel => "Too late to cancel online",
            Self::AppointmentNotBooked => "The appointment is not booked",
            Self::NothingOrdered => "None of the medicines could be ordered",
            Self::RequestNotPending => "The request is no longer waiting for a decision",
            Self::GrantNotActive => "The proxy access is no longer in force",
            Self::CapacityRequired => "Only the patient, with capacity, can do this",
            Self::YoungPersonConsentRequired => {
                "The patient is 16 or over: proxy access needs their consent"
            }
            Self::ThreadClosed => "The conversation has been closed by the practice",
            Self::MessageDeletionNotAllowed => "The practice does not allow deleting messages",
        }
    }
}

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
/// client caused; lost connections are 503; anything else is a server fault.
impl From<DbErr> for AppError {
    fn from(error: DbErr) -> Self {
        match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::new(ErrorCode::Conflict),
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                Self::new(ErrorCode::Conflict).with_detail("a referenced item does not exist")
            }
            _ => match error {
                DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self {
                    cause: Some(error.to_string()),
                    ..Self::new(ErrorCode::ServiceUnavailable)
                },
                other => Self::internal(other),
            },
        }
    }
}

/// The problem for a refused service: `feature_disabled` when the practice does not offer it,
/// `forbidden` when the viewer's access does not include it, each with its detail.
pub fn service_error(
    refusal: crate::access::rules::ServiceRefusal,
    not_offered: &str,
    not_in_scope: &str,
) -> AppError {
    use crate::access::rules::ServiceRefusal;
    match refusal {
        ServiceRefusal::NotOffered => {
            AppError::new(ErrorCode::FeatureDisabled).with_detail(not_offered)
        }
        ServiceRefusal::NotInScope => AppError::new(ErrorCode::Forbidden).with_detail(not_in_scope),
    }
}
