//! `POST /api/v1/integration/fhir`: a FHIR R4 Bundle from the clinical system, mapped onto the
//! same domain functions as the JSON import (`record::import` for patients, coded entries,
//! results, access codes and letters; `appointments` for slots; `prescriptions` for courses),
//! all in one transaction.
//!
//! - **Bounded first** ([`super::bundle`]): size, entry count and attachment sizes are checked
//!   before anything is parsed or decoded.
//! - **Every error at once.** Problems of the Bundle's shape, of each resource's mapping and of
//!   the domain functions' own checks are collected together; each names its resource and
//!   element as FHIRPath. Any problem rolls the whole Bundle back.
//! - **Idempotent by identifier.** Each resource's first business identifier is the clinical
//!   system's id (`external_id`) that the domain functions upsert by, so sending a Bundle
//!   again changes nothing.
//! - **References resolve within the Bundle**: a resource's patient (and a slot's schedule)
//!   must be an entry of the same Bundle.

use super::bundle::{Bundle, Entry, Resource, Unreadable};
use super::model::{
    AllergyIntolerance, Annotation, CodeableConcept, Coding, Condition, DocumentReference,
    Encounter, Immunization, MedicationRequest, MedicationStatement, Observation, Patient,
    Reference, Schedule, Slot,
};
use super::outcome::{Issue, Refusal};
use super::{DMD_SYSTEM, NHS_NUMBER_SYSTEM, SNOMED_SYSTEM, ext};
use crate::access::PracticeActor;
use crate::access::rules::ACCESS_CODES;
use crate::appointments::{self, NewSlot, PublishOutcome, PublishSlots};
use crate::error::ErrorCode;
use crate::identity::integration::IntegrationClient;
use crate::prescriptions::{self, CourseImport, CourseKind, CoursesImport};
use crate::record::import::{
    self, AccessCodeImport, DocumentImport, EntryImport, ImportBatch, ImportOutcome, PatientImport,
    ResultImport,
};
use crate::validate::{InvalidField, NhsNumber, parse_date};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;

mod mapping;
use mapping::*;
mod mapper;
use mapper::*;
mod entries;
mod results;
mod services;

/// Where each field of a domain item came from: the resource's FHIRPath and, per field name
/// of the domain function, the element it was read from.
#[derive(Debug, Clone, Default)]
struct Origin {
    resource: String,
    elements: Vec<(&'static str, String)>,
}

impl Origin {
    fn new(entry: &Entry) -> Self {
        Self {
            resource: entry.path(),
            elements: Vec::new(),
        }
    }

    /// Records that domain field `field` was read from `element` (relative to the resource).
    fn at(&mut self, field: &'static str, element: impl Into<String>) {
        self.elements.push((field, element.into()));
    }

    fn path(&self, element: &str) -> String {
        format!("{}.{element}", self.resource)
    }

    /// FHIRPath for a domain field: its element when known, else the resource.
    fn expression(&self, field: &str) -> String {
        self.elements
            .iter()
            .find(|(name, _)| *name == field)
            .map_or_else(|| self.resource.clone(), |(_, element)| self.path(element))
    }
}

/// The Bundle mapped onto the domain functions' inputs, each item with its origin.
#[derive(Default)]
struct Mapped {
    batch: ImportBatch,
    patients: Vec<Origin>,
    entries: Vec<Origin>,
    results: Vec<Origin>,
    access_codes: Vec<Origin>,
    documents: Vec<(DocumentImport, Origin)>,
    slots: Vec<NewSlot>,
    slot_origins: Vec<Origin>,
    courses: Vec<CourseImport>,
    course_origins: Vec<Origin>,
    issues: Vec<Issue>,
}

/// What an imported Bundle did, as lines of the summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// One line per kind of item, e.g. `patients: 1 created, 0 updated, 0 unchanged`.
    pub lines: Vec<String>,
}

/// Reads a Bundle and maps it onto the domain functions' inputs.
fn read(body: &[u8]) -> Result<Mapped, Refusal> {
    match Bundle::read(body) {
        Ok(bundle) => Ok(Mapped::from_bundle(&bundle)),
        Err(Unreadable::Malformed(issue)) => {
            Err(Refusal::whole(ErrorCode::MalformedRequest, issue))
        }
        Err(Unreadable::TooManyEntries(issue)) => {
            Err(Refusal::whole(ErrorCode::PayloadTooLarge, issue))
        }
    }
}

/// What [`import_bundle`] finds wrong with a Bundle before the domain functions see it, with no
/// database: the problems of its shape and of each resource's mapping, or why it could not be
/// read at all. What the clinical system may send is fuzzed through this (`fuzz/`).
pub fn check_bundle(body: &[u8]) -> Result<Vec<Issue>, Refusal> {
    read(body).map(|mapped| mapped.issues)
}

/// Imports a Bundle for the key's practice in one transaction, or refuses it whole.
pub async fn import_bundle(
    db: &DatabaseConnection,
    client: IntegrationClient,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Imported, Refusal> {
    let mut mapped = read(body)?;
    let mut issues = std::mem::take(&mut mapped.issues);
    let txn = crate::db::begin_write(db).await?;
    let mut imported = Imported::default();
    let batch_origins = [
        ("patients", &mapped.patients),
        ("entries", &mapped.entries),
        ("results", &mapped.results),
        ("access_codes", &mapped.access_codes),
    ];
    match import::import_batch_in(&txn, client, std::mem::take(&mut mapped.batch), now).await {
        Ok(summary) => {
            for (name, counts) in [
                ("patients", summary.patients),
                ("coded entries", summary.entries),
                ("results", summary.results),
                ("record-access codes", summary.access_codes),
            ] {
                imported.lines.push(format!(
                    "{name}: {} created, {} updated, {} unchanged",
                    counts.created, counts.updated, counts.unchanged
                ));
            }
        }
        Err(error) if error.code() == ErrorCode::ValidationFailed => {
            domain_issues(&mut issues, error.invalid_params(), |name| {
                listed(name, &batch_origins)
            });
        }
        Err(error) => return Err(error.into()),
    }

    let mut documents = [0u32; 3];
    for (document, origin) in std::mem::take(&mut mapped.documents) {
        match import::import_document_in(&txn, client, document, now).await {
            Ok(done) => {
                documents[match done.outcome {
                    ImportOutcome::Created => 0,
                    ImportOutcome::Updated => 1,
                    ImportOutcome::Unchanged => 2,
                }] += 1;
            }
            Err(error) if error.code() == ErrorCode::ValidationFailed => {
                domain_issues(&mut issues, error.invalid_params(), |name| {
                    Some(origin.expression(name))
                });
            }
            Err(error)
                if matches!(
                    error.code(),
                    ErrorCode::DocumentTooLarge | ErrorCode::UnsupportedDocumentType
                ) =>
            {
                let code = if error.code() == ErrorCode::DocumentTooLarge {
                    "document_too_large"
                } else {
                    "unsupported_document_type"
                };
                issues.push(Issue::new(
                    origin.expression("content_base64"),
                    code,
                    error.to_string(),
                ));
            }
            Err(error) => return Err(error.into()),
        }
    }
    imported.lines.push(format!(
        "documents: {} created, {} updated, {} unchanged",
        documents[0], documents[1], documents[2]
    ));

    if !mapped.slots.is_empty() {
        let actor = PracticeActor::integration(client.key_id, client.practice_id);
        let publication = PublishSlots {
            slots: std::mem::take(&mut mapped.slots),
        };
        match appointments::publish_slots_in(&txn, &actor, &publication, now).await {
            Ok(published) => {
                let count = |outcome| {
                    published
                        .slots
                        .iter()
                        .filter(|s| s.outcome == outcome)
                        .count()
                };
                imported.lines.push(format!(
                    "slots: {} created, {} updated, {} unchanged",
                    count(PublishOutcome::Created),
                    count(PublishOutcome::Updated),
                    count(PublishOutcome::Unchanged)
                ));
            }
            Err(error) if error.code() == ErrorCode::ValidationFailed => {
                domain_issues(&mut issues, error.invalid_params(), |name| {
                    listed(name, &[("slots", &mapped.slot_origins)])
                });
            }
            Err(error) => return Err(error.into()),
        }
    }

    if !mapped.courses.is_empty() {
        let feed = CoursesImport {
            courses: std::mem::take(&mut mapped.courses),
        };
        match prescriptions::import_courses_in(&txn, client, feed, now).await {
            Ok(done) => imported.lines.push(format!(
                "courses: {} created, {} updated",
                done.created, done.updated
            )),
            Err(error) if error.code() == ErrorCode::ValidationFailed => {
                domain_issues(&mut issues, error.invalid_params(), |name| {
                    listed(name, &[("courses", &mapped.course_origins)])
                });
            }
            Err(error) => return Err(error.into()),
        }
    }

    if !issues.is_empty() {
        // Dropping the transaction rolls back whatever the stages that passed wrote.
        drop(txn);
        return Err(Refusal::invalid(issues));
    }
    txn.commit().await?;
    Ok(imported)
}

/// The domain functions' invalid fields as issues at the elements they were read from.
fn domain_issues(
    issues: &mut Vec<Issue>,
    fields: &[InvalidField],
    origin: impl Fn(&str) -> Option<String>,
) {
    for field in fields {
        // Every patient reference was resolved within the Bundle before, so the domain's
        // "unknown patient" only echoes a patient that failed its own checks.
        if field.code == "unknown_patient" {
            continue;
        }
        let expression = origin(&field.name).unwrap_or_else(|| "Bundle".to_owned());
        issues.push(Issue::new(expression, field.code, field.reason.clone()));
    }
}

/// The FHIRPath of a domain field named `list[i].field` (or a whole list), from the origins
/// of each list.
fn listed(name: &str, lists: &[(&str, &Vec<Origin>)]) -> Option<String> {
    let (list, rest) = name.split_once('[')?;
    let (index, field) = rest.split_once(']')?;
    let field = field.trim_start_matches('.');
    let origins = lists.iter().find(|(n, _)| *n == list)?.1;
    let origin = origins.get(index.parse::<usize>().ok()?)?;
    Some(origin.expression(field))
}
