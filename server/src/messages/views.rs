//! What a thread and its messages look like to the patient, a proxy or the practice.

use super::*;

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
pub(super) fn started_by(list: &[messages::Model]) -> Sender {
    list.first()
        .map_or(Sender::Staff, |first| first.sender_kind.into())
}

/// Whether the viewer may see a thread whose messages (oldest first) are `list`.
pub(super) fn visible_to(
    viewer: &Viewer,
    thread: &threads::Model,
    list: &[messages::Model],
) -> bool {
    rules::thread_visible(viewer, thread, started_by(list) == Sender::Patient)
}

pub(super) fn from_practice(message: &messages::Model) -> bool {
    message.sender_kind == SenderKind::Staff
}

pub(super) fn message_view(
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
pub(super) async fn messages_of(
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
pub(super) async fn staff_names(
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

pub(super) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
