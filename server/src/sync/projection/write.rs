//! Writing a section document: reconciling the stored document to the permitted items (all of
//! the section, or those a write named) with the digests kept beside it, appending the new
//! changes, starting a new generation when something must disappear, and ending a document the
//! viewer may no longer see.

use super::stored::{decode_heads, encode_heads, load, lock};
use crate::db::entities::{sync_document_digests, sync_documents};
use crate::error::AppError;
use crate::sync::cache;
use crate::sync::counts::{ChangeCount, Generation};
use automerge::AutoCommit;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use std::collections::BTreeSet;
use sync_protocol::Section;
use sync_protocol::items::{self, Items};
use sync_protocol::redaction;
use uuid::Uuid;
/// Makes the audience's current document of `section` equal to `wanted` (starting a new
/// generation when something must disappear or its history passes `history_threshold` changes
/// beyond one per item) and stores it with its heads; returns its generation. The document is
/// locked first (PostgreSQL: a transaction-scoped advisory lock on its audience and section;
/// a SQLite write transaction holds the database's write lock), so concurrent projections of
/// one document run one after the other and the second finds nothing to do.
///
/// The digests kept beside the document ([`sync_document_digests`]) say which items differ,
/// so only those are read and written; an unchanged projection does not load the document.
/// New changes are appended to the stored bytes, which are saved whole again once
/// [`COMPACT_AFTER`] changes have been appended.
pub async fn project(
    db: &impl ConnectionTrait,
    audience: &str,
    section: Section,
    wanted: &Items,
    history_threshold: usize,
    now: DateTime<Utc>,
) -> Result<u32, AppError> {
    lock(db, audience, section).await?;
    let Some(latest) = latest(db, audience, section).await? else {
        return new_generation(db, audience, section, 0, wanted, now).await;
    };
    let generation = Generation::from_column(latest.generation)?.number();
    // The stored count: asking the document for its changes would decode its whole history.
    // A fresh generation needs one change per item, so only the history beyond that counts
    // (otherwise a record of more items than the threshold would start afresh on every sync).
    let history = ChangeCount::from_column(latest.change_count)?.len();
    // A superseded latest generation was ended (`sync rebuild`): never reuse its number.
    if latest.superseded_at.is_some() || history.saturating_sub(wanted.len()) > history_threshold {
        return new_generation(db, audience, section, next(generation)?, wanted, now).await;
    }
    let wanted_digests = items::digests(wanted);
    let kept = kept_digests(db, &latest).await?;
    if let Some((stored, _)) = &kept {
        if stored.keys().any(|id| !wanted.contains_key(id)) {
            // Everything the old generation held stays in its history: start afresh.
            return new_generation(db, audience, section, next(generation)?, wanted, now).await;
        }
        if *stored == wanted_digests && latest.heads.is_some() {
            return Ok(generation);
        }
    }
    let doc = working_copy(audience, section, &latest)?;
    let (stored, appended) = match kept {
        Some(kept) => kept,
        // Stored before digests were kept: read the items once (and save whole).
        None => {
            let current = items::read_items(&doc).map_err(AppError::internal)?;
            if current.keys().any(|id| !wanted.contains_key(id)) {
                return new_generation(db, audience, section, next(generation)?, wanted, now).await;
            }
            (items::digests(&current), i32::MAX)
        }
    };
    if rewrites_history(&doc, section, wanted, &wanted_digests, &stored)? {
        return new_generation(db, audience, section, next(generation)?, wanted, now).await;
    }
    let change = Change {
        wanted,
        wanted_digests: &wanted_digests,
        stored: &stored,
        kept: &wanted_digests,
        appended,
    };
    Box::pin(write_changes(
        db, audience, section, latest, doc, change, now,
    ))
    .await
}

/// Makes the items `ids` of the audience's current `section` document what `named` (those of
/// them the viewer may see) holds, reading and writing those items alone, as [`project`] would
/// with the whole section. `None` when items alone will not do and the caller must project the
/// whole section: there is no current generation or no digests kept for it, a named item must
/// leave the document or a value must not stay in its history (both start a new generation),
/// or the history passes `history_threshold`.
pub async fn project_items(
    db: &impl ConnectionTrait,
    audience: &str,
    section: Section,
    ids: &BTreeSet<Uuid>,
    named: &Items,
    history_threshold: usize,
    now: DateTime<Utc>,
) -> Result<Option<u32>, AppError> {
    lock(db, audience, section).await?;
    let Some(latest) = latest(db, audience, section)
        .await?
        .filter(|latest| latest.superseded_at.is_none() && latest.heads.is_some())
    else {
        return Ok(None);
    };
    let generation = Generation::from_column(latest.generation)?.number();
    let Some((stored, appended)) = kept_digests(db, &latest).await? else {
        return Ok(None);
    };
    let leaving = ids
        .iter()
        .map(Uuid::to_string)
        .any(|id| stored.contains_key(&id) && !named.contains_key(&id));
    let items_after = stored.len() + named.keys().filter(|id| !stored.contains_key(*id)).count();
    let history = ChangeCount::from_column(latest.change_count)?.len();
    if leaving || history.saturating_sub(items_after) > history_threshold {
        return Ok(None);
    }
    let named_digests = items::digests(named);
    if named_digests
        .iter()
        .all(|(id, digest)| stored.get(id) == Some(digest))
    {
        return Ok(Some(generation));
    }
    // What the document holds of the named items: the others are neither read nor written.
    let held: items::Digests = stored
        .iter()
        .filter(|(id, _)| named.contains_key(*id))
        .map(|(id, digest)| (id.clone(), *digest))
        .collect();
    let doc = working_copy(audience, section, &latest)?;
    if rewrites_history(&doc, section, named, &named_digests, &held)? {
        return Ok(None);
    }
    let mut kept = stored;
    kept.extend(
        named_digests
            .iter()
            .map(|(id, digest)| (id.clone(), *digest)),
    );
    let change = Change {
        wanted: named,
        wanted_digests: &named_digests,
        stored: &held,
        kept: &kept,
        appended,
    };
    Box::pin(write_changes(
        db, audience, section, latest, doc, change, now,
    ))
    .await
    .map(Some)
}

/// The latest generation's row of the audience's `section` document, superseded or not.
async fn latest(
    db: &impl ConnectionTrait,
    audience: &str,
    section: Section,
) -> Result<Option<sync_documents::Model>, AppError> {
    Ok(sync_documents::Entity::find()
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::Section.eq(section.as_str()))
        .order_by_desc(sync_documents::Column::Generation)
        .one(db)
        .await?)
}

/// The digests kept beside `latest` and how many changes were appended since it was saved
/// whole, when they describe it (digests describe the document only at the change count they
/// were written with).
async fn kept_digests(
    db: &impl ConnectionTrait,
    latest: &sync_documents::Model,
) -> Result<Option<(items::Digests, i32)>, AppError> {
    Ok(sync_document_digests::Entity::find_by_id((
        latest.audience.clone(),
        latest.section.clone(),
        latest.generation,
    ))
    .one(db)
    .await?
    .filter(|kept| kept.change_count == latest.change_count)
    .and_then(|kept| Some((items::decode_digests(&kept.digests)?, kept.appended_changes))))
}

/// The document to change: this node's copy when it holds the stored heads (the last projection
/// on this node left it there), taken out of the cache while it is changed and put back by
/// [`write_changes`]; else loaded from the stored bytes.
fn working_copy(
    audience: &str,
    section: Section,
    latest: &sync_documents::Model,
) -> Result<AutoCommit, AppError> {
    let generation = Generation::from_column(latest.generation)?.number();
    let cached = latest
        .heads
        .as_deref()
        .and_then(decode_heads)
        .and_then(|heads| cache::node().take(audience, section, generation, &heads));
    match cached {
        Some(doc) => Ok(doc),
        None => load(&latest.document),
    }
}

/// Whether writing `wanted` over the items with digests `stored` would correct or remove a
/// value that was information (clinical text, values, names, comments), which must not stay
/// readable in history; states and times are written over in place.
fn rewrites_history(
    doc: &AutoCommit,
    section: Section,
    wanted: &Items,
    wanted_digests: &items::Digests,
    stored: &items::Digests,
) -> Result<bool, AppError> {
    let rewrites = items::any_rewritten(doc, wanted, wanted_digests, stored, |old, new| {
        redaction::needs_new_generation(section, old, new)
    })
    .map_err(AppError::internal)?;
    if rewrites {
        metrics::counter!("sync_redaction_generations_total").increment(1);
    }
    Ok(rewrites)
}

/// What one projection writes into a document.
struct Change<'a> {
    /// The items to write (all of the section, or those a write named).
    wanted: &'a Items,
    /// Their digests.
    wanted_digests: &'a items::Digests,
    /// The digests of the items the document holds.
    stored: &'a items::Digests,
    /// The digests to keep beside the document afterwards.
    kept: &'a items::Digests,
    /// Changes appended since the document was saved whole (`i32::MAX`: unknown).
    appended: i32,
}

/// Writes the items of `change` whose digests differ into `doc` (the document stored as
/// `latest`), appends their changes to the stored bytes (saving whole again once
/// [`COMPACT_AFTER`] have been appended), stores the heads and the digests, and leaves the
/// document in this node's cache; returns the generation.
async fn write_changes(
    db: &impl ConnectionTrait,
    audience: &str,
    section: Section,
    latest: sync_documents::Model,
    mut doc: AutoCommit,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<u32, AppError> {
    let generation = Generation::from_column(latest.generation)?.number();
    let heads = doc.get_heads();
    items::reconcile_known(
        &mut doc,
        change.wanted,
        change.wanted_digests,
        change.stored,
    )
    .map_err(AppError::internal)?;
    let changes = doc.get_changes(&heads);
    let added = ChangeCount::of(changes.len())?;
    let change_count = ChangeCount::from_column(latest.change_count)?
        .plus(added)?
        .column();
    // Saturating on purpose: `i32::MAX` stands for "unknown", which must compact.
    let appended = change.appended.saturating_add(added.column());
    let (document, appended) = if appended > COMPACT_AFTER {
        (doc.save(), 0)
    } else {
        let mut bytes = latest.document.clone();
        for change in &changes {
            bytes.extend_from_slice(change.raw_bytes());
        }
        (bytes, appended)
    };
    let size = document.len();
    let digests_valid = change.appended != i32::MAX;
    if !changes.is_empty() || !digests_valid || latest.heads.is_none() {
        let mut row: sync_documents::ActiveModel = latest.into();
        row.heads = Set(Some(encode_heads(&doc.get_heads())));
        row.document = Set(document);
        row.change_count = Set(change_count);
        row.updated_at = Set(now);
        row.update(db).await?;
    }
    // The changes as stored, for the pushes that follow to send as they are.
    let delta = (!changes.is_empty()).then(|| cache::Delta {
        from: heads,
        changes: changes.iter().map(|c| c.raw_bytes().to_vec()).collect(),
    });
    cache::node().put(audience, section, generation, doc, delta, size);
    keep_digests(
        db,
        audience,
        section.as_str(),
        generation,
        change_count,
        change.kept,
        appended,
    )
    .await?;
    Ok(generation)
}

/// The generation after `generation`, as the protocol carries it.
fn next(generation: u32) -> Result<u32, AppError> {
    Ok(Generation::try_from(generation)?.next()?.number())
}

/// Changes appended to a stored document before it is saved whole again. An appended change
/// is stored as it is (about 300 bytes for one item, against about 55 saved whole) and applied
/// on every load, so the tail is kept short.
pub const COMPACT_AFTER: i32 = 64;

/// Starts `generation` of the audience's `section` document from `wanted` alone, with no
/// history, and marks every earlier generation superseded (devices holding one are told so).
pub async fn new_generation(
    db: &impl ConnectionTrait,
    audience: &str,
    section: Section,
    generation: u32,
    wanted: &Items,
    now: DateTime<Utc>,
) -> Result<u32, AppError> {
    let name = section.as_str();
    sync_documents::Entity::update_many()
        .col_expr(sync_documents::Column::SupersededAt, Expr::value(now))
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::Section.eq(name))
        .filter(sync_documents::Column::SupersededAt.is_null())
        .exec(db)
        .await?;
    // Superseded generations are never projected again: their digests go with them.
    sync_document_digests::Entity::delete_many()
        .filter(sync_document_digests::Column::Audience.eq(audience))
        .filter(sync_document_digests::Column::Section.eq(name))
        .exec(db)
        .await?;
    let mut doc = AutoCommit::new();
    items::reconcile(&mut doc, wanted).map_err(AppError::internal)?;
    let change_count = ChangeCount::of(doc.get_changes(&[]).len())?.column();
    sync_documents::ActiveModel {
        audience: Set(audience.to_owned()),
        section: Set(name.to_owned()),
        generation: Set(Generation::try_from(generation)?.column()),
        document: Set(doc.save()),
        change_count: Set(change_count),
        heads: Set(Some(encode_heads(&doc.get_heads()))),
        superseded_at: Set(None),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    keep_digests(
        db,
        audience,
        name,
        generation,
        change_count,
        &items::digests(wanted),
        0,
    )
    .await?;
    Ok(generation)
}

/// Writes (or replaces) the digests kept beside a document.
async fn keep_digests(
    db: &impl ConnectionTrait,
    audience: &str,
    section: &str,
    generation: u32,
    change_count: i32,
    digests: &items::Digests,
    appended_changes: i32,
) -> Result<(), AppError> {
    sync_document_digests::Entity::insert(sync_document_digests::ActiveModel {
        audience: Set(audience.to_owned()),
        section: Set(section.to_owned()),
        generation: Set(Generation::try_from(generation)?.column()),
        change_count: Set(change_count),
        digests: Set(items::encode_digests(digests)),
        appended_changes: Set(appended_changes),
    })
    .on_conflict(
        OnConflict::columns([
            sync_document_digests::Column::Audience,
            sync_document_digests::Column::Section,
            sync_document_digests::Column::Generation,
        ])
        .update_columns([
            sync_document_digests::Column::ChangeCount,
            sync_document_digests::Column::Digests,
            sync_document_digests::Column::AppendedChanges,
        ])
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Ends a section document of an audience (the viewer may no longer see it): every generation
/// is marked superseded, and the next request for it is answered `removed` (or, when the viewer
/// may see it again, starts a new generation).
pub async fn end_section(
    db: &impl ConnectionTrait,
    audience: &str,
    section: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    sync_documents::Entity::update_many()
        .col_expr(sync_documents::Column::SupersededAt, Expr::value(now))
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::Section.eq(section))
        .filter(sync_documents::Column::SupersededAt.is_null())
        .exec(db)
        .await?;
    sync_document_digests::Entity::delete_many()
        .filter(sync_document_digests::Column::Audience.eq(audience))
        .filter(sync_document_digests::Column::Section.eq(section))
        .exec(db)
        .await?;
    Ok(())
}
