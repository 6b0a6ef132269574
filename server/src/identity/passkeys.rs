//! More passkeys for one account: a signed-in device starts the ceremony for another device or
//! security key, which then signs in by itself. Credentials the account already has are
//! excluded, so one authenticator is not registered twice.

use super::registration::{CeremonyStart, credential_key, require_discoverable};
use super::{Identity, ceremonies, rejected};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::ceremonies::CeremonyKind;
use crate::db::entities::{devices, passkeys};
use crate::error::{AppError, ErrorCode};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential};

#[derive(Debug, Serialize, Deserialize)]
struct Context {
    account_id: Uuid,
    practice_id: Uuid,
}

/// Starts adding a passkey to the signed-in account.
pub async fn begin(
    db: &DatabaseConnection,
    identity: &Identity,
    account_id: Uuid,
    practice_id: Uuid,
    now: DateTime<Utc>,
) -> Result<CeremonyStart, AppError> {
    let existing = passkeys::Entity::find()
        .filter(passkeys::Column::AccountId.eq(account_id))
        .all(db)
        .await?
        .into_iter()
        .filter_map(|row| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(row.credential_id)
                .ok()
        })
        .collect();
    let label = account_id.to_string();
    let (mut options, state) = identity
        .webauthn
        .start_passkey_registration(account_id, &label, &label, Some(existing))
        .map_err(AppError::internal)?;
    require_discoverable(&mut options);
    let lifetime = Duration::seconds(i64::try_from(identity.config.ceremony_secs).unwrap_or(300));
    let context = Context {
        account_id,
        practice_id,
    };
    let ceremony_id = ceremonies::start(
        db,
        CeremonyKind::AddPasskey,
        &state,
        &context,
        now,
        lifetime,
    )
    .await?;
    Ok(CeremonyStart {
        ceremony_id,
        public_key: serde_json::to_value(&options).map_err(AppError::internal)?,
    })
}

/// Verifies the new passkey and records it with a new device of the same account.
pub async fn finish(
    db: &DatabaseConnection,
    identity: &Identity,
    account_id: Uuid,
    ceremony_id: Uuid,
    credential: &RegisterPublicKeyCredential,
    device_name: &str,
    now: DateTime<Utc>,
) -> Result<devices::Model, AppError> {
    let txn = db.begin().await?;
    let (state, context): (PasskeyRegistration, Context) =
        ceremonies::take(&txn, ceremony_id, CeremonyKind::AddPasskey, now).await?;
    // A ceremony started by one account cannot be finished by another.
    if context.account_id != account_id {
        return Err(AppError::new(ErrorCode::CeremonyInvalid));
    }
    let passkey = match identity
        .webauthn
        .finish_passkey_registration(credential, &state)
    {
        Ok(passkey) => passkey,
        Err(error) => {
            txn.commit().await?;
            return Err(rejected(error));
        }
    };
    let credential_id = credential_key(passkey.cred_id().as_ref());
    let taken = passkeys::Entity::find()
        .filter(passkeys::Column::CredentialId.eq(credential_id.clone()))
        .one(&txn)
        .await?;
    if taken.is_some() {
        return Err(AppError::new(ErrorCode::CredentialAlreadyRegistered));
    }
    let device = devices::ActiveModel {
        id: Set(Uuid::new_v4()),
        account_id: Set(account_id),
        name: Set(device_name.to_owned()),
        created_at: Set(now),
        last_seen_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    passkeys::ActiveModel {
        id: Set(Uuid::new_v4()),
        account_id: Set(Some(account_id)),
        staff_id: Set(None),
        device_id: Set(Some(device.id)),
        credential_id: Set(credential_id),
        passkey: Set(serde_json::to_value(&passkey).map_err(AppError::internal)?),
        created_at: Set(now),
        last_used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    AuditEvent::new("passkey.add", ActorKind::Patient, Outcome::Success)
        .actor(account_id)
        .practice(context.practice_id)
        .target("device", device.id)
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(device)
}
