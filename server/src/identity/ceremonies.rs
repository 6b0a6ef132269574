//! WebAuthn ceremony state kept server-side between `begin` and `finish`: single use, short
//! lived. Taking a ceremony is one conditional `UPDATE`, so of two concurrent finishes exactly
//! one wins, on SQLite and PostgreSQL alike.

use crate::db::entities::ceremonies::{self, CeremonyKind};
use crate::error::{AppError, ErrorCode};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// Stores the state of a new ceremony and returns its id.
pub async fn start(
    db: &impl ConnectionTrait,
    kind: CeremonyKind,
    state: &impl Serialize,
    context: &impl Serialize,
    now: DateTime<Utc>,
    lifetime: Duration,
) -> Result<Uuid, AppError> {
    let id = Uuid::new_v4();
    ceremonies::ActiveModel {
        id: Set(id),
        kind: Set(kind),
        state: Set(serde_json::to_value(state).map_err(AppError::internal)?),
        context: Set(serde_json::to_value(context).map_err(AppError::internal)?),
        created_at: Set(now),
        expires_at: Set(now + lifetime),
        consumed_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// Consumes a ceremony of `kind`, returning its state and context. A ceremony can be taken once,
/// before it expires; anything else is `ceremony_invalid` or `ceremony_expired`.
pub async fn take<S: DeserializeOwned, C: DeserializeOwned>(
    db: &impl ConnectionTrait,
    id: Uuid,
    kind: CeremonyKind,
    now: DateTime<Utc>,
) -> Result<(S, C), AppError> {
    let taken = ceremonies::Entity::update_many()
        .col_expr(ceremonies::Column::ConsumedAt, Expr::value(now))
        .filter(ceremonies::Column::Id.eq(id))
        .filter(ceremonies::Column::Kind.eq(kind))
        .filter(ceremonies::Column::ConsumedAt.is_null())
        .filter(ceremonies::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    let row = ceremonies::Entity::find_by_id(id).one(db).await?;
    let row = match (taken.rows_affected, row) {
        (1, Some(row)) => row,
        (_, Some(row)) if row.kind == kind && row.consumed_at.is_none() => {
            return Err(AppError::new(ErrorCode::CeremonyExpired));
        }
        _ => return Err(AppError::new(ErrorCode::CeremonyInvalid)),
    };
    let state = serde_json::from_value(row.state).map_err(AppError::internal)?;
    let context = serde_json::from_value(row.context).map_err(AppError::internal)?;
    Ok((state, context))
}

/// Deletes ceremonies that ended more than a day ago (run by the sweep).
pub async fn purge(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, AppError> {
    let deleted = ceremonies::Entity::delete_many()
        .filter(ceremonies::Column::ExpiresAt.lt(now - Duration::days(1)))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

/// A started ceremony: the id to send back and the options for the authenticator.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CeremonyStart {
    /// Send back with the authenticator's answer.
    pub ceremony_id: Uuid,
    /// WebAuthn options (`publicKey`) for `navigator.credentials.create/get` or the platform API.
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
}

/// Who a new passkey is for, as the authenticator shows it.
pub struct PasskeyUser<'a> {
    /// The user handle: the account or staff id.
    pub id: Uuid,
    /// A short name.
    pub name: &'a str,
    /// A display name.
    pub display_name: &'a str,
}

/// Starts a passkey registration ceremony of `kind`: a discoverable credential (phones sign in
/// without a username), user verification required, excluding credentials already held.
#[allow(clippy::too_many_arguments)] // Each argument is a distinct fact of the ceremony.
pub async fn start_registration(
    db: &impl ConnectionTrait,
    identity: &super::Identity,
    kind: CeremonyKind,
    user: PasskeyUser<'_>,
    exclude: Option<Vec<webauthn_rs::prelude::CredentialID>>,
    context: &impl Serialize,
    now: DateTime<Utc>,
) -> Result<CeremonyStart, AppError> {
    let (mut options, state) = identity
        .webauthn
        .start_passkey_registration(user.id, user.name, user.display_name, exclude)
        .map_err(AppError::internal)?;
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    let lifetime = Duration::seconds(i64::try_from(identity.config.ceremony_secs).unwrap_or(300));
    let ceremony_id = start(db, kind, &state, context, now, lifetime).await?;
    Ok(CeremonyStart {
        ceremony_id,
        public_key: serde_json::to_value(&options).map_err(AppError::internal)?,
    })
}
