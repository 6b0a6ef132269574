//! Sessions: a sign-in on one device is a *family* of tokens. Access tokens are short-lived;
//! refresh tokens rotate on every use, and presenting an already-used refresh token revokes the
//! whole family (a stolen token is then useless to both holders). Tokens are opaque random
//! strings of 256 bits; only their hashes are stored. Every request re-reads the family, so a
//! revocation bites on the very next request.

use super::IdentityConfig;
use super::secrets;
use crate::db::entities::session_families::{self, SessionKind};
use crate::db::entities::session_tokens::{self, TokenKind};
use crate::db::entities::staff::StaffRole;
use crate::db::entities::{accounts, devices, staff};
use crate::error::{AppError, ErrorCode};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use serde::Serialize;
use uuid::Uuid;

/// Tokens handed to a client after sign-in or refresh.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    /// `Bearer` credential for API calls.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Exchange at `/api/v1/token/refresh` for new tokens; single use.
    pub refresh_token: String,
    /// `patient` or `staff`.
    #[schema(value_type = String)]
    pub session_kind: SessionKind,
    /// The session (token family) id, to list or revoke it.
    pub session_id: Uuid,
    /// The device the session is bound to (patients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Uuid>,
}

/// Whom a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A patient's or carer's account on one of its devices.
    Account {
        /// The account.
        account_id: Uuid,
        /// The device.
        device_id: Uuid,
    },
    /// A member of practice staff.
    Staff {
        /// The staff member.
        staff_id: Uuid,
    },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A patient or carer account.
    Account {
        /// The account.
        account_id: Uuid,
        /// Its practice.
        practice_id: Uuid,
        /// The patient record that is the account holder's own, if any.
        patient_id: Option<Uuid>,
        /// The carer record that is the account holder's own, if any.
        carer_id: Option<Uuid>,
        /// The device in use.
        device_id: Uuid,
        /// The session.
        session_id: Uuid,
    },
    /// Practice staff.
    Staff {
        /// The staff member.
        staff_id: Uuid,
        /// Their practice (staff act only there).
        practice_id: Uuid,
        /// Their role.
        role: StaffRole,
        /// The session.
        session_id: Uuid,
    },
}

/// Starts a session for `subject` and returns its first tokens.
pub async fn open(
    db: &impl ConnectionTrait,
    config: &IdentityConfig,
    subject: Subject,
    now: DateTime<Utc>,
) -> Result<Tokens, AppError> {
    let family_id = Uuid::new_v4();
    let (kind, account_id, staff_id, device_id) = match subject {
        Subject::Account {
            account_id,
            device_id,
        } => (
            SessionKind::Patient,
            Some(account_id),
            None,
            Some(device_id),
        ),
        Subject::Staff { staff_id } => (SessionKind::Staff, None, Some(staff_id), None),
    };
    session_families::ActiveModel {
        id: Set(family_id),
        kind: Set(kind),
        account_id: Set(account_id),
        staff_id: Set(staff_id),
        device_id: Set(device_id),
        created_at: Set(now),
        last_used_at: Set(now),
        absolute_expires_at: Set(now + seconds(config.session_absolute_secs)),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    }
    .insert(db)
    .await?;
    mint(db, config, family_id, kind, device_id, now).await
}

/// Issues a new access and refresh token pair in a family.
async fn mint(
    db: &impl ConnectionTrait,
    config: &IdentityConfig,
    family_id: Uuid,
    kind: SessionKind,
    device_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Tokens, AppError> {
    let access_token = secrets::bearer("gpa_");
    let refresh_token = secrets::bearer("gpr_");
    let rows = [
        (&access_token, TokenKind::Access, config.access_token_secs),
        (&refresh_token, TokenKind::Refresh, config.session_idle_secs),
    ]
    .map(|(token, kind, lifetime)| session_tokens::ActiveModel {
        token_hash: Set(secrets::hash(token)),
        family_id: Set(family_id),
        kind: Set(kind),
        created_at: Set(now),
        expires_at: Set(now + seconds(lifetime)),
        used_at: Set(None),
    });
    session_tokens::Entity::insert_many(rows).exec(db).await?;
    Ok(Tokens {
        access_token,
        expires_in: config.access_token_secs,
        refresh_token,
        session_kind: kind,
        session_id: family_id,
        device_id,
    })
}

/// Exchanges a refresh token for a new pair. Reuse of an exchanged token revokes the family.
pub async fn refresh(
    db: &DatabaseConnection,
    config: &IdentityConfig,
    refresh_token: &str,
    now: DateTime<Utc>,
) -> Result<Tokens, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let hash = secrets::hash(refresh_token);
    let token = session_tokens::Entity::find_by_id(hash.clone())
        .filter(session_tokens::Column::Kind.eq(TokenKind::Refresh))
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::SessionEnded))?;
    let family = live_family(&txn, token.family_id, now).await?;
    // Marking the token used is conditional, so two racing refreshes cannot both succeed.
    let marked = session_tokens::Entity::update_many()
        .col_expr(session_tokens::Column::UsedAt, Expr::value(now))
        .filter(session_tokens::Column::TokenHash.eq(hash))
        .filter(session_tokens::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if marked.rows_affected != 1 {
        revoke_family(&txn, family.id, "refresh_token_reused", now).await?;
        txn.commit().await?;
        return Err(AppError::new(ErrorCode::RefreshTokenReused));
    }
    if token.expires_at <= now {
        return Err(AppError::new(ErrorCode::SessionEnded));
    }
    touch(&txn, family.id, now).await?;
    let tokens = mint(&txn, config, family.id, family.kind, family.device_id, now).await?;
    txn.commit().await?;
    Ok(tokens)
}

/// What one access token resolves to: its family and, by the family's kind, the account and
/// device or the staff member (null where the family has none or the row is gone).
#[derive(Debug, sea_orm::FromQueryResult)]
struct Resolved {
    family_id: Uuid,
    kind: SessionKind,
    account_id: Option<Uuid>,
    account_practice_id: Option<Uuid>,
    patient_id: Option<Uuid>,
    carer_id: Option<Uuid>,
    account_status: Option<accounts::AccountStatus>,
    device_id: Option<Uuid>,
    device_revoked_at: Option<DateTime<Utc>>,
    staff_id: Option<Uuid>,
    staff_practice_id: Option<Uuid>,
    role: Option<StaffRole>,
    staff_active: Option<bool>,
}

/// Resolves an access token to its principal, or `session_ended`. Every authenticated request
/// pays this, so it is one query: the token, its live family (neither revoked nor past its
/// absolute limit) and the family's account and device, or its staff member.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    access_token: &str,
    now: DateTime<Utc>,
) -> Result<Principal, AppError> {
    use sea_orm::{JoinType, QuerySelect, RelationDef};
    let family: RelationDef = session_tokens::Entity::belongs_to(session_families::Entity)
        .from(session_tokens::Column::FamilyId)
        .to(session_families::Column::Id)
        .into();
    let account: RelationDef = session_families::Entity::belongs_to(accounts::Entity)
        .from(session_families::Column::AccountId)
        .to(accounts::Column::Id)
        .into();
    let device: RelationDef = session_families::Entity::belongs_to(devices::Entity)
        .from(session_families::Column::DeviceId)
        .to(devices::Column::Id)
        .into();
    let member: RelationDef = session_families::Entity::belongs_to(staff::Entity)
        .from(session_families::Column::StaffId)
        .to(staff::Column::Id)
        .into();
    let ended = || AppError::new(ErrorCode::SessionEnded);
    let resolved = session_tokens::Entity::find()
        .select_only()
        .column_as(session_families::Column::Id, "family_id")
        .column_as(session_families::Column::Kind, "kind")
        .column_as(accounts::Column::Id, "account_id")
        .column_as(accounts::Column::PracticeId, "account_practice_id")
        .column_as(accounts::Column::PatientId, "patient_id")
        .column_as(accounts::Column::CarerId, "carer_id")
        .column_as(accounts::Column::Status, "account_status")
        .column_as(devices::Column::Id, "device_id")
        .column_as(devices::Column::RevokedAt, "device_revoked_at")
        .column_as(staff::Column::Id, "staff_id")
        .column_as(staff::Column::PracticeId, "staff_practice_id")
        .column_as(staff::Column::Role, "role")
        .column_as(staff::Column::Active, "staff_active")
        .join(JoinType::InnerJoin, family)
        .join(JoinType::LeftJoin, account)
        .join(JoinType::LeftJoin, device)
        .join(JoinType::LeftJoin, member)
        .filter(session_tokens::Column::TokenHash.eq(secrets::hash(access_token)))
        .filter(session_tokens::Column::Kind.eq(TokenKind::Access))
        .filter(session_tokens::Column::ExpiresAt.gt(now))
        .filter(session_families::Column::RevokedAt.is_null())
        .filter(session_families::Column::AbsoluteExpiresAt.gt(now))
        .into_model::<Resolved>()
        .one(db)
        .await?
        .ok_or_else(ended)?;
    match resolved {
        Resolved {
            kind: SessionKind::Patient,
            account_id: Some(account_id),
            account_practice_id: Some(practice_id),
            patient_id,
            carer_id,
            account_status: Some(accounts::AccountStatus::Active),
            device_id: Some(device_id),
            device_revoked_at: None,
            family_id,
            ..
        } => Ok(Principal::Account {
            account_id,
            practice_id,
            patient_id,
            carer_id,
            device_id,
            session_id: family_id,
        }),
        Resolved {
            kind: SessionKind::Staff,
            staff_id: Some(staff_id),
            staff_practice_id: Some(practice_id),
            role: Some(role),
            staff_active: Some(true),
            family_id,
            ..
        } => Ok(Principal::Staff {
            staff_id,
            practice_id,
            role,
            session_id: family_id,
        }),
        _ => Err(ended()),
    }
}

/// The family, if it is neither revoked nor past its idle or absolute limit.
async fn live_family(
    db: &impl ConnectionTrait,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<session_families::Model, AppError> {
    let family = session_families::Entity::find_by_id(family_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::SessionEnded))?;
    if family.revoked_at.is_some() || family.absolute_expires_at <= now {
        return Err(AppError::new(ErrorCode::SessionEnded));
    }
    Ok(family)
}

async fn touch(
    db: &impl ConnectionTrait,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    session_families::Entity::update_many()
        .col_expr(session_families::Column::LastUsedAt, Expr::value(now))
        .filter(session_families::Column::Id.eq(family_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes one session (token family).
pub async fn revoke_family(
    db: &impl ConnectionTrait,
    family_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let revoked = session_families::Entity::update_many()
        .col_expr(session_families::Column::RevokedAt, Expr::value(now))
        .col_expr(session_families::Column::RevokedReason, Expr::value(reason))
        .filter(session_families::Column::Id.eq(family_id))
        .filter(session_families::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(revoked.rows_affected == 1)
}

/// Revokes every live session of an account, or of one of its devices.
pub async fn revoke_account_sessions(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    device_id: Option<Uuid>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, AppError> {
    let mut update = session_families::Entity::update_many()
        .col_expr(session_families::Column::RevokedAt, Expr::value(now))
        .col_expr(session_families::Column::RevokedReason, Expr::value(reason))
        .filter(session_families::Column::AccountId.eq(account_id))
        .filter(session_families::Column::RevokedAt.is_null());
    if let Some(device_id) = device_id {
        update = update.filter(session_families::Column::DeviceId.eq(device_id));
    }
    Ok(update.exec(db).await?.rows_affected)
}

fn seconds(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
}

/// Revokes one device of an account: its sessions end, its passkeys and its push channel are
/// removed. Returns false when the account has no such live device.
pub async fn revoke_device(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    device_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let revoked = devices::Entity::update_many()
        .col_expr(devices::Column::RevokedAt, Expr::value(now))
        .filter(devices::Column::Id.eq(device_id))
        .filter(devices::Column::AccountId.eq(account_id))
        .filter(devices::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if revoked.rows_affected != 1 {
        return Ok(false);
    }
    revoke_account_sessions(db, account_id, Some(device_id), "device_revoked", now).await?;
    crate::db::entities::passkeys::Entity::delete_many()
        .filter(crate::db::entities::passkeys::Column::DeviceId.eq(device_id))
        .exec(db)
        .await?;
    crate::notify::subscriptions::remove(db, device_id).await?;
    Ok(true)
}

/// Whether a session is still live: not revoked, within its absolute limit, on a device that
/// is not revoked. Long-lived connections (live sync) check this periodically.
pub async fn is_live(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Ok(family) = live_family(db, session_id, now).await else {
        return Ok(false);
    };
    match family.device_id {
        Some(device_id) => Ok(devices::Entity::find_by_id(device_id)
            .one(db)
            .await?
            .is_some_and(|d| d.revoked_at.is_none())),
        None => Ok(true),
    }
}
