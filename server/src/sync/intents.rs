//! Offline writes arriving in sync frames, applied exactly once through the same service
//! functions as the REST API. Each intent is claimed, applied and its outcome recorded in one
//! transaction (the service function's own transaction is a savepoint of it), keyed in the
//! idempotency table (scoped to the account, apart from REST keys): a request that dies at any
//! point (a client gone, a timeout, the process killed) leaves either the applied intent with its
//! outcome or nothing at all, so every repeat gets the stored outcome or applies it afresh. A key
//! reused for a different intent is rejected; keys are bounded (`idempotency_key_invalid`).
//! Outcomes are kept for [`KEPT_FOR_DAYS`] and honoured only until then; expired rows are
//! purged on a schedule ([`crate::jobs`]).

use crate::access::viewer::{self, Holder};
use crate::access::{Actor, slice};
use crate::appointments::{self, BookingRequest, CancellationRequest};
use crate::db::entities::idempotency_keys;
use crate::error::{AppError, ErrorCode};
use crate::messages;
use crate::prescriptions::{self, Order, OrderOutcome};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use sync_protocol::{Intent, IntentAction, IntentOutcome, OutcomeResult};
use uuid::Uuid;

/// How long an intent's outcome is kept for repeats.
pub const KEPT_FOR_DAYS: i64 = 7;

/// The longest intent key accepted, in bytes (the REST `Idempotency-Key` bound).
pub const MAX_KEY_BYTES: usize = 255;

/// Applies each intent at most once and returns the outcomes to send back. An intent that could
/// not be applied for a reason worth retrying gets no outcome; the device sends it again.
pub async fn apply_all(
    db: &DatabaseConnection,
    holder: &Holder,
    device_id: Uuid,
    intents: &[Intent],
    now: DateTime<Utc>,
) -> Result<Vec<IntentOutcome>, AppError> {
    let principal = hex::encode(Sha256::digest(
        format!("intent:{}", holder.account_id).as_bytes(),
    ));
    let mut outcomes = Vec::new();
    for intent in intents {
        if let Some(result) = settle(db, &principal, holder, device_id, intent, now).await? {
            outcomes.push(IntentOutcome {
                key: intent.key.clone(),
                result,
            });
        }
    }
    Ok(outcomes)
}

/// Whether an intent key is acceptable: 1 to [`MAX_KEY_BYTES`] bytes of visible ASCII.
pub fn key_is_valid(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_BYTES && key.bytes().all(|b| b.is_ascii_graphic())
}

/// One intent: its stored outcome, or applied now with its outcome recorded in the same
/// transaction; `None` when it was not applied and should be sent again.
async fn settle(
    db: &DatabaseConnection,
    principal: &str,
    holder: &Holder,
    device_id: Uuid,
    intent: &Intent,
    now: DateTime<Utc>,
) -> Result<Option<OutcomeResult>, AppError> {
    if !key_is_valid(&intent.key) {
        // Nothing is stored under a key that cannot be stored.
        return Ok(Some(rejected(ErrorCode::IdempotencyKeyInvalid.as_str())));
    }
    let fingerprint = hex::encode(Sha256::digest(
        serde_json::to_vec(intent).map_err(AppError::internal)?,
    ));
    let txn = crate::db::begin_write(db).await?;
    // The claim: on PostgreSQL a concurrent claim of the same key waits here until the first
    // transaction ends, then sees its outcome (or, if it rolled back, claims the key itself).
    let claimed = idempotency_keys::Entity::insert(idempotency_keys::ActiveModel {
        principal: Set(principal.to_owned()),
        key: Set(intent.key.clone()),
        request_hash: Set(fingerprint.clone()),
        response_status: Set(None),
        response_body: Set(None),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(KEPT_FOR_DAYS)),
        claimed_until: Set(None),
        response_content_type: Set(None),
    })
    .on_conflict(
        OnConflict::columns([
            idempotency_keys::Column::Principal,
            idempotency_keys::Column::Key,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if claimed == 0 {
        let stored =
            idempotency_keys::Entity::find_by_id((principal.to_owned(), intent.key.clone()))
                .one(&txn)
                .await?;
        let stored_outcome = stored
            .as_ref()
            .filter(|row| row.expires_at > now)
            .and_then(|row| {
                if row.request_hash != fingerprint {
                    return Some(rejected(ErrorCode::IdempotencyKeyReused.as_str()));
                }
                row.response_body
                    .as_deref()
                    .and_then(|body| serde_json::from_slice::<OutcomeResult>(body).ok())
            });
        if let Some(result) = stored_outcome {
            txn.rollback().await?;
            return Ok(Some(result));
        }
        // Expired, or a claim without an outcome left by an older server (every claim now
        // commits with its outcome): the key is free again.
        idempotency_keys::Entity::update_many()
            .col_expr(
                idempotency_keys::Column::RequestHash,
                sea_orm::sea_query::Expr::value(fingerprint.clone()),
            )
            .col_expr(
                idempotency_keys::Column::CreatedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .col_expr(
                idempotency_keys::Column::ExpiresAt,
                sea_orm::sea_query::Expr::value(now + Duration::days(KEPT_FOR_DAYS)),
            )
            .filter(idempotency_keys::Column::Principal.eq(principal))
            .filter(idempotency_keys::Column::Key.eq(intent.key.clone()))
            .exec(&txn)
            .await?;
    }
    let result = match apply(&txn, holder, device_id, intent, now).await {
        Ok(result) => result,
        Err(error) if error.worth_retrying() => {
            // Not applied, and the claim goes with it: the device's next delivery tries again.
            txn.rollback().await?;
            return Ok(None);
        }
        Err(error) => rejected(error.code().as_str()),
    };
    idempotency_keys::Entity::update_many()
        .col_expr(
            idempotency_keys::Column::ResponseStatus,
            sea_orm::sea_query::Expr::value(200),
        )
        .col_expr(
            idempotency_keys::Column::ResponseBody,
            sea_orm::sea_query::Expr::value(
                serde_json::to_vec(&result).map_err(AppError::internal)?,
            ),
        )
        .filter(idempotency_keys::Column::Principal.eq(principal))
        .filter(idempotency_keys::Column::Key.eq(intent.key.clone()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Some(result))
}

fn rejected(code: &str) -> OutcomeResult {
    OutcomeResult::Rejected {
        code: code.to_owned(),
    }
}

fn accepted(id: Uuid) -> OutcomeResult {
    OutcomeResult::Accepted { id: Some(id) }
}

/// Applies one intent through the service functions the REST API uses.
async fn apply(
    db: &impl crate::db::Writer,
    holder: &Holder,
    device_id: Uuid,
    intent: &Intent,
    now: DateTime<Utc>,
) -> Result<OutcomeResult, AppError> {
    let not_found = || AppError::new(ErrorCode::NotFound);
    let facts = slice::facts(db, intent.patient_id)
        .await?
        .ok_or_else(not_found)?;
    let viewer = viewer::for_account(db, holder, &facts, now.date_naive())
        .await?
        .ok_or_else(not_found)?;
    let actor = Actor {
        viewer,
        device_id: Some(device_id),
    };
    match &intent.action {
        IntentAction::BookAppointment { slot_id, reason } => {
            let request = BookingRequest {
                slot_id: *slot_id,
                reason: reason.clone(),
            };
            let booked = appointments::book(db, &actor, &facts, &request, now, None).await?;
            Ok(accepted(booked.id))
        }
        IntentAction::CancelAppointment {
            appointment_id,
            reason,
        } => {
            let request = CancellationRequest {
                reason: Some(reason.clone()),
            };
            let cancelled = appointments::cancel_by_patient(
                db,
                &actor,
                &facts,
                *appointment_id,
                &request,
                now,
                None,
            )
            .await?;
            Ok(accepted(cancelled.id))
        }
        IntentAction::OrderRepeat { course_ids, note } => {
            let order = Order::new(Some(course_ids.clone()), note.clone())?;
            match prescriptions::order(db, &actor, &facts, order, now, None).await? {
                OrderOutcome::Ordered(receipt) => Ok(accepted(receipt.request_id)),
                OrderOutcome::NothingOrdered(_) => Ok(rejected("nothing_ordered")),
            }
        }
        IntentAction::SendMessage {
            thread_id,
            subject,
            body,
        } => {
            let thread = match thread_id {
                Some(thread_id) => {
                    messages::reply(
                        db,
                        &actor,
                        &facts,
                        *thread_id,
                        Some(body.clone()),
                        now,
                        None,
                    )
                    .await?
                }
                None => {
                    messages::start_thread(
                        db,
                        &actor,
                        &facts,
                        subject.clone(),
                        Some(body.clone()),
                        now,
                        None,
                    )
                    .await?
                }
            };
            Ok(accepted(thread.id))
        }
        IntentAction::MarkMessageRead { message_id } => {
            let receipt = messages::mark_read(db, &actor, &facts, *message_id, now).await?;
            Ok(accepted(receipt.thread_id))
        }
    }
}
