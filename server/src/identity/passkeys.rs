//! More passkeys for one account: a signed-in device starts the ceremony for another device or
//! security key, which then signs in by itself. Credentials the account already has are
//! excluded, so one authenticator is not registered twice.

use super::ceremonies::{CeremonyStart, PasskeyUser};
use super::registration::credential_key;
use super::{Identity, ceremonies, rejected};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::ceremonies::CeremonyKind;
use crate::db::entities::{devices, passkeys};
use crate::error::{AppError, ErrorCode};
use base64::Engine;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
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
    let user = PasskeyUser {
        id: account_id,
        name: &label,
        display_name: &label,
    };
    let context = Context {
        account_id,
        practice_id,
    };
    ceremonies::start_registration(
        db,
        identity,
        CeremonyKind::AddPasskey,
        user,
        Some(existing),
        &context,
        now,
    )
    .await
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
    let txn = crate::db::begin_write(db).await?;
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
    let owner = Owner::Account {
        account_id,
        device_id: device.id,
    };
    store(&txn, owner, &passkey, now).await?;
    AuditEvent::new("passkey.add", ActorKind::Patient, Outcome::Success)
        .actor(account_id)
        .practice(context.practice_id)
        .target("device", device.id)
        .record(&txn, now)
        .await?;
    txn.commit().await?;
    Ok(device)
}

/// The owner of a stored passkey.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    /// A patient's or carer's account, on one of its devices.
    Account {
        /// The account.
        account_id: Uuid,
        /// The device holding the passkey.
        device_id: Uuid,
    },
    /// A staff member.
    Staff(Uuid),
}

/// Stores a verified passkey; a credential registered before (to anyone) is refused.
pub async fn store(
    db: &impl sea_orm::ConnectionTrait,
    owner: Owner,
    passkey: &webauthn_rs::prelude::Passkey,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let credential_id = credential_key(passkey.cred_id().as_ref());
    let taken = passkeys::Entity::find()
        .filter(passkeys::Column::CredentialId.eq(credential_id.clone()))
        .one(db)
        .await?;
    if taken.is_some() {
        return Err(AppError::new(ErrorCode::CredentialAlreadyRegistered));
    }
    let (account_id, staff_id, device_id) = match owner {
        Owner::Account {
            account_id,
            device_id,
        } => (Some(account_id), None, Some(device_id)),
        Owner::Staff(staff_id) => (None, Some(staff_id), None),
    };
    passkeys::ActiveModel {
        id: Set(Uuid::new_v4()),
        account_id: Set(account_id),
        staff_id: Set(staff_id),
        device_id: Set(device_id),
        credential_id: Set(credential_id),
        passkey: Set(serde_json::to_value(passkey).map_err(AppError::internal)?),
        created_at: Set(now),
        last_used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}
