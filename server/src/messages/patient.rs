//! The patient's side: threads the viewer may see, starting a thread, replying, reading and
//! deleting.

use super::*;
use crate::idempotent::{self, IdempotentCall};

/// The patient's threads the viewer may see, most recently active first (at most
/// [`MAX_LISTED_THREADS`]), each with its count of practice messages not yet read.
pub async fn list_threads(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facts: &PatientFacts,
    now: DateTime<Utc>,
) -> Result<Vec<ThreadSummary>, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Messages, now.date_naive())?;
    let list = threads::Entity::find()
        .filter(threads::Column::PatientId.eq(facts.patient.id))
        .filter(threads::Column::DeletedByPatientAt.is_null())
        .order_by_desc(threads::Column::UpdatedAt)
        .order_by_desc(threads::Column::Id)
        .limit(MAX_LISTED_THREADS)
        .all(db)
        .await?;
    let mut by_thread = messages_of(db, list.iter().map(|t| t.id).collect()).await?;
    let mut summaries: Vec<ThreadSummary> = list
        .into_iter()
        .filter_map(|thread| {
            let list = by_thread.remove(&thread.id).unwrap_or_default();
            if !visible_to(&actor.viewer, &thread, &list) {
                return None;
            }
            Some(ThreadSummary {
                id: thread.id,
                subject: thread.subject,
                status: thread.status.into(),
                started_by: started_by(&list),
                created_at: thread.created_at,
                last_message_at: list.last().map_or(thread.created_at, |m| m.sent_at),
                unread_count: count(
                    list.iter()
                        .filter(|m| from_practice(m) && m.read_by_patient_at.is_none())
                        .count(),
                ),
            })
        })
        .collect();
    summaries.sort_by(|a, b| {
        b.last_message_at
            .cmp(&a.last_message_at)
            .then(b.id.cmp(&a.id))
    });
    Ok(summaries)
}

/// The thread and its messages (oldest first), if the viewer may see it; else `not_found`.
pub(super) async fn find_visible(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facts: &PatientFacts,
    thread_id: Uuid,
    lock: bool,
) -> Result<(threads::Model, Vec<messages::Model>), AppError> {
    let mut query = threads::Entity::find_by_id(thread_id)
        .filter(threads::Column::PatientId.eq(facts.patient.id));
    if lock {
        query = query.lock_exclusive();
    }
    let thread = query.one(db).await?.ok_or_else(AppError::not_found)?;
    let list = messages_of(db, vec![thread.id])
        .await?
        .remove(&thread.id)
        .unwrap_or_default();
    if !visible_to(&actor.viewer, &thread, &list) {
        return Err(AppError::not_found());
    }
    Ok((thread, list))
}

pub(super) async fn thread_view(
    db: &impl ConnectionTrait,
    actor: &Actor,
    thread: threads::Model,
    list: Vec<messages::Model>,
) -> Result<ThreadView, AppError> {
    let names = staff_names(db, &list).await?;
    let you = actor.account_id();
    Ok(ThreadView {
        id: thread.id,
        subject: thread.subject,
        status: thread.status.into(),
        started_by: started_by(&list),
        created_at: thread.created_at,
        messages: list
            .into_iter()
            .map(|m| message_view(m, &names, you, None))
            .collect(),
    })
}

/// Marks the practice messages of `list` (those sent at or before `up_to`, or all when it is
/// none) read by the patient side,
/// with the audit event and outbox row when anything changed; returns how many changed.
pub(super) async fn read_by_patient(
    txn: &DatabaseTransaction,
    actor: &Actor,
    facts: &PatientFacts,
    thread_id: Uuid,
    list: &mut [messages::Model],
    up_to: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<u32, AppError> {
    let ids: Vec<Uuid> = list
        .iter()
        .filter(|m| {
            from_practice(m)
                && m.read_by_patient_at.is_none()
                && up_to.is_none_or(|up_to| m.sent_at <= up_to)
        })
        .map(|m| m.id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    messages::Entity::update_many()
        .col_expr(messages::Column::ReadByPatientAt, Expr::value(now))
        .filter(messages::Column::Id.is_in(ids.iter().copied()))
        .filter(messages::Column::ReadByPatientAt.is_null())
        .exec(txn)
        .await?;
    let marked: HashSet<Uuid> = ids.iter().copied().collect();
    for message in list.iter_mut().filter(|m| marked.contains(&m.id)) {
        message.read_by_patient_at = Some(now);
    }
    actor
        .audit("message.read", facts)
        .target("message_thread", thread_id)
        .detail(serde_json::json!({ "messages": ids }))
        .record(txn, now)
        .await?;
    outbox::mark_dirty(
        txn,
        facts.patient.practice_id,
        facts.patient.id,
        SECTION,
        "message.read",
        now,
    )
    .await?;
    Ok(count(ids.len()))
}

/// The thread with its messages, oldest first; opening it marks the practice's messages read
/// by the patient side (a proxy's reading counts: they read on the patient's behalf).
pub async fn get_thread(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    thread_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ThreadView, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Messages, now.date_naive())?;
    let txn = crate::db::begin_write(db).await?;
    let (thread, mut list) = find_visible(&txn, actor, facts, thread_id, true).await?;
    read_by_patient(&txn, actor, facts, thread.id, &mut list, None, now).await?;
    let view = thread_view(&txn, actor, thread, list).await?;
    txn.commit().await?;
    Ok(view)
}

/// The thread with its messages, oldest first, as [`get_thread`] shows it but without marking
/// anything read: for the sync documents, where messages become read only when the device
/// says so (a `mark_message_read` intent).
pub async fn view_thread(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facts: &PatientFacts,
    thread_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ThreadView, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Messages, now.date_naive())?;
    let (thread, list) = find_visible(db, actor, facts, thread_id, false).await?;
    thread_view(db, actor, thread, list).await
}

/// Marks the practice's messages of a thread read by the patient side, up to and including
/// `message_id` (a message of the patient's that the viewer may see; else `not_found`).
/// Idempotent: marking again changes nothing and answers `marked: 0`. Offline sync intents
/// call this with the last message the device showed.
pub async fn mark_read(
    db: &impl crate::db::Writer,
    actor: &Actor,
    facts: &PatientFacts,
    message_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ReadReceipt, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Messages, now.date_naive())?;
    let message = messages::Entity::find_by_id(message_id)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let txn = crate::db::begin_write(db).await?;
    let (thread, mut list) = find_visible(&txn, actor, facts, message.thread_id, true).await?;
    let marked = read_by_patient(
        &txn,
        actor,
        facts,
        thread.id,
        &mut list,
        Some(message.sent_at),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(ReadReceipt {
        thread_id: thread.id,
        marked,
    })
}

/// Marks every practice message of a thread read by the patient side (idempotent), through
/// [`mark_read`] with the thread's latest message.
pub async fn mark_thread_read(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    thread_id: Uuid,
    now: DateTime<Utc>,
) -> Result<ReadReceipt, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Messages, now.date_naive())?;
    let (thread, list) = find_visible(db, actor, facts, thread_id, false).await?;
    match list.last() {
        Some(latest) => mark_read(db, actor, facts, latest.id, now).await,
        None => Ok(ReadReceipt {
            thread_id: thread.id,
            marked: 0,
        }),
    }
}

/// When a new message of a thread whose latest message is `latest` is sent: `now`, or just after
/// the latest message if the clock has not moved past it, so a thread's messages are strictly
/// ordered by `sent_at` (who started a thread, and "read up to", depend on that order).
pub(super) fn next_sent_at(latest: Option<&messages::Model>, now: DateTime<Utc>) -> DateTime<Utc> {
    match latest {
        Some(latest) if latest.sent_at >= now => latest.sent_at + Duration::microseconds(1),
        _ => now,
    }
}

pub(super) async fn insert_message(
    txn: &DatabaseTransaction,
    thread: &threads::Model,
    sender_kind: SenderKind,
    account_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    body: String,
    sent_at: DateTime<Utc>,
) -> Result<messages::Model, AppError> {
    Ok(messages::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(thread.practice_id),
        thread_id: Set(thread.id),
        sender_kind: Set(sender_kind),
        sender_account_id: Set(account_id),
        sender_staff_id: Set(staff_id),
        body: Set(body),
        sent_at: Set(sent_at),
        read_by_patient_at: Set(None),
        read_by_practice_at: Set(None),
    }
    .insert(txn)
    .await?)
}

pub(super) async fn touch(
    txn: &DatabaseTransaction,
    thread_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    threads::Entity::update_many()
        .col_expr(threads::Column::UpdatedAt, Expr::value(now))
        .filter(threads::Column::Id.eq(thread_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Starts a thread with the practice. The subject is required when the practice says so
/// (`message_subject_required`); the body is required and at most `message_max_chars`. A
/// proxy's message is marked as sent by a proxy, with their account.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn start_thread(
    db: &impl crate::db::Writer,
    actor: &Actor,
    facts: &PatientFacts,
    subject: Option<String>,
    body: Option<String>,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<ThreadView, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Messages, now.date_naive())?;
    let settings = facts.settings();
    let mut v = Validator::new();
    let subject = v
        .check(
            "subject",
            subject_text(subject, settings.message_subject_required),
        )
        .flatten();
    let body = v.check("body", body_text(body, max_chars(&settings)));
    v.finish()?;
    let body = body.ok_or_else(|| AppError::new(ErrorCode::ValidationFailed))?;
    let txn = crate::db::begin_write(db).await?;
    let thread = threads::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(facts.patient.practice_id),
        patient_id: Set(facts.patient.id),
        subject: Set(subject.clone()),
        status: Set(ThreadStatus::Open),
        deleted_by_patient_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let message = insert_message(
        &txn,
        &thread,
        sender_kind(actor),
        actor.account_id(),
        None,
        body,
        now,
    )
    .await?;
    actor
        .audit("message.send", facts)
        .target("message_thread", thread.id)
        .detail(serde_json::json!({
            "message_id": message.id,
            "with_subject": subject.is_some(),
        }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        facts.patient.practice_id,
        facts.patient.id,
        SECTION,
        "message.send",
        now,
    )
    .await?;
    let view = thread_view(&txn, actor, thread, vec![message]).await?;
    idempotent::store(call, &txn, 201, &view).await?;
    txn.commit().await?;
    Ok(view)
}

/// Replies in a thread the viewer may see. A closed thread is `thread_closed`.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn reply(
    db: &impl crate::db::Writer,
    actor: &Actor,
    facts: &PatientFacts,
    thread_id: Uuid,
    body: Option<String>,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<ThreadView, AppError> {
    access::require_service(&actor.viewer, facts, Scope::Messages, now.date_naive())?;
    let body = reply_body(body, &facts.settings())?;
    let txn = crate::db::begin_write(db).await?;
    let (thread, mut list) = find_visible(&txn, actor, facts, thread_id, true).await?;
    if thread.status == ThreadStatus::Closed {
        return Err(AppError::new(ErrorCode::ThreadClosed)
            .with_detail("the practice has closed this conversation: start a new one"));
    }
    let sent_at = next_sent_at(list.last(), now);
    let message = insert_message(
        &txn,
        &thread,
        sender_kind(actor),
        actor.account_id(),
        None,
        body,
        sent_at,
    )
    .await?;
    touch(&txn, thread.id, sent_at).await?;
    actor
        .audit("message.reply", facts)
        .target("message_thread", thread.id)
        .detail(serde_json::json!({ "message_id": message.id }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        facts.patient.practice_id,
        facts.patient.id,
        SECTION,
        "message.reply",
        now,
    )
    .await?;
    list.push(message);
    let view = thread_view(&txn, actor, thread, list).await?;
    idempotent::store(call, &txn, 201, &view).await?;
    txn.commit().await?;
    Ok(view)
}

/// Deletes a thread from the patient's list (the practice keeps it), when the practice allows
/// it (`patient_may_delete_messages`; else `message_deletion_not_allowed`).
pub async fn delete_thread(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    thread_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    access::require_service(&actor.viewer, facts, Scope::Messages, now.date_naive())?;
    if !facts.settings().patient_may_delete_messages {
        return Err(AppError::new(ErrorCode::MessageDeletionNotAllowed)
            .with_detail("the practice keeps every conversation: it cannot be deleted"));
    }
    let txn = crate::db::begin_write(db).await?;
    let (thread, _) = find_visible(&txn, actor, facts, thread_id, true).await?;
    threads::Entity::update_many()
        .col_expr(threads::Column::DeletedByPatientAt, Expr::value(now))
        .filter(threads::Column::Id.eq(thread.id))
        .exec(&txn)
        .await?;
    actor
        .audit("message.delete", facts)
        .target("message_thread", thread.id)
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        facts.patient.practice_id,
        facts.patient.id,
        SECTION,
        "message.delete",
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
