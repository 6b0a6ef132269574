//! A call made with an `Idempotency-Key`, as its handler sees it. The HTTP layer
//! ([`crate::http::idempotency`]) claims the key and hands the handler an [`IdempotentCall`];
//! a handler whose call writes stores its response with [`IdempotentCall::store`] in the same
//! transaction as the write, so the two commit together. A server killed after that commit
//! leaves a key that replays the response, not a claim whose retry would run the call again
//! and be refused by the domain's own rules (a slot booked once, a course pending once) or
//! make it twice (a message). The layer stores the response of every other call once the
//! handler has answered.

use crate::db::entities::idempotency_keys;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde::Serialize;

/// A claimed key whose response is not stored yet.
#[derive(Debug, Clone)]
pub struct IdempotentCall {
    principal: String,
    key: String,
}

impl IdempotentCall {
    /// The call `key` of `principal` (the layer's hashed caller) claimed.
    pub fn new(principal: String, key: String) -> Self {
        Self { principal, key }
    }

    /// Stores `body` as JSON with `status` as the call's response, in `db` (the handler's
    /// transaction). The bytes are those the handler's `Json` answer sends.
    pub async fn store<T: Serialize>(
        &self,
        db: &impl ConnectionTrait,
        status: u16,
        body: &T,
    ) -> Result<(), DbErr> {
        let bytes = serde_json::to_vec(body).map_err(|e| DbErr::Custom(e.to_string()))?;
        self.store_bytes(db, status, "application/json", bytes)
            .await
            .map(|_| ())
    }

    /// Stores a response unless one is stored already; true when this stored it.
    pub(crate) async fn store_bytes(
        &self,
        db: &impl ConnectionTrait,
        status: u16,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<bool, DbErr> {
        let stored = idempotency_keys::Entity::update_many()
            .col_expr(
                idempotency_keys::Column::ResponseStatus,
                Expr::value(i32::from(status)),
            )
            .col_expr(idempotency_keys::Column::ResponseBody, Expr::value(bytes))
            .col_expr(
                idempotency_keys::Column::ResponseContentType,
                Expr::value(content_type.to_owned()),
            )
            .col_expr(
                idempotency_keys::Column::ClaimedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(idempotency_keys::Column::Principal.eq(self.principal.as_str()))
            .filter(idempotency_keys::Column::Key.eq(self.key.as_str()))
            .filter(idempotency_keys::Column::ResponseStatus.is_null())
            .exec(db)
            .await?;
        Ok(stored.rows_affected == 1)
    }
}

/// [`IdempotentCall::store`] for a call that may have no key.
pub async fn store<T: Serialize>(
    call: Option<&IdempotentCall>,
    db: &impl ConnectionTrait,
    status: u16,
    body: &T,
) -> Result<(), DbErr> {
    match call {
        Some(call) => call.store(db, status, body).await,
        None => Ok(()),
    }
}
