//! Offline writes arriving in sync frames, applied exactly once through the same service
//! functions as the REST API. Each intent key is claimed in the idempotency table (scoped to the
//! account, apart from REST keys): the first delivery applies it and stores its outcome, every
//! repeat gets the stored outcome, and a key reused for a different intent is rejected.

use crate::access::{Actor, slice, viewer};
use crate::appointments::{self, BookingRequest, CancellationRequest};
use crate::db::entities::idempotency_keys;
use crate::error::{AppError, ErrorCode};
use crate::messages;
use crate::prescriptions::{self, Order, OrderOutcome};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use sync_protocol::{Intent, IntentAction, IntentOutcome, OutcomeResult};
use uuid::Uuid;

/// How long an intent's outcome is kept for repeats.
const KEPT_FOR_DAYS: i64 = 7;

/// Applies each intent at most once and returns the outcomes to send back. An intent whose
/// first delivery is still being applied gets no outcome yet; the device sends it again.
pub async fn apply_all(
    db: &DatabaseConnection,
    account_id: Uuid,
    device_id: Uuid,
    intents: &[Intent],
    now: DateTime<Utc>,
) -> Result<Vec<IntentOutcome>, AppError> {
    let principal = hex::encode(Sha256::digest(format!("intent:{account_id}").as_bytes()));
    let mut outcomes = Vec::new();
    for intent in intents {
        let fingerprint = hex::encode(Sha256::digest(
            serde_json::to_vec(intent).map_err(AppError::internal)?,
        ));
        let claimed = idempotency_keys::Entity::insert(idempotency_keys::ActiveModel {
            principal: Set(principal.clone()),
            key: Set(intent.key.clone()),
            request_hash: Set(fingerprint.clone()),
            response_status: Set(None),
            response_body: Set(None),
            created_at: Set(now),
            expires_at: Set(now + Duration::days(KEPT_FOR_DAYS)),
        })
        .exec_without_returning(db)
        .await;
        if claimed.is_err() {
            let stored =
                idempotency_keys::Entity::find_by_id((principal.clone(), intent.key.clone()))
                    .one(db)
                    .await?;
            let result = match stored {
                Some(row) if row.request_hash != fingerprint => {
                    Some(rejected("idempotency_key_reused"))
                }
                Some(row) => row
                    .response_body
                    .and_then(|body| serde_json::from_slice::<OutcomeResult>(&body).ok()),
                None => None,
            };
            if let Some(result) = result {
                outcomes.push(IntentOutcome {
                    key: intent.key.clone(),
                    result,
                });
            }
            continue;
        }
        let result = match apply(db, account_id, device_id, intent, now).await {
            Ok(result) => result,
            Err(error) if error.worth_retrying() => {
                // Not applied: free the key so the device's next delivery tries again.
                idempotency_keys::Entity::delete_many()
                    .filter(idempotency_keys::Column::Principal.eq(principal.clone()))
                    .filter(idempotency_keys::Column::Key.eq(intent.key.clone()))
                    .exec(db)
                    .await?;
                continue;
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
            .filter(idempotency_keys::Column::Principal.eq(principal.clone()))
            .filter(idempotency_keys::Column::Key.eq(intent.key.clone()))
            .exec(db)
            .await?;
        outcomes.push(IntentOutcome {
            key: intent.key.clone(),
            result,
        });
    }
    Ok(outcomes)
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
    db: &DatabaseConnection,
    account_id: Uuid,
    device_id: Uuid,
    intent: &Intent,
    now: DateTime<Utc>,
) -> Result<OutcomeResult, AppError> {
    let not_found = || AppError::new(ErrorCode::NotFound);
    let facts = slice::facts(db, intent.patient_id)
        .await?
        .ok_or_else(not_found)?;
    let viewer = viewer::for_account(db, account_id, &facts, now.date_naive())
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
            let booked = appointments::book(db, &actor, &facts, &request, now).await?;
            Ok(accepted(booked.id))
        }
        IntentAction::CancelAppointment {
            appointment_id,
            reason,
        } => {
            let request = CancellationRequest {
                reason: Some(reason.clone()),
            };
            let cancelled =
                appointments::cancel_by_patient(db, &actor, &facts, *appointment_id, &request, now)
                    .await?;
            Ok(accepted(cancelled.id))
        }
        IntentAction::OrderRepeat { course_ids, note } => {
            let order = Order::new(Some(course_ids.clone()), note.clone())?;
            match prescriptions::order(db, &actor, &facts, order, now).await? {
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
                    messages::reply(db, &actor, &facts, *thread_id, Some(body.clone()), now).await?
                }
                None => {
                    messages::start_thread(
                        db,
                        &actor,
                        &facts,
                        subject.clone(),
                        Some(body.clone()),
                        now,
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
