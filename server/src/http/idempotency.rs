//! `Idempotency-Key` on every mutating call, with Stripe's semantics: the same key and body
//! replay the stored response; the same key with another body is 422
//! `idempotency_key_reused`; a request whose original is still running is 409
//! `idempotency_request_in_flight`. Keys are scoped to the caller (the signed-in account, staff
//! member or integration key, or the address of an anonymous caller) and kept 24 hours. A 5xx is not stored, so a retry runs again.
//!
//! Calls whose response carries a secret shown once (tokens, linkage keys) are not replayed:
//! storing the response would store the secret. They are exactly-once by construction instead
//! (a single-use ceremony or refresh token), or harmless to repeat (reissuing linkage details
//! revokes the previous ones).

use super::AppState;
use crate::db::entities::idempotency_keys;
use crate::error::{AppError, ErrorCode};
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// The request header carrying the client's key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set on a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Paths whose responses carry a secret shown once; see the module documentation.
const NOT_REPLAYED: &[&str] = &[
    "/api/v1/registration/",
    "/api/v1/login/",
    "/api/v1/token/",
    "/api/v1/practice/enrolment/",
    "/linkage",
    // Idempotent by its resources' identifiers, and its Bundles outgrow the replay store.
    "/api/v1/integration/fhir",
];

/// Largest response stored for replay.
const MAX_STORED_BODY: usize = 1024 * 1024;

/// The middleware.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mutating = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let path = request.uri().path().to_owned();
    let Some(key) = request.headers().get(IDEMPOTENCY_KEY).cloned() else {
        return next.run(request).await;
    };
    if !mutating || NOT_REPLAYED.iter().any(|p| path.contains(p)) {
        return next.run(request).await;
    }
    match guarded(state, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn guarded(
    state: AppState,
    key: HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            AppError::new(ErrorCode::MalformedRequest)
                .with_detail("Idempotency-Key must be 1 to 255 visible characters")
                .into_response()
        })?
        .to_owned();
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| {
            let trusted = &state.config.server.trusted_proxies;
            super::client_address::client_address(info.0.ip(), request.headers(), trusted)
                .to_string()
        })
        .unwrap_or_default();
    let Some(principal) = principal(&state, bearer.as_deref(), &address).await else {
        // An invalid credential: the handler answers 401; there is nothing to replay.
        return Ok(next.run(request).await);
    };
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, state.config.server.max_body_bytes)
        .await
        .map_err(|_| AppError::new(ErrorCode::PayloadTooLarge).into_response())?;
    let request_hash = fingerprint(&parts.method, parts.uri.path(), &body);
    let now = state.clock.now();
    // Two attempts: the second only after forgetting an expired use of the same key.
    for _ in 0..2 {
        let claimed = idempotency_keys::Entity::insert(idempotency_keys::ActiveModel {
            principal: Set(principal.clone()),
            key: Set(key.clone()),
            request_hash: Set(request_hash.clone()),
            response_status: Set(None),
            response_body: Set(None),
            created_at: Set(now),
            expires_at: Set(now + Duration::hours(24)),
        })
        .exec_without_returning(&state.db)
        .await;
        if claimed.is_ok() {
            break;
        }
        let stored = idempotency_keys::Entity::find_by_id((principal.clone(), key.clone()))
            .one(&state.db)
            .await
            .map_err(|e| AppError::from(e).into_response())?
            .ok_or_else(|| AppError::new(ErrorCode::IdempotencyRequestInFlight).into_response())?;
        if stored.expires_at <= now {
            forget(&state, &principal, &key).await;
            continue;
        }
        if stored.request_hash != request_hash {
            return Err(AppError::new(ErrorCode::IdempotencyKeyReused).into_response());
        }
        let (Some(status), Some(body)) = (stored.response_status, stored.response_body) else {
            return Err(AppError::new(ErrorCode::IdempotencyRequestInFlight).into_response());
        };
        return Ok(replay(status, body));
    }

    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if response.status().is_server_error() {
        forget(&state, &principal, &key).await;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_STORED_BODY).await else {
        forget(&state, &principal, &key).await;
        return Err(AppError::internal("response too large to store for replay").into_response());
    };
    let stored = idempotency_keys::Entity::update_many()
        .col_expr(
            idempotency_keys::Column::ResponseStatus,
            sea_orm::sea_query::Expr::value(i32::from(parts.status.as_u16())),
        )
        .col_expr(
            idempotency_keys::Column::ResponseBody,
            sea_orm::sea_query::Expr::value(bytes.to_vec()),
        )
        .filter(idempotency_keys::Column::Principal.eq(principal.clone()))
        .filter(idempotency_keys::Column::Key.eq(key.clone()))
        .exec(&state.db)
        .await;
    if let Err(error) = stored {
        tracing::warn!(%error, "could not store an idempotent response");
        forget(&state, &principal, &key).await;
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn replay(status: i32, body: Vec<u8>) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let content_type = if status.is_client_error() {
        "application/problem+json"
    } else {
        "application/json"
    };
    let mut response = (status, Bytes::from(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

async fn forget(state: &AppState, principal: &str, key: &str) {
    let _ = idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::Principal.eq(principal))
        .filter(idempotency_keys::Column::Key.eq(key))
        .exec(&state.db)
        .await;
}

/// Whose key this is: the signed-in account, staff member or integration key (stable across
/// token refreshes), else the client's address. `None` when a credential is given but invalid.
async fn principal(state: &AppState, bearer: Option<&str>, address: &str) -> Option<String> {
    use crate::identity::{integration, sessions};
    let now = state.clock.now();
    let source = match bearer {
        Some(key) if key.starts_with("gpk_") => {
            let client = integration::authenticate(&state.db, key, now).await.ok()?;
            format!("integration:{}", client.key_id)
        }
        Some(token) => match sessions::authenticate(&state.db, token, now).await.ok()? {
            sessions::Principal::Account { account_id, .. } => format!("account:{account_id}"),
            sessions::Principal::Staff { staff_id, .. } => format!("staff:{staff_id}"),
        },
        None => format!("anonymous:{address}"),
    };
    Some(hex::encode(Sha256::digest(source.as_bytes())))
}

fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hex::encode(hasher.finalize())
}
