//! The mapper of resources that refer to a patient: the reference to the Bundle's Patient and
//! the coded entry every clinical resource becomes.

use super::*;

/// Maps the resources that refer to patients.
pub(super) struct Mapper<'a> {
    pub(super) bundle: &'a Bundle,
    pub(super) patient_ids: &'a HashMap<usize, String>,
}

impl Mapper<'_> {
    /// The external id of the Bundle's Patient that `reference` points to.
    pub(super) fn patient_of(
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

    pub(super) fn display(
        &self,
        reference: Option<&Reference>,
        origin: &Origin,
        element: &str,
        issues: &mut Vec<Issue>,
    ) -> Option<String> {
        self.bundle
            .display(reference, &origin.path(element), issues)
    }

    pub(super) fn entry(&self, mapped: &mut Mapped, entry: &Entry, parts: Coded<'_>) {
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
        let (entered, entered_element) = parts.entered;
        origin.at("entered_on", entered_element);
        let entered_on = entered.map(date_of);
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
            entered_on,
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
}
