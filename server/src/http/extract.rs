//! Request extractors whose failures are problem+json: a JSON body that reports the path of
//! the offending field, so clients learn exactly what to fix.

use crate::error::{AppError, ErrorCode};
use crate::validate::InvalidField;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A JSON request body; a malformed or mistyped body is a 422 naming the field.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        if !is_json {
            return Err(AppError::new(ErrorCode::MalformedRequest)
                .with_detail("expected Content-Type: application/json"));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::new(ErrorCode::PayloadTooLarge)
                } else {
                    AppError::new(ErrorCode::MalformedRequest)
                }
            })?;
        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(deserializer)
            .map(ApiJson)
            .map_err(|error| {
                let name = error.path().to_string();
                let inner = error.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    AppError::new(ErrorCode::MalformedRequest)
                        .with_detail("the body is not valid JSON")
                } else {
                    AppError::validation(vec![InvalidField {
                        name,
                        code: "invalid_value",
                        reason: inner.to_string(),
                    }])
                }
            })
    }
}
