//! Projection: the items of a section document are exactly what [`crate::access`] permits for
//! the viewer now. The stored document is reconciled to them with a minimal diff; when an item
//! the document holds is no longer permitted (retracted, hidden, out of scope, a narrowed grant,
//! an age rule) or the history grows past the threshold, a new generation starts from the
//! permitted items alone, so nothing that must disappear stays in the history devices receive.

use crate::access::rules::{self, PatientFacts};
use crate::access::slice::{self, SectionItems};
use crate::access::{Section as AccessSection, Viewer};
use crate::db::entities::sync_documents;
use crate::error::AppError;
use automerge::AutoCommit;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use sync_protocol::Section;
use sync_protocol::items::{self, Items};
use sync_protocol::schema::{DocumentItem, ProfileItem, RecordItem, ResultItem};

/// Changes a document may accumulate before a new generation starts (history stays short).
pub const HISTORY_THRESHOLD: usize = 10_000;

/// The audience key of a viewer: one per patient viewing themself, one per proxy grant.
pub fn audience(viewer: &Viewer, facts: &PatientFacts) -> String {
    match viewer {
        Viewer::Patient { .. } => format!("self:{}", facts.patient.id),
        Viewer::Proxy { grant, .. } => format!("grant:{}", grant.id),
        Viewer::Staff { staff_id, .. } => format!("staff:{staff_id}:{}", facts.patient.id),
    }
}

/// The wire name of a section.
pub fn section_name(section: Section) -> &'static str {
    match section {
        Section::Profile => "profile",
        Section::Record => "record",
        Section::Results => "results",
        Section::Documents => "documents",
        Section::Appointments => "appointments",
        Section::Medications => "medications",
        Section::Messages => "messages",
        Section::Personal => "personal",
    }
}

fn to_items<T: serde::Serialize>(
    rows: impl IntoIterator<Item = (String, T)>,
) -> Result<Items, AppError> {
    rows.into_iter()
        .map(|(id, item)| Ok((id, items::fields_of(&item).map_err(AppError::internal)?)))
        .collect()
}

/// The items of `section` the viewer may see now, or `None` when the viewer may see nothing of
/// it (the document is then removed from the device). Sections not yet served are `None`.
pub async fn permitted(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    section: Section,
    today: NaiveDate,
) -> Result<Option<Items>, AppError> {
    match section {
        Section::Profile => {
            let capabilities = rules::capabilities(viewer, facts, today);
            let relationship = match viewer {
                Viewer::Proxy { grant, .. } => grant.relationship.clone(),
                _ => "self".to_owned(),
            };
            let profile = ProfileItem {
                given_name: facts.patient.given_name.clone(),
                family_name: facts.patient.family_name.clone(),
                relationship,
                acting_as_proxy: matches!(viewer, Viewer::Proxy { .. }),
                ods_code: facts.practice.ods_code.clone(),
                practice_name: facts.practice.name.clone(),
                record_sections: capabilities
                    .record_sections
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                appointments: capabilities.appointments,
                prescriptions: capabilities.prescriptions,
                messages: capabilities.messages,
            };
            Ok(Some(to_items([("profile".to_owned(), profile)])?))
        }
        Section::Record => {
            let mut any = false;
            let mut all = Items::new();
            for coded in [
                AccessSection::Allergies,
                AccessSection::Medications,
                AccessSection::Immunisations,
                AccessSection::Problems,
                AccessSection::Consultations,
            ] {
                if let Some(SectionItems::Entries(entries)) =
                    slice::section(db, viewer, facts, coded, today).await?
                {
                    any = true;
                    all.extend(to_items(entries.into_iter().map(|e| {
                        (
                            e.id.to_string(),
                            RecordItem {
                                section: coded.as_str().to_owned(),
                                snomed_code: e.snomed_code,
                                term: e.term,
                                effective_date: e.effective_date.to_string(),
                                end_date: e.end_date.map(|d| d.to_string()),
                                detail: e.detail,
                                author: e.author,
                            },
                        )
                    }))?);
                }
            }
            Ok(any.then_some(all))
        }
        Section::Results => {
            let Some(SectionItems::Results(results)) =
                slice::section(db, viewer, facts, AccessSection::Results, today).await?
            else {
                return Ok(None);
            };
            Ok(Some(to_items(results.into_iter().map(|r| {
                (
                    r.id.to_string(),
                    ResultItem {
                        test_code: r.test_code,
                        test_name: r.test_name,
                        value: r.value,
                        numeric_value: r.numeric_value,
                        unit: r.unit,
                        range_low: r.range_low,
                        range_high: r.range_high,
                        range_text: r.range_text,
                        abnormal_flag: enum_name(&r.abnormal_flag),
                        requester: r.requester,
                        effective_date: r.effective_date.to_string(),
                        filed_at: r.released_at.map(|t| t.to_rfc3339()),
                        clinician_comment: r.clinician_comment,
                    },
                )
            }))?))
        }
        Section::Documents => {
            let Some(SectionItems::Documents(documents)) =
                slice::section(db, viewer, facts, AccessSection::Documents, today).await?
            else {
                return Ok(None);
            };
            Ok(Some(to_items(documents.into_iter().map(|d| {
                (
                    d.id.to_string(),
                    DocumentItem {
                        document_type: enum_name(&d.document_type),
                        title: d.title,
                        author_organisation: d.author_organisation,
                        effective_date: d.effective_date.to_string(),
                        content_type: d.content_type,
                        size_bytes: d.size_bytes,
                        filed_at: d.released_at.map(|t| t.to_rfc3339()),
                        clinician_comment: d.clinician_comment,
                    },
                )
            }))?))
        }
        // Served once their services exist; until then a device receives nothing for them.
        Section::Appointments | Section::Medications | Section::Messages | Section::Personal => {
            Ok(None)
        }
    }
}

/// The serde name of an enumeration value (`high`, `outpatient_letter`, …).
fn enum_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// A projected document, ready to sync.
pub struct Projected {
    /// Its generation.
    pub generation: u32,
    /// The document.
    pub doc: AutoCommit,
}

/// Loads the audience's current document of `section`, makes it equal to `wanted` (starting a
/// new generation when something must disappear or history is long) and stores it.
pub async fn project(
    db: &impl ConnectionTrait,
    audience: &str,
    section: Section,
    wanted: &Items,
    now: DateTime<Utc>,
) -> Result<Projected, AppError> {
    let name = section_name(section);
    let latest = sync_documents::Entity::find()
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::Section.eq(name))
        .order_by_desc(sync_documents::Column::Generation)
        .one(db)
        .await?;
    let Some(latest) = latest else {
        let doc = fresh(wanted)?;
        store(db, audience, name, 0, &doc, now, true).await?;
        return Ok(Projected { generation: 0, doc });
    };
    let mut doc = AutoCommit::load(&latest.document).map_err(AppError::internal)?;
    let current = items::read_items(&doc).map_err(AppError::internal)?;
    let generation = u32::try_from(latest.generation).unwrap_or(0);
    let must_forget = current.keys().any(|id| !wanted.contains_key(id));
    let history = doc.get_changes(&[]).len();
    if must_forget || history > HISTORY_THRESHOLD {
        // Everything the old generation held stays in its history: start afresh.
        sync_documents::Entity::update_many()
            .col_expr(sync_documents::Column::SupersededAt, Expr::value(now))
            .filter(sync_documents::Column::Audience.eq(audience))
            .filter(sync_documents::Column::Section.eq(name))
            .filter(sync_documents::Column::SupersededAt.is_null())
            .exec(db)
            .await?;
        let doc = fresh(wanted)?;
        store(db, audience, name, generation + 1, &doc, now, true).await?;
        return Ok(Projected {
            generation: generation + 1,
            doc,
        });
    }
    if items::reconcile(&mut doc, wanted).map_err(AppError::internal)? > 0 {
        store(db, audience, name, generation, &doc, now, false).await?;
    }
    Ok(Projected { generation, doc })
}

fn fresh(wanted: &Items) -> Result<AutoCommit, AppError> {
    let mut doc = AutoCommit::new();
    items::reconcile(&mut doc, wanted).map_err(AppError::internal)?;
    Ok(doc)
}

async fn store(
    db: &impl ConnectionTrait,
    audience: &str,
    section: &str,
    generation: u32,
    doc: &AutoCommit,
    now: DateTime<Utc>,
    insert: bool,
) -> Result<(), AppError> {
    let mut doc = doc.clone();
    let change_count = i32::try_from(doc.get_changes(&[]).len()).unwrap_or(i32::MAX);
    let row = sync_documents::ActiveModel {
        audience: Set(audience.to_owned()),
        section: Set(section.to_owned()),
        generation: Set(i32::try_from(generation).unwrap_or(i32::MAX)),
        document: Set(doc.save()),
        change_count: Set(change_count),
        superseded_at: Set(None),
        updated_at: Set(now),
    };
    if insert {
        row.insert(db).await?;
    } else {
        row.update(db).await?;
    }
    Ok(())
}
