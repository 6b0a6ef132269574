//! `GET /api/v1/patients/{id}/export`: the viewer's permitted slice of a patient's record as a
//! FHIR R4 `collection` Bundle, with UK Core profiles where they fit.
//!
//! Nothing here decides what the viewer may see: record sections come from
//! [`slice::section`] and courses from [`prescriptions::list_courses`], the same functions as
//! the REST reads, and every section read is recorded in the access log as those reads are.
//! This module only writes what it was given as FHIR.

use super::model::{
    AllergyIntolerance, Annotation, Attachment, CodeableConcept, Coding, Common, Condition,
    DispenseRequest, DocumentContent, DocumentContext, DocumentReference, Dosage, Encounter,
    EncounterParticipant, Extension, HumanName, Identifier, Immunization, ImmunizationPerformer,
    MedicationRequest, MedicationStatement, Meta, Narrative, Observation, Patient, Period,
    Quantity, Reference, ReferenceRange,
};
use super::{DMD_SYSTEM, NHS_NUMBER_SYSTEM, SNOMED_SYSTEM, ext, narrative};
use crate::access::rules::{self, PatientFacts};
use crate::access::slice::{self, SectionItems};
use crate::access::{Actor, Section};
use crate::db::entities::courses::{self, CourseType};
use crate::db::entities::documents;
use crate::db::entities::patients::Sex;
use crate::db::entities::record_entries;
use crate::db::entities::results::{self, AbnormalFlag};
use crate::error::{AppError, ErrorCode};
use crate::prescriptions;
use crate::record::access_log;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

const UK_CORE: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-";
const INTERPRETATION_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const COURSE_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy";
const UK_COURSE_SYSTEM: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-MedicationRequestCourseOfTherapy";

/// The viewer's permitted slice of the patient's record as a Bundle (JSON). Letters link to
/// their content route under `base` (the server's origin as the client called it).
pub async fn export(
    db: &impl ConnectionTrait,
    actor: &Actor,
    facts: &PatientFacts,
    base: &str,
    now: DateTime<Utc>,
) -> Result<Value, AppError> {
    let today = now.date_naive();
    let viewer = &actor.viewer;
    let patient_url = format!("urn:uuid:{}", facts.patient.id);
    let mut writer = Writer {
        base: base.to_owned(),
        subject: Reference {
            reference: Some(patient_url.clone()),
            display: None,
        },
        entries: vec![entry(
            &patient_url,
            patient(facts, rules::sees_identifiers(viewer)),
        )],
    };
    for section in Section::ALL {
        let Some(items) = slice::section(db, viewer, facts, section, today).await? else {
            continue;
        };
        access_log::record_read(db, viewer, facts, section, None, actor.device_id, now).await?;
        match items {
            SectionItems::Entries(entries) => {
                for item in &entries {
                    writer.coded(section, item);
                }
            }
            SectionItems::Results(results) => {
                for result in &results {
                    writer.result(result);
                }
            }
            SectionItems::Documents(documents) => {
                for document in &documents {
                    writer.document(document);
                }
            }
        }
    }
    match prescriptions::list_courses(db, actor, facts, now).await {
        Ok(views) => {
            let ids: Vec<Uuid> = views.iter().map(|c| c.id).collect();
            // The permitted courses' own rows, for the dm+d code the view leaves out.
            let rows = courses::Entity::find()
                .filter(courses::Column::Id.is_in(ids.clone()))
                .all(db)
                .await?;
            for id in ids {
                if let Some(course) = rows.iter().find(|c| c.id == id) {
                    writer.course(course);
                }
            }
        }
        Err(refused)
            if matches!(
                refused.code(),
                ErrorCode::FeatureDisabled | ErrorCode::Forbidden
            ) => {}
        Err(error) => return Err(error),
    }
    Ok(json!({
        "resourceType": "Bundle",
        "id": Uuid::new_v4(),
        "type": "collection",
        "timestamp": instant(now),
        "entry": writer.entries,
    }))
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A day as an instant (its first moment, UTC), for elements FHIR types as `instant`.
fn day_instant(day: NaiveDate) -> String {
    format!("{}T00:00:00Z", date(day))
}

fn date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn entry(full_url: &str, resource: Value) -> Value {
    json!({"fullUrl": full_url, "resource": resource})
}

/// A resource's JSON with its type first.
fn resource<T: Serialize>(resource_type: &str, resource: &T) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("resourceType".to_owned(), json!(resource_type));
    if let Ok(Value::Object(fields)) = serde_json::to_value(resource) {
        object.extend(fields);
    }
    Value::Object(object)
}

fn common(id: Uuid, profile: &str) -> Common {
    Common {
        id: Some(id.to_string()),
        meta: Some(Meta {
            profile: vec![format!("{UK_CORE}{profile}")],
        }),
        ..Common::default()
    }
}

fn concept(system: Option<&str>, code: &str, term: &str) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding {
            system: system.map(str::to_owned),
            code: Some(code.to_owned()),
            display: Some(term.to_owned()),
        }],
        text: Some(term.to_owned()),
    }
}

fn status(system: &str, code: &str) -> CodeableConcept {
    CodeableConcept {
        coding: vec![Coding {
            system: Some(system.to_owned()),
            code: Some(code.to_owned()),
            display: None,
        }],
        text: None,
    }
}

fn named(display: Option<&String>) -> Option<Reference> {
    display.map(|name| Reference {
        reference: None,
        display: Some(name.clone()),
    })
}

fn note(text: Option<&String>) -> Vec<Annotation> {
    text.map(|text| Annotation { text: text.clone() })
        .into_iter()
        .collect()
}

/// The Patient: the patient themself sees their identifiers and details; a proxy, the name
/// the app already shows them.
fn patient(facts: &PatientFacts, identifiers: bool) -> Value {
    let p = &facts.patient;
    let mut patient = Patient {
        common: common(p.id, "Patient"),
        name: vec![HumanName {
            name_use: Some("official".to_owned()),
            text: None,
            family: Some(p.family_name.clone()),
            given: vec![p.given_name.clone()],
        }],
        ..Patient::default()
    };
    if identifiers {
        patient.common.identifier = vec![Identifier {
            system: Some(NHS_NUMBER_SYSTEM.to_owned()),
            value: Some(p.nhs_number.clone()),
        }];
        patient.gender = Some(
            match p.sex {
                Sex::Female => "female",
                Sex::Male => "male",
                Sex::Other => "other",
                Sex::Unknown => "unknown",
            }
            .to_owned(),
        );
        patient.birth_date = Some(date(p.date_of_birth));
        patient.general_practitioner = vec![Reference {
            reference: None,
            display: Some(facts.practice.name.clone()),
        }];
    }
    resource("Patient", &patient)
}

struct Writer {
    base: String,
    subject: Reference,
    entries: Vec<Value>,
}

impl Writer {
    fn push(&mut self, id: Uuid, resource: Value) {
        self.entries
            .push(entry(&format!("urn:uuid:{id}"), resource));
    }

    fn coded(&mut self, section: Section, e: &record_entries::Model) {
        let subject = Some(self.subject.clone());
        let code = |system| Some(concept(Some(system), &e.snomed_code, &e.term));
        let value = match section {
            Section::Allergies => resource(
                "AllergyIntolerance",
                &AllergyIntolerance {
                    common: common(e.id, "AllergyIntolerance"),
                    clinical_status: Some(status(
                        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        if e.end_date.is_some() {
                            "resolved"
                        } else {
                            "active"
                        },
                    )),
                    code: code(SNOMED_SYSTEM),
                    patient: subject,
                    onset_date_time: Some(date(e.effective_date)),
                    recorded_date: Some(date(e.entered_on)),
                    recorder: named(e.author.as_ref()),
                    note: note(e.detail.as_ref()),
                    ..AllergyIntolerance::default()
                },
            ),
            Section::Medications => resource(
                "MedicationStatement",
                &MedicationStatement {
                    common: common(e.id, "MedicationStatement"),
                    status: Some(
                        if e.end_date.is_some() {
                            "completed"
                        } else {
                            "active"
                        }
                        .to_owned(),
                    ),
                    medication_codeable_concept: code(DMD_SYSTEM),
                    subject,
                    effective_period: Some(Period {
                        start: Some(date(e.effective_date)),
                        end: e.end_date.map(date),
                    }),
                    date_asserted: Some(date(e.entered_on)),
                    information_source: named(e.author.as_ref()),
                    dosage: e
                        .detail
                        .as_ref()
                        .map(|text| Dosage {
                            text: Some(text.clone()),
                        })
                        .into_iter()
                        .collect(),
                    ..MedicationStatement::default()
                },
            ),
            Section::Immunisations => resource(
                "Immunization",
                &Immunization {
                    common: common(e.id, "Immunization"),
                    status: Some("completed".to_owned()),
                    vaccine_code: code(SNOMED_SYSTEM),
                    patient: subject,
                    occurrence_date_time: Some(date(e.effective_date)),
                    recorded: Some(date(e.entered_on)),
                    performer: named(e.author.as_ref())
                        .map(|actor| ImmunizationPerformer { actor })
                        .into_iter()
                        .collect(),
                    note: note(e.detail.as_ref()),
                },
            ),
            Section::Consultations => resource(
                "Encounter",
                &Encounter {
                    common: Common {
                        text: e.detail.as_ref().map(|text| Narrative {
                            status: "additional".to_owned(),
                            div: narrative::from_text(text),
                        }),
                        ..common(e.id, "Encounter")
                    },
                    status: Some("finished".to_owned()),
                    encounter_class: Some(Coding {
                        system: Some("http://terminology.hl7.org/CodeSystem/v3-ActCode".to_owned()),
                        code: Some("AMB".to_owned()),
                        display: Some("ambulatory".to_owned()),
                    }),
                    encounter_type: code(SNOMED_SYSTEM).into_iter().collect(),
                    subject,
                    participant: named(e.author.as_ref())
                        .map(|individual| EncounterParticipant {
                            individual: Some(individual),
                        })
                        .into_iter()
                        .collect(),
                    period: Some(Period {
                        start: Some(date(e.effective_date)),
                        end: e.end_date.map(date),
                    }),
                },
            ),
            // Problems; results and documents are not coded entries.
            _ => resource(
                "Condition",
                &Condition {
                    common: common(e.id, "Condition"),
                    clinical_status: Some(status(
                        "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        if e.end_date.is_some() {
                            "resolved"
                        } else {
                            "active"
                        },
                    )),
                    category: vec![status(
                        "http://terminology.hl7.org/CodeSystem/condition-category",
                        "problem-list-item",
                    )],
                    code: code(SNOMED_SYSTEM),
                    subject,
                    onset_date_time: Some(date(e.effective_date)),
                    recorded_date: Some(date(e.entered_on)),
                    abatement_date_time: e.end_date.map(date),
                    asserter: named(e.author.as_ref()),
                    note: note(e.detail.as_ref()),
                    ..Condition::default()
                },
            ),
        };
        self.push(e.id, value);
    }

    fn result(&mut self, r: &results::Model) {
        // A test code of digits is a SNOMED CT concept; others are the laboratory's own.
        let snomed = (6..=18).contains(&r.test_code.len())
            && r.test_code.bytes().all(|b| b.is_ascii_digit());
        let flag = match r.abnormal_flag {
            AbnormalFlag::Normal => Some("N"),
            AbnormalFlag::Low => Some("L"),
            AbnormalFlag::High => Some("H"),
            AbnormalFlag::Abnormal => Some("A"),
            AbnormalFlag::Unknown => None,
        };
        let quantity = |value: Option<f64>| {
            value.map(|value| Quantity {
                value: Some(value),
                unit: r.unit.clone(),
                ..Quantity::default()
            })
        };
        let range = ReferenceRange {
            low: quantity(r.range_low),
            high: quantity(r.range_high),
            text: r.range_text.clone(),
        };
        let has_range = range != ReferenceRange::default();
        let observation = Observation {
            common: common(r.id, "Observation"),
            status: Some("final".to_owned()),
            category: vec![status(
                "http://terminology.hl7.org/CodeSystem/observation-category",
                "laboratory",
            )],
            code: Some(concept(
                snomed.then_some(SNOMED_SYSTEM),
                &r.test_code,
                &r.test_name,
            )),
            subject: Some(self.subject.clone()),
            effective_date_time: Some(date(r.effective_date)),
            // The day it was filed (what prospective access goes by), read back on import.
            issued: Some(day_instant(r.entered_on)),
            performer: named(r.requester.as_ref()).into_iter().collect(),
            value_quantity: r.numeric_value.and_then(|v| quantity(Some(v))),
            value_string: r.numeric_value.is_none().then(|| r.value.clone()),
            interpretation: flag
                .map(|code| status(INTERPRETATION_SYSTEM, code))
                .into_iter()
                .collect(),
            note: note(r.clinician_comment.as_ref()),
            reference_range: has_range.then_some(range).into_iter().collect(),
            ..Observation::default()
        };
        self.push(r.id, resource("Observation", &observation));
    }

    fn document(&mut self, d: &documents::Model) {
        let type_name = match d.document_type {
            documents::DocumentType::DischargeSummary => "discharge_summary",
            documents::DocumentType::OutpatientLetter => "outpatient_letter",
            documents::DocumentType::ReferralLetter => "referral_letter",
            documents::DocumentType::OtherLetter => "other_letter",
        };
        let document_type = match super::document_code_of(type_name) {
            Some((code, term)) => concept(Some(SNOMED_SYSTEM), code, term),
            None => CodeableConcept {
                coding: Vec::new(),
                text: Some("Letter".to_owned()),
            },
        };
        let reference = DocumentReference {
            common: common(d.id, "DocumentReference"),
            status: Some("current".to_owned()),
            document_type: Some(document_type),
            subject: Some(self.subject.clone()),
            date: Some(day_instant(d.entered_on)),
            custodian: named(d.author_organisation.as_ref()),
            description: Some(d.title.clone()),
            content: vec![DocumentContent {
                attachment: Attachment {
                    content_type: Some(d.content_type.clone()),
                    url: Some(format!(
                        "{}/api/v1/patients/{}/documents/{}/content",
                        self.base, d.patient_id, d.id
                    )),
                    size: u64::try_from(d.size_bytes).ok(),
                    title: Some(d.title.clone()),
                    data: None,
                },
            }],
            context: Some(DocumentContext {
                period: Some(Period {
                    start: Some(date(d.effective_date)),
                    end: None,
                }),
            }),
            ..DocumentReference::default()
        };
        self.push(d.id, resource("DocumentReference", &reference));
    }

    fn course(&mut self, c: &courses::Model) {
        let (system, code) = match c.course_type {
            CourseType::Acute => (COURSE_SYSTEM, "acute"),
            CourseType::Repeat | CourseType::Automatic => (COURSE_SYSTEM, "continuous"),
            CourseType::RepeatDispensing => (UK_COURSE_SYSTEM, "continuous-repeat-dispensing"),
        };
        // "28 tablet": a number and its unit when the text starts with one.
        let quantity = match c.quantity.split_once(' ') {
            Some((number, unit)) if number.parse::<f64>().is_ok() => Quantity {
                value: number.parse().ok(),
                unit: Some(unit.to_owned()),
                ..Quantity::default()
            },
            _ => Quantity {
                unit: Some(c.quantity.clone()),
                ..Quantity::default()
            },
        };
        let review = c.review_date.map(|review| Extension {
            url: ext::REPEAT_INFORMATION.to_owned(),
            extension: vec![Extension {
                url: "authorisationExpiryDate".to_owned(),
                value_date_time: Some(date(review)),
                ..Extension::default()
            }],
            ..Extension::default()
        });
        let request = MedicationRequest {
            common: Common {
                extension: review.into_iter().collect(),
                ..common(c.id, "MedicationRequest")
            },
            status: Some(
                if c.ended_on.is_some() {
                    "stopped"
                } else {
                    "active"
                }
                .to_owned(),
            ),
            intent: Some("plan".to_owned()),
            medication_codeable_concept: Some(concept(
                Some(DMD_SYSTEM),
                &c.snomed_code,
                &c.medication,
            )),
            subject: Some(self.subject.clone()),
            course_of_therapy_type: Some(status(system, code)),
            dosage_instruction: vec![Dosage {
                text: Some(c.dosage.clone()),
            }],
            dispense_request: Some(DispenseRequest {
                validity_period: c.ended_on.map(|end| Period {
                    start: None,
                    end: Some(date(end)),
                }),
                quantity: Some(quantity),
            }),
            ..MedicationRequest::default()
        };
        self.push(c.id, resource("MedicationRequest", &request));
    }
}
