//! Live fan-out: when a patient's record changes, every live connection following that
//! patient is told, on every node. Domain writes enqueue rows in `projection_outbox` in their
//! own transaction; the relay on each node claims rows (PostgreSQL: `FOR UPDATE SKIP LOCKED`,
//! so any number of nodes share the work), projects the patients' documents
//! ([`super::projector`]) and announces the patient ids: in process through a
//! broadcast channel, and to other nodes through PostgreSQL `NOTIFY`, which each node's
//! listener forwards to its own channel. On SQLite (one process) the channel is enough.
//! Revoking a session or device announces the account the same way, so its live connections
//! re-check at once.
//!
//! A connection follows only what its viewer may see ([`Followed`]): the documents its frames
//! name, at most `sync.max_followed_documents` of them, less every document it was answered
//! `removed` for (said once; a stranger naming another patient's document learns nothing more
//! from later writes about that patient). An announcement pushes a followed document only when
//! the viewer's own copy moved since the connection last pushed it. A connection's frames are
//! plain CBOR or compressed (`sync_protocol::compressed::Coding`, as the device chose at the
//! upgrade; [`refused`] turns a message that is neither into the refusal).

use super::exchange::Seen;
use crate::clock::Clock;
use crate::db::entities::projection_outbox;
use crate::error::{AppError, ErrorCode};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Which stored copy of a document a connection last pushed from: its generation and heads as
/// stored.
type Version = super::exchange::Pushed;

/// The documents one live connection follows, bounded, each with the version of the viewer's
/// copy it was last pushed from (none until a push); the version pushed before that, whose
/// acknowledgement may still be on its way when the next push goes (kept apart, so an idle
/// connection that was never pushed to holds nothing for it); and for each patient the
/// audience whose copies those versions are.
#[derive(Debug, Clone)]
pub struct Followed {
    max: usize,
    documents: BTreeMap<sync_protocol::DocumentId, Option<Version>>,
    before: BTreeMap<sync_protocol::DocumentId, Version>,
    audiences: BTreeMap<Uuid, String>,
}

impl Followed {
    /// An empty set holding at most `max` documents.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            documents: BTreeMap::new(),
            before: BTreeMap::new(),
            audiences: BTreeMap::new(),
        }
    }

    /// Follows `documents` (those a device's frame names, or for its "anything new?" frame
    /// every document it has synced); refused (`too_many_followed_documents`), following
    /// nothing new, when the set would pass its bound.
    pub fn follow(
        &mut self,
        documents: impl IntoIterator<Item = sync_protocol::DocumentId>,
    ) -> Result<(), AppError> {
        let new: BTreeSet<_> = documents
            .into_iter()
            .filter(|d| !self.documents.contains_key(d))
            .collect();
        if self.documents.len().saturating_add(new.len()) > self.max {
            return Err(too_many(self.max));
        }
        for document in new {
            self.documents.insert(document, None);
        }
        Ok(())
    }

    /// Stops following every document `frame` (a reply or a push) answered `removed`: a
    /// document the viewer may not see is said once, then never again.
    pub fn forget_removed(&mut self, frame: &sync_protocol::Frame) {
        for document in &frame.documents {
            if document.body == sync_protocol::DocumentBody::Removed {
                self.documents.remove(&document.document);
                self.before.remove(&document.document);
            }
        }
    }

    /// The followed documents about `patient`.
    pub fn of_patient(&self, patient: Uuid) -> Vec<sync_protocol::DocumentId> {
        self.documents
            .keys()
            .filter(|d| d.patient_id == patient)
            .copied()
            .collect()
    }

    /// Every followed document.
    pub fn all(&self) -> Vec<sync_protocol::DocumentId> {
        self.documents.keys().copied().collect()
    }

    /// Of `documents`, those to push to `holder`'s connection: each whose copy for this
    /// viewer is not the version last pushed (a change to what another viewer sees, such as an
    /// entry hidden from proxies, leaves a proxy's copy as it was: nothing is pushed to them),
    /// and each this viewer may no longer see (answered `removed`). The versions found are
    /// remembered as pushed. Only generations and heads are read, never a document, and what
    /// was read (the viewer of each patient, each audience's stored heads) is returned for the
    /// push ([`super::exchange::push`]) so it is not read again.
    pub async fn changed(
        &mut self,
        db: &DatabaseConnection,
        holder: &crate::access::viewer::Holder,
        documents: Vec<sync_protocol::DocumentId>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<sync_protocol::DocumentId>, Seen), AppError> {
        let mut changed = Vec::new();
        let mut seen = Seen::default();
        for id in documents {
            let audience = seen
                .person(db, holder, id.patient_id, now.date_naive())
                .await?
                .map(|(facts, viewer)| super::projection::audience(viewer, facts));
            let version = match audience {
                Some(audience) if id.section != sync_protocol::Section::Personal => {
                    let version = stored_version(seen.stored(db, &audience).await?, id.section)?;
                    if self.audiences.get(&id.patient_id) != Some(&audience) {
                        // Another audience's copies (a proxy's grant replaced): what was pushed
                        // from them says nothing of what the device holds of these.
                        self.forget_pushes(id.patient_id);
                        self.audiences.insert(id.patient_id, audience);
                    }
                    version
                }
                // The personal document, or a patient the viewer may no longer see: a push
                // decides.
                _ => None,
            };
            match (version, self.documents.get_mut(&id)) {
                (Some(version), Some(last)) if last.as_ref() == Some(&version) => {}
                (version, Some(last)) => {
                    match std::mem::replace(last, version) {
                        Some(before) => {
                            seen.pushed(id, before.clone());
                            self.before.insert(id, before);
                        }
                        None => {
                            self.before.remove(&id);
                        }
                    }
                    changed.push(id);
                }
                (_, None) => changed.push(id),
            }
        }
        Ok((changed, seen))
    }

    /// Forgets every version pushed of `patient`'s documents.
    fn forget_pushes(&mut self, patient: Uuid) {
        for (document, last) in &mut self.documents {
            if document.patient_id == patient {
                *last = None;
            }
        }
        self.before
            .retain(|document, _| document.patient_id != patient);
    }

    /// What `frame` acknowledges of this connection's pushes, when that is all it does: no
    /// intents, and for each document it names a message with the heads of a version pushed
    /// (the last, or the one before), no changes and nothing asked for. The device then holds
    /// that version, and its sync state is all there is to keep ([`super::exchange::keep_acknowledged`]): no
    /// viewer, stored heads or document is read, and nothing leaves the server. `None` for any
    /// other frame (the full exchange answers it); a message the guard refuses is the refusal.
    pub fn acknowledged(
        &self,
        frame: &sync_protocol::Frame,
        settings: &crate::config::SyncConfig,
    ) -> Result<Option<Vec<Acknowledged>>, AppError> {
        let pushed = |document: &sync_protocol::DocumentFrame| {
            let last = self.documents.get(&document.document)?.as_ref()?;
            let audience = self.audiences.get(&document.document.patient_id)?;
            let before = self.before.get(&document.document);
            Some((audience, [Some(last), before]))
        };
        if !frame.intents.is_empty()
            || frame.documents.is_empty()
            || !frame.documents.iter().all(|d| pushed(d).is_some())
        {
            return Ok(None);
        }
        // Our own parser sees every message before automerge decodes it.
        super::exchange::check_frame(frame, settings)?;
        let mut acknowledged = Vec::with_capacity(frame.documents.len());
        for document in &frame.documents {
            let Some((audience, versions)) = pushed(document) else {
                return Ok(None);
            };
            let sync_protocol::DocumentBody::Sync(bytes) = &document.body else {
                return Ok(None);
            };
            let Ok(message) = automerge::sync::Message::decode(bytes) else {
                return Ok(None);
            };
            let mut named = message.heads;
            named.sort();
            if !message.changes.is_empty()
                || !message.need.is_empty()
                || !holds(
                    versions,
                    document.generation,
                    &super::projection::encode_heads(&named),
                )
            {
                return Ok(None);
            }
            acknowledged.push(Acknowledged {
                audience: audience.clone(),
                section: document.document.section,
                generation: document.generation,
                heads: named,
            });
        }
        Ok(Some(acknowledged))
    }
}

/// Whether `generation` and `heads` (encoded) are one of the `versions` pushed.
fn holds(versions: [Option<&Version>; 2], generation: u32, heads: &[u8]) -> bool {
    versions
        .into_iter()
        .flatten()
        .any(|(g, h)| i64::from(*g) == i64::from(generation) && h.as_slice() == heads)
}

/// A device's acknowledgement of a pushed version of one document: the viewer's audience, the
/// section, and the generation and heads the device now holds.
#[derive(Debug)]
pub struct Acknowledged {
    /// The audience whose copy was pushed.
    pub audience: String,
    /// The document's section.
    pub section: sync_protocol::Section,
    /// The copy's generation.
    pub generation: u32,
    /// The heads the device holds (sorted).
    pub heads: Vec<automerge::ChangeHash>,
}

/// A refusal of a device's message on a live connection ([`sync_protocol::compressed::Coding`]):
/// compressed bytes refused are `sync_message_refused` with the reason, a message that is not
/// a frame as [`decode_frame`] says.
pub fn refused(error: sync_protocol::compressed::DecodeError) -> AppError {
    use sync_protocol::compressed::DecodeError;
    match error {
        DecodeError::Inflate(refused) => {
            AppError::new(ErrorCode::SyncMessageRefused).with_detail(refused.reason())
        }
        DecodeError::Frame(error) => frame_error(error),
    }
}

/// A compressed request body (`Content-Encoding: gp-sync-deflate`, the static dictionary alone)
/// inflated under the frame limit, or the refusal.
pub fn inflate_request(bytes: &[u8]) -> Result<Vec<u8>, AppError> {
    sync_protocol::compressed::decompress(bytes, None).map_err(|refused| {
        AppError::new(ErrorCode::SyncMessageRefused).with_detail(refused.reason())
    })
}

/// A device's frame read from its CBOR: too large is `payload_too_large`, anything else that
/// is not a frame `malformed_request`.
pub fn decode_frame(bytes: &[u8]) -> Result<sync_protocol::Frame, AppError> {
    sync_protocol::Frame::decode(bytes).map_err(frame_error)
}

fn frame_error(error: sync_protocol::envelope::FrameError) -> AppError {
    use sync_protocol::envelope::FrameError;
    match error {
        FrameError::TooLarge(_) => AppError::new(ErrorCode::PayloadTooLarge),
        other => AppError::new(ErrorCode::MalformedRequest).with_detail(other.to_string()),
    }
}

/// The version of `section` among an audience's `stored` documents: its generation and stored
/// heads; `None` when there is no such copy with heads (never projected, or its heads not
/// stored yet): then a push decides.
fn stored_version(
    stored: &BTreeMap<sync_protocol::Section, super::projection::Stored>,
    section: sync_protocol::Section,
) -> Result<Option<Version>, AppError> {
    let Some(copy) = stored.get(&section) else {
        return Ok(None);
    };
    let generation = super::counts::Generation::try_from(copy.generation)?.column();
    Ok(copy
        .heads
        .as_deref()
        .map(|heads| (generation, super::projection::encode_heads(heads))))
}

/// The refusal of a frame naming more documents than a connection may follow.
pub fn too_many(max: usize) -> AppError {
    AppError::new(ErrorCode::TooManyFollowedDocuments).with_detail(format!(
        "a device may follow at most {max} documents at once"
    ))
}

/// The PostgreSQL channel nodes announce changed patients on.
pub const CHANNEL: &str = "gp_online_sync";

/// How often the relay looks for new outbox rows when nothing wakes it: what a live device waits
/// at most for a change written by another node or a background job (a request on this node
/// wakes the relay when it completes, [`Hub::wake_relay`]). The look is one read of an index
/// (`claimed_until`), and the write lock is taken only when there is work.
pub const RELAY_INTERVAL: Duration = Duration::from_millis(25);

/// The payload prefix of a sign-out announcement on [`CHANNEL`] (a bare UUID is a patient).
const SIGNED_OUT: &str = "signed-out:";

/// What live connections are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// A patient's documents may have changed.
    Patient(Uuid),
    /// Sessions or devices of this account were revoked: its connections re-check theirs.
    SignedOut(Uuid),
}

impl Announcement {
    fn payload(self) -> String {
        match self {
            Self::Patient(id) => id.to_string(),
            Self::SignedOut(id) => format!("{SIGNED_OUT}{id}"),
        }
    }

    fn parse(payload: &str) -> Option<Self> {
        match payload.strip_prefix(SIGNED_OUT) {
            Some(account) => Uuid::parse_str(account).ok().map(Self::SignedOut),
            None => Uuid::parse_str(payload).ok().map(Self::Patient),
        }
    }
}

/// The in-process announcement of changed patients and signed-out accounts, and the relay's
/// wake-up call.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Announcement>,
    relay: std::sync::Arc<tokio::sync::Notify>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub; slow receivers lose old announcements rather than growing memory (they then
    /// resync everything they follow).
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(1024);
        Self {
            sender,
            relay: std::sync::Arc::default(),
        }
    }

    /// Receives announcements from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Announcement> {
        self.sender.subscribe()
    }

    /// Announces on this node only.
    pub fn announce(&self, announcement: Announcement) {
        // No receiver (nobody connected) is not an error.
        let _ = self.sender.send(announcement);
    }

    /// Wakes this node's relay now rather than at its next interval: call it after a write
    /// that may have enqueued outbox rows has committed, so a live device sees the change
    /// without waiting out [`RELAY_INTERVAL`]. A wake while the relay is busy is kept for its
    /// next round.
    pub fn wake_relay(&self) {
        self.relay.notify_one();
    }
}

/// Tells the live connections of `account_id`, on every node, that some of its sessions or
/// devices were revoked, so a revoked one is closed at once rather than at its next periodic
/// check. Call it after the revocation has committed.
pub async fn announce_sign_out(
    db: &DatabaseConnection,
    hub: &Hub,
    account_id: Uuid,
) -> Result<(), DbErr> {
    let announcement = Announcement::SignedOut(account_id);
    if db.get_database_backend() != DatabaseBackend::Postgres {
        hub.announce(announcement);
        return Ok(());
    }
    // Every node's listener (this one's included) forwards it to its hub.
    db.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), announcement.payload().into()],
    ))
    .await?;
    Ok(())
}

/// Claims up to 500 unclaimed outbox rows, projects their patients' documents
/// ([`super::projector`]) and returns the patients. On PostgreSQL the claim skips rows other
/// nodes hold and announces the patients with `NOTIFY` in the same transaction. Claimed rows
/// are kept for a day (the audit of what was announced), then purged.
pub async fn claim(
    db: &DatabaseConnection,
    history_threshold: usize,
    now: DateTime<Utc>,
) -> Result<BTreeSet<Uuid>, DbErr> {
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    // A plain read first: the write lock is taken only when there is work.
    let pending = projection_outbox::Entity::find()
        .filter(projection_outbox::Column::ClaimedUntil.is_null())
        .one(db)
        .await?;
    if pending.is_none() {
        return Ok(BTreeSet::new());
    }
    let txn = crate::db::begin_write(db).await?;
    projection_outbox::Entity::delete_many()
        .filter(projection_outbox::Column::ClaimedUntil.lt(now - chrono::Duration::days(1)))
        .exec(&txn)
        .await?;
    let mut query = projection_outbox::Entity::find()
        .filter(projection_outbox::Column::ClaimedUntil.is_null())
        .order_by_asc(projection_outbox::Column::Id)
        .limit(500);
    if postgres {
        query = query.lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        );
    }
    let rows = query.all(&txn).await?;
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(BTreeSet::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    projection_outbox::Entity::update_many()
        .col_expr(projection_outbox::Column::ClaimedUntil, Expr::value(now))
        .col_expr(
            projection_outbox::Column::ClaimedBy,
            Expr::value("sync-relay"),
        )
        .filter(projection_outbox::Column::Id.is_in(ids))
        .exec(&txn)
        .await?;
    let mut marked: BTreeMap<Uuid, Vec<super::projector::Mark<'_>>> = BTreeMap::new();
    for row in &rows {
        marked
            .entry(row.patient_id)
            .or_default()
            .push((row.section.as_deref(), row.item_id));
    }
    let patients: BTreeSet<Uuid> = marked.keys().copied().collect();
    for (patient, sections) in marked {
        let marks = super::projector::Marks::of(sections);
        // One patient's failure (logged) does not hold back the others' projections.
        let savepoint = txn.begin().await?;
        match super::projector::project_patient(
            &savepoint,
            patient,
            marks.as_ref(),
            history_threshold,
            now,
        )
        .await
        {
            Ok(_) => savepoint.commit().await?,
            Err(error) => {
                tracing::warn!(code = error.code().as_str(), "projection failed");
                savepoint.rollback().await?;
            }
        }
    }
    if postgres {
        for patient in &patients {
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [
                    CHANNEL.into(),
                    Announcement::Patient(*patient).payload().into(),
                ],
            ))
            .await?;
        }
    }
    txn.commit().await?;
    Ok(patients)
}

/// Runs the relay until the process ends: claims outbox rows, projects their patients and
/// announces them locally (other nodes hear them through their listener); every
/// [`RELAY_INTERVAL`], or at once when [`Hub::wake_relay`] is called.
pub async fn relay(db: DatabaseConnection, hub: Hub, clock: Clock, history_threshold: usize) {
    let local_only = db.get_database_backend() != DatabaseBackend::Postgres;
    loop {
        match claim(&db, history_threshold, clock.now()).await {
            Ok(patients) if local_only => patients
                .into_iter()
                .for_each(|p| hub.announce(Announcement::Patient(p))),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "sync relay could not claim outbox rows"),
        }
        tokio::select! {
            () = tokio::time::sleep(RELAY_INTERVAL) => {}
            () = hub.relay.notified() => {}
        }
    }
}

/// Forwards PostgreSQL notifications on [`CHANNEL`] (from any node, this one included) to the
/// local hub, reconnecting after failures.
pub async fn listen(database_url: String, hub: Hub) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let listener = async {
            let mut listener = PgListener::connect(&database_url).await?;
            listener.listen(CHANNEL).await?;
            loop {
                let notification = listener.recv().await?;
                if let Some(announcement) = Announcement::parse(notification.payload()) {
                    hub.announce(announcement);
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sea_orm::sqlx::Error>(())
        };
        if let Err(error) = listener.await {
            tracing::warn!(%error, "sync listener lost its connection; reconnecting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
