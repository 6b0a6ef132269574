//! Rendering of [`AppError`] as RFC 9457 `application/problem+json`: the only place errors
//! become HTTP responses. Server faults log their cause with the request's span (which carries
//! the request id) and return a generic body.

use crate::error::{AppError, ErrorCode};
use crate::validate::InvalidField;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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

impl IntoResponse for AppError {
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
    use axum::http::StatusCode;

    #[tokio::test]
    async fn validation_error_lists_fields_as_problem_json() {
        let invalid = crate::validate::NhsNumber::parse("123").err().unwrap();
        let response = AppError::invalid_field("nhs_number", invalid).into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = axum::body::to_bytes(response.into_body(), 10_000)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["invalid_params"][0]["name"], "nhs_number");
        assert_eq!(body["invalid_params"][0]["code"], "invalid_nhs_number");
    }

    #[tokio::test]
    async fn internal_error_does_not_leak_its_cause() {
        let response =
            AppError::internal("password authentication failed for user gp").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 10_000)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("password"), "{body}");
        assert!(body.contains("internal_error"));
    }
}
