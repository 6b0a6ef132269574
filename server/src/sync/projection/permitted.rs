//! What each section document of a viewer should hold: the items [`crate::access`] permits
//! now, as the protocol's item schemas, for the whole section or the items a write named.

use crate::access::rules::PatientFacts;
use crate::access::slice::{self, SectionItems};
use crate::access::{Section as AccessSection, Viewer};
use crate::error::AppError;
use crate::record::reads;
use crate::sync::services;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use std::collections::BTreeSet;
use sync_protocol::Section;
use sync_protocol::items::{self, Items};
use sync_protocol::schema::{DocumentItem, ProfileItem, RecordItem, ResultItem};
use uuid::Uuid;
fn to_items<T: serde::Serialize>(
    rows: impl IntoIterator<Item = (String, T)>,
) -> Result<Items, AppError> {
    rows.into_iter()
        .map(|(id, item)| Ok((id, items::fields_of(&item).map_err(AppError::internal)?)))
        .collect()
}

/// The items of `section` the viewer may see at `now`, or `None` when the viewer may see nothing
/// of it (the document is then removed from the device). The service sections are built from
/// the services' own read functions ([`crate::sync::services`]). The personal document is written by
/// devices ([`crate::sync::personal`]) and is never projected: it is `None` here.
pub async fn permitted(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    section: Section,
    now: DateTime<Utc>,
) -> Result<Option<Items>, AppError> {
    permitted_in(db, viewer, facts, section, None, now).await
}

/// [`permitted`], of the items among `ids` only: what a write that named the items it changed
/// has the projector read. `None` when the viewer may see nothing of the section, or the
/// section's items are not read one by one (only the record, results and documents are): the
/// caller then projects the whole section.
pub async fn permitted_among(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    section: Section,
    ids: &BTreeSet<Uuid>,
    now: DateTime<Utc>,
) -> Result<Option<Items>, AppError> {
    if !ITEM_SECTIONS.contains(&section) {
        return Ok(None);
    }
    permitted_in(db, viewer, facts, section, Some(ids), now).await
}

/// The sections whose items the projector may read and write one by one.
pub const ITEM_SECTIONS: [Section; 3] = [Section::Record, Section::Results, Section::Documents];

async fn permitted_in(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    facts: &PatientFacts,
    section: Section,
    ids: Option<&BTreeSet<Uuid>>,
    now: DateTime<Utc>,
) -> Result<Option<Items>, AppError> {
    let today = now.date_naive();
    match section {
        Section::Profile => {
            let profile = reads::profile(viewer, facts, today);
            let capabilities = profile.capabilities;
            let profile = ProfileItem {
                given_name: profile.given_name,
                family_name: profile.family_name,
                relationship: profile.relationship,
                acting_as_proxy: profile.acting_as_proxy,
                ods_code: profile.ods_code,
                practice_name: profile.practice_name,
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
                    slice::section_among(db, viewer, facts, coded, ids, today).await?
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
                slice::section_among(db, viewer, facts, AccessSection::Results, ids, today).await?
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
                        filed_at: r.released_at.map(services::instant),
                        clinician_comment: r.clinician_comment,
                    },
                )
            }))?))
        }
        Section::Documents => {
            let Some(SectionItems::Documents(documents)) =
                slice::section_among(db, viewer, facts, AccessSection::Documents, ids, today)
                    .await?
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
                        filed_at: d.released_at.map(services::instant),
                        clinician_comment: d.clinician_comment,
                    },
                )
            }))?))
        }
        Section::Appointments => services::appointments(db, viewer, facts, now).await,
        Section::Medications => services::medications(db, viewer, facts, now).await,
        Section::Messages => services::messages(db, viewer, facts, now).await,
        // Written by devices, not projected here.
        Section::Personal => Ok(None),
    }
}

/// The serde name of an enumeration value (`high`, `outpatient_letter`, …).
pub(in crate::sync) fn enum_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}
