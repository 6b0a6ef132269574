//! Parsing a batch into validated items, with every bad field named at once (pure: no database).

use super::*;

pub(super) struct NewPatient {
    pub(super) external_id: String,
    pub(super) nhs_number: String,
    pub(super) given_name: String,
    pub(super) family_name: String,
    pub(super) date_of_birth: NaiveDate,
    pub(super) sex: Sex,
    pub(super) access_level: Option<AccessLevel>,
    pub(super) record_access_from: Option<Option<NaiveDate>>,
    pub(super) competent: Option<bool>,
    pub(super) archived: Option<bool>,
}

pub(super) struct NewEntry {
    pub(super) external_id: String,
    pub(super) patient: String,
    pub(super) section: RecordSection,
    pub(super) snomed_code: String,
    pub(super) term: String,
    pub(super) effective_date: NaiveDate,
    pub(super) entered_on: NaiveDate,
    pub(super) end_date: Option<NaiveDate>,
    pub(super) detail: Option<String>,
    pub(super) author: Option<String>,
    pub(super) hidden: bool,
    pub(super) hidden_from_proxies: bool,
}

pub(super) struct NewResult {
    pub(super) external_id: String,
    pub(super) patient: String,
    pub(super) test_code: String,
    pub(super) test_name: String,
    pub(super) value: String,
    pub(super) numeric_value: Option<f64>,
    pub(super) unit: Option<String>,
    pub(super) range_low: Option<f64>,
    pub(super) range_high: Option<f64>,
    pub(super) range_text: Option<String>,
    pub(super) abnormal_flag: AbnormalFlag,
    pub(super) requester: Option<String>,
    pub(super) effective_date: NaiveDate,
    pub(super) entered_on: NaiveDate,
}

pub(super) struct NewAccessCode {
    pub(super) external_id: String,
    pub(super) patient: String,
    pub(super) snomed_code: String,
    pub(super) recorded_at: DateTime<Utc>,
    pub(super) ended_on: Option<NaiveDate>,
}

/// A batch whose fields have been checked; the lists hold the valid items only, so they are
/// complete exactly when the validator has nothing to report.
#[derive(Default)]
pub(super) struct Parsed {
    pub(super) patients: Vec<NewPatient>,
    pub(super) entries: Vec<NewEntry>,
    pub(super) results: Vec<NewResult>,
    pub(super) access_codes: Vec<NewAccessCode>,
    pub(super) prospective_access_date: Option<NaiveDate>,
    /// Every patient item's index, external id and NHS number where those parsed, for the
    /// checks against stored patients.
    pub(super) patient_keys: Vec<(usize, Option<String>, Option<String>)>,
    /// Every `patient_external_id` that parsed, with its field path.
    pub(super) references: Vec<(String, String)>,
}

/// Checks every field of `batch` that can be checked without the database, as
/// [`import_batch`] does first, naming each bad field. What the clinical system may send is
/// fuzzed through this (`fuzz/`).
pub fn check_batch(batch: &ImportBatch, today: NaiveDate) -> Result<(), Vec<InvalidField>> {
    let mut v = Validator::new();
    Parsed::from_batch(batch, today, &mut v);
    v.finish()
}

impl Parsed {
    pub(super) fn from_batch(batch: &ImportBatch, today: NaiveDate, v: &mut Validator) -> Self {
        let mut parsed = Self::default();
        parsed.parse_patients(&batch.patients, today, v);
        parsed.parse_entries(&batch.entries, v);
        parsed.parse_results(&batch.results, v);
        parsed.parse_access_codes(&batch.access_codes, v);
        if let Some(date) = &batch.prospective_access_date {
            parsed.prospective_access_date = v.check("prospective_access_date", parse_date(date));
        }
        parsed
    }

    pub(super) fn parse_patients(
        &mut self,
        items: &[PatientImport],
        today: NaiveDate,
        v: &mut Validator,
    ) {
        let mut seen_ids = HashSet::new();
        let mut seen_numbers = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let path = |field: &str| format!("patients[{i}].{field}");
            let external_id = v.check(
                path("external_id"),
                line(&item.external_id, MAX_EXTERNAL_ID),
            );
            let external_id = external_id.and_then(|id| {
                let fresh = seen_ids.insert(id.clone());
                v.check(
                    path("external_id"),
                    fresh.then_some(id).ok_or_else(duplicate_external_id),
                )
            });
            let nhs_number = v
                .check(path("nhs_number"), NhsNumber::parse(&item.nhs_number))
                .map(|n| n.to_string());
            let nhs_number = nhs_number.and_then(|number| {
                let fresh = seen_numbers.insert(number.clone());
                let duplicate = Invalid::new(
                    "duplicate_nhs_number",
                    "this NHS number appears more than once in the batch",
                );
                v.check(path("nhs_number"), fresh.then_some(number).ok_or(duplicate))
            });
            self.patient_keys
                .push((i, external_id.clone(), nhs_number.clone()));
            let given_name = v.check(path("given_name"), line(&item.given_name, MAX_NAME));
            let family_name = v.check(path("family_name"), line(&item.family_name, MAX_NAME));
            let date_of_birth = v.check(
                path("date_of_birth"),
                parse_date_of_birth(&item.date_of_birth, today),
            );
            let sex = v.check(path("sex"), one_of(&item.sex, &SEXES));
            let access_level = match &item.access_level {
                None => Some(None),
                Some(level) => v
                    .check(path("access_level"), one_of(level, &ACCESS_LEVELS))
                    .map(Some),
            };
            let record_access_from = match &item.record_access_from {
                None => Some(None),
                Some(None) => Some(Some(None)),
                Some(Some(date)) => v
                    .check(path("record_access_from"), parse_date(date))
                    .map(|date| Some(Some(date))),
            };
            let (
                Some(external_id),
                Some(nhs_number),
                Some(given_name),
                Some(family_name),
                Some(date_of_birth),
                Some(sex),
                Some(access_level),
                Some(record_access_from),
            ) = (
                external_id,
                nhs_number,
                given_name,
                family_name,
                date_of_birth,
                sex,
                access_level,
                record_access_from,
            )
            else {
                continue;
            };
            self.patients.push(NewPatient {
                external_id,
                nhs_number,
                given_name,
                family_name,
                date_of_birth,
                sex,
                access_level,
                record_access_from,
                competent: item.competent,
                archived: item.archived,
            });
        }
    }

    /// The external id and patient reference shared by entries, results and codes, with the
    /// duplicate check on the pair (the database's unique key is patient + external id).
    pub(super) fn keys(
        &mut self,
        kind: &str,
        i: usize,
        external_id: &str,
        patient: &str,
        seen: &mut HashSet<(String, String)>,
        v: &mut Validator,
    ) -> (Option<String>, Option<String>) {
        let id_path = format!("{kind}[{i}].external_id");
        let patient_path = format!("{kind}[{i}].patient_external_id");
        let external_id = v.check(id_path.clone(), line(external_id, MAX_EXTERNAL_ID));
        let patient = v.check(patient_path.clone(), line(patient, MAX_EXTERNAL_ID));
        if let Some(patient) = &patient {
            self.references.push((patient_path, patient.clone()));
        }
        let external_id = match (external_id, &patient) {
            (Some(id), Some(patient)) => {
                let fresh = seen.insert((patient.clone(), id.clone()));
                v.check(
                    id_path,
                    fresh.then_some(id).ok_or_else(duplicate_external_id),
                )
            }
            (id, _) => id,
        };
        (external_id, patient)
    }

    pub(super) fn parse_entries(&mut self, items: &[EntryImport], v: &mut Validator) {
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let path = |field: &str| format!("entries[{i}].{field}");
            let (external_id, patient) = self.keys(
                "entries",
                i,
                &item.external_id,
                &item.patient_external_id,
                &mut seen,
                v,
            );
            let section = v.check(path("section"), one_of(&item.section, &SECTIONS));
            let snomed = v.check(path("snomed_code"), snomed_code(&item.snomed_code));
            let term = v.check(path("term"), line(&item.term, MAX_TEXT));
            let effective_date = v.check(path("effective_date"), parse_date(&item.effective_date));
            let entered = v.check(path("entered_on"), entered_on(item.entered_on.as_deref()));
            let end_date = match &item.end_date {
                None => Some(None),
                Some(date) if date.trim().is_empty() => Some(None),
                Some(date) => v.check(path("end_date"), parse_date(date)).map(Some),
            };
            let end_date = match (effective_date, end_date) {
                (Some(start), Some(Some(end))) if end < start => v.check(
                    path("end_date"),
                    Err(Invalid::new(
                        "end_before_start",
                        "the end date is before the effective date",
                    )),
                ),
                (_, end) => end,
            };
            let detail = match item.detail.as_deref().map(str::trim) {
                None | Some("") => Some(None),
                Some(detail) => v
                    .check(path("detail"), text(detail, MAX_DETAIL, true))
                    .map(Some),
            };
            let author = v.check(
                path("author"),
                optional_line(item.author.as_deref(), MAX_TEXT),
            );
            let (
                Some(external_id),
                Some(patient),
                Some(section),
                Some(snomed_code),
                Some(term),
                Some(effective_date),
                Some(entered_on),
                Some(end_date),
                Some(detail),
                Some(author),
            ) = (
                external_id,
                patient,
                section,
                snomed,
                term,
                effective_date,
                entered,
                end_date,
                detail,
                author,
            )
            else {
                continue;
            };
            self.entries.push(NewEntry {
                external_id,
                patient,
                section,
                snomed_code,
                term,
                effective_date,
                entered_on,
                end_date,
                detail,
                author,
                hidden: item.hidden,
                hidden_from_proxies: item.hidden_from_proxies,
            });
        }
    }

    pub(super) fn parse_results(&mut self, items: &[ResultImport], v: &mut Validator) {
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let path = |field: &str| format!("results[{i}].{field}");
            let (external_id, patient) = self.keys(
                "results",
                i,
                &item.external_id,
                &item.patient_external_id,
                &mut seen,
                v,
            );
            let test_code = v.check(path("test_code"), line(&item.test_code, MAX_TEST_CODE));
            let test_name = v.check(path("test_name"), line(&item.test_name, MAX_TEXT));
            let value = v.check(path("value"), line(&item.value, MAX_VALUE));
            let numeric_value = v.check(path("numeric_value"), finite(item.numeric_value));
            let unit = v.check(path("unit"), optional_line(item.unit.as_deref(), MAX_UNIT));
            let range_low = v.check(path("range_low"), finite(item.range_low));
            let range_high = v.check(path("range_high"), finite(item.range_high));
            let range_high = match (range_low, range_high) {
                (Some(Some(low)), Some(Some(high))) if high < low => v.check(
                    path("range_high"),
                    Err(Invalid::new(
                        "invalid_range",
                        "the upper end of the range is below the lower end",
                    )),
                ),
                (_, high) => high,
            };
            let range_text = v.check(
                path("range_text"),
                optional_line(item.range_text.as_deref(), MAX_RANGE_TEXT),
            );
            let abnormal_flag = v.check(path("abnormal_flag"), one_of(&item.abnormal_flag, &FLAGS));
            let requester = v.check(
                path("requester"),
                optional_line(item.requester.as_deref(), MAX_TEXT),
            );
            let effective_date = v.check(path("effective_date"), parse_date(&item.effective_date));
            let entered = v.check(path("entered_on"), entered_on(item.entered_on.as_deref()));
            let (
                Some(external_id),
                Some(patient),
                Some(test_code),
                Some(test_name),
                Some(value),
                Some(numeric_value),
                Some(unit),
                Some(range_low),
                Some(range_high),
                Some(range_text),
                Some(abnormal_flag),
                Some(requester),
                Some(effective_date),
                Some(entered_on),
            ) = (
                external_id,
                patient,
                test_code,
                test_name,
                value,
                numeric_value,
                unit,
                range_low,
                range_high,
                range_text,
                abnormal_flag,
                requester,
                effective_date,
                entered,
            )
            else {
                continue;
            };
            self.results.push(NewResult {
                external_id,
                patient,
                test_code,
                test_name,
                value,
                numeric_value,
                unit,
                range_low,
                range_high,
                range_text,
                abnormal_flag,
                requester,
                effective_date,
                entered_on,
            });
        }
    }

    pub(super) fn parse_access_codes(&mut self, items: &[AccessCodeImport], v: &mut Validator) {
        let mut seen = HashSet::new();
        for (i, item) in items.iter().enumerate() {
            let path = |field: &str| format!("access_codes[{i}].{field}");
            let (external_id, patient) = self.keys(
                "access_codes",
                i,
                &item.external_id,
                &item.patient_external_id,
                &mut seen,
                v,
            );
            let snomed_code = v.check(path("snomed_code"), access_code(&item.snomed_code));
            let recorded_at = v.check(path("recorded_at"), instant(&item.recorded_at));
            let ended_on = match item.ended_on.as_deref().map(str::trim) {
                None | Some("") => Some(None),
                Some(date) => v.check(path("ended_on"), parse_date(date)).map(Some),
            };
            let (
                Some(external_id),
                Some(patient),
                Some(snomed_code),
                Some(recorded_at),
                Some(ended_on),
            ) = (external_id, patient, snomed_code, recorded_at, ended_on)
            else {
                continue;
            };
            self.access_codes.push(NewAccessCode {
                external_id,
                patient,
                snomed_code,
                recorded_at,
                ended_on,
            });
        }
    }
}
