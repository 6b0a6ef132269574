//! FHIR R4 data types and resources, as typed serde structs of the project's own: only the
//! resources and elements the import reads and the export writes (`docs/fhir.md` maps each one).
//!
//! Reading is lenient about elements this model does not know (a clinical system's resources
//! carry many: `meta`, `extension`s of other profiles, narrative): they are ignored, never an
//! error. Every element is optional here; what a mapping requires it checks itself, so a
//! missing element is reported by its FHIRPath rather than as a parse failure. Writing leaves
//! out empty elements, as FHIR JSON requires.

use serde::{Deserialize, Serialize};

/// `Coding`: a code in a code system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coding {
    /// The code system's URI (SNOMED CT: `http://snomed.info/sct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// `CodeableConcept`: codings of one concept, and its text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeableConcept {
    /// Codings in one or more systems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// The concept as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `Identifier`: a business identifier in a namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identifier {
    /// The namespace's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `Reference`: a link to another resource, by URL (in a Bundle, an entry's `fullUrl` or
/// `Type/id`), and its display text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// The target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Text for the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// `Period`: a start and an end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// Start (dateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End (dateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// `Quantity`: a measured amount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The unit as shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The unit's code system (UCUM: `http://unitsofmeasure.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The unit's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `Observation.referenceRange`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRange {
    /// Lower end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<Quantity>,
    /// Upper end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<Quantity>,
    /// The range as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `Annotation`: a note.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// The note.
    #[serde(default)]
    pub text: String,
}

/// `Narrative`: a resource's human-readable XHTML.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Narrative {
    /// `generated`, `extensions`, `additional` or `empty`.
    #[serde(default)]
    pub status: String,
    /// An XHTML `div`.
    #[serde(default)]
    pub div: String,
}

/// `Attachment`: content inline (base64 `data`) or by `url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The declared media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The content, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Where the content can be fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// A label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// `HumanName`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HumanName {
    /// `official`, `usual`, …
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub name_use: Option<String>,
    /// The whole name as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Given names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
}

/// `Extension`, with the value types the mapped profiles use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// What the extension is.
    #[serde(default)]
    pub url: String,
    /// A code value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_code: Option<String>,
    /// A date value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_date: Option<String>,
    /// A dateTime value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_date_time: Option<String>,
    /// A Coding value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_coding: Option<Coding>,
    /// Nested extensions (complex extensions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
}

/// `Meta`: the profiles a resource claims.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// StructureDefinition URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
}

/// `Dosage` (its text only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dosage {
    /// How to take it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The elements every resource has that the mappings use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Common {
    /// The logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Narrative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Narrative>,
    /// Extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// Business identifiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
}

/// `Patient`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// Common elements.
    #[serde(flatten)]
    pub common: Common,
    /// Whether the record is in active use (false: no longer registered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
    /// `male`, `female`, `other` or `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// Date of birth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// The registered practice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub general_practitioner: Vec<Reference>,
}

/// `Condition` (a problem).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Common elements.
    #[serde(flatten)]
    pub common: Common,
    /// Active, resolved, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<CodeableConcept>,
    /// Category (problem-list-item, encounter-diagnosis).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    /// The problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// Onset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_date_time: Option<String>,
    /// Resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abatement_date_time: Option<String>,
    /// When it was entered into the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    /// Who recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// Who asserted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asserter: Option<Reference>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// `AllergyIntolerance`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyIntolerance {
    /// Common elements.
    #[serde(flatten)]
    pub common: Common,
    /// Active, resolved, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<CodeableConcept>,
    /// The substance or the allergy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<Reference>,
    /// Onset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_date_time: Option<String>,
    /// When it was entered into the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    /// Who recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// When it ended (UK Core's allergy end extension is read instead when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_occurrence: Option<String>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// `MedicationStatement`: a medicine the patient takes or took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationStatement {
    /// Common elements.
    #[serde(flatten)]
    pub common: Common,
    /// `active`, `completed`, `stopped`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The medicine (dm+d).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medication_codeable_concept: Option<CodeableConcept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// When it was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_period: Option<Period>,
    /// When it was taken, as one date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    /// When it was entered into the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_asserted: Option<String>,
    /// Who said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub information_source: Option<Reference>,
    /// How to take it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dosage: Vec<Dosage>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// `MedicationRequest.dispenseRequest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispenseRequest {
    /// How long the authorisation is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_period: Option<Period>,
    /// How much per issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

/// `MedicationRequest`: a course (acute, repeat or repeat dispensing).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationRequest {
    /// Common elements.
    #[serde(flatten)]
    pub common: Common,
    /// `active`, `stopped`, `completed`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `plan`, `order`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The medicine (dm+d).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medication_codeable_concept: Option<CodeableConcept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// When it was authorised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored_on: Option<String>,
    /// Acute, continuous (repeat), continuous-repeat-dispensing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_of_therapy_type: Option<CodeableConcept>,
    /// How to take it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dosage_instruction: Vec<Dosage>,
    /// Validity and quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispense_request: Option<DispenseRequest>,
}

/// `Immunization`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Immunization {
    /// Common elements.
    #[serde(flatten)]
    pub common: Common,
    /// `completed`, `entered-in-error` or `not-done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The vaccine (SNOMED CT or dm+d).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vaccine_code: Option<CodeableConcept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<Reference>,
    /// When it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence_date_time: Option<String>,
    /// When it was entered into the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
    /// Who gave it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<ImmunizationPerformer>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// `Immunization.performer`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImmunizationPerformer {
    /// Who.
    #[serde(default)]
    pub actor: Reference,
}

/// `Encounter`: a consultation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encounter {
    /// Common elements (its free text is the narrative, `text`).
    #[serde(flatten)]
    pub common: Common,
    /// `finished`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Ambulatory, virtual, home…
    #[serde(default, rename = "class", skip_serializing_if = "Option::is_none")]
    pub encounter_class: Option<Coding>,
    /// The kind of consultation (SNOMED CT).
    #[serde(default, rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub encounter_type: Vec<CodeableConcept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// Who saw the patient.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participant: Vec<EncounterParticipant>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// `Encounter.participant`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EncounterParticipant {
    /// Who.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub individual: Option<Reference>,
}

/// `Observation`: a test result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// Common elements.
    #[serde(flatten)]
    pub common: Common,
    /// `final`, `amended`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Category (laboratory).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    /// The test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// When the sample was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    /// When the sample was taken, as a period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_period: Option<Period>,
    /// When the result was made available (filed into the record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<String>,
    /// Who is responsible for the result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<Reference>,
    /// A measured value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    /// A value as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
    /// A coded value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_codeable_concept: Option<CodeableConcept>,
    /// High, low, normal, abnormal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<CodeableConcept>,
    /// Notes (the clinician's comment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
    /// Reference ranges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_range: Vec<ReferenceRange>,
}

/// `DocumentReference`: a letter with its content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentReference {
    /// Common elements.
    #[serde(flatten)]
    pub common: Common,
    /// The document's own identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_identifier: Option<Identifier>,
    /// `current`, `superseded` or `entered-in-error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The kind of document (SNOMED CT).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub document_type: Option<CodeableConcept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// When it was filed into the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub author: Vec<Reference>,
    /// The organisation that keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custodian: Option<Reference>,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The content.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<DocumentContent>,
    /// What it is about, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<DocumentContext>,
}

/// `DocumentReference.content`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentContent {
    /// The attachment.
    #[serde(default)]
    pub attachment: Attachment,
}

/// `DocumentReference.context`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentContext {
    /// The period the document covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// `Schedule`: whose diary a slot belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// Common elements.
    #[serde(flatten)]
    pub common: Common,
    /// The kind of service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_type: Vec<CodeableConcept>,
    /// The clinicians and the location.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actor: Vec<Reference>,
    /// The session's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `Slot`: a bookable time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    /// Common elements (the delivery channel is an extension).
    #[serde(flatten)]
    pub common: Common,
    /// The kind of service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_type: Vec<CodeableConcept>,
    /// The kind of appointment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_type: Option<CodeableConcept>,
    /// Its schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Reference>,
    /// `free`, `busy`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Start (instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End (instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// `Practitioner`, `Organization` or `Location` in an imported Bundle: only their names are read,
/// to name the clinicians, authors and places that other resources refer to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Named {
    /// A Practitioner's names, or an Organization's or Location's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Names>,
}

/// A Practitioner's `HumanName`s or an Organization's or Location's `name` string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Names {
    /// An Organization's or Location's name.
    Text(String),
    /// A Practitioner's names.
    Human(Vec<HumanName>),
}

impl Named {
    /// The (first) name, as text.
    pub fn display(&self) -> Option<String> {
        match self.name.as_ref()? {
            Names::Text(text) => Some(text.clone()),
            Names::Human(names) => {
                let human = names.first()?;
                human.text.clone().or_else(|| {
                    let mut parts: Vec<&str> = human.given.iter().map(String::as_str).collect();
                    parts.extend(human.family.as_deref());
                    (!parts.is_empty()).then(|| parts.join(" "))
                })
            }
        }
    }
}

/// `OperationOutcome`: the answer to an import.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    /// Always `OperationOutcome`.
    pub resource_type: String,
    /// One issue per problem (or per count, on success).
    pub issue: Vec<OutcomeIssue>,
}

/// `OperationOutcome.issue`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutcomeIssue {
    /// `fatal`, `error`, `warning` or `information`.
    pub severity: String,
    /// The FHIR issue type (`invalid`, `required`, `value`, `not-found`, `too-costly`, …).
    pub code: String,
    /// The stable code (system `urn:gp-online:issue`) and the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<CodeableConcept>,
    /// Where, as FHIRPath.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}
