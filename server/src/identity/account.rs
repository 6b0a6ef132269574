//! What a signed-in account manages of itself: its devices and its sessions. Revoking a device
//! ends its sessions and removes its passkeys at once; signing out everywhere revokes every
//! device; each change is one transaction with its audit event. Telling the account's live
//! sockets is the caller's (`sync::live::announce_sign_out`), after the commit.

use super::sessions;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::{devices, session_families};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The signed-in account and the device and session making the request.
#[derive(Debug, Clone, Copy)]
pub struct SignedIn {
    /// The account.
    pub account_id: Uuid,
    /// The device the request comes from.
    pub device_id: Uuid,
    /// The session (token family) the request uses.
    pub session_id: Uuid,
}

impl SignedIn {
    fn event(&self, action: &'static str) -> AuditEvent {
        AuditEvent::new(action, ActorKind::Patient, Outcome::Success)
            .actor(self.account_id)
            .device(self.device_id)
    }
}

/// One of the account's devices.
#[derive(Debug, Serialize, ToSchema)]
pub struct Device {
    /// Id, for revocation.
    pub id: Uuid,
    /// Name given at registration.
    pub name: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Whether this is the device making the request.
    pub current: bool,
}

impl Device {
    /// The view of a stored device; `current` when it is the one asking.
    pub fn of(device: devices::Model, current: bool) -> Self {
        Self {
            id: device.id,
            name: device.name,
            created_at: device.created_at,
            last_seen_at: device.last_seen_at,
            current,
        }
    }
}

/// One live session of the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// Id, for revocation.
    pub id: Uuid,
    /// The device it is on.
    pub device_id: Option<Uuid>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it was last refreshed.
    pub last_used_at: DateTime<Utc>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// The account's devices that are not revoked, oldest first.
pub async fn devices(db: &DatabaseConnection, me: &SignedIn) -> Result<Vec<Device>, AppError> {
    let rows = devices::Entity::find()
        .filter(devices::Column::AccountId.eq(me.account_id))
        .filter(devices::Column::RevokedAt.is_null())
        .order_by_asc(devices::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|device| {
            let current = device.id == me.device_id;
            Device::of(device, current)
        })
        .collect())
}

/// Revokes one of the account's devices (404 when it is not theirs or already revoked).
pub async fn revoke_device(
    db: &DatabaseConnection,
    me: &SignedIn,
    device_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let txn = crate::db::begin_write(db).await?;
    if !sessions::revoke_device(&txn, me.account_id, device_id, now).await? {
        return Err(AppError::not_found());
    }
    me.event("device.revoke")
        .target("device", device_id)
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Revokes every device of the account, the one asking included.
pub async fn sign_out_everywhere(
    db: &DatabaseConnection,
    me: &SignedIn,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let txn = crate::db::begin_write(db).await?;
    let devices = devices::Entity::find()
        .filter(devices::Column::AccountId.eq(me.account_id))
        .filter(devices::Column::RevokedAt.is_null())
        .all(&txn)
        .await?;
    for device in &devices {
        sessions::revoke_device(&txn, me.account_id, device.id, now).await?;
    }
    me.event("account.sign_out_everywhere")
        .detail(serde_json::json!({"devices_revoked": devices.len()}))
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The account's live sessions, oldest first.
pub async fn sessions(
    db: &impl ConnectionTrait,
    me: &SignedIn,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, AppError> {
    let rows = session_families::Entity::find()
        .filter(session_families::Column::AccountId.eq(me.account_id))
        .filter(session_families::Column::RevokedAt.is_null())
        .filter(session_families::Column::AbsoluteExpiresAt.gt(now))
        .order_by_asc(session_families::Column::CreatedAt)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|family| Session {
            current: family.id == me.session_id,
            id: family.id,
            device_id: family.device_id,
            created_at: family.created_at,
            last_used_at: family.last_used_at,
        })
        .collect())
}

/// Ends one of the account's sessions (404 when it is not theirs or already ended).
pub async fn revoke_session(
    db: &DatabaseConnection,
    me: &SignedIn,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let txn = crate::db::begin_write(db).await?;
    let owned = session_families::Entity::find_by_id(session_id)
        .filter(session_families::Column::AccountId.eq(me.account_id))
        .one(&txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    if !sessions::revoke_family(&txn, owned.id, "signed_out", now).await? {
        return Err(AppError::not_found());
    }
    me.event("session.revoke")
        .target("session", session_id)
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(())
}
