//! Secure messages between a patient (or a proxy on their behalf) and their practice: threads,
//! replies both ways, read status both ways, the patient deleting a thread (when the practice
//! allows it) and the practice closing one.
//!
//! Every function takes its connection, the actor, the patient's facts (for patient-side calls),
//! its input and `now`, and returns a typed outcome, so the REST handlers and offline sync
//! intents share one implementation. No HTTP types appear here.
//!
//! Messaging is not for emergencies: `/me` carries the notice the app shows
//! ([`crate::http::record::NOT_FOR_EMERGENCIES`]).
//!
//! # Who sees which thread
//!
//! - The patient sees every thread of theirs that they have not deleted, including those a
//!   proxy started on their behalf.
//! - A proxy with the `messages` scope sees only threads started by a proxy on the patient's
//!   behalf or by the practice: never a thread the patient started themself. This is the
//!   conservative reading of DOMAIN.md: a patient who writes to their practice on their own has
//!   not shared that conversation with the people who hold proxy access, and the practice may
//!   have answered things the patient never meant a carer to read. A thread the proxy cannot
//!   see is `not_found` to them, exactly as if it did not exist.
//! - Staff see every thread of their practice's patients, deleted by the patient or not (the
//!   practice keeps its record of the conversation); another practice's thread is `not_found`.
//!
//! Every change is one transaction with its audit event (codes and ids only: never the subject
//! or the text of a message) and the `messages` projection outbox row; a staff reply also queues
//! the patient's content-free `message_received` notification.

use crate::access::rules::{self, PatientFacts};
use crate::access::{self, Actor, Scope, StaffActor, Viewer};
use crate::db::entities::message_threads::{self as threads, ThreadStatus};
use crate::db::entities::messages::{self, SenderKind};
use crate::db::entities::staff;
use crate::db::entities::{patients, practices};
use crate::error::{AppError, ErrorCode};
use crate::record::outbox;
use crate::record::review::QueuePatient;
use crate::settings::PracticeSettings;
use crate::validate::{Invalid, Validator};
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// Longest subject of a thread, in characters.
pub const MAX_SUBJECT_CHARS: usize = 120;
/// Most threads listed for a patient (most recently active first).
pub const MAX_LISTED_THREADS: u64 = 200;
/// Queue size when none is asked for.
pub const DEFAULT_QUEUE_LIMIT: u64 = 100;
/// Largest queue page.
pub const MAX_QUEUE_LIMIT: u64 = 500;
/// The projection section threads belong to.
const SECTION: &str = "messages";

// ---------------------------------------------------------------------------------------------
// Actors and who may act
// ---------------------------------------------------------------------------------------------

/// How a message from `actor` is marked: sent by the patient, or by a proxy on their behalf.
fn sender_kind(actor: &Actor) -> SenderKind {
    if actor.is_proxy() {
        SenderKind::Proxy
    } else {
        SenderKind::Patient
    }
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// Who wrote a message (or started a thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    /// The patient.
    Patient,
    /// A proxy on the patient's behalf.
    Proxy,
    /// The practice.
    Staff,
}

impl From<SenderKind> for Sender {
    fn from(value: SenderKind) -> Self {
        match value {
            SenderKind::Patient => Self::Patient,
            SenderKind::Proxy => Self::Proxy,
            SenderKind::Staff => Self::Staff,
        }
    }
}

/// Whether a thread takes replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThreadState {
    /// Open for replies.
    Open,
    /// Closed by the practice: start a new thread instead.
    Closed,
}

impl From<ThreadStatus> for ThreadState {
    fn from(value: ThreadStatus) -> Self {
        match value {
            ThreadStatus::Open => Self::Open,
            ThreadStatus::Closed => Self::Closed,
        }
    }
}

/// A thread in the patient's list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ThreadSummary {
    /// The thread.
    pub id: Uuid,
    /// Its subject, if it has one.
    pub subject: Option<String>,
    /// `open` or `closed`.
    pub status: ThreadState,
    /// Who started it.
    pub started_by: Sender,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When its latest message was sent.
    pub last_message_at: DateTime<Utc>,
    /// Messages from the practice the patient side has not read.
    pub unread_count: u32,
}

/// One message as the patient side sees it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MessageView {
    /// The message.
    pub id: Uuid,
    /// `patient`, `proxy` or `staff`.
    pub sender: Sender,
    /// The staff member's display name (none for patient and proxy messages).
    pub sender_name: Option<String>,
    /// Whether the viewer wrote it.
    pub sent_by_you: bool,
    /// The text.
    pub body: String,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// When the patient side read it (practice messages only).
    pub read_by_patient_at: Option<DateTime<Utc>>,
    /// When the practice read it (patient and proxy messages only).
    pub read_by_practice_at: Option<DateTime<Utc>>,
}

/// A thread with its messages, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ThreadView {
    /// The thread.
    pub id: Uuid,
    /// Its subject, if it has one.
    pub subject: Option<String>,
    /// `open` or `closed`.
    pub status: ThreadState,
    /// Who started it.
    pub started_by: Sender,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// The messages, oldest first.
    pub messages: Vec<MessageView>,
}

/// A thread as the practice sees it in its queue.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StaffThreadSummary {
    /// The thread.
    pub id: Uuid,
    /// Its patient.
    pub patient: QueuePatient,
    /// Its subject, if it has one.
    pub subject: Option<String>,
    /// `open` or `closed`.
    pub status: ThreadState,
    /// Who started it.
    pub started_by: Sender,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When its latest message was sent.
    pub last_message_at: DateTime<Utc>,
    /// Patient and proxy messages the practice has not read.
    pub unread_count: u32,
    /// When the patient deleted it from their own list, if they did.
    pub deleted_by_patient_at: Option<DateTime<Utc>>,
}

/// A thread as the practice sees it, with every message.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StaffThreadView {
    /// The thread.
    pub id: Uuid,
    /// Its patient.
    pub patient: QueuePatient,
    /// Its subject, if it has one.
    pub subject: Option<String>,
    /// `open` or `closed`.
    pub status: ThreadState,
    /// Who started it.
    pub started_by: Sender,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When the patient deleted it from their own list, if they did.
    pub deleted_by_patient_at: Option<DateTime<Utc>>,
    /// The messages, oldest first.
    pub messages: Vec<MessageView>,
}

/// What marking messages read did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReadReceipt {
    /// The thread.
    pub thread_id: Uuid,
    /// Messages newly marked read (0 when they already were).
    pub marked: u32,
}

/// Who started the thread: the sender of its first message.
fn started_by(list: &[messages::Model]) -> Sender {
    list.first()
        .map_or(Sender::Staff, |first| first.sender_kind.into())
}

/// Whether the viewer may see a thread whose messages (oldest first) are `list`.
fn visible_to(viewer: &Viewer, thread: &threads::Model, list: &[messages::Model]) -> bool {
    rules::thread_visible(viewer, thread, started_by(list) == Sender::Patient)
}

fn from_practice(message: &messages::Model) -> bool {
    message.sender_kind == SenderKind::Staff
}

fn message_view(
    message: messages::Model,
    names: &HashMap<Uuid, String>,
    you: Option<Uuid>,
    staff_you: Option<Uuid>,
) -> MessageView {
    let sent_by_you = match message.sender_kind {
        SenderKind::Staff => staff_you.is_some() && message.sender_staff_id == staff_you,
        _ => you.is_some() && message.sender_account_id == you,
    };
    MessageView {
        id: message.id,
        sender: message.sender_kind.into(),
        sender_name: message
            .sender_staff_id
            .and_then(|id| names.get(&id).cloned()),
        sent_by_you,
        body: message.body,
        sent_at: message.sent_at,
        read_by_patient_at: message.read_by_patient_at,
        read_by_practice_at: message.read_by_practice_at,
    }
}

/// The messages of these threads, oldest first, grouped by thread.
async fn messages_of(
    db: &impl ConnectionTrait,
    thread_ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, Vec<messages::Model>>, AppError> {
    let mut by_thread: HashMap<Uuid, Vec<messages::Model>> = HashMap::new();
    for message in messages::Entity::find()
        .filter(messages::Column::ThreadId.is_in(thread_ids))
        .order_by_asc(messages::Column::SentAt)
        .order_by_asc(messages::Column::Id)
        .all(db)
        .await?
    {
        by_thread
            .entry(message.thread_id)
            .or_default()
            .push(message);
    }
    Ok(by_thread)
}

/// Display names of the staff who wrote these messages.
async fn staff_names(
    db: &impl ConnectionTrait,
    list: &[messages::Model],
) -> Result<HashMap<Uuid, String>, AppError> {
    let ids: BTreeSet<Uuid> = list.iter().filter_map(|m| m.sender_staff_id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(staff::Entity::find()
        .filter(staff::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.display_name))
        .collect())
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn invalid(code: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        code,
        reason: reason.into(),
    }
}

/// A message body: required, at most `max` characters (after trimming).
fn body_text(value: Option<String>, max: usize) -> Result<String, Invalid> {
    let value = value.unwrap_or_default();
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid("required", "write a message"));
    }
    if trimmed.chars().count() > max {
        return Err(invalid("too_long", format!("at most {max} characters")));
    }
    Ok(trimmed.to_owned())
}

/// A subject: one line of at most [`MAX_SUBJECT_CHARS`]; blank means none, which is refused
/// when the practice requires a subject.
fn subject_text(value: Option<String>, required: bool) -> Result<Option<String>, Invalid> {
    let value = value.unwrap_or_default();
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return if required {
            Err(invalid("required", "the practice asks for a subject"))
        } else {
            Ok(None)
        };
    }
    if trimmed.chars().count() > MAX_SUBJECT_CHARS {
        return Err(invalid(
            "too_long",
            format!("at most {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(Some(trimmed.to_owned()))
}

fn max_chars(settings: &PracticeSettings) -> usize {
    usize::try_from(settings.message_max_chars).unwrap_or(usize::MAX)
}

/// A validated reply body, for a practice's settings.
pub fn reply_body(body: Option<String>, settings: &PracticeSettings) -> Result<String, AppError> {
    let mut v = Validator::new();
    let body = v.check("body", body_text(body, max_chars(settings)));
    v.finish()?;
    body.ok_or_else(|| AppError::new(ErrorCode::ValidationFailed))
}

// ---------------------------------------------------------------------------------------------
// The patient side
// ---------------------------------------------------------------------------------------------

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
async fn find_visible(
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

async fn thread_view(
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
async fn read_by_patient(
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
    outbox::mark_dirty(txn, facts.patient.id, SECTION, "message.read", now).await?;
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
    db: &DatabaseConnection,
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
fn next_sent_at(latest: Option<&messages::Model>, now: DateTime<Utc>) -> DateTime<Utc> {
    match latest {
        Some(latest) if latest.sent_at >= now => latest.sent_at + Duration::microseconds(1),
        _ => now,
    }
}

async fn insert_message(
    txn: &DatabaseTransaction,
    thread_id: Uuid,
    sender_kind: SenderKind,
    account_id: Option<Uuid>,
    staff_id: Option<Uuid>,
    body: String,
    sent_at: DateTime<Utc>,
) -> Result<messages::Model, AppError> {
    Ok(messages::ActiveModel {
        id: Set(Uuid::new_v4()),
        thread_id: Set(thread_id),
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

async fn touch(
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
pub async fn start_thread(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    subject: Option<String>,
    body: Option<String>,
    now: DateTime<Utc>,
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
        thread.id,
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
    outbox::mark_dirty(&txn, facts.patient.id, SECTION, "message.send", now).await?;
    let view = thread_view(&txn, actor, thread, vec![message]).await?;
    txn.commit().await?;
    Ok(view)
}

/// Replies in a thread the viewer may see. A closed thread is `thread_closed`.
pub async fn reply(
    db: &DatabaseConnection,
    actor: &Actor,
    facts: &PatientFacts,
    thread_id: Uuid,
    body: Option<String>,
    now: DateTime<Utc>,
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
        thread.id,
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
    outbox::mark_dirty(&txn, facts.patient.id, SECTION, "message.reply", now).await?;
    list.push(message);
    let view = thread_view(&txn, actor, thread, list).await?;
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
    outbox::mark_dirty(&txn, facts.patient.id, SECTION, "message.delete", now).await?;
    txn.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The practice side
// ---------------------------------------------------------------------------------------------

/// The ids of the practice's patients, as a subquery.
fn patients_of(practice_id: Uuid) -> SelectStatement {
    Query::select()
        .column(patients::Column::Id)
        .from(patients::Entity)
        .and_where(patients::Column::PracticeId.eq(practice_id))
        .to_owned()
}

/// The threads with a patient or proxy message the practice has not read, as a subquery.
fn unread_by_practice() -> SelectStatement {
    Query::select()
        .column(messages::Column::ThreadId)
        .from(messages::Entity)
        .and_where(messages::Column::SenderKind.ne(SenderKind::Staff))
        .and_where(messages::Column::ReadByPracticeAt.is_null())
        .to_owned()
}

fn queue_patient(patient: &patients::Model) -> QueuePatient {
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
        Some(_) => Err(invalid("invalid_value", "one of open, closed")),
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
async fn find_for_staff(
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

async fn staff_thread_view(
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
        outbox::mark_dirty(&txn, patient.id, SECTION, "message.read", now).await?;
    }
    let view = staff_thread_view(&txn, staff, thread, &patient, list).await?;
    txn.commit().await?;
    Ok(view)
}

/// Replies to the patient in an open thread of the practice and queues their content-free
/// `message_received` notification. A closed thread is `thread_closed`; a practice that has
/// switched messaging off is `feature_disabled`.
pub async fn staff_reply(
    db: &DatabaseConnection,
    staff: &StaffActor,
    thread_id: Uuid,
    body: Option<String>,
    now: DateTime<Utc>,
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
        thread.id,
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
    outbox::mark_dirty(&txn, patient.id, SECTION, "message.reply", now).await?;
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
    txn.commit().await?;
    Ok(view)
}

/// Closes a thread of the practice: no more replies either way. Closing a closed thread
/// answers it again and writes nothing.
pub async fn close(
    db: &DatabaseConnection,
    staff: &StaffActor,
    thread_id: Uuid,
    now: DateTime<Utc>,
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
    outbox::mark_dirty(&txn, patient.id, SECTION, "message.close", now).await?;
    let closed = threads::Model {
        status: ThreadStatus::Closed,
        updated_at: now,
        ..thread
    };
    let view = staff_thread_view(&txn, staff, closed, &patient, list).await?;
    txn.commit().await?;
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_bodies_are_trimmed_and_bounded() {
        assert_eq!(subject_text(Some("  ".to_owned()), false).unwrap(), None);
        assert_eq!(subject_text(None, true).unwrap_err().code, "required");
        assert_eq!(
            subject_text(Some(" Sick note ".to_owned()), true).unwrap(),
            Some("Sick note".to_owned())
        );
        assert_eq!(
            subject_text(Some("x".repeat(MAX_SUBJECT_CHARS + 1)), false)
                .unwrap_err()
                .code,
            "too_long"
        );
        assert_eq!(
            body_text(Some(" ".to_owned()), 10).unwrap_err().code,
            "required"
        );
        assert_eq!(body_text(Some("é".repeat(10)), 10).unwrap(), "é".repeat(10));
        assert_eq!(
            body_text(Some("é".repeat(11)), 10).unwrap_err().code,
            "too_long"
        );
    }

    #[test]
    fn the_queue_filters_parse() {
        assert_eq!(parse_status(None).unwrap(), ThreadState::Open);
        assert_eq!(parse_status(Some("closed")).unwrap(), ThreadState::Closed);
        assert!(parse_status(Some("all")).is_err());
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_QUEUE_LIMIT);
        assert!(parse_limit(Some("0")).is_err());
        assert!(parse_limit(Some("501")).is_err());
    }
}
