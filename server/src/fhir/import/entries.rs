//! Coded entries: Condition, AllergyIntolerance, MedicationStatement, Immunization and
//! Encounter with its free text.

use super::*;

impl Mapper<'_> {
    pub(super) fn condition(&self, mapped: &mut Mapped, entry: &Entry, c: &Condition) {
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
                entered: (c.recorded_date.as_deref(), "recordedDate"),
                end: c
                    .abatement_date_time
                    .as_deref()
                    .map(|v| (v, "abatementDateTime")),
                detail: notes(&c.note).map(|d| (d, "note")),
                author: Some(author),
            },
        );
    }

    pub(super) fn allergy(&self, mapped: &mut Mapped, entry: &Entry, a: &AllergyIntolerance) {
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
                entered: (a.recorded_date.as_deref(), "recordedDate"),
                end,
                detail: notes(&a.note).map(|d| (d, "note")),
                author: Some((a.recorder.as_ref(), "recorder")),
            },
        );
    }

    pub(super) fn statement(&self, mapped: &mut Mapped, entry: &Entry, m: &MedicationStatement) {
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
                entered: (m.date_asserted.as_deref(), "dateAsserted"),
                end: period
                    .and_then(|p| p.end.as_deref())
                    .map(|v| (v, "effectivePeriod.end")),
                detail: detail.map(|d| (d, "dosage")),
                author: Some((m.information_source.as_ref(), "informationSource")),
            },
        );
    }

    pub(super) fn immunization(&self, mapped: &mut Mapped, entry: &Entry, i: &Immunization) {
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
                entered: (i.recorded.as_deref(), "recorded"),
                end: None,
                detail: notes(&i.note).map(|d| (d, "note")),
                author: i
                    .performer
                    .first()
                    .map(|p| (Some(&p.actor), "performer[0].actor")),
            },
        );
    }

    pub(super) fn encounter(&self, mapped: &mut Mapped, entry: &Entry, e: &Encounter) {
        let period = e.period.as_ref();
        let detail = e
            .common
            .text
            .as_ref()
            .map(|narrative| crate::fhir::narrative::to_text(&narrative.div))
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
                // R4 gives an Encounter no recorded date: a consultation is written up as it
                // ends, so the end of its period (else its start) is when it was entered.
                entered: match period.and_then(|p| p.end.as_deref()) {
                    Some(end) => (Some(end), "period.end"),
                    None => (period.and_then(|p| p.start.as_deref()), "period.start"),
                },
                end: None,
                detail: detail.map(|d| (d, "text.div")),
                author: e
                    .participant
                    .first()
                    .map(|p| (p.individual.as_ref(), "participant[0].individual")),
            },
        );
    }
}
