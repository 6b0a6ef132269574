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
