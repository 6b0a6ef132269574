//! The one error type of the HTTP API and its RFC 9457 `application/problem+json` rendering.
//!
//! Every failure a client can see has a stable, greppable [`ErrorCode`] that apps branch on and
//! support staff can quote. Server faults log their cause with the request's span and return a
//! generic body, so internals never leak.

use crate::validate::InvalidField;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
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
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::ValidationFailed | Self::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
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
        }
    }
}

/// An error returned by a handler; renders as problem+json.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    detail: Option<String>,
    invalid_params: Vec<InvalidField>,
    retry_after_secs: Option<u64>,
    /// The cause of a server fault, logged and never sent.
    cause: Option<String>,
}

/// The problem+json body (RFC 9457), documented in the OpenAPI description.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// URI identifying the problem type: `urn:gp-online:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Fixed summary of the problem type.
    pub title: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// Stable code to branch on.
    pub code: ErrorCode,
    /// Explanation specific to this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every invalid field, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_params: Vec<InvalidField>,
}

impl ApiError {
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

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code.as_str())
    }
}

impl From<Vec<InvalidField>> for ApiError {
    fn from(fields: Vec<InvalidField>) -> Self {
        Self::validation(fields)
    }
}

/// The single place database errors become API errors: constraint violations are conflicts the
/// client caused; lost connections are 503; anything else is a server fault.
impl From<DbErr> for ApiError {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if let Some(cause) = &self.cause {
            // The span carries the request id, so the log line can be matched to the report.
            tracing::error!(code = self.code.as_str(), %cause, "request failed");
        }
        let problem = Problem {
            problem_type: format!("urn:gp-online:problem:{}", self.code.as_str()),
            title: self.code.title(),
            status: status.as_u16(),
            code: self.code,
            detail: self.detail,
            invalid_params: self.invalid_params,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn validation_error_lists_fields_as_problem_json() {
        let invalid = crate::validate::NhsNumber::parse("123").err().unwrap();
        let response = ApiError::invalid_field("nhs_number", invalid).into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(response.into_body(), 10_000).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["invalid_params"][0]["name"], "nhs_number");
        assert_eq!(body["invalid_params"][0]["code"], "invalid_nhs_number");
    }

    #[tokio::test]
    async fn internal_error_does_not_leak_its_cause() {
        let response = ApiError::internal("password authentication failed for user gp")
            .into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 10_000).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("password"), "{body}");
        assert!(body.contains("internal_error"));
    }

    #[test]
    fn every_code_has_a_distinct_wire_name() {
        use ErrorCode::*;
        let all = [
            ValidationFailed, MalformedRequest, PayloadTooLarge, NotFound, Unauthenticated,
            Forbidden, Conflict, IdempotencyKeyReused, IdempotencyRequestInFlight, RateLimited,
            Timeout, ServiceUnavailable, InternalError,
        ];
        let names: std::collections::HashSet<&str> = all.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), all.len());
        for code in all {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
