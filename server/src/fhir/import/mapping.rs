//! Shared pieces of the mapping from FHIR resources to the import's items: codings, dates,
//! notes, external ids, and the Bundle's Patients.

use super::*;

/// The code of the first coding in one of `systems`, with its term (the coding's display, or
/// the concept's text), and the coding's position.
pub(super) fn coded(
    concept: Option<&CodeableConcept>,
    systems: &[&str],
) -> Option<(usize, String, String)> {
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
pub(super) fn date_of(value: &str) -> String {
    let value = value.trim();
    match DateTime::parse_from_rfc3339(value) {
        Ok(_) => value.get(..10).unwrap_or(value).to_owned(),
        Err(_) => value.to_owned(),
    }
}

/// Notes joined as one free text.
pub(super) fn notes(notes: &[Annotation]) -> Option<String> {
    let text: Vec<&str> = notes
        .iter()
        .map(|n| n.text.trim())
        .filter(|t| !t.is_empty())
        .collect();
    (!text.is_empty()).then(|| text.join("\n\n"))
}

/// A resource's first business identifier, which is the clinical system's id.
pub(super) fn external_id(
    identifiers: &[crate::fhir::model::Identifier],
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
pub(super) struct Coded<'a> {
    pub(super) section: &'static str,
    pub(super) identifiers: &'a [crate::fhir::model::Identifier],
    pub(super) patient: (Option<&'a Reference>, &'static str),
    pub(super) code: (Option<&'a CodeableConcept>, &'static str, &'a [&'a str]),
    pub(super) effective: Option<(&'a str, &'static str)>,
    /// The day it was entered in the record, and the element it is read from (named in the
    /// issue when it is missing).
    pub(super) entered: (Option<&'a str>, &'static str),
    pub(super) end: Option<(&'a str, &'static str)>,
    pub(super) detail: Option<(String, &'static str)>,
    pub(super) author: Option<(Option<&'a Reference>, &'static str)>,
}

impl Mapped {
    pub(super) fn from_bundle(bundle: &Bundle) -> Self {
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
    pub(super) fn patient(&mut self, entry: &Entry, patient: &Patient) -> Option<String> {
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
