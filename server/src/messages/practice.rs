//! The practice's side: the queue of threads, replies, read status and closing a thread.

use super::*;
use crate::idempotent::{self, IdempotentCall};

/// The ids of the practice's patients, as a subquery.
pub(super) fn patients_of(practice_id: Uuid) -> SelectStatement {
    Query::select()
        .column(patients::Column::Id)
        .from(patients::Entity)
        .and_where(patients::Column::PracticeId.eq(practice_id))
        .to_owned()
}

/// The threads with a patient or proxy message the practice has not read, as a subquery.
pub(super) fn unread_by_practice() -> SelectStatement {
    Query::select()
        .column(messages::Column::ThreadId)
        .from(messages::Entity)
        .and_where(messages::Column::SenderKind.ne(SenderKind::Staff))
        .and_where(messages::Column::ReadByPracticeAt.is_null())
        .to_owned()
}

pub(super) fn queue_patient(patient: &patients::Model) -> QueuePatient {
    QueuePatient {
        id: patient.id,
        given_name: patient.given_name.clone(),
        family_name: patient.family_name.clone(),
        nhs_number: patient.nhs_number.clone(),
        date_of_birth: patient.date_of_birth,
    }
}

/// Parses the queue's `status` (default `open`).
pub fn parse_status(text: Option<&str>) -> Result<ThreadState, Invalid> {
    match text.map(str::trim) {
        None | Some("open") => Ok(ThreadState::Open),
        Some("closed") => Ok(ThreadState::Closed),
        Some(_) => Err(Invalid::new("invalid_value", "one of open, closed")),
    }
}

/// Parses the queue's `limit` (default [`DEFAULT_QUEUE_LIMIT`], 1 to [`MAX_QUEUE_LIMIT`]).
pub fn parse_limit(text: Option<&str>) -> Result<u64, Invalid> {
    crate::validate::limit(text, DEFAULT_QUEUE_LIMIT, MAX_QUEUE_LIMIT)
}

/// The practice's threads in `status`: those with unread patient or proxy messages first, then
/// the others; most recently active first within each, at most `limit`.
pub async fn queue(
    db: &impl ConnectionTrait,
    staff: &StaffActor,
    status: ThreadState,
    limit: u64,
    _now: DateTime<Utc>,
) -> Result<Vec<StaffThreadSummary>, AppError> {
    let stored = match status {
        ThreadState::Open => ThreadStatus::Open,
        ThreadState::Closed => ThreadStatus::Closed,
    };
    let find = |unread: bool| {
        let query = threads::Entity::find()
            .filter(threads::Column::PatientId.in_subquery(patients_of(staff.practice_id)))
            .filter(threads::Column::Status.eq(stored));
        let query = if unread {
            query.filter(threads::Column::Id.in_subquery(unread_by_practice()))
        } else {
            query.filter(threads::Column::Id.not_in_subquery(unread_by_practice()))
        };
        query
            .order_by_desc(threads::Column::UpdatedAt)
            .order_by_desc(threads::Column::Id)
            .limit(limit)
    };
    let mut list = find(true).all(db).await?;
    if (list.len() as u64) < limit {
        let rest = limit - list.len() as u64;
        list.extend(find(false).limit(rest).all(db).await?);
    }
    let mut by_thread = messages_of(db, list.iter().map(|t| t.id).collect()).await?;
    let patient_ids: BTreeSet<Uuid> = list.iter().map(|t| t.patient_id).collect();
    let patients: HashMap<Uuid, patients::Model> = patients::Entity::find()
        .filter(patients::Column::Id.is_in(patient_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    list.into_iter()
        .map(|thread| {
            let patient = patients
                .get(&thread.patient_id)
                .ok_or_else(|| AppError::internal("a thread's patient is missing"))?;
            let messages = by_thread.remove(&thread.id).unwrap_or_default();
            Ok(StaffThreadSummary {
                id: thread.id,
                patient: queue_patient(patient),
                subject: thread.subject,
                status: thread.status.into(),
                started_by: started_by(&messages),
                created_at: thread.created_at,
                last_message_at: messages.last().map_or(thread.created_at, |m| m.sent_at),
                unread_count: count(
                    messages
                        .iter()
                        .filter(|m| !from_practice(m) && m.read_by_practice_at.is_none())
                        .count(),
                ),
                deleted_by_patient_at: thread.deleted_by_patient_at,
            })
        })
        .collect()
}

/// A thread of the staff member's practice, locked, with its patient and messages.
pub(super) async fn find_for_staff(
    txn: &DatabaseTransaction,
    staff: &StaffActor,
    thread_id: Uuid,
) -> Result<(threads::Model, patients::Model, Vec<messages::Model>), AppError> {
    let thread = threads::Entity::find_by_id(thread_id)
        .filter(threads::Column::PatientId.in_subquery(patients_of(staff.practice_id)))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(AppError::not_found)?;
    let patient = patients::Entity::find_by_id(thread.patient_id)
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal("a thread's patient is missing"))?;
    let list = messages_of(txn, vec![thread.id])
        .await?
        .remove(&thread.id)
        .unwrap_or_default();
    Ok((thread, patient, list))
}

pub(super) async fn staff_thread_view(
    txn: &DatabaseTransaction,
    staff: &StaffActor,
    thread: threads::Model,
    patient: &patients::Model,
    list: Vec<messages::Model>,
) -> Result<StaffThreadView, AppError> {
    let names = staff_names(txn, &list).await?;
    Ok(StaffThreadView {
        id: thread.id,
        patient: queue_patient(patient),
        subject: thread.subject,
        status: thread.status.into(),
        started_by: started_by(&list),
        created_at: thread.created_at,
        deleted_by_patient_at: thread.deleted_by_patient_at,
        messages: list
            .into_iter()
            .map(|m| message_view(m, &names, None, Some(staff.staff_id)))
            .collect(),
    })
}

/// A thread of the practice with every message, oldest first; opening it marks the patient's
/// and proxies' messages read by the practice.
pub async fn staff_get_thread(
    db: &DatabaseConnection,
    staff: &StaffActor,
    thread_id: Uuid,
    now: DateTime<Utc>,
) -> Result<StaffThreadView, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let (thread, patient, mut list) = find_for_staff(&txn, staff, thread_id).await?;
    let ids: Vec<Uuid> = list
        .iter()
        .filter(|m| !from_practice(m) && m.read_by_practice_at.is_none())
        .map(|m| m.id)
        .collect();
    if !ids.is_empty() {
        messages::Entity::update_many()
            .col_expr(messages::Column::ReadByPracticeAt, Expr::value(now))
            .filter(messages::Column::Id.is_in(ids.iter().copied()))
            .exec(&txn)
            .await?;
        let marked: HashSet<Uuid> = ids.iter().copied().collect();
        for message in list.iter_mut().filter(|m| marked.contains(&m.id)) {
            message.read_by_practice_at = Some(now);
        }
        staff
            .audit("message.read", patient.id)
            .target("message_thread", thread.id)
            .detail(serde_json::json!({ "messages": ids }))
            .record(&txn, now)
            .await?;
        outbox::mark_dirty(
            &txn,
            patient.practice_id,
            patient.id,
            SECTION,
            "message.read",
            now,
        )
        .await?;
    }
    let view = staff_thread_view(&txn, staff, thread, &patient, list).await?;
    txn.commit().await?;
    Ok(view)
}

/// Replies to the patient in an open thread of the practice and queues their content-free
/// `message_received` notification. A closed thread is `thread_closed`; a practice that has
/// switched messaging off is `feature_disabled`.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn staff_reply(
    db: &DatabaseConnection,
    staff: &StaffActor,
    thread_id: Uuid,
    body: Option<String>,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<StaffThreadView, AppError> {
    let practice = practices::Entity::find_by_id(staff.practice_id)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)?;
    let settings = PracticeSettings::from_json(&practice.settings).unwrap_or_default();
    if !settings.features.messages {
        return Err(AppError::new(ErrorCode::FeatureDisabled)
            .with_detail("the practice has switched messaging off"));
    }
    let body = reply_body(body, &settings)?;
    let txn = crate::db::begin_write(db).await?;
    let (thread, patient, mut list) = find_for_staff(&txn, staff, thread_id).await?;
    if thread.status == ThreadStatus::Closed {
        return Err(
            AppError::new(ErrorCode::ThreadClosed).with_detail("this conversation is closed")
        );
    }
    let sent_at = next_sent_at(list.last(), now);
    let message = insert_message(
        &txn,
        &thread,
        SenderKind::Staff,
        None,
        Some(staff.staff_id),
        body,
        sent_at,
    )
    .await?;
    touch(&txn, thread.id, sent_at).await?;
    staff
        .audit("message.reply", patient.id)
        .target("message_thread", thread.id)
        .detail(serde_json::json!({ "message_id": message.id }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        patient.practice_id,
        patient.id,
        SECTION,
        "message.reply",
        now,
    )
    .await?;
    outbox::notify(
        &txn,
        patient.id,
        "message_received",
        now,
        |viewer, facts, today| {
            rules::holds_scope(viewer, facts, Scope::Messages, today)
                && visible_to(viewer, &thread, &list)
        },
    )
    .await?;
    list.push(message);
    let view = staff_thread_view(&txn, staff, thread, &patient, list).await?;
    idempotent::store(call, &txn, 201, &view).await?;
    txn.commit().await?;
    Ok(view)
}

/// Closes a thread of the practice: no more replies either way. Closing a closed thread
/// answers it again and writes nothing.
///
/// With `call` (made with an `Idempotency-Key`), the response is stored with the write.
pub async fn close(
    db: &DatabaseConnection,
    staff: &StaffActor,
    thread_id: Uuid,
    now: DateTime<Utc>,
    call: Option<&IdempotentCall>,
) -> Result<StaffThreadView, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let (thread, patient, list) = find_for_staff(&txn, staff, thread_id).await?;
    if thread.status == ThreadStatus::Closed {
        let view = staff_thread_view(&txn, staff, thread, &patient, list).await?;
        txn.rollback().await?;
        return Ok(view);
    }
    threads::Entity::update_many()
        .col_expr(threads::Column::Status, Expr::value(ThreadStatus::Closed))
        .col_expr(threads::Column::UpdatedAt, Expr::value(now))
        .filter(threads::Column::Id.eq(thread.id))
        .exec(&txn)
        .await?;
    staff
        .audit("message.close", patient.id)
        .target("message_thread", thread.id)
        .detail(serde_json::json!({ "from": "open", "to": "closed" }))
        .record(&txn, now)
        .await?;
    outbox::mark_dirty(
        &txn,
        patient.practice_id,
        patient.id,
        SECTION,
        "message.close",
        now,
    )
    .await?;
    let closed = threads::Model {
        status: ThreadStatus::Closed,
        updated_at: now,
        ..thread
    };
    let view = staff_thread_view(&txn, staff, closed, &patient, list).await?;
    idempotent::store(call, &txn, 200, &view).await?;
    txn.commit().await?;
    Ok(view)
}
