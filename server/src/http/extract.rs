//! Request extractors whose failures are problem+json: a JSON body that reports the path of
//! the offending field, so clients learn exactly what to fix.

use super::error::{ApiError, ErrorCode};
use crate::validate::InvalidField;
use axum::extract::{FromRequest, Request};
use axum::body::Bytes;
use serde::de::DeserializeOwned;

/// A JSON request body; a malformed or mistyped body is a 422 naming the field.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(ErrorCode::MalformedRequest)
                .with_detail("expected Content-Type: application/json"));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge)
            } else {
                ApiError::new(ErrorCode::MalformedRequest)
            }
        })?;
        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(deserializer)
            .map(ApiJson)
            .map_err(|error| {
                let name = error.path().to_string();
                let inner = error.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    ApiError::new(ErrorCode::MalformedRequest).with_detail("the body is not valid JSON")
                } else {
                    ApiError::validation(vec![InvalidField {
                        name,
                        code: "invalid_value",
                        reason: inner.to_string(),
                    }])
                }
            })
    }
}
