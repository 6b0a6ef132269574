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
use crate::appointments::{self, NewSlot, PracticeActor, PublishOutcome, PublishSlots};
use crate::error::ErrorCode;
use crate::identity::integration::IntegrationClient;
use crate::prescriptions::{self, CourseImport, CourseKind, CoursesImport};
use crate::record::import::{
    self, ACCESS_CODES, AccessCodeImport, DocumentImport, EntryImport, ImportBatch, ImportOutcome,
    PatientImport, ResultImport,
};
use crate::validate::{InvalidField, NhsNumber, parse_date};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;

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

/// Imports a Bundle for the key's practice in one transaction, or refuses it whole.
pub async fn import_bundle(
    db: &DatabaseConnection,
    client: IntegrationClient,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Imported, Refusal> {
    let bundle = match Bundle::read(body) {
        Ok(bundle) => bundle,
        Err(Unreadable::Malformed(issue)) => {
            return Err(Refusal::whole(ErrorCode::MalformedRequest, issue));
        }
        Err(Unreadable::TooManyEntries(issue)) => {
            return Err(Refusal::whole(ErrorCode::PayloadTooLarge, issue));
        }
    };
    let mut mapped = Mapped::from_bundle(&bundle);
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

// ---------------------------------------------------------------------------------------------
// Mapping
// ---------------------------------------------------------------------------------------------

/// The code of the first coding in one of `systems`, with its term (the coding's display, or
/// the concept's text), and the coding's position.
fn coded(concept: Option<&CodeableConcept>, systems: &[&str]) -> Option<(usize, String, String)> {
    let concept = concept?;
    concept.coding.iter().enumerate().find_map(|(k, coding)| {
        let system = coding.system.as_deref()?;
        if !systems.contains(&system) {
            return None;
        }
        let code = coding.code.clone()?;
        let term = coding
            .display
            .clone()
            .or_else(|| concept.text.clone())
            .unwrap_or_default();
        Some((k, code, term))
    })
}

/// The date of a FHIR `date` or `dateTime` (`YYYY-MM-DD`, or an RFC 3339 instant whose date as
/// written is taken). Partial dates (`YYYY`, `YYYY-MM`) are passed on to fail the full-date
/// check with the rest.
fn date_of(value: &str) -> String {
    let value = value.trim();
    match DateTime::parse_from_rfc3339(value) {
        Ok(_) => value.get(..10).unwrap_or(value).to_owned(),
        Err(_) => value.to_owned(),
    }
}

/// Notes joined as one free text.
fn notes(notes: &[Annotation]) -> Option<String> {
    let text: Vec<&str> = notes
        .iter()
        .map(|n| n.text.trim())
        .filter(|t| !t.is_empty())
        .collect();
    (!text.is_empty()).then(|| text.join("\n\n"))
}

/// A resource's first business identifier, which is the clinical system's id.
fn external_id(
    identifiers: &[super::model::Identifier],
    origin: &mut Origin,
    issues: &mut Vec<Issue>,
) -> String {
    match identifiers.iter().position(|i| i.value.is_some()) {
        Some(k) => {
            origin.at("external_id", format!("identifier[{k}].value"));
            identifiers[k].value.clone().unwrap_or_default()
        }
        None => {
            issues.push(Issue::new(
                origin.path("identifier"),
                "required",
                "a business identifier (the clinical system's id) is required",
            ));
            String::new()
        }
    }
}

/// A coded entry's parts, read from whichever resource it came from.
struct Coded<'a> {
    section: &'static str,
    identifiers: &'a [super::model::Identifier],
    patient: (Option<&'a Reference>, &'static str),
    code: (Option<&'a CodeableConcept>, &'static str, &'a [&'a str]),
    effective: Option<(&'a str, &'static str)>,
    end: Option<(&'a str, &'static str)>,
    detail: Option<(String, &'static str)>,
    author: Option<(Option<&'a Reference>, &'static str)>,
}

impl Mapped {
    fn from_bundle(bundle: &Bundle) -> Self {
        let mut mapped = Self {
            issues: bundle.issues.clone(),
            ..Self::default()
        };
        // Patients first: other resources refer to them by their external id.
        let mut patient_ids: HashMap<usize, String> = HashMap::new();
        for entry in &bundle.entries {
            if let Resource::Patient(patient) = &entry.resource
                && let Some(id) = mapped.patient(entry, patient)
            {
                patient_ids.insert(entry.index, id);
            }
        }
        let mapper = Mapper {
            bundle,
            patient_ids: &patient_ids,
        };
        for entry in &bundle.entries {
            match &entry.resource {
                Resource::Condition(c) => mapper.condition(&mut mapped, entry, c),
                Resource::AllergyIntolerance(a) => mapper.allergy(&mut mapped, entry, a),
                Resource::MedicationStatement(m) => mapper.statement(&mut mapped, entry, m),
                Resource::Immunization(i) => mapper.immunization(&mut mapped, entry, i),
                Resource::Encounter(e) => mapper.encounter(&mut mapped, entry, e),
                Resource::Observation(o) => mapper.observation(&mut mapped, entry, o),
                Resource::DocumentReference(d) => mapper.document(&mut mapped, entry, d),
                Resource::MedicationRequest(m) => mapper.course(&mut mapped, entry, m),
                Resource::Slot(s) => mapper.slot(&mut mapped, entry, s),
                Resource::Patient(_) | Resource::Schedule(_) | Resource::Named(_) => {}
            }
        }
        mapped
    }

    /// Maps a Patient; returns its external id.
    fn patient(&mut self, entry: &Entry, patient: &Patient) -> Option<String> {
        let mut origin = Origin::new(entry);
        let identifiers = &patient.common.identifier;
        let nhs = identifiers
            .iter()
            .position(|i| i.system.as_deref() == Some(NHS_NUMBER_SYSTEM));
        let nhs_number = match nhs {
            None => {
                self.issues.push(Issue::new(
                    origin.path("identifier"),
                    "required",
                    format!("an NHS number identifier (system {NHS_NUMBER_SYSTEM}) is required"),
                ));
                None
            }
            Some(k) => {
                let path = format!("identifier[{k}].value");
                let value = identifiers[k].value.clone().unwrap_or_default();
                match NhsNumber::parse(&value) {
                    Ok(number) => {
                        origin.at("nhs_number", path);
                        Some(number.to_string())
                    }
                    Err(invalid) => {
                        self.issues
                            .push(Issue::from_invalid(origin.path(&path), invalid));
                        None
                    }
                }
            }
        };
        // The clinical system's own id when it sends one, else the NHS number.
        let local = identifiers
            .iter()
            .enumerate()
            .find(|(_, i)| i.system.as_deref() != Some(NHS_NUMBER_SYSTEM) && i.value.is_some());
        let external_id = match local {
            Some((k, identifier)) => {
                origin.at("external_id", format!("identifier[{k}].value"));
                identifier.value.clone()
            }
            None => {
                if let Some(k) = nhs {
                    origin.at("external_id", format!("identifier[{k}].value"));
                }
                nhs_number.clone()
            }
        };
        let n = patient
            .name
            .iter()
            .position(|n| n.name_use.as_deref() == Some("official"))
            .unwrap_or(0);
        let name = patient.name.get(n);
        origin.at("given_name", format!("name[{n}].given"));
        origin.at("family_name", format!("name[{n}].family"));
        origin.at("date_of_birth", "birthDate");
        origin.at("sex", "gender");
        let (Some(external_id), Some(nhs_number)) = (external_id, nhs_number) else {
            return None;
        };
        self.batch.patients.push(PatientImport {
            external_id: external_id.clone(),
            nhs_number,
            given_name: name.map(|n| n.given.join(" ")).unwrap_or_default(),
            family_name: name.and_then(|n| n.family.clone()).unwrap_or_default(),
            date_of_birth: patient.birth_date.clone().unwrap_or_default(),
            sex: patient.gender.clone().unwrap_or_default(),
            access_level: None,
            record_access_from: None,
            competent: None,
            archived: patient.active.map(|active| !active),
        });
        self.patients.push(origin);
        Some(external_id)
    }
}

/// Maps the resources that refer to patients.
struct Mapper<'a> {
    bundle: &'a Bundle,
    patient_ids: &'a HashMap<usize, String>,
}

impl Mapper<'_> {
    /// The external id of the Bundle's Patient that `reference` points to.
    fn patient_of(
        &self,
        reference: Option<&Reference>,
        origin: &mut Origin,
        element: &'static str,
        issues: &mut Vec<Issue>,
    ) -> Option<String> {
        origin.at("patient_external_id", element);
        let path = origin.path(element);
        let target = self.bundle.follow(reference, &path, issues)?;
        if !matches!(target.resource, Resource::Patient(_)) {
            issues.push(Issue::new(
                format!("{path}.reference"),
                "unresolved_reference",
                "this reference must point to a Patient of the Bundle",
            ));
            return None;
        }
        // A Patient that failed its own checks has no id; its problems are already listed.
        self.patient_ids.get(&target.index).cloned()
    }

    fn display(
        &self,
        reference: Option<&Reference>,
        origin: &Origin,
        element: &str,
        issues: &mut Vec<Issue>,
    ) -> Option<String> {
        self.bundle
            .display(reference, &origin.path(element), issues)
    }

    fn entry(&self, mapped: &mut Mapped, entry: &Entry, parts: Coded<'_>) {
        let mut origin = Origin::new(entry);
        let issues = &mut mapped.issues;
        let external_id = external_id(parts.identifiers, &mut origin, issues);
        let patient = self.patient_of(parts.patient.0, &mut origin, parts.patient.1, issues);
        let (concept, element, systems) = parts.code;
        let (snomed_code, term) = match coded(concept, systems) {
            Some((k, code, term)) => {
                origin.at("snomed_code", format!("{element}.coding[{k}].code"));
                origin.at("term", format!("{element}.coding[{k}].display"));
                (code, term)
            }
            None => {
                issues.push(Issue::new(
                    origin.path(element),
                    "required",
                    format!("a coding in {} is required", systems.join(" or ")),
                ));
                (String::new(), String::new())
            }
        };
        let effective_date = match parts.effective {
            Some((value, element)) => {
                origin.at("effective_date", element);
                date_of(value)
            }
            None => String::new(),
        };
        let end_date = parts.end.map(|(value, element)| {
            origin.at("end_date", element);
            date_of(value)
        });
        let author = parts
            .author
            .and_then(|(reference, element)| self.display(reference, &origin, element, issues));
        let Some(patient_external_id) = patient else {
            return;
        };
        mapped.batch.entries.push(EntryImport {
            external_id,
            patient_external_id,
            section: parts.section.to_owned(),
            snomed_code,
            term,
            effective_date,
            end_date,
            detail: parts.detail.map(|(detail, element)| {
                origin.at("detail", element);
                detail
            }),
            author,
            hidden: false,
            hidden_from_proxies: false,
        });
        mapped.entries.push(origin);
    }

    fn condition(&self, mapped: &mut Mapped, entry: &Entry, c: &Condition) {
        let effective = c
            .onset_date_time
            .as_deref()
            .map(|v| (v, "onsetDateTime"))
            .or(c.recorded_date.as_deref().map(|v| (v, "recordedDate")));
        let author = if c.asserter.is_some() {
            (c.asserter.as_ref(), "asserter")
        } else {
            (c.recorder.as_ref(), "recorder")
        };
        self.entry(
            mapped,
            entry,
            Coded {
                section: "problems",
                identifiers: &c.common.identifier,
                patient: (c.subject.as_ref(), "subject"),
                code: (c.code.as_ref(), "code", &[SNOMED_SYSTEM]),
                effective,
                end: c
                    .abatement_date_time
                    .as_deref()
                    .map(|v| (v, "abatementDateTime")),
                detail: notes(&c.note).map(|d| (d, "note")),
                author: Some(author),
            },
        );
    }

    fn allergy(&self, mapped: &mut Mapped, entry: &Entry, a: &AllergyIntolerance) {
        let effective = a
            .onset_date_time
            .as_deref()
            .map(|v| (v, "onsetDateTime"))
            .or(a.recorded_date.as_deref().map(|v| (v, "recordedDate")));
        let end = ext::find(&a.common.extension, ext::ALLERGY_END)
            .and_then(|end| ext::find(&end.extension, "endDate"))
            .and_then(|date| date.value_date_time.as_deref())
            .map(|v| (v, "extension"));
        self.entry(
            mapped,
            entry,
            Coded {
                section: "allergies",
                identifiers: &a.common.identifier,
                patient: (a.patient.as_ref(), "patient"),
                code: (a.code.as_ref(), "code", &[SNOMED_SYSTEM, DMD_SYSTEM]),
                effective,
                end,
                detail: notes(&a.note).map(|d| (d, "note")),
                author: Some((a.recorder.as_ref(), "recorder")),
            },
        );
    }

    fn statement(&self, mapped: &mut Mapped, entry: &Entry, m: &MedicationStatement) {
        let period = m.effective_period.as_ref();
        let effective = period
            .and_then(|p| p.start.as_deref())
            .map(|v| (v, "effectivePeriod.start"))
            .or(m
                .effective_date_time
                .as_deref()
                .map(|v| (v, "effectiveDateTime")));
        let dosage: Vec<&str> = m.dosage.iter().filter_map(|d| d.text.as_deref()).collect();
        let detail = notes(&m.note);
        let detail = match (dosage.is_empty(), detail) {
            (true, detail) => detail,
            (false, None) => Some(dosage.join("\n")),
            (false, Some(note)) => Some(format!("{}\n\n{note}", dosage.join("\n"))),
        };
        self.entry(
            mapped,
            entry,
            Coded {
                section: "medications",
                identifiers: &m.common.identifier,
                patient: (m.subject.as_ref(), "subject"),
                code: (
                    m.medication_codeable_concept.as_ref(),
                    "medicationCodeableConcept",
                    &[DMD_SYSTEM, SNOMED_SYSTEM],
                ),
                effective,
                end: period
                    .and_then(|p| p.end.as_deref())
                    .map(|v| (v, "effectivePeriod.end")),
                detail: detail.map(|d| (d, "dosage")),
                author: Some((m.information_source.as_ref(), "informationSource")),
            },
        );
    }

    fn immunization(&self, mapped: &mut Mapped, entry: &Entry, i: &Immunization) {
        self.entry(
            mapped,
            entry,
            Coded {
                section: "immunisations",
                identifiers: &i.common.identifier,
                patient: (i.patient.as_ref(), "patient"),
                code: (
                    i.vaccine_code.as_ref(),
                    "vaccineCode",
                    &[SNOMED_SYSTEM, DMD_SYSTEM],
                ),
                effective: i
                    .occurrence_date_time
                    .as_deref()
                    .map(|v| (v, "occurrenceDateTime")),
                end: None,
                detail: notes(&i.note).map(|d| (d, "note")),
                author: i
                    .performer
                    .first()
                    .map(|p| (Some(&p.actor), "performer[0].actor")),
            },
        );
    }

    fn encounter(&self, mapped: &mut Mapped, entry: &Entry, e: &Encounter) {
        let period = e.period.as_ref();
        let detail = e
            .common
            .text
            .as_ref()
            .map(|narrative| super::narrative::to_text(&narrative.div))
            .filter(|text| !text.is_empty());
        self.entry(
            mapped,
            entry,
            Coded {
                section: "consultations",
                identifiers: &e.common.identifier,
                patient: (e.subject.as_ref(), "subject"),
                code: (e.encounter_type.first(), "type[0]", &[SNOMED_SYSTEM]),
                effective: period
                    .and_then(|p| p.start.as_deref())
                    .map(|v| (v, "period.start")),
                end: None,
                detail: detail.map(|d| (d, "text.div")),
                author: e
                    .participant
                    .first()
                    .map(|p| (p.individual.as_ref(), "participant[0].individual")),
            },
        );
    }

    fn observation(&self, mapped: &mut Mapped, entry: &Entry, o: &Observation) {
        let mut origin = Origin::new(entry);
        let issues = &mut mapped.issues;
        let external_id = external_id(&o.common.identifier, &mut origin, issues);
        let patient = self.patient_of(o.subject.as_ref(), &mut origin, "subject", issues);
        let (effective, element) = match (&o.effective_date_time, &o.effective_period) {
            (Some(value), _) => (date_of(value), "effectiveDateTime"),
            (None, Some(period)) => (
                period.start.as_deref().map(date_of).unwrap_or_default(),
                "effectivePeriod.start",
            ),
            (None, None) => (String::new(), "effective[x]"),
        };
        origin.at("effective_date", element);
        // The record-access codes of DOMAIN.md arrive as coded observations.
        if let Some((k, code, _)) = coded(o.code.as_ref(), &[SNOMED_SYSTEM])
            && ACCESS_CODES.contains(&code.as_str())
        {
            origin.at("snomed_code", format!("code.coding[{k}].code"));
            let recorded_at = o.issued.clone().or(o.effective_date_time.clone());
            origin.at(
                "recorded_at",
                if o.issued.is_some() {
                    "issued"
                } else {
                    "effectiveDateTime"
                },
            );
            let Some(patient_external_id) = patient else {
                return;
            };
            mapped.batch.access_codes.push(AccessCodeImport {
                external_id,
                patient_external_id,
                snomed_code: code,
                recorded_at: recorded_at.unwrap_or_default(),
            });
            mapped.access_codes.push(origin);
            return;
        }
        let code = o.code.as_ref();
        let first = code.and_then(|c| c.coding.iter().position(|c| c.code.is_some()));
        let test_code = match first {
            Some(k) => {
                origin.at("test_code", format!("code.coding[{k}].code"));
                code.and_then(|c| c.coding[k].code.clone())
                    .unwrap_or_default()
            }
            None => {
                issues.push(Issue::new(
                    origin.path("code"),
                    "required",
                    "the test needs a coding",
                ));
                String::new()
            }
        };
        origin.at("test_name", "code.text");
        let test_name = code
            .and_then(|c| {
                c.text
                    .clone()
                    .or_else(|| first.and_then(|k| c.coding[k].display.clone()))
            })
            .unwrap_or_default();
        let (value, numeric_value, unit) = if let Some(quantity) = &o.value_quantity {
            origin.at("value", "valueQuantity.value");
            origin.at("numeric_value", "valueQuantity.value");
            origin.at("unit", "valueQuantity.unit");
            (
                quantity.value.map(|v| v.to_string()).unwrap_or_default(),
                quantity.value,
                quantity.unit.clone().or(quantity.code.clone()),
            )
        } else if let Some(text) = &o.value_string {
            origin.at("value", "valueString");
            (text.clone(), None, None)
        } else if let Some(concept) = &o.value_codeable_concept {
            origin.at("value", "valueCodeableConcept");
            let text = concept.text.clone().or_else(|| {
                concept
                    .coding
                    .iter()
                    .find_map(|coding: &Coding| coding.display.clone())
            });
            (text.unwrap_or_default(), None, None)
        } else {
            origin.at("value", "value[x]");
            (String::new(), None, None)
        };
        let range = o.reference_range.first();
        origin.at("range_low", "referenceRange[0].low.value");
        origin.at("range_high", "referenceRange[0].high.value");
        origin.at("range_text", "referenceRange[0].text");
        let flag = o
            .interpretation
            .first()
            .and_then(|i| i.coding.first())
            .and_then(|c| c.code.as_deref());
        origin.at("abnormal_flag", "interpretation[0].coding[0].code");
        let requester = self.display(o.performer.first(), &origin, "performer[0]", issues);
        origin.at("requester", "performer[0]");
        let Some(patient_external_id) = patient else {
            return;
        };
        mapped.batch.results.push(ResultImport {
            external_id,
            patient_external_id,
            test_code,
            test_name,
            value,
            numeric_value,
            unit,
            range_low: range.and_then(|r| r.low.as_ref()).and_then(|q| q.value),
            range_high: range.and_then(|r| r.high.as_ref()).and_then(|q| q.value),
            range_text: range.and_then(|r| r.text.clone()),
            abnormal_flag: interpretation(flag).to_owned(),
            requester,
            effective_date: effective,
        });
        mapped.results.push(origin);
    }

    fn document(&self, mapped: &mut Mapped, entry: &Entry, d: &DocumentReference) {
        let mut origin = Origin::new(entry);
        let issues = &mut mapped.issues;
        let external_id = match d.master_identifier.as_ref().and_then(|i| i.value.clone()) {
            Some(id) => {
                origin.at("external_id", "masterIdentifier.value");
                id
            }
            None => external_id(&d.common.identifier, &mut origin, issues),
        };
        let patient = self.patient_of(d.subject.as_ref(), &mut origin, "subject", issues);
        let snomed = coded(d.document_type.as_ref(), &[SNOMED_SYSTEM]).map(|(_, code, _)| code);
        origin.at("document_type", "type");
        let document_type = super::document_type_of(snomed.as_deref());
        origin.at("title", "description");
        let title = d
            .description
            .clone()
            .or_else(|| d.content.first().and_then(|c| c.attachment.title.clone()))
            .or_else(|| d.document_type.as_ref().and_then(|t| t.text.clone()))
            .unwrap_or_default();
        let author = if d.custodian.is_some() {
            self.display(d.custodian.as_ref(), &origin, "custodian", issues)
        } else {
            self.display(d.author.first(), &origin, "author[0]", issues)
        };
        origin.at("author_organisation", "custodian");
        let period_start = d
            .context
            .as_ref()
            .and_then(|c| c.period.as_ref())
            .and_then(|p| p.start.as_deref());
        let effective = match (period_start, d.date.as_deref()) {
            (Some(start), _) => {
                origin.at("effective_date", "context.period.start");
                date_of(start)
            }
            (None, Some(date)) => {
                origin.at("effective_date", "date");
                date_of(date)
            }
            (None, None) => {
                origin.at("effective_date", "date");
                String::new()
            }
        };
        origin.at("content_base64", "content[0].attachment.data");
        let data = d.content.first().and_then(|c| c.attachment.data.clone());
        if data.is_none() {
            issues.push(Issue::new(
                origin.path("content[0].attachment.data"),
                "required",
                "the attachment must carry its content as base64 data",
            ));
        }
        let (Some(patient_external_id), Some(content_base64)) = (patient, data) else {
            return;
        };
        mapped.documents.push((
            DocumentImport {
                external_id,
                patient_external_id,
                document_type: document_type.to_owned(),
                title,
                author_organisation: author,
                effective_date: effective,
                content_base64,
            },
            origin,
        ));
    }

    fn course(&self, mapped: &mut Mapped, entry: &Entry, m: &MedicationRequest) {
        let mut origin = Origin::new(entry);
        let issues = &mut mapped.issues;
        let external_id = external_id(&m.common.identifier, &mut origin, issues);
        let patient = self.patient_of(m.subject.as_ref(), &mut origin, "subject", issues);
        let (snomed_code, medication) = match coded(
            m.medication_codeable_concept.as_ref(),
            &[DMD_SYSTEM, SNOMED_SYSTEM],
        ) {
            Some((k, code, term)) => {
                origin.at(
                    "snomed_code",
                    format!("medicationCodeableConcept.coding[{k}].code"),
                );
                origin.at(
                    "medication",
                    format!("medicationCodeableConcept.coding[{k}].display"),
                );
                (code, term)
            }
            None => {
                issues.push(Issue::new(
                    origin.path("medicationCodeableConcept"),
                    "required",
                    format!("a coding in {DMD_SYSTEM} or {SNOMED_SYSTEM} is required"),
                ));
                (String::new(), String::new())
            }
        };
        origin.at("dosage", "dosageInstruction[0].text");
        let dosage = m
            .dosage_instruction
            .first()
            .and_then(|d| d.text.clone())
            .unwrap_or_default();
        origin.at("quantity", "dispenseRequest.quantity");
        let quantity = m
            .dispense_request
            .as_ref()
            .and_then(|d| d.quantity.as_ref())
            .map(|q| {
                let value = q.value.map(|v| v.to_string()).unwrap_or_default();
                match q.unit.as_deref().or(q.code.as_deref()) {
                    Some(unit) => format!("{value} {unit}"),
                    None => value,
                }
            })
            .unwrap_or_default();
        let kind = m
            .course_of_therapy_type
            .as_ref()
            .and_then(|t| t.coding.iter().find_map(|c| c.code.as_deref()));
        let course_type = match kind {
            Some("acute") => Some(CourseKind::Acute),
            Some("continuous") => Some(CourseKind::Repeat),
            Some("continuous-repeat-dispensing") => Some(CourseKind::RepeatDispensing),
            other => {
                issues.push(Issue::new(
                    origin.path("courseOfTherapyType"),
                    if other.is_none() {
                        "required"
                    } else {
                        "invalid_value"
                    },
                    "expected acute, continuous or continuous-repeat-dispensing",
                ));
                None
            }
        };
        let status = m.status.as_deref().unwrap_or_default();
        let mut date = |value: Option<&str>, element: &str| -> Option<NaiveDate> {
            let value = value?;
            match parse_date(&date_of(value)) {
                Ok(date) => Some(date),
                Err(invalid) => {
                    issues.push(Issue::from_invalid(origin.path(element), invalid));
                    None
                }
            }
        };
        let review_date = date(
            ext::find(&m.common.extension, ext::REPEAT_INFORMATION)
                .and_then(|info| ext::find(&info.extension, "authorisationExpiryDate"))
                .and_then(|e| e.value_date_time.as_deref()),
            "extension",
        );
        let validity_end = m
            .dispense_request
            .as_ref()
            .and_then(|d| d.validity_period.as_ref())
            .and_then(|p| p.end.as_deref());
        let ended = matches!(
            status,
            "stopped" | "completed" | "cancelled" | "entered-in-error"
        );
        let ended_on = if ended {
            let end = date(validity_end, "dispenseRequest.validityPeriod.end");
            if end.is_none() && validity_end.is_none() {
                issues.push(Issue::new(
                    origin.path("dispenseRequest.validityPeriod.end"),
                    "required",
                    "a course that has ended needs its end date",
                ));
            }
            end
        } else {
            None
        };
        let (Some(patient_external_id), Some(course_type)) = (patient, course_type) else {
            return;
        };
        mapped.courses.push(CourseImport {
            patient_external_id,
            external_id,
            snomed_code,
            medication,
            dosage,
            quantity,
            course_type,
            can_be_requested: status == "active" && course_type == CourseKind::Repeat,
            last_issue_date: None,
            next_issue_date: None,
            review_date,
            ended_on,
            hidden: false,
            hidden_from_proxies: false,
        });
        mapped.course_origins.push(origin);
    }

    fn slot(&self, mapped: &mut Mapped, entry: &Entry, s: &Slot) {
        let mut origin = Origin::new(entry);
        let issues = &mut mapped.issues;
        let external_id = external_id(&s.common.identifier, &mut origin, issues);
        if s.status.as_deref() != Some("free") {
            issues.push(Issue::new(
                origin.path("status"),
                "unsupported_slot_status",
                "only free slots are published; a slot is withdrawn through the practice API",
            ));
        }
        let path = origin.path("schedule");
        let schedule = match self.bundle.follow(s.schedule.as_ref(), &path, issues) {
            Some(
                target @ Entry {
                    resource: Resource::Schedule(schedule),
                    ..
                },
            ) => Some((target, schedule.as_ref())),
            Some(_) => {
                issues.push(Issue::new(
                    format!("{path}.reference"),
                    "unresolved_reference",
                    "this reference must point to a Schedule of the Bundle",
                ));
                None
            }
            None => None,
        };
        let Some((schedule_entry, schedule)) = schedule else {
            return;
        };
        let (clinicians, location) = self.actors(schedule_entry, schedule, issues);
        let service = |types: &[CodeableConcept]| {
            types
                .first()
                .and_then(|t| t.text.clone().or_else(|| t.coding.first()?.display.clone()))
        };
        let slot_type = service(&s.service_type)
            .or_else(|| {
                s.appointment_type
                    .as_ref()
                    .and_then(|t| t.text.clone().or_else(|| t.coding.first()?.display.clone()))
            })
            .or_else(|| service(&schedule.service_type))
            .unwrap_or_default();
        let channel = ext::find(&s.common.extension, ext::DELIVERY_CHANNEL)
            .and_then(|e| e.value_code.as_deref());
        let channel = match channel {
            None | Some("In-person") => "in_person",
            Some("Telephone") => "telephone",
            Some("Video") => "video",
            Some(_) => "unknown",
        };
        origin.at("starts_at", "start");
        origin.at("ends_at", "end");
        origin.at("slot_type", "serviceType");
        origin.at("channel", "extension");
        origin.at("clinician_name", "schedule");
        origin.at("location", "schedule");
        origin.at("session_name", "schedule");
        mapped.slots.push(NewSlot {
            external_id: Some(external_id),
            starts_at: s.start.clone().unwrap_or_default(),
            ends_at: s.end.clone().unwrap_or_default(),
            clinician_name: clinicians,
            clinician_staff_id: None,
            slot_type,
            session_name: schedule.comment.clone(),
            location,
            channel: channel.to_owned(),
        });
        mapped.slot_origins.push(origin);
    }

    /// A schedule's clinicians (joined) and location, from its actors.
    fn actors(
        &self,
        entry: &Entry,
        schedule: &Schedule,
        issues: &mut Vec<Issue>,
    ) -> (String, String) {
        let mut clinicians = Vec::new();
        let mut location = String::new();
        let base = entry.path();
        for (k, actor) in schedule.actor.iter().enumerate() {
            let path = format!("{base}.actor[{k}]");
            let name = self.bundle.display(Some(actor), &path, issues);
            match (self.bundle.target_type(actor), name) {
                (Some("Location"), Some(name)) => location = name,
                (_, Some(name)) => clinicians.push(name),
                (_, None) => {}
            }
        }
        (clinicians.join(", "), location)
    }
}

/// The abnormal flag for an `ObservationInterpretation` code.
fn interpretation(code: Option<&str>) -> &'static str {
    match code {
        Some("N") => "normal",
        Some("L" | "LL" | "LU" | "<") => "low",
        Some("H" | "HH" | "HU" | ">") => "high",
        Some("A" | "AA" | "POS" | "DET") => "abnormal",
        _ => "unknown",
    }
}
