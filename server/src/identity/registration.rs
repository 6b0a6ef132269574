//! Patient and carer registration: linkage details + surname + date of birth, then a passkey
//! ceremony (discoverable credential, user verification required), then an account with its
//! first device and a session — or, with recovery linkage details, the existing account with
//! every old passkey removed and every old session revoked.

use super::ceremonies::{CeremonyStart, PasskeyUser};
use super::linkage::{self, LinkageClaim, Person, VerifiedLinkage};
use super::passkeys::{Owner, store};
use super::sessions::{self, Subject, Tokens};
use super::{Identity, ceremonies, rejected};
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::ceremonies::CeremonyKind;
use crate::db::entities::{accounts, devices, linkage_keys, passkeys};
use crate::error::{AppError, ErrorCode};
use base64::Engine;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration, RegisterPublicKeyCredential};

/// What registration remembers between begin and finish.
#[derive(Debug, Serialize, Deserialize)]
struct Context {
    linkage_id: Uuid,
    practice_id: Uuid,
    patient_id: Option<Uuid>,
    carer_id: Option<Uuid>,
    account_id: Uuid,
    recovery: bool,
}

/// Checks linkage details and starts the passkey ceremony.
pub async fn begin(
    db: &DatabaseConnection,
    identity: &Identity,
    claim: &LinkageClaim,
    now: DateTime<Utc>,
) -> Result<CeremonyStart, AppError> {
    let verified = match linkage::verify(db, claim, now).await {
        Ok(verified) => verified,
        Err(error) => {
            AuditEvent::new("registration.begin", ActorKind::Anonymous, Outcome::Failure)
                .detail(serde_json::json!({"code": error.code().as_str()}))
                .record(db, now)
                .await?;
            return Err(error);
        }
    };
    let VerifiedLinkage {
        linkage,
        practice,
        person,
    } = verified;
    let (patient_id, carer_id, display_name) = match &person {
        Person::Patient(p) => (
            Some(p.id),
            None,
            format!("{} {}", p.given_name, p.family_name),
        ),
        Person::Carer(c) => (
            None,
            Some(c.id),
            format!("{} {}", c.given_name, c.family_name),
        ),
    };
    let existing = existing_account(db, patient_id, carer_id).await?;
    let account_id = match (&existing, linkage.recovery) {
        (Some(account), true) => account.id,
        (Some(_), false) => return Err(AppError::new(ErrorCode::AlreadyLinked)),
        (None, _) => Uuid::new_v4(),
    };
    let context = Context {
        linkage_id: linkage.id,
        practice_id: practice.id,
        patient_id,
        carer_id,
        account_id,
        recovery: linkage.recovery,
    };
    let user = PasskeyUser {
        id: account_id,
        name: &linkage.account_code,
        display_name: &display_name,
    };
    ceremonies::start_registration(
        db,
        identity,
        CeremonyKind::Registration,
        user,
        None,
        &context,
        now,
    )
    .await
}

async fn existing_account(
    db: &impl ConnectionTrait,
    patient_id: Option<Uuid>,
    carer_id: Option<Uuid>,
) -> Result<Option<accounts::Model>, AppError> {
    let query = match (patient_id, carer_id) {
        (Some(id), _) => accounts::Entity::find().filter(accounts::Column::PatientId.eq(id)),
        (None, Some(id)) => accounts::Entity::find().filter(accounts::Column::CarerId.eq(id)),
        (None, None) => return Ok(None),
    };
    Ok(query.one(db).await?)
}

/// The stored form of a credential id: base64url without padding.
pub(crate) fn credential_key(id: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// Verifies the authenticator's answer and creates (or recovers) the account, its device, the
/// passkey and a session, all in one transaction.
pub async fn finish(
    db: &DatabaseConnection,
    identity: &Identity,
    ceremony_id: Uuid,
    credential: &RegisterPublicKeyCredential,
    device_name: &str,
    now: DateTime<Utc>,
) -> Result<Tokens, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let (state, context): (PasskeyRegistration, Context) =
        ceremonies::take(&txn, ceremony_id, CeremonyKind::Registration, now).await?;
    let passkey = match identity
        .webauthn
        .finish_passkey_registration(credential, &state)
    {
        Ok(passkey) => passkey,
        Err(error) => {
            // The ceremony stays consumed: a failed answer cannot be retried with the same challenge.
            txn.commit().await?;
            AuditEvent::new(
                "registration.finish",
                ActorKind::Anonymous,
                Outcome::Failure,
            )
            .practice(context.practice_id)
            .detail(serde_json::json!({"code": "passkey_rejected"}))
            .record(db, now)
            .await?;
            return Err(rejected(error));
        }
    };
    let tokens = create_account(&txn, identity, &context, &passkey, device_name, now).await?;
    txn.commit().await?;
    Ok(tokens)
}

async fn create_account(
    txn: &impl ConnectionTrait,
    identity: &Identity,
    context: &Context,
    passkey: &Passkey,
    device_name: &str,
    now: DateTime<Utc>,
) -> Result<Tokens, AppError> {
    let used = linkage_keys::Entity::update_many()
        .col_expr(linkage_keys::Column::UsedAt, Expr::value(now))
        .filter(linkage_keys::Column::Id.eq(context.linkage_id))
        .filter(linkage_keys::Column::UsedAt.is_null())
        .filter(linkage_keys::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    if used.rows_affected != 1 {
        return Err(AppError::new(ErrorCode::InvalidLinkageDetails));
    }
    let existing = existing_account(txn, context.patient_id, context.carer_id).await?;
    match (existing, context.recovery) {
        (Some(account), true) => {
            // Recovery: the old devices are lost, so nothing they hold may keep working.
            passkeys::Entity::delete_many()
                .filter(passkeys::Column::AccountId.eq(account.id))
                .exec(txn)
                .await?;
            devices::Entity::update_many()
                .col_expr(devices::Column::RevokedAt, Expr::value(now))
                .filter(devices::Column::AccountId.eq(account.id))
                .filter(devices::Column::RevokedAt.is_null())
                .exec(txn)
                .await?;
            crate::notify::subscriptions::remove_all(txn, account.id).await?;
            let revoked =
                sessions::revoke_account_sessions(txn, account.id, None, "recovery", now).await?;
            AuditEvent::new("account.recovery", ActorKind::Patient, Outcome::Success)
                .actor(account.id)
                .practice(account.practice_id)
                .detail(serde_json::json!({"sessions_revoked": revoked}))
                .record(txn, now)
                .await?;
        }
        (Some(_), false) => return Err(AppError::new(ErrorCode::AlreadyLinked)),
        (None, _) => {
            accounts::ActiveModel {
                id: Set(context.account_id),
                practice_id: Set(context.practice_id),
                patient_id: Set(context.patient_id),
                carer_id: Set(context.carer_id),
                status: Set(accounts::AccountStatus::Active),
                last_login_at: Set(Some(now)),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(txn)
            .await?;
        }
    }
    let device_id = Uuid::new_v4();
    devices::ActiveModel {
        id: Set(device_id),
        account_id: Set(context.account_id),
        name: Set(device_name.to_owned()),
        created_at: Set(now),
        last_seen_at: Set(Some(now)),
        revoked_at: Set(None),
    }
    .insert(txn)
    .await?;
    let owner = Owner::Account {
        account_id: context.account_id,
        device_id,
    };
    store(txn, owner, passkey, now).await?;
    let subject = Subject::Account {
        account_id: context.account_id,
        device_id,
    };
    let tokens = sessions::open(txn, &identity.config, subject, now).await?;
    let actor = if context.carer_id.is_some() {
        ActorKind::Proxy
    } else {
        ActorKind::Patient
    };
    AuditEvent::new("registration.finish", actor, Outcome::Success)
        .actor(context.account_id)
        .practice(context.practice_id)
        .device(device_id)
        .record(txn, now)
        .await?;
    Ok(tokens)
}
