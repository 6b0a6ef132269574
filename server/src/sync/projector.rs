//! The projector: projection on write. When the projection outbox says a patient's data
//! changed, every stored section document about that patient (the patient's own and each
//! proxy grant's) is made equal again to what the access module permits, and stored with its
//! heads; a document whose audience or section is no longer permitted is ended, so its devices
//! are told `removed`. The sync path then answers from stored heads and bytes.
//!
//! The relay on each node claims outbox rows ([`super::live::claim`], PostgreSQL:
//! `FOR UPDATE SKIP LOCKED`) and projects their patients in the claiming transaction, one
//! savepoint per patient: a patient whose projection fails is logged and left as it was stored
//! until its next change (or `gp-online sync rebuild`). Projecting one document locks it
//! first ([`projection::project`]), so two nodes never write the same document at once and the
//! second finds nothing to do. A device's frame about a patient with unclaimed rows projects
//! that patient before it is answered ([`project_if_pending`]), so what a device receives
//! already shows a write it (or the REST API) has just made, or a date boundary that has come.
//! After projecting, the patient's next date boundary is stored ([`calendar::keep`]).
//! Documents are created on first request, not here.

use super::calendar;
use super::projection::{self, audience, end_section, patient_audiences};
use crate::access::{slice, viewer};
use crate::db::entities::{projection_outbox, sync_documents};
use crate::error::AppError;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};
use std::collections::{BTreeMap, BTreeSet};
use sync_protocol::Section;
use uuid::Uuid;

/// What one outbox row names: a section (none: every section) and an item of it (none: the
/// whole section).
pub type Mark<'a> = (Option<&'a str>, Option<Uuid>);

/// What a patient's outbox rows say changed: by section, the items a write named, or the whole
/// section.
#[derive(Debug, PartialEq)]
pub struct Marks(BTreeMap<Section, Option<BTreeSet<Uuid>>>);

impl Marks {
    /// The marks of a patient's outbox rows, each its section and item: `None` for every
    /// section, when any row names none (a change no single section owns: an access change, a
    /// date boundary) or one this server does not know. A row without an item marks its whole
    /// section.
    pub fn of<'a>(rows: impl IntoIterator<Item = Mark<'a>>) -> Option<Self> {
        let mut marks = BTreeMap::new();
        for (name, item) in rows {
            let section = Section::from_name(name?)?;
            let marked = marks
                .entry(section)
                .or_insert_with(|| Some(BTreeSet::new()));
            match (marked.as_mut(), item) {
                (Some(items), Some(item)) => {
                    items.insert(item);
                }
                _ => *marked = None,
            }
        }
        Some(Self(marks))
    }

    /// What is marked of `section`: nothing (`None`), the whole section (`Some(None)`) or the
    /// items named (`Some(Some(items))`).
    fn of_section(&self, section: Section) -> Option<Option<&BTreeSet<Uuid>>> {
        self.0.get(&section).map(Option::as_ref)
    }
}

/// Projects the stored section documents about `patient_id` that `marks` name (every section
/// when `None`), within the caller's transaction; returns how many documents were looked at. A
/// write marks only the sections it changed (`outbox::mark_dirty`), so a new record entry does
/// not re-read the patient's appointments or messages; one that names the items it changed
/// (`outbox::mark_items_dirty`) has only those items read and written, unless one of them must
/// leave the document (then the whole section is projected, and starts a new generation).
pub async fn project_patient(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
    marks: Option<&Marks>,
    history_threshold: usize,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let keys = patient_audiences(db, patient_id).await?;
    // Which documents exist, not what they hold: the projection reads a document only when
    // its items changed.
    let rows: Vec<(String, String)> = sync_documents::Entity::find()
        .select_only()
        .column(sync_documents::Column::Audience)
        .column(sync_documents::Column::Section)
        .filter(sync_documents::Column::Audience.is_in(keys))
        .filter(sync_documents::Column::SupersededAt.is_null())
        .into_tuple()
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let today = now.date_naive();
    let facts = slice::facts(db, patient_id).await?;
    let viewers = match &facts {
        Some(facts) => viewer::audiences(db, facts, today)
            .await?
            .into_iter()
            .map(|viewer| (audience(&viewer, facts), viewer))
            .collect(),
        None => BTreeMap::new(),
    };
    let mut projected = 0;
    for (audience, name) in rows {
        let Some(section) = Section::from_name(&name).filter(|section| !section.device_writable())
        else {
            continue; // The personal document is written by devices.
        };
        let items = match marks.map(|marks| marks.of_section(section)) {
            Some(None) => continue,
            Some(Some(items)) => items,
            None => None,
        };
        projected += 1;
        projection::lock(db, &audience, section).await?;
        let (Some(viewer), Some(facts)) = (viewers.get(&audience), &facts) else {
            end_section(db, &audience, &name, now).await?;
            continue;
        };
        if let Some(items) = items
            && let Some(named) =
                projection::permitted_among(db, viewer, facts, section, items, now).await?
            && projection::project_items(
                db,
                &audience,
                section,
                items,
                &named,
                history_threshold,
                now,
            )
            .await?
            .is_some()
        {
            continue;
        }
        match projection::permitted(db, viewer, facts, section, now).await? {
            Some(wanted) => {
                projection::project(db, &audience, section, &wanted, history_threshold, now)
                    .await?;
            }
            None => end_section(db, &audience, &name, now).await?,
        }
    }
    // As projected now: the next day on which these documents change with nothing written.
    calendar::keep(db, patient_id, facts.as_ref(), now).await?;
    Ok(projected)
}

/// Projects `patient_id` now if a write about them is still waiting for the relay, or their
/// date boundary has come (then marked in the outbox too, so the relay announces the change to
/// live connections, as the date-boundary job would).
pub async fn project_if_pending(
    db: &DatabaseConnection,
    patient_id: Uuid,
    history_threshold: usize,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let pending: Vec<(Option<String>, Option<Uuid>)> = projection_outbox::Entity::find()
        .select_only()
        .column(projection_outbox::Column::Section)
        .column(projection_outbox::Column::ItemId)
        .filter(projection_outbox::Column::ClaimedUntil.is_null())
        .filter(projection_outbox::Column::PatientId.eq(patient_id))
        .into_tuple()
        .all(db)
        .await?;
    let due = calendar::is_due(db, patient_id, now).await?;
    if pending.is_empty() && !due {
        return Ok(());
    }
    let txn = crate::db::begin_write(db).await?;
    let marks = if due {
        calendar::take_due(&txn, patient_id, now).await?;
        None
    } else {
        Marks::of(
            pending
                .iter()
                .map(|(section, item)| (section.as_deref(), *item)),
        )
    };
    project_patient(&txn, patient_id, marks.as_ref(), history_threshold, now).await?;
    txn.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_name_items_until_a_row_names_the_whole_section_or_no_section() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let marks = Marks::of([
            (Some("record"), Some(a)),
            (Some("record"), Some(b)),
            (Some("results"), Some(a)),
            (Some("results"), None),
            (Some("messages"), None),
        ])
        .unwrap();
        assert_eq!(
            marks.of_section(Section::Record),
            Some(Some(&BTreeSet::from([a, b])))
        );
        assert_eq!(marks.of_section(Section::Results), Some(None), "then whole");
        assert_eq!(marks.of_section(Section::Messages), Some(None));
        assert_eq!(marks.of_section(Section::Documents), None, "not marked");
        let whole_then_item = Marks::of([(Some("results"), None), (Some("results"), Some(a))]);
        assert_eq!(
            whole_then_item.unwrap().of_section(Section::Results),
            Some(None),
            "a whole section stays whole"
        );
        assert_eq!(Marks::of([(Some("record"), Some(a)), (None, None)]), None);
        assert_eq!(Marks::of([(Some("unknown"), Some(a))]), None);
    }
}
