//! Loads a patient's facts and items and keeps exactly those the rules permit. Items are read
//! per patient and section and filtered by the pure rules in [`super::rules`], so the REST API,
//! the sync projector and the tests all share one definition of "permitted".

use super::rules::{
    self, PatientFacts, Section, SectionAccess, Viewer, document_visible, entry_visible,
    result_visible,
};
use crate::db::entities::record_entries::RecordSection;
use crate::db::entities::{
    access_codes, accounts, documents, patients, practices, record_entries, results,
};
use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QueryTrait,
};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Loads the facts access depends on, or `None` when the patient does not exist.
pub async fn facts(
    db: &impl ConnectionTrait,
    patient_id: Uuid,
) -> Result<Option<PatientFacts>, DbErr> {
    // The patient, their practice and their first account in one query (a patient may have
    // more than one account; the earliest decides prospective access).
    let Some((patient, Some(practice), first_account)) = patients::Entity::find_by_id(patient_id)
        .find_also_related(practices::Entity)
        .find_also_related(accounts::Entity)
        .order_by_asc(accounts::Column::CreatedAt)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let codes = access_codes::Entity::find()
        .filter(access_codes::Column::PatientId.eq(patient_id))
        .all(db)
        .await?;
    let account_created_on = first_account.map(|account| account.created_at.date_naive());
    Ok(Some(PatientFacts {
        patient,
        practice,
        codes,
        account_created_on,
    }))
}

/// The permitted items of one section. Newest first, ties broken by id so the order never
/// depends on anything hidden.
#[derive(Debug, Clone, PartialEq)]
pub enum SectionItems {
    /// Coded entries.
    Entries(Vec<record_entries::Model>),
    /// Results.
    Results(Vec<results::Model>),
    /// Documents (metadata; bodies are fetched separately).
    Documents(Vec<documents::Model>),
}

/// The permitted slice of one section, or `None` when the viewer may see nothing of it.
pub async fn section(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    section: Section,
    today: NaiveDate,
) -> Result<Option<SectionItems>, DbErr> {
    section_among(db, viewer, facts, section, None, today).await
}

/// [`section`], of the items among `ids` only (all of them when `None`): what the projector
/// reads when a write named the items it changed. The same rules decide each item.
pub async fn section_among(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    section: Section,
    ids: Option<&BTreeSet<Uuid>>,
    today: NaiveDate,
) -> Result<Option<SectionItems>, DbErr> {
    let access = rules::section_access(viewer, facts, section, today);
    if access == SectionAccess::Denied {
        return Ok(None);
    }
    let patient_id = facts.patient.id;
    let items = match section {
        Section::Results => SectionItems::Results(
            results::Entity::find()
                .filter(results::Column::PatientId.eq(patient_id))
                .apply_if(ids, |query, ids| {
                    query.filter(results::Column::Id.is_in(ids.iter().copied()))
                })
                .order_by_desc(results::Column::EffectiveDate)
                .order_by_asc(results::Column::Id)
                .all(db)
                .await?
                .into_iter()
                .filter(|item| result_visible(access, item))
                .collect(),
        ),
        Section::Documents => SectionItems::Documents(
            documents::Entity::find()
                .filter(documents::Column::PatientId.eq(patient_id))
                .apply_if(ids, |query, ids| {
                    query.filter(documents::Column::Id.is_in(ids.iter().copied()))
                })
                .order_by_desc(documents::Column::EffectiveDate)
                .order_by_asc(documents::Column::Id)
                .all(db)
                .await?
                .into_iter()
                .filter(|item| document_visible(access, item))
                .collect(),
        ),
        coded => SectionItems::Entries(
            record_entries::Entity::find()
                .filter(record_entries::Column::PatientId.eq(patient_id))
                .filter(record_entries::Column::Section.eq(entry_section(coded)))
                .apply_if(ids, |query, ids| {
                    query.filter(record_entries::Column::Id.is_in(ids.iter().copied()))
                })
                .order_by_desc(record_entries::Column::EffectiveDate)
                .order_by_asc(record_entries::Column::Id)
                .all(db)
                .await?
                .into_iter()
                .filter(|item| entry_visible(access, item))
                .collect(),
        ),
    };
    Ok(Some(items))
}

fn entry_section(section: Section) -> RecordSection {
    match section {
        Section::Allergies => RecordSection::Allergies,
        Section::Medications => RecordSection::Medications,
        Section::Immunisations => RecordSection::Immunisations,
        Section::Problems => RecordSection::Problems,
        // Results and documents have their own tables; consultations are the remaining case.
        Section::Consultations | Section::Results | Section::Documents => {
            RecordSection::Consultations
        }
    }
}

/// One permitted document, or `None` (absent, not this patient's, or not permitted).
pub async fn document(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    document_id: Uuid,
    today: NaiveDate,
) -> Result<Option<documents::Model>, DbErr> {
    let access = rules::section_access(viewer, facts, Section::Documents, today);
    let document = documents::Entity::find_by_id(document_id)
        .filter(documents::Column::PatientId.eq(facts.patient.id))
        .one(db)
        .await?;
    Ok(document.filter(|d| document_visible(access, d)))
}
