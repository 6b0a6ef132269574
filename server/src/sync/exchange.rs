//! Answers a device: for each document it follows, resolve the viewer (the account acting for
//! that patient), take the stored document the projector keeps current, and run the sync
//! protocol with the device's persisted sync state. A device that already holds the stored
//! heads costs no document load: the heads are stored beside the document. A document the
//! viewer may no longer see is answered `removed`; a device on an old generation is told it is
//! superseded; changes a device sends for server-written documents are refused and counted.
//! The same per-document step serves a device's frame, a live push after a change and an
//! "anything new?" poll. The personal document, which devices write, is answered by
//! [`super::personal`] once the account is known to act for the patient.

use super::calendar;
use super::counts::Generation;
use super::intents;
use super::live_writes::{LiveWrites, Write};
use super::personal;
use super::projection::{self, audience};
use super::projector;
use crate::access::rules::PatientFacts;
use crate::access::viewer::{self, Holder};
use crate::access::{Viewer, slice};
use crate::config::SyncConfig;
use crate::db::entities::device_sync_states;
use crate::error::{AppError, ErrorCode};
use crate::record::access_log;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use std::collections::{BTreeMap, BTreeSet};
use sync_protocol::{DocumentBody, DocumentFrame, DocumentId, Frame, Section, server};
use uuid::Uuid;

/// Who is syncing.
#[derive(Debug, Clone, Copy)]
pub struct Syncer {
    /// The account and its holder.
    pub holder: Holder,
    /// The device (sync states are kept per device).
    pub device_id: Uuid,
}

/// Answers a device's `frame`: first its intents, so the documents in the same reply already
/// show their outcomes, then its documents. Changes to the personal document are validated
/// against the caps in `settings`. A malformed frame applies nothing.
pub async fn handle(
    db: &DatabaseConnection,
    syncer: Syncer,
    frame: &Frame,
    settings: &SyncConfig,
    now: DateTime<Utc>,
) -> Result<Frame, AppError> {
    check_frame(frame, settings)?;
    let mut reply = Frame::new();
    reply.outcomes =
        intents::apply_all(db, &syncer.holder, syncer.device_id, &frame.intents, now).await?;
    let mut round = Round::new(settings, reply.encode().len());
    if frame.documents.is_empty() {
        // "Anything new?": every document the device has synced, answered as a push (after
        // the frame's intents, so their effects are in it).
        let followed = followed(db, syncer.device_id).await?;
        let documents: Vec<DocumentId> = followed.keys().copied().collect();
        project_pending(db, &documents, settings, now).await?;
        reply.documents = Box::pin(push_within(
            db, syncer, &documents, settings, &mut round, now,
        ))
        .await?
        .documents;
        // A removed document is said once: the device stops following it.
        let removed: Vec<String> = reply
            .documents
            .iter()
            .filter(|d| d.body == DocumentBody::Removed)
            .filter_map(|d| followed.get(&d.document).cloned())
            .flatten()
            .collect();
        if !removed.is_empty() {
            device_sync_states::Entity::delete_many()
                .filter(device_sync_states::Column::DeviceId.eq(syncer.device_id))
                .filter(device_sync_states::Column::DocumentKey.is_in(removed))
                .exec(db)
                .await?;
        }
        return Ok(reply);
    }
    let documents: Vec<DocumentId> = frame.documents.iter().map(|d| d.document).collect();
    project_pending(db, &documents, settings, now).await?;
    let mut ignored = 0;
    for incoming in &frame.documents {
        // Boxed: one document's exchange holds an automerge document across awaits.
        let (frames, count) = Box::pin(document(
            db,
            syncer,
            incoming.document,
            Some(incoming),
            settings,
            &mut round,
            now,
        ))
        .await?;
        reply.documents.extend(frames);
        ignored += count;
    }
    if ignored > 0 {
        // Counts only: the changes themselves are never logged.
        tracing::warn!(
            changes = ignored,
            "ignored device changes to server-written documents"
        );
        metrics::counter!("sync_ignored_device_changes_total").increment(ignored as u64);
    }
    Ok(reply)
}

/// What is checked of a device's frame before anything in it is applied, with no database:
/// each document named at most once, and every sync message through our own parser before
/// automerge sees it (bloom parameters, change chunks, inflated change bytes per message and per
/// frame). A refused message refuses the whole frame.
pub fn check_frame(frame: &Frame, settings: &SyncConfig) -> Result<(), AppError> {
    let mut seen = BTreeSet::new();
    if !frame.documents.iter().all(|d| seen.insert(d.document)) {
        return Err(AppError::new(ErrorCode::MalformedRequest)
            .with_detail("a frame names each document at most once"));
    }
    let limits = settings.guard_limits();
    let mut budget = sync_protocol::guard::Exchange::new(&limits);
    for document in &frame.documents {
        if let DocumentBody::Sync(bytes) = &document.body {
            sync_protocol::guard::check(bytes, &limits, &mut budget).map_err(|refusal| {
                // The reason only: never the bytes.
                tracing::warn!(reason = refusal.reason(), "refused a device sync message");
                metrics::counter!("sync_refused_messages_total", "reason" => refusal.reason())
                    .increment(1);
                AppError::new(ErrorCode::SyncMessageRefused).with_detail(refusal.reason())
            })?;
        }
    }
    Ok(())
}

/// Writes not yet projected (a frame's intents, or a REST call just before) are projected
/// first, so the reply shows them.
async fn project_pending(
    db: &DatabaseConnection,
    documents: &[DocumentId],
    settings: &SyncConfig,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let patients: BTreeSet<Uuid> = documents.iter().map(|d| d.patient_id).collect();
    for patient in patients {
        projector::project_if_pending(db, patient, settings.history_threshold, now).await?;
    }
    Ok(())
}

/// The documents a device has synced (it has a sync state for them on the server), newest
/// generation or not.
async fn followed(
    db: &DatabaseConnection,
    device_id: Uuid,
) -> Result<BTreeMap<DocumentId, Vec<String>>, AppError> {
    let states = device_sync_states::Entity::find()
        .filter(device_sync_states::Column::DeviceId.eq(device_id))
        .all(db)
        .await?;
    let mut documents: BTreeMap<DocumentId, Vec<String>> = BTreeMap::new();
    for state in states {
        let Some((audience, section)) = state.document_key.rsplit_once('/') else {
            continue;
        };
        let Some(section) = Section::from_name(section) else {
            continue;
        };
        if let Some(patient) = projection::patient_of(db, audience).await? {
            documents
                .entry(DocumentId::new(patient, section))
                .or_default()
                .push(state.document_key);
        }
    }
    Ok(documents)
}

/// Every document the device has synced (those with a persisted sync state): what its
/// "anything new?" frame asks about, and so what a live connection follows after one.
pub async fn synced(db: &DatabaseConnection, device_id: Uuid) -> Result<Vec<DocumentId>, AppError> {
    Ok(followed(db, device_id).await?.into_keys().collect())
}

/// What changed for `documents` since the device's last exchange, unprompted (live push, or
/// the answer to "anything new?"): for each document that changed, its new changes directly;
/// nothing for the others, whose stored heads the device already shares.
///
/// The access-log lines of what the push delivers are written with those of other
/// connections' pushes (`writes`), before the frame is returned.
pub async fn push(
    db: &DatabaseConnection,
    writes: &LiveWrites,
    syncer: Syncer,
    documents: &[DocumentId],
    settings: &SyncConfig,
    seen: Seen,
    now: DateTime<Utc>,
) -> Result<Frame, AppError> {
    let mut round = Round::new(settings, Frame::new().encode().len()).knowing(seen);
    round.delivered = Some(Vec::new());
    let frame = Box::pin(push_within(
        db, syncer, documents, settings, &mut round, now,
    ))
    .await?;
    let lines = round.delivered.take().unwrap_or_default();
    writes
        .write(lines.into_iter().map(Write::AccessLog).collect())
        .await?;
    Ok(frame)
}

/// [`push`] within a round already under way.
async fn push_within(
    db: &DatabaseConnection,
    syncer: Syncer,
    documents: &[DocumentId],
    settings: &SyncConfig,
    round: &mut Round,
    now: DateTime<Utc>,
) -> Result<Frame, AppError> {
    let mut reply = Frame::new();
    for id in documents {
        let (frames, _) = Box::pin(document(db, syncer, *id, None, settings, round, now)).await?;
        reply.documents.extend(frames);
    }
    Ok(reply)
}

/// One exchange's budgets: the time its automerge work may take (it runs on the blocking pool,
/// never inside a database write transaction) and the bytes left in the reply frame, so a reply
/// never passes the frame limit; a document whose answer does not fit gets as many changes as
/// fit and the device asks for the rest in its next frame.
#[derive(Debug)]
pub(super) struct Round {
    deadline: tokio::time::Instant,
    room: usize,
    /// Each patient the round has read, with the syncing account's viewer of them: read once
    /// per exchange, not once per document (seven documents about one patient are the rule).
    people: std::collections::HashMap<Uuid, Option<(PatientFacts, Viewer)>>,
    /// Each audience's stored documents and the device's sync states for them, read once per
    /// exchange in two queries, not two per document.
    audiences: std::collections::HashMap<String, Known>,
    /// For a live push, what the connection last pushed of each document ([`Seen::pushed`]).
    pushed: std::collections::HashMap<DocumentId, Pushed>,
    /// For a live push, the access-log lines of its deliveries, written together when the push
    /// is done ([`push`]); `None`: each is written as it is made.
    delivered: Option<Vec<crate::db::entities::access_log::Model>>,
}

/// A version of a document a live connection pushed: its generation (as stored) and heads.
pub type Pushed = (i32, Vec<u8>);

/// An audience's current documents (generation and heads) and the device's persisted sync
/// states for them, by document key (`audience/section`; `None` until read).
#[derive(Debug, Default)]
struct Known {
    stored: BTreeMap<Section, projection::Stored>,
    states: Option<BTreeMap<String, device_sync_states::Model>>,
}

/// What a live connection's check of an announcement already read about its viewer, handed to
/// the push that follows so it is not read again: each patient's facts with the viewer, and
/// each audience's stored documents.
#[derive(Debug, Default)]
pub struct Seen {
    people: std::collections::HashMap<Uuid, Option<(PatientFacts, Viewer)>>,
    stored: std::collections::HashMap<String, BTreeMap<Section, projection::Stored>>,
    pushed: std::collections::HashMap<DocumentId, Pushed>,
}

impl Seen {
    /// Tells the push that this connection last pushed `version` of `document`. Frames on a
    /// connection arrive in order, so the device holds that version before the new push
    /// reaches it, whether or not its acknowledgement has been kept yet: the push sends the
    /// changes since that version without reading the device's persisted sync state. A device
    /// that holds something else says so in its answer, and the full exchange sends what it
    /// lacks.
    pub fn pushed(&mut self, document: DocumentId, version: Pushed) {
        self.pushed.insert(document, version);
    }

    /// The facts about `patient_id` and the account's viewer of them (`None`: the account may
    /// not act for them), read once per announcement.
    pub async fn person(
        &mut self,
        db: &DatabaseConnection,
        holder: &Holder,
        patient_id: Uuid,
        today: chrono::NaiveDate,
    ) -> Result<Option<&(PatientFacts, Viewer)>, AppError> {
        let person = match self.people.entry(patient_id) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(unknown) => {
                unknown.insert(read_person(db, holder, patient_id, today).await?)
            }
        };
        Ok(person.as_ref())
    }

    /// `audience`'s current documents, read once per announcement.
    pub async fn stored(
        &mut self,
        db: &DatabaseConnection,
        audience: &str,
    ) -> Result<&BTreeMap<Section, projection::Stored>, AppError> {
        Ok(match self.stored.entry(audience.to_owned()) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(unknown) => {
                unknown.insert(projection::current_all(db, audience).await?)
            }
        })
    }
}

/// The facts about `patient_id` and `holder`'s viewer of them, or `None` when the patient
/// is unknown or the account may not act for them.
async fn read_person(
    db: &DatabaseConnection,
    holder: &Holder,
    patient_id: Uuid,
    today: chrono::NaiveDate,
) -> Result<Option<(PatientFacts, Viewer)>, AppError> {
    Ok(match slice::facts(db, patient_id).await? {
        Some(facts) => viewer::for_account(db, holder, &facts, today)
            .await?
            .map(|viewer| (facts, viewer)),
        None => None,
    })
}

impl Round {
    /// A round whose reply already takes `used` bytes.
    fn new(settings: &SyncConfig, used: usize) -> Self {
        Self {
            deadline: tokio::time::Instant::now() + settings.exchange_time_budget(),
            room: sync_protocol::server::MESSAGE_ROOM.saturating_sub(used),
            people: std::collections::HashMap::new(),
            audiences: std::collections::HashMap::new(),
            pushed: std::collections::HashMap::new(),
            delivered: None,
        }
    }

    /// The round, knowing what was `seen` before it (the device's sync states are still read for
    /// a document the connection has not pushed before).
    fn knowing(mut self, seen: Seen) -> Self {
        self.people = seen.people;
        self.pushed = seen.pushed;
        self.audiences = seen
            .stored
            .into_iter()
            .map(|(audience, stored)| {
                (
                    audience,
                    Known {
                        stored,
                        states: None,
                    },
                )
            })
            .collect();
        self
    }

    /// The facts about `patient_id` and `holder`'s viewer of them, or `None` when the
    /// patient is unknown or the account may not act for them; read once per round.
    async fn person(
        &mut self,
        db: &DatabaseConnection,
        holder: &Holder,
        patient_id: Uuid,
        today: chrono::NaiveDate,
    ) -> Result<Option<(PatientFacts, Viewer)>, AppError> {
        if let Some(known) = self.people.get(&patient_id) {
            return Ok(known.clone());
        }
        let person = read_person(db, holder, patient_id, today).await?;
        self.people.insert(patient_id, person.clone());
        Ok(person)
    }

    /// What is stored of `audience`'s documents; read once per round.
    async fn stored(
        &mut self,
        db: &DatabaseConnection,
        audience: &str,
    ) -> Result<&mut Known, AppError> {
        if !self.audiences.contains_key(audience) {
            let stored = projection::current_all(db, audience).await?;
            let known = Known {
                stored,
                states: None,
            };
            self.audiences.insert(audience.to_owned(), known);
        }
        Ok(self.audiences.entry(audience.to_owned()).or_default())
    }

    /// The device's persisted sync state for `key` among `audience`'s documents; the states
    /// of all of them read once per round.
    async fn kept_state(
        &mut self,
        db: &DatabaseConnection,
        device_id: Uuid,
        audience: &str,
        key: &str,
    ) -> Result<Option<device_sync_states::Model>, AppError> {
        let known = self.stored(db, audience).await?;
        if known.states.is_none() {
            let keys = projection::SERVER_SECTIONS.map(|section| document_key(audience, section));
            let states = device_sync_states::Entity::find()
                .filter(device_sync_states::Column::DeviceId.eq(device_id))
                .filter(device_sync_states::Column::DocumentKey.is_in(keys))
                .all(db)
                .await?
                .into_iter()
                .map(|state| (state.document_key.clone(), state))
                .collect();
            known.states = Some(states);
        }
        Ok(known
            .states
            .as_ref()
            .and_then(|states| states.get(key))
            .cloned())
    }

    /// The heads a live connection last pushed of `document`, when that was of `generation`.
    fn pushed_heads(
        &self,
        document: DocumentId,
        generation: u32,
    ) -> Option<Vec<automerge::ChangeHash>> {
        let (pushed_generation, heads) = self.pushed.get(&document)?;
        (i64::from(*pushed_generation) == i64::from(generation))
            .then(|| projection::decode_heads(heads))
            .flatten()
    }

    /// Records the delivery of `frames` about document `id` to the device in the patient's
    /// access log when they carry items ([`super::reads`]), or, in a live push, keeps its line
    /// for [`push`] to write.
    #[allow(clippy::too_many_arguments)]
    async fn record_delivery(
        &mut self,
        db: &DatabaseConnection,
        viewer: &Viewer,
        facts: &PatientFacts,
        id: DocumentId,
        device_id: Uuid,
        frames: &[DocumentFrame],
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        if !super::reads::delivers_items(id, frames) {
            return Ok(());
        }
        let section = id.section.as_str();
        match &mut self.delivered {
            Some(delivered) => delivered.push(
                access_log::new_line(db, viewer, facts, section, None, Some(device_id), now)
                    .await?,
            ),
            None => {
                access_log::record_sync_delivery(db, viewer, facts, section, device_id, now)
                    .await?;
            }
        }
        Ok(())
    }

    /// Bytes left for the next sync message.
    pub(super) fn room(&self) -> usize {
        self.room
    }

    /// Takes the bytes of `frames` from the room left.
    pub(super) fn spend(&mut self, frames: &[DocumentFrame]) {
        for frame in frames {
            let body = match &frame.body {
                DocumentBody::Sync(bytes) => bytes.len(),
                _ => 0,
            };
            // A document frame's id, generation and keys take well under 100 bytes.
            self.room = self.room.saturating_sub(body + 100);
        }
    }

    /// Runs automerge `work` on the blocking pool, answering `timeout` once the round's time
    /// budget is spent (the work itself, bounded by the guard, finishes on its own).
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        match tokio::time::timeout_at(self.deadline, tokio::task::spawn_blocking(work)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(failed)) => Err(AppError::internal(failed)),
            Err(_) => {
                metrics::counter!("sync_exchange_time_budget_spent_total").increment(1);
                Err(AppError::new(ErrorCode::Timeout)
                    .with_detail("the exchange took longer than its time budget"))
            }
        }
    }
}

/// One document's answer, and how many device changes were ignored.
async fn document(
    db: &DatabaseConnection,
    syncer: Syncer,
    id: DocumentId,
    incoming: Option<&DocumentFrame>,
    settings: &SyncConfig,
    round: &mut Round,
    now: DateTime<Utc>,
) -> Result<(Vec<DocumentFrame>, usize), AppError> {
    let today = now.date_naive();
    let removed = || {
        (
            vec![DocumentFrame {
                document: id,
                generation: incoming.map_or(0, |f| f.generation),
                body: DocumentBody::Removed,
            }],
            0,
        )
    };
    let Some((facts, viewer)) = round
        .person(db, &syncer.holder, id.patient_id, today)
        .await?
    else {
        return Ok(removed());
    };
    if id.section == Section::Personal {
        // The account's own document about the patient (a proxy's is their own, not the
        // patient's); staff never have one.
        if matches!(viewer, crate::access::Viewer::Staff { .. }) {
            return Ok(removed());
        }
        let practice_id = facts.patient.practice_id;
        let frames =
            personal::exchange(db, syncer, id, practice_id, incoming, settings, round, now).await?;
        round.spend(&frames);
        return Ok((frames, 0));
    }
    let audience = audience(&viewer, &facts);
    let key = document_key(&audience, id.section);
    let stored = match round
        .stored(db, &audience)
        .await?
        .stored
        .get(&id.section)
        .cloned()
    {
        Some(stored) => stored,
        // Never projected for this viewer (or ended by the projector or a rebuild): project
        // it now, once; from then on the projector keeps it current.
        None => {
            let txn = crate::db::begin_write(db).await?;
            projection::lock(&txn, &audience, id.section).await?;
            let Some(wanted) =
                projection::permitted(&txn, &viewer, &facts, id.section, now).await?
            else {
                return Ok(removed());
            };
            projection::project(
                &txn,
                &audience,
                id.section,
                &wanted,
                settings.history_threshold,
                now,
            )
            .await?;
            calendar::keep(&txn, facts.patient.id, Some(&facts), now).await?;
            txn.commit().await?;
            projection::current(db, &audience, id.section)
                .await?
                .ok_or_else(|| AppError::internal("section document missing after projection"))?
        }
    };
    // What the device holds of the current generation (`None`: unknown), and whether it holds
    // an older generation. A push on a live connection knows what it pushed before.
    let (held, behind) = match round.pushed_heads(id, stored.generation) {
        Some(heads) if incoming.is_none() => {
            let mut state = server::device_state(None, false);
            state.shared_heads = heads;
            (Some(state), false)
        }
        _ => {
            let kept = round
                .kept_state(db, syncer.device_id, &audience, &key)
                .await?;
            let current = kept
                .as_ref()
                .filter(|s| i64::from(s.generation) == i64::from(stored.generation));
            (
                current.map(|s| server::device_state(Some(s.state.as_slice()), false)),
                kept.is_some() && current.is_none(),
            )
        }
    };
    let holds_current = held.is_some();
    let mut state = held.unwrap_or_else(|| server::device_state(None, false));
    if let Some(heads) = &stored.heads
        && up_to_date(heads, stored.generation, &state, incoming)?
    {
        // Nothing to send and nothing to load; remember what the device said it holds.
        if state.shared_heads != *heads {
            state.shared_heads.clone_from(heads);
            save_device_state(db, syncer.device_id, key, stored.generation, &state, now).await?;
        }
        return Ok((Vec::new(), 0));
    }
    let cached = super::cache::node().cached(&audience, id.section, &stored);
    // A push of what this node's last projection of the document appended, to a device that
    // holds exactly what was there before: those changes as they were stored.
    if incoming.is_none()
        && holds_current
        && let (Some(heads), Some(delta)) = (
            &stored.heads,
            cached.as_ref().and_then(|cached| cached.delta.as_deref()),
        )
        && let Some(frame) = server::push_changes(
            id,
            stored.generation,
            &state,
            &delta.from,
            heads,
            &delta.changes,
            round.room(),
        )
    {
        let frames = vec![frame];
        round
            .record_delivery(db, &viewer, &facts, id, syncer.device_id, &frames, now)
            .await?;
        round.spend(&frames);
        return Ok((frames, 0));
    }
    let shared = match cached {
        Some(cached) => cached.doc,
        None => loaded(db, &audience, id.section, &stored).await?,
    };
    if stored.heads.is_none() {
        let heads = lock(&shared).get_heads();
        projection::keep_heads(db, &audience, id.section, stored.generation, &heads).await?;
    }
    let mut frames = Vec::new();
    // Pushing to a device whose copy belongs to an older generation: tell it first.
    if incoming.is_none() && behind {
        frames.push(DocumentFrame {
            document: id,
            generation: stored.generation,
            body: DocumentBody::Superseded,
        });
    }
    let (generation, room, owned) = (stored.generation, round.room(), incoming.cloned());
    let (answer, state) = round
        .blocking(move || {
            let mut doc = lock(&shared);
            let answer = server::answer_within(
                id,
                generation,
                &mut doc,
                &mut state,
                false,
                owned.as_ref(),
                room,
            );
            (answer, state)
        })
        .await?;
    let answer = answer
        .map_err(|e| AppError::new(ErrorCode::MalformedRequest).with_detail(e.to_string()))?;
    frames.extend(answer.frames);
    round
        .record_delivery(db, &viewer, &facts, id, syncer.device_id, &frames, now)
        .await?;
    round.spend(&frames);
    if incoming.is_some() {
        save_device_state(db, syncer.device_id, key, stored.generation, &state, now).await?;
    }
    Ok((frames, answer.ignored_changes))
}

/// The stored document read and loaded (and kept in this node's cache), when the cache does not
/// hold it.
async fn loaded(
    db: &DatabaseConnection,
    audience: &str,
    section: Section,
    stored: &projection::Stored,
) -> Result<super::cache::Shared, AppError> {
    let (stored, bytes) = projection::saved(db, audience, section, stored.generation).await?;
    super::cache::node().load(audience, section, &stored, &bytes)
}

/// The key of a device's sync state for the audience's `section` document.
fn document_key(audience: &str, section: Section) -> String {
    format!("{audience}/{}", section.as_str())
}

/// A cached document, for one exchange at a time (an exchange never changes a read-only
/// document, so what it leaves behind is still the stored document).
fn lock(shared: &super::cache::Shared) -> std::sync::MutexGuard<'_, automerge::AutoCommit> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the device is known to hold exactly the stored `heads` of the current generation
/// and asks for nothing, so there is nothing to answer: its message names those heads (and
/// carries no changes), or, for a push, its persisted state says it shares them.
pub fn up_to_date(
    heads: &[automerge::ChangeHash],
    generation: u32,
    state: &automerge::sync::State,
    incoming: Option<&DocumentFrame>,
) -> Result<bool, AppError> {
    match incoming {
        None => Ok(state.shared_heads == heads),
        Some(DocumentFrame {
            generation: sent,
            body: DocumentBody::Sync(bytes),
            ..
        }) if *sent == generation => {
            let message = automerge::sync::Message::decode(bytes).map_err(|e| {
                AppError::new(ErrorCode::MalformedRequest).with_detail(e.to_string())
            })?;
            Ok(message.heads == heads && message.changes.is_empty() && message.need.is_empty())
        }
        Some(_) => Ok(false),
    }
}

/// Keeps what a device acknowledged on a live connection of the versions it was pushed
/// ([`super::live::Followed::acknowledged`]): its sync state for each document says it holds
/// those heads, as the full exchange would have saved it (a persisted state is its shared heads
/// alone); written with other connections' writes (`writes`), in one transaction.
pub async fn keep_acknowledged(
    writes: &LiveWrites,
    device_id: Uuid,
    acknowledged: &[super::live::Acknowledged],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut states = Vec::with_capacity(acknowledged.len());
    for ack in acknowledged {
        let mut state = automerge::sync::State::new();
        state.shared_heads.clone_from(&ack.heads);
        states.push(Write::SyncState(device_sync_states::Model {
            device_id,
            document_key: document_key(&ack.audience, ack.section),
            generation: Generation::try_from(ack.generation)?.column(),
            state: state.encode(),
            updated_at: now,
        }));
    }
    writes.write(states).await
}

/// Persists a device's sync state for one document (`audience/section`) and generation, so a
/// reconnect costs one round trip. Called only after an exchange in which the device sent a
/// frame about the document: the state says what the device has shown it holds, and a push
/// (live, or the answer to "anything new?") learns nothing of that. A push that saved would
/// write back the state it read before its automerge work, over a newer one saved meanwhile by
/// another exchange of the same device (its frame on another connection acknowledging the same
/// change): the server would then believe the device lacks changes it holds and push them on
/// every "anything new?", while the device, holding them, has nothing to answer.
pub(super) async fn save_device_state(
    db: &impl ConnectionTrait,
    device_id: Uuid,
    document_key: String,
    generation: u32,
    state: &automerge::sync::State,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    device_sync_states::Entity::insert(device_sync_states::ActiveModel {
        device_id: Set(device_id),
        document_key: Set(document_key),
        generation: Set(Generation::try_from(generation)?.column()),
        state: Set(state.encode()),
        updated_at: Set(now),
    })
    .on_conflict(super::live_writes::sync_state_conflict())
    .exec_without_returning(db)
    .await?;
    Ok(())
}
