//! Clinical-system credentials: an API key per practice, created by an operator with
//! `gp-online integration create-key`, shown once and stored as a hash. The key's prefix is
//! kept in clear so operators can tell keys apart.

use super::secrets;
use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::{integration_keys, practices};
use crate::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use uuid::Uuid;

/// Prefix of every integration key.
const PREFIX: &str = "gpk_";

/// A new key: shown once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    /// The key's id.
    pub key_id: Uuid,
    /// The key (secret).
    pub key: String,
    /// The practice it is scoped to.
    pub ods_code: String,
}

/// An authenticated clinical system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegrationClient {
    /// The key used.
    pub key_id: Uuid,
    /// The one practice it may act for.
    pub practice_id: Uuid,
}

/// Creates a key for the practice with `ods_code`.
pub async fn create_key(
    db: &impl ConnectionTrait,
    ods_code: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<CreatedKey, AppError> {
    let practice = practices::Entity::find()
        .filter(practices::Column::OdsCode.eq(ods_code.to_ascii_uppercase()))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found().with_detail("no practice has this ODS code"))?;
    let key = secrets::bearer(PREFIX);
    let key_id = Uuid::new_v4();
    integration_keys::ActiveModel {
        id: Set(key_id),
        practice_id: Set(practice.id),
        name: Set(name.to_owned()),
        key_prefix: Set(key.chars().take(12).collect()),
        key_hash: Set(secrets::hash(&key)),
        last_used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    AuditEvent::new(
        "integration.create_key",
        ActorKind::System,
        Outcome::Success,
    )
    .practice(practice.id)
    .target("integration_key", key_id)
    .record(db, now)
    .await?;
    Ok(CreatedKey {
        key_id,
        key,
        ods_code: practice.ods_code,
    })
}

/// Resolves a presented key to its client, or `unauthenticated`.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    key: &str,
    now: DateTime<Utc>,
) -> Result<IntegrationClient, AppError> {
    if !key.starts_with(PREFIX) {
        return Err(AppError::new(ErrorCode::Unauthenticated));
    }
    let row = integration_keys::Entity::find()
        .filter(integration_keys::Column::KeyHash.eq(secrets::hash(key)))
        .filter(integration_keys::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or_else(|| AppError::new(ErrorCode::Unauthenticated))?;
    integration_keys::Entity::update_many()
        .col_expr(integration_keys::Column::LastUsedAt, Expr::value(now))
        .filter(integration_keys::Column::Id.eq(row.id))
        .exec(db)
        .await?;
    Ok(IntegrationClient {
        key_id: row.id,
        practice_id: row.practice_id,
    })
}
