//! What is stored of a section document: its generation and heads (read without the saved
//! bytes), the saved bytes when a document must be loaded, and the lock one projection of a
//! document holds.

use crate::db::entities::sync_documents;
use crate::error::AppError;
use crate::sync::counts::Generation;
use automerge::{AutoCommit, ChangeHash};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use std::collections::BTreeMap;
use sync_protocol::Section;
/// The current (not superseded) generation of an audience's section document, as stored:
/// its generation and heads, without the saved bytes (a device found up to date, or a
/// document this node holds loaded, never needs them; [`saved`] reads them).
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its generation.
    pub generation: u32,
    /// Its heads, when stored (documents stored before heads were kept have none until their
    /// next projection).
    pub heads: Option<Vec<ChangeHash>>,
}

/// The current generation of the audience's `section` document, if there is one.
pub async fn current(
    db: &impl ConnectionTrait,
    audience: &str,
    section: Section,
) -> Result<Option<Stored>, AppError> {
    let row: Option<(i32, Option<Vec<u8>>)> = sync_documents::Entity::find()
        .select_only()
        .column(sync_documents::Column::Generation)
        .column(sync_documents::Column::Heads)
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::Section.eq(section.as_str()))
        .filter(sync_documents::Column::SupersededAt.is_null())
        .order_by_desc(sync_documents::Column::Generation)
        .into_tuple()
        .one(db)
        .await?;
    row.map(|(generation, heads)| {
        Ok(Stored {
            generation: Generation::from_column(generation)?.number(),
            heads: heads.as_deref().and_then(decode_heads),
        })
    })
    .transpose()
}

/// The current generation of each of the audience's section documents, in one query.
pub async fn current_all(
    db: &impl ConnectionTrait,
    audience: &str,
) -> Result<BTreeMap<Section, Stored>, AppError> {
    let rows: Vec<(String, i32, Option<Vec<u8>>)> = sync_documents::Entity::find()
        .select_only()
        .column(sync_documents::Column::Section)
        .column(sync_documents::Column::Generation)
        .column(sync_documents::Column::Heads)
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::SupersededAt.is_null())
        .order_by_asc(sync_documents::Column::Generation)
        .into_tuple()
        .all(db)
        .await?;
    let mut current = BTreeMap::new();
    // In generation order: the newest of a section is kept.
    for (name, generation, heads) in rows {
        if let Some(section) = Section::from_name(&name) {
            let stored = Stored {
                generation: Generation::from_column(generation)?.number(),
                heads: heads.as_deref().and_then(decode_heads),
            };
            current.insert(section, stored);
        }
    }
    Ok(current)
}

/// Generation `generation` of the audience's `section` document as stored now, with its saved
/// bytes (and any appended changes), read together so the bytes are those of the heads.
pub async fn saved(
    db: &impl ConnectionTrait,
    audience: &str,
    section: Section,
    generation: u32,
) -> Result<(Stored, Vec<u8>), AppError> {
    let (heads, bytes): (Option<Vec<u8>>, Vec<u8>) = sync_documents::Entity::find()
        .select_only()
        .column(sync_documents::Column::Heads)
        .column(sync_documents::Column::Document)
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::Section.eq(section.as_str()))
        .filter(sync_documents::Column::Generation.eq(Generation::try_from(generation)?.column()))
        .into_tuple()
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("section document missing"))?;
    let stored = Stored {
        generation,
        heads: heads.as_deref().and_then(decode_heads),
    };
    Ok((stored, bytes))
}

/// Loads saved document bytes (counted by the `sync_document_loads_total` metric: a sync that
/// finds the device up to date, or the document in this node's cache, does not load it).
pub fn load(bytes: &[u8]) -> Result<AutoCommit, AppError> {
    metrics::counter!("sync_document_loads_total").increment(1);
    AutoCommit::load(bytes).map_err(AppError::internal)
}

/// Heads as stored: 32 bytes per change hash.
pub fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|hash| hash.0).collect()
}

/// Heads stored by [`encode_heads`]; `None` when the bytes are not whole hashes.
pub fn decode_heads(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes
        .chunks_exact(32)
        .map(|chunk| ChangeHash::try_from(chunk).ok())
        .collect()
}

/// Stores the heads of a document row (after it was loaded without them).
pub async fn keep_heads(
    db: &impl ConnectionTrait,
    audience: &str,
    section: Section,
    generation: u32,
    heads: &[ChangeHash],
) -> Result<(), AppError> {
    sync_documents::Entity::update_many()
        .col_expr(
            sync_documents::Column::Heads,
            Expr::value(encode_heads(heads)),
        )
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::Section.eq(section.as_str()))
        .filter(sync_documents::Column::Generation.eq(Generation::try_from(generation)?.column()))
        .exec(db)
        .await?;
    Ok(())
}

/// Locks the audience's `section` document until the caller's transaction ends, so its
/// projections run one after the other (PostgreSQL: a transaction-scoped advisory lock, taken
/// again harmlessly by [`super::project`]; a SQLite write transaction already holds the database's
/// write lock). A caller takes it *before* it reads what the document should hold: a
/// projection that read the record before another one committed would otherwise write the
/// older state over the newer one (and lengthen the history with the round trip).
pub async fn lock(
    db: &impl ConnectionTrait,
    audience: &str,
    section: Section,
) -> Result<(), AppError> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // One projection of a document at a time, whatever its generation (a row lock would
        // not stop two projections from both starting the next generation).
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [format!("sync_documents/{audience}/{}", section.as_str()).into()],
        ))
        .await?;
    }
    Ok(())
}
