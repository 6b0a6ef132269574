//! Results and letters: Observation (values, units, ranges, interpretation, performer) and
//! DocumentReference with its attachment.

use super::*;

impl Mapper<'_> {
    pub(super) fn observation(&self, mapped: &mut Mapped, entry: &Entry, o: &Observation) {
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
        // The record-access codes of docs/domain.md arrive as coded observations.
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
            let ended_on = o
                .effective_period
                .as_ref()
                .and_then(|p| p.end.as_deref())
                .map(date_of);
            origin.at("ended_on", "effectivePeriod.end");
            mapped.batch.access_codes.push(AccessCodeImport {
                external_id,
                patient_external_id,
                snomed_code: code,
                recorded_at: recorded_at.unwrap_or_default(),
                ended_on,
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
        origin.at("entered_on", "issued");
        let entered_on = o.issued.as_deref().map(date_of);
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
            entered_on,
        });
        mapped.results.push(origin);
    }

    pub(super) fn document(&self, mapped: &mut Mapped, entry: &Entry, d: &DocumentReference) {
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
        let document_type = crate::fhir::document_type_of(snomed.as_deref());
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
        origin.at("entered_on", "date");
        let entered_on = d.date.as_deref().map(date_of);
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
                entered_on,
                content_base64,
            },
            origin,
        ));
    }
}

/// The abnormal flag for an `ObservationInterpretation` code.
pub(super) fn interpretation(code: Option<&str>) -> &'static str {
    match code {
        Some("N") => "normal",
        Some("L" | "LL" | "LU" | "<") => "low",
        Some("H" | "HH" | "HU" | ">") => "high",
        Some("A" | "AA" | "POS" | "DET") => "abnormal",
        _ => "unknown",
    }
}
