//! `Idempotency-Key` on every mutating call, with Stripe's semantics: the same key and body
//! replay the stored response (with its stored `Content-Type`); the same key with another body
//! is 422 `idempotency_key_reused`; a request whose original is still running is 409
//! `idempotency_request_in_flight`. Keys are 1 to 255 bytes of visible ASCII
//! (`idempotency_key_invalid`), scoped to the caller (the signed-in account, staff member or
//! integration key, or the address of an anonymous caller) and honoured for 24 hours; expired
//! rows are purged on a schedule ([`purge_expired`], run by [`crate::jobs`]). A 5xx is not
//! stored, so a retry runs again.
//!
//! A claim cannot strand its key. It holds the key for a lease (the request timeout and a
//! margin) while its request runs; a request that is cancelled (the client gone, the timeout)
//! gives the key back at once, and one whose process died leaves a claim that becomes claimable
//! again when its lease passes (on SQLite, at once when the server starts again:
//! [`release_claims_of_a_dead_process`]). A handler that writes stores its answer in its own
//! transaction ([`IdempotentCall`], which this layer hands it), so a request killed after its
//! commit is replayed; the layer stores every other response once the handler has answered.
//! The writes whose response only the layer stores are those answered 204 without a body and a
//! few not converted yet (the practice's settings, a clinician's decision on a prescription
//! request, a patient's pharmacy, push settings and added passkeys, marking messages read, the
//! clinical system's calls). One killed between its commit and that store runs again on retry, where
//! the domain's own rules answer the repeat (a proxy revoked once, messages marked read once,
//! an item imported once by its clinical system's id).
//!
//! Calls whose response carries a secret shown once (tokens, linkage keys) are not replayed:
//! storing the response would store the secret. They are exactly-once by construction instead
//! (a single-use ceremony or refresh token), or harmless to repeat (reissuing linkage details
//! revokes the previous ones). `POST /api/v1/sync` is not replayed either: the intents in a
//! frame carry their own keys ([`crate::sync::intents`]) and a reply is the device's documents.

use super::AppState;
use crate::db::entities::idempotency_keys;
use crate::error::{AppError, ErrorCode};
use crate::idempotent::IdempotentCall;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// The request header carrying the client's key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set on a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Paths whose responses are not stored for replay; see the module documentation.
const NOT_REPLAYED: &[&str] = &[
    "/api/v1/registration/",
    "/api/v1/login/",
    "/api/v1/token/",
    "/api/v1/practice/enrolment/",
    "/linkage",
    // Idempotent by its resources' identifiers, and its Bundles outgrow the replay store.
    "/api/v1/integration/fhir",
];

/// The sync routes: intents carry their own keys, and replies are never stored.
const SYNC: &str = "/api/v1/sync";

/// Largest response stored for replay; a larger one is answered but not stored.
const MAX_STORED_BODY: usize = 1024 * 1024;

/// How long a key is honoured.
const KEPT_FOR_HOURS: i64 = 24;

/// Beyond the request timeout, how long a claim without a response holds its key.
const LEASE_MARGIN_SECS: i64 = 30;

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
    if !mutating || path.starts_with(SYNC) || NOT_REPLAYED.iter().any(|p| path.contains(p)) {
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
        .filter(|k| crate::sync::intents::key_is_valid(k))
        .ok_or_else(|| {
            AppError::new(ErrorCode::IdempotencyKeyInvalid)
                .with_detail("Idempotency-Key must be 1 to 255 visible ASCII characters")
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
    let (mut parts, body) = request.into_parts();
    let body = to_bytes(body, state.config.server.max_body_bytes)
        .await
        .map_err(|_| AppError::new(ErrorCode::PayloadTooLarge).into_response())?;
    let request_hash = fingerprint(&parts.method, parts.uri.path(), &body);
    let now = state.clock.now();
    let timeout = i64::try_from(state.config.server.request_timeout_secs).unwrap_or(i64::MAX / 2);
    let lease = now + Duration::seconds(timeout.saturating_add(LEASE_MARGIN_SECS));
    let claimed = claim(&state.db, &principal, &key, &request_hash, now, lease)
        .await
        .map_err(|e| AppError::from(e).into_response())?;
    let mut claim = match claimed {
        Claimed::Ours => Claim {
            db: state.db.clone(),
            principal,
            key,
            settled: false,
        },
        Claimed::Replay(response) => return Ok(response),
        Claimed::Refused(code) => return Err(AppError::new(code).into_response()),
    };

    let call = IdempotentCall::new(claim.principal.clone(), claim.key.clone());
    parts.extensions.insert(call.clone());
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if response.status().is_server_error() {
        claim.forget().await;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        claim.forget().await;
        return Err(AppError::internal("the response body could not be read").into_response());
    };
    if bytes.len() > MAX_STORED_BODY {
        // Answered, not stored: a retry runs again.
        claim.forget().await;
        return Ok(Response::from_parts(parts, Body::from(bytes)));
    }
    // Empty for a response without a body type (a 204): replayed without one.
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // A handler that wrote stored its response in its own transaction; this stores the rest.
    let stored = call
        .store_bytes(
            &state.db,
            parts.status.as_u16(),
            &content_type,
            bytes.to_vec(),
        )
        .await;
    match stored {
        Ok(_) => claim.settled = true,
        Err(error) => {
            tracing::warn!(%error, "could not store an idempotent response");
            claim.forget().await;
        }
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// What a claim of a key found.
enum Claimed {
    /// The key is this request's until it is settled or given back.
    Ours,
    /// The original response, to send again.
    Replay(Response),
    /// Reused with another request, or the original is still running.
    Refused(ErrorCode),
}

/// Claims `key` for a request, or finds what its original left: a stored response, a claim
/// still within its lease, or one past it (a dead request), which is taken over.
async fn claim(
    db: &DatabaseConnection,
    principal: &str,
    key: &str,
    request_hash: &str,
    now: DateTime<Utc>,
    lease: DateTime<Utc>,
) -> Result<Claimed, DbErr> {
    // Two attempts: the second only after an expired use of the same key was forgotten.
    for _ in 0..2 {
        let inserted = idempotency_keys::Entity::insert(idempotency_keys::ActiveModel {
            principal: Set(principal.to_owned()),
            key: Set(key.to_owned()),
            request_hash: Set(request_hash.to_owned()),
            response_status: Set(None),
            response_body: Set(None),
            created_at: Set(now),
            expires_at: Set(now + Duration::hours(KEPT_FOR_HOURS)),
            claimed_until: Set(Some(lease)),
            response_content_type: Set(None),
        })
        .on_conflict(
            OnConflict::columns([
                idempotency_keys::Column::Principal,
                idempotency_keys::Column::Key,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        if inserted == 1 {
            return Ok(Claimed::Ours);
        }
        let Some(stored) =
            idempotency_keys::Entity::find_by_id((principal.to_owned(), key.to_owned()))
                .one(db)
                .await?
        else {
            continue;
        };
        if stored.expires_at <= now {
            forget(db, principal, key, false).await;
            continue;
        }
        if stored.request_hash != request_hash {
            return Ok(Claimed::Refused(ErrorCode::IdempotencyKeyReused));
        }
        if let (Some(status), Some(body)) = (stored.response_status, stored.response_body) {
            return Ok(Claimed::Replay(replay(
                status,
                body,
                stored.response_content_type.as_deref(),
            )));
        }
        if stored.claimed_until.is_some_and(|until| until > now) {
            return Ok(Claimed::Refused(ErrorCode::IdempotencyRequestInFlight));
        }
        // The original request died without a response: take its claim over, unless another
        // retry has just done so.
        let taken = idempotency_keys::Entity::update_many()
            .col_expr(idempotency_keys::Column::ClaimedUntil, Expr::value(lease))
            .filter(idempotency_keys::Column::Principal.eq(principal))
            .filter(idempotency_keys::Column::Key.eq(key))
            .filter(idempotency_keys::Column::ResponseStatus.is_null())
            .filter(
                Condition::any()
                    .add(idempotency_keys::Column::ClaimedUntil.is_null())
                    .add(idempotency_keys::Column::ClaimedUntil.lte(now)),
            )
            .exec(db)
            .await?;
        return Ok(if taken.rows_affected == 1 {
            Claimed::Ours
        } else {
            Claimed::Refused(ErrorCode::IdempotencyRequestInFlight)
        });
    }
    Ok(Claimed::Refused(ErrorCode::IdempotencyRequestInFlight))
}

/// A claimed key while its request runs. Dropped unsettled (the request cancelled: the client
/// gone, or the timeout), it gives the key back, so a retry runs again rather than waiting for
/// the lease to pass.
struct Claim {
    db: DatabaseConnection,
    principal: String,
    key: String,
    settled: bool,
}

impl Claim {
    async fn forget(&mut self) {
        forget(&self.db, &self.principal, &self.key, true).await;
        self.settled = true;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (db, principal, key) = (
            self.db.clone(),
            std::mem::take(&mut self.principal),
            std::mem::take(&mut self.key),
        );
        runtime.spawn(async move { forget(&db, &principal, &key, true).await });
    }
}

/// At start, on SQLite only, makes every claim a dead process left claimable at once rather than
/// when its lease passes; returns how many. An embedded database has one server process, so a
/// claim without a response at start is one the previous process held when it died (a SIGKILL,
/// a power cut), never a request still running. On PostgreSQL another node may be running the
/// request, so its lease stands. What a retry then risks is what a lease that passed risks (see
/// the module documentation).
pub async fn release_claims_of_a_dead_process(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
        return Ok(0);
    }
    let released = idempotency_keys::Entity::update_many()
        .col_expr(
            idempotency_keys::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(idempotency_keys::Column::ResponseStatus.is_null())
        .filter(idempotency_keys::Column::ClaimedUntil.gt(now))
        .exec(db)
        .await?;
    Ok(released.rows_affected)
}

/// Deletes every row whose time has passed (REST keys and sync intents' keys alike); returns
/// how many went.
pub async fn purge_expired(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let purged = idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(purged.rows_affected)
}

fn replay(status: i32, body: Vec<u8>, content_type: Option<&str>) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    // Rows stored before content types were kept hold JSON.
    let fallback = if status.is_client_error() {
        "application/problem+json"
    } else {
        "application/json"
    };
    let content_type = match content_type {
        None => Some(HeaderValue::from_static(fallback)),
        Some(stored) => HeaderValue::from_str(stored).ok().filter(|v| !v.is_empty()),
    };
    let mut response = (status, Bytes::from(body)).into_response();
    let headers = response.headers_mut();
    match content_type {
        Some(content_type) => headers.insert(header::CONTENT_TYPE, content_type),
        None => headers.remove(header::CONTENT_TYPE),
    };
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Gives a key back: a claim whose request ended without a storable response (`claim_only`:
/// deleted only while it holds no response, so it never takes with it a response its handler
/// stored with its write), or an expired row about to be claimed afresh.
async fn forget(db: &DatabaseConnection, principal: &str, key: &str, claim_only: bool) {
    let mut rows = idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::Principal.eq(principal))
        .filter(idempotency_keys::Column::Key.eq(key));
    if claim_only {
        rows = rows.filter(idempotency_keys::Column::ResponseStatus.is_null());
    }
    let forgotten = rows.exec(db).await;
    if let Err(error) = forgotten {
        tracing::warn!(%error, "could not give back an idempotency key");
    }
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
            sessions::Principal::Account { account_id, .. } => {
                return Some(account_principal(account_id));
            }
            sessions::Principal::Staff { staff_id, .. } => return Some(staff_principal(staff_id)),
        },
        None => format!("anonymous:{address}"),
    };
    Some(hashed(&source))
}

/// The key's owner as stored for a signed-in patient or carer account.
pub fn account_principal(account_id: uuid::Uuid) -> String {
    hashed(&format!("account:{account_id}"))
}

/// The key's owner as stored for a signed-in member of staff.
pub fn staff_principal(staff_id: uuid::Uuid) -> String {
    hashed(&format!("staff:{staff_id}"))
}

fn hashed(source: &str) -> String {
    hex::encode(Sha256::digest(source.as_bytes()))
}

/// What identifies a request under its key: the method, the path and the body.
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hex::encode(hasher.finalize())
}
