//! Push notification routes: the VAPID public key browsers subscribe with, a device's push
//! channel (`PUT`/`DELETE /api/v1/me/devices/{device_id}/push-subscription`) and its
//! per-kind preferences. The rules are in [`crate::notify`]; bodies here are small, so these
//! routes accept at most 16 KiB.

use super::AppState;
use super::auth::AccountSession;
use super::extract::ApiJson;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::push_subscriptions::PushProvider;
use crate::error::AppError;
use crate::notify::subscriptions::{self, ChannelRequest};
use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The largest body these routes accept.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(vapid_public_key))
        .routes(routes!(put_push_subscription, delete_push_subscription))
        .routes(routes!(get_preferences, put_preferences))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The server's VAPID public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct VapidPublicKey {
    /// An uncompressed P-256 point, base64url: the `applicationServerKey` to subscribe with.
    pub public_key: String,
}

/// The VAPID public key browsers pass to `pushManager.subscribe`.
#[utoipa::path(get, path = "/api/v1/push/vapid-public-key", tag = "push",
    responses((status = 200, body = VapidPublicKey)))]
async fn vapid_public_key(State(state): State<AppState>) -> Result<Json<VapidPublicKey>, AppError> {
    let key = state.push.vapid_key().await.map_err(AppError::internal)?;
    Ok(Json(VapidPublicKey {
        public_key: key.public_base64(),
    }))
}

/// A device's push channel as stored (its keys and token are not echoed).
#[derive(Debug, Serialize, ToSchema)]
pub struct PushChannel {
    /// The device.
    pub device_id: Uuid,
    /// `web_push`, `apns` or `fcm`.
    #[schema(value_type = String)]
    pub provider: PushProvider,
    /// When the browser said it ends the subscription.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last registered.
    pub updated_at: DateTime<Utc>,
}

async fn own_device(
    state: &AppState,
    session: &AccountSession,
    device_id: Uuid,
) -> Result<(), AppError> {
    if subscriptions::is_live_device(&state.db, session.account_id, device_id).await? {
        Ok(())
    } else {
        Err(AppError::not_found())
    }
}

/// Registers (or replaces) a device's push channel: the browser's `PushSubscription` JSON
/// (`endpoint` must be `https://`), or `{"provider": "apns"|"fcm", "token": …}` for the apps.
#[utoipa::path(put, path = "/api/v1/me/devices/{device_id}/push-subscription", tag = "push",
    params(("device_id" = Uuid, Path, description = "One of the account's devices")),
    request_body = ChannelRequest,
    responses((status = 200, body = PushChannel), (status = 401, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn put_push_subscription(
    State(state): State<AppState>,
    session: AccountSession,
    Path(device_id): Path<Uuid>,
    ApiJson(body): ApiJson<ChannelRequest>,
) -> Result<Json<PushChannel>, AppError> {
    let now = state.clock.now();
    let channel = body.check(state.push.config().allow_insecure_loopback)?;
    let txn = crate::db::begin_write(&state.db).await?;
    if !subscriptions::is_live_device(&txn, session.account_id, device_id).await? {
        return Err(AppError::not_found());
    }
    let stored = subscriptions::put(&txn, session.account_id, device_id, channel, now).await?;
    AuditEvent::new("push.subscribe", ActorKind::Patient, Outcome::Success)
        .actor(session.account_id)
        .device(session.device_id)
        .target("device", device_id)
        .detail(serde_json::json!({"provider": stored.provider.as_str()}))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(Json(PushChannel {
        device_id,
        provider: stored.provider,
        expires_at: stored.expires_at,
        updated_at: stored.updated_at,
    }))
}

/// Removes a device's push channel (no notification reaches it any more). Idempotent.
#[utoipa::path(delete, path = "/api/v1/me/devices/{device_id}/push-subscription", tag = "push",
    params(("device_id" = Uuid, Path, description = "One of the account's devices")),
    responses((status = 204), (status = 401, body = super::error::Problem),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn delete_push_subscription(
    State(state): State<AppState>,
    session: AccountSession,
    Path(device_id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    if !subscriptions::is_live_device(&txn, session.account_id, device_id).await? {
        return Err(AppError::not_found());
    }
    if subscriptions::remove(&txn, device_id).await? {
        AuditEvent::new("push.unsubscribe", ActorKind::Patient, Outcome::Success)
            .actor(session.account_id)
            .device(session.device_id)
            .target("device", device_id)
            .record(&txn, now)
            .await?;
    }
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which notification kinds a device receives.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Kind → on/off. On a read every kind is listed; a change lists only what changes.
    pub kinds: BTreeMap<String, bool>,
}

/// Every notification kind with whether this device receives it (all on by default).
#[utoipa::path(get, path = "/api/v1/me/devices/{device_id}/notification-preferences", tag = "push",
    params(("device_id" = Uuid, Path, description = "One of the account's devices")),
    responses((status = 200, body = Preferences), (status = 401, body = super::error::Problem),
              (status = 404, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn get_preferences(
    State(state): State<AppState>,
    session: AccountSession,
    Path(device_id): Path<Uuid>,
) -> Result<Json<Preferences>, AppError> {
    own_device(&state, &session, device_id).await?;
    Ok(Json(Preferences {
        kinds: subscriptions::preferences(&state.db, device_id).await?,
    }))
}

/// Turns notification kinds on or off for one device; answers with every kind.
#[utoipa::path(put, path = "/api/v1/me/devices/{device_id}/notification-preferences", tag = "push",
    params(("device_id" = Uuid, Path, description = "One of the account's devices")),
    request_body = Preferences,
    responses((status = 200, body = Preferences), (status = 401, body = super::error::Problem),
              (status = 404, body = super::error::Problem),
              (status = 422, body = super::error::Problem)),
    security(("bearer" = [])))]
async fn put_preferences(
    State(state): State<AppState>,
    session: AccountSession,
    Path(device_id): Path<Uuid>,
    ApiJson(body): ApiJson<Preferences>,
) -> Result<Json<Preferences>, AppError> {
    subscriptions::check_preferences(&body.kinds)?;
    let now = state.clock.now();
    let txn = crate::db::begin_write(&state.db).await?;
    if !subscriptions::is_live_device(&txn, session.account_id, device_id).await? {
        return Err(AppError::not_found());
    }
    subscriptions::set_preferences(&txn, device_id, &body.kinds, now).await?;
    AuditEvent::new("push.preferences", ActorKind::Patient, Outcome::Success)
        .actor(session.account_id)
        .device(session.device_id)
        .target("device", device_id)
        .record(&txn, now)
        .await?;
    let kinds = subscriptions::preferences(&txn, device_id).await?;
    txn.commit().await?;
    Ok(Json(Preferences { kinds }))
}
