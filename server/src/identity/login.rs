//! Usernameless passkey sign-in: the authenticator offers its discoverable credential, whose
//! user handle names the account (or staff member); the signature proves possession. Patients'
//! sessions are bound to the device that holds the passkey.

use super::ceremonies::CeremonyStart;
use super::registration::credential_key;
use super::sessions::{self, Subject, Tokens};
use super::{Identity, ceremonies, rejected};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::ceremonies::CeremonyKind;
use crate::db::entities::{devices, passkeys};
use crate::error::{AppError, ErrorCode};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    Set,
};
use uuid::Uuid;
use webauthn_rs::prelude::{DiscoverableAuthentication, Passkey, PublicKeyCredential};

/// Starts a sign-in ceremony with no user named.
pub async fn begin(
    db: &DatabaseConnection,
    identity: &Identity,
    now: DateTime<Utc>,
) -> Result<CeremonyStart, AppError> {
    let (mut options, state) = identity
        .webauthn
        .start_discoverable_authentication()
        .map_err(AppError::internal)?;
    // Apps show a modal sheet; conditional mediation is a browser autofill feature.
    options.mediation = None;
    let lifetime = Duration::seconds(i64::try_from(identity.config.ceremony_secs).unwrap_or(300));
    let ceremony_id =
        ceremonies::start(db, CeremonyKind::Login, &state, &(), now, lifetime).await?;
    Ok(CeremonyStart {
        ceremony_id,
        public_key: serde_json::to_value(&options).map_err(AppError::internal)?,
    })
}

/// Verifies the authenticator's answer and opens a session for its owner.
pub async fn finish(
    db: &DatabaseConnection,
    identity: &Identity,
    ceremony_id: Uuid,
    credential: &PublicKeyCredential,
    now: DateTime<Utc>,
) -> Result<Tokens, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let (state, ()): (DiscoverableAuthentication, ()) =
        ceremonies::take(&txn, ceremony_id, CeremonyKind::Login, now).await?;
    // Whatever happens next, the ceremony is spent.
    txn.commit().await?;
    let refuse = |reason: &'static str| async move {
        AuditEvent::new("login.finish", ActorKind::Anonymous, Outcome::Failure)
            .detail(serde_json::json!({"code": "passkey_rejected", "reason": reason}))
            .record(db, now)
            .await?;
        Ok::<AppError, AppError>(AppError::new(ErrorCode::PasskeyRejected))
    };
    let Ok((user, credential_id)) = identity
        .webauthn
        .identify_discoverable_authentication(credential)
    else {
        return Err(refuse("no_user_handle").await?);
    };
    let Some(stored) = passkeys::Entity::find()
        .filter(passkeys::Column::CredentialId.eq(credential_key(credential_id)))
        .one(db)
        .await?
    else {
        return Err(refuse("unknown_credential").await?);
    };
    if stored.account_id != Some(user) && stored.staff_id != Some(user) {
        return Err(refuse("user_handle_mismatch").await?);
    }
    let mut passkey: Passkey =
        serde_json::from_value(stored.passkey.clone()).map_err(AppError::internal)?;
    let result = match identity
        .webauthn
        .finish_discoverable_authentication_v2(credential, state, &passkey)
    {
        Ok(result) => result,
        Err(error) => {
            refuse("verification_failed").await?;
            return Err(rejected(error));
        }
    };
    passkey.update_credential(&result);

    let txn = crate::db::begin_write(db).await?;
    let mut row = stored.clone().into_active_model();
    row.passkey = Set(serde_json::to_value(&passkey).map_err(AppError::internal)?);
    row.last_used_at = Set(Some(now));
    row.update(&txn).await?;
    let (subject, actor, device) = match (stored.account_id, stored.staff_id, stored.device_id) {
        (Some(account_id), _, Some(device_id)) => {
            let device = devices::Entity::find_by_id(device_id).one(&txn).await?;
            let Some(device) = device.filter(|d| d.revoked_at.is_none()) else {
                return Err(AppError::new(ErrorCode::SessionEnded));
            };
            let mut device = device.into_active_model();
            device.last_seen_at = Set(Some(now));
            device.update(&txn).await?;
            (
                Subject::Account {
                    account_id,
                    device_id,
                },
                ActorKind::Patient,
                Some(device_id),
            )
        }
        (None, Some(staff_id), _) => (Subject::Staff { staff_id }, ActorKind::Staff, None),
        _ => return Err(AppError::new(ErrorCode::PasskeyRejected)),
    };
    let tokens = sessions::open(&txn, &identity.config, subject, now).await?;
    let mut event = AuditEvent::new("login.finish", actor, Outcome::Success).actor(user);
    if let Some(device) = device {
        event = event.device(device);
    }
    event.record(&txn, now).await?;
    txn.commit().await?;
    Ok(tokens)
}
