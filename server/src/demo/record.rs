//! One patient's GP record: problems, medications (with their repeat courses), allergies,
//! immunisations and consultations; test results with per-patient baselines so that trends
//! look real; letters with their bodies. Each patient draws from their own random stream, so
//! changing one patient's record never reshuffles another's.

use super::calendar::{uk_time, years_after};
use super::catalogue::{
    self, ALLERGIES, Analyte, BLOOD_PRESSURE, CHILD_CHECK, COMPLAINTS, CONDITIONS, CONSULTATION,
    COVID_VACCINE, Cond, Condition, DESOGESTREL_75, Drug, FLU_VACCINE, HBA1C, HEALTH_CHECK,
    HIB_MENC_VACCINE, HPV_VACCINE, LETTER_HEADER, LETTERS, LetterKind, LetterTemplate,
    MEDICATION_REVIEW, MENACWY_VACCINE, MENB_VACCINE, MMR_SECOND_VACCINE, MMR_VACCINE,
    NO_KNOWN_ALLERGY, PAST_PROBLEMS, PNEUMOCOCCAL_VACCINE, Panel, ROTAVIRUS_VACCINE,
    SCREENING_LEAFLET, SIX_IN_ONE_VACCINE, TD_IPV_VACCINE, TestDef, WITHHELD_LETTERS, panel_tests,
};
use super::people::{PRACTICE_NAME, Person, RETIRED_GP, StaffMember};
use super::{Ctx, Rows, date_between, new_id, normal, pick, stream};
use crate::db::entities::courses::CourseType;
use crate::db::entities::documents::DocumentType;
use crate::db::entities::patients::Sex;
use crate::db::entities::record_entries::RecordSection;
use crate::db::entities::results::{AbnormalFlag, ReviewState, WithholdReason};
use crate::db::entities::{blobs, courses, documents, record_entries, results};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Stream ids of per-patient records start here.
const STREAM_RECORD: u64 = 1_000;

/// Builds one patient's record.
struct Builder<'a> {
    ctx: &'a Ctx,
    person: &'a Person,
    rng: ChaCha8Rng,
    sex: Sex,
    dob: NaiveDate,
    entry_seq: usize,
    result_seq: usize,
    document_seq: usize,
    course_seq: usize,
    conditions: Vec<&'static Condition>,
    onsets: BTreeMap<usize, NaiveDate>,
}

/// Generates `person`'s record into `rows`; document bodies go to `blobs` (by hash, once).
pub(super) fn generate(
    ctx: &Ctx,
    person: &Person,
    rows: &mut Rows,
    blobs: &mut BTreeMap<String, blobs::Model>,
) {
    let mut builder = Builder {
        ctx,
        person,
        rng: stream(STREAM_RECORD + person.index as u64),
        sex: person.model.sex,
        dob: person.model.date_of_birth,
        entry_seq: 0,
        result_seq: 0,
        document_seq: 0,
        course_seq: 0,
        conditions: Vec::new(),
        onsets: BTreeMap::new(),
    };
    builder.choose_conditions();
    builder.problems(rows);
    builder.allergies(rows);
    builder.medications(rows);
    builder.immunisations(rows);
    builder.consultations(rows);
    if person.age >= 18 {
        builder.results(rows);
        builder.documents(rows, blobs);
    }
}

/// Index of an age band of [`Condition::prevalence`].
fn band(age: i32) -> usize {
    match age {
        ..=15 => 0,
        16..=39 => 1,
        40..=64 => 2,
        65..=79 => 3,
        _ => 4,
    }
}

impl Builder<'_> {
    fn age_on(&self, date: NaiveDate) -> i32 {
        crate::validate::age_on(self.dob, date)
    }

    /// When `cond` was diagnosed, if the patient has it.
    fn onset_of(&self, cond: Cond) -> Option<NaiveDate> {
        let position = self.conditions.iter().position(|c| c.cond == cond)?;
        self.onsets.get(&position).copied()
    }

    fn has(&self, cond: Cond) -> bool {
        self.conditions.iter().any(|c| c.cond == cond)
    }

    /// The clinician who wrote an entry dated `date`.
    fn author(&mut self, date: NaiveDate) -> String {
        let cutover = NaiveDate::from_ymd_opt(2016, 9, 1).unwrap_or(NaiveDate::MIN);
        if date < cutover {
            RETIRED_GP.to_owned()
        } else {
            pick(&mut self.rng, &self.ctx.staff.gps).name.to_owned()
        }
    }

    fn gp(&mut self) -> StaffMember {
        pick(&mut self.rng, &self.ctx.staff.gps).clone()
    }

    fn external_id(&mut self, prefix: &str) -> String {
        let seq = match prefix {
            "E" => {
                self.entry_seq += 1;
                self.entry_seq
            }
            "R" => {
                self.result_seq += 1;
                self.result_seq
            }
            "D" => {
                self.document_seq += 1;
                self.document_seq
            }
            _ => {
                self.course_seq += 1;
                self.course_seq
            }
        };
        format!("EMIS-{prefix}-{:06}-{seq:04}", self.person.index + 1)
    }

    fn entry(
        &mut self,
        section: RecordSection,
        snomed: &str,
        term: &str,
        date: NaiveDate,
        detail: Option<String>,
        author: Option<String>,
    ) -> record_entries::Model {
        let external_id = self.external_id("E");
        record_entries::Model {
            id: new_id(&mut self.rng),
            practice_id: self.person.model.practice_id,
            patient_id: self.person.model.id,
            external_id: Some(external_id),
            section,
            snomed_code: snomed.to_owned(),
            term: term.to_owned(),
            effective_date: date,
            // Coded entries are written up on the day.
            entered_on: date,
            end_date: None,
            detail,
            author,
            hidden: false,
            hidden_from_proxies: false,
            retracted_at: None,
            created_at: self.ctx.now,
            updated_at: self.ctx.now,
        }
    }

    /// The earliest date something could be recorded at `min_age`, and no earlier than
    /// `years_back` years ago.
    fn window(&self, min_age: u32, years_back: u32) -> NaiveDate {
        let from_age = years_after(self.dob, min_age);
        let horizon = super::calendar::years_before(self.ctx.today, years_back);
        from_age.max(horizon)
    }

    fn choose_conditions(&mut self) {
        if let Some(fixed) = self.person.conditions {
            self.conditions = fixed
                .iter()
                .filter_map(|c| catalogue::condition(*c))
                .collect();
        } else {
            let age = self.person.age;
            for condition in CONDITIONS {
                let factor = match self.sex {
                    Sex::Female => condition.female,
                    Sex::Male => condition.male,
                    _ => (condition.female + condition.male) / 2.0,
                };
                let chance = (condition.prevalence[band(age)] * factor).clamp(0.0, 0.95);
                let roll: f64 = self.rng.random();
                if age >= i32::try_from(condition.min_onset_age).unwrap_or(0) && roll < chance {
                    self.conditions.push(condition);
                }
            }
        }
        for position in 0..self.conditions.len() {
            let Some(condition) = self.conditions.get(position) else {
                continue;
            };
            let from = self.window(condition.min_onset_age, 22);
            let to = self.ctx.today - Duration::days(45);
            let onset = date_between(&mut self.rng, from, to).max(self.dob);
            self.onsets.insert(position, onset);
        }
    }

    fn problems(&mut self, rows: &mut Rows) {
        for position in 0..self.conditions.len() {
            let (Some(condition), Some(onset)) = (
                self.conditions.get(position).copied(),
                self.onsets.get(&position).copied(),
            ) else {
                continue;
            };
            let author = self.author(onset);
            let mut entry = self.entry(
                RecordSection::Problems,
                condition.snomed,
                condition.term,
                onset,
                Some("Active problem. Significant.".to_owned()),
                Some(author),
            );
            // Mental health problems are sometimes kept from proxies.
            if matches!(condition.cond, Cond::Depression | Cond::Anxiety)
                && self.rng.random_bool(0.4)
            {
                entry.hidden_from_proxies = true;
            }
            rows.entries.push(entry);
        }
        let past = self.rng.random_range(0..=3);
        for _ in 0..past {
            let (code, min_age) = *pick(&mut self.rng, PAST_PROBLEMS);
            if self.person.age < i32::try_from(min_age).unwrap_or(0) {
                continue;
            }
            let from = self.window(min_age, 30);
            let date = date_between(&mut self.rng, from, self.ctx.today - Duration::days(30));
            let author = self.author(date);
            let mut entry = self.entry(
                RecordSection::Problems,
                code.snomed,
                code.term,
                date,
                Some("Past problem. Resolved.".to_owned()),
                Some(author),
            );
            entry.end_date = Some(date + Duration::days(self.rng.random_range(10..60)));
            rows.entries.push(entry);
        }
    }

    fn allergies(&mut self, rows: &mut Rows) {
        let child = self.person.age < 16;
        let mut any = false;
        for allergy in ALLERGIES {
            let chance = if child { allergy.child } else { allergy.adult };
            if self.rng.random_bool(chance) {
                let from = self.window(1, 30);
                let date = date_between(&mut self.rng, from, self.ctx.today - Duration::days(20));
                let author = self.author(date);
                rows.entries.push(self.entry(
                    RecordSection::Allergies,
                    allergy.code.snomed,
                    allergy.code.term,
                    date,
                    Some(allergy.reaction.to_owned()),
                    Some(author),
                ));
                any = true;
            }
        }
        if !any && self.rng.random_bool(0.8) {
            let from = self.window(0, 12);
            let date = date_between(&mut self.rng, from, self.ctx.today - Duration::days(20));
            let author = self.author(date);
            rows.entries.push(self.entry(
                RecordSection::Allergies,
                NO_KNOWN_ALLERGY.snomed,
                NO_KNOWN_ALLERGY.term,
                date,
                None,
                Some(author),
            ));
        }
    }

    /// A course and the medication entry that records it.
    fn course(
        &mut self,
        rows: &mut Rows,
        drug: &Drug,
        start: NaiveDate,
        course_type: CourseType,
        hidden_from_proxies: bool,
    ) {
        let today = self.ctx.today;
        let acute = course_type == CourseType::Acute;
        let (last_issue, next_issue, review, ended_on) = if acute {
            (
                Some(start),
                None,
                None,
                Some(start + Duration::days(drug.days)),
            )
        } else {
            let since_last = self.rng.random_range(0..=(drug.days + 14));
            let last = (today - Duration::days(since_last)).max(start);
            let review = today + Duration::days(self.rng.random_range(-90..330));
            (
                Some(last),
                Some(last + Duration::days(drug.days)),
                Some(review),
                None,
            )
        };
        let external_id = self.external_id("C");
        rows.courses.push(courses::Model {
            id: new_id(&mut self.rng),
            practice_id: self.person.model.practice_id,
            patient_id: self.person.model.id,
            external_id: Some(external_id),
            snomed_code: drug.snomed.to_owned(),
            medication: drug.name.to_owned(),
            dosage: drug.dosage.to_owned(),
            quantity: drug.quantity.to_owned(),
            course_type,
            can_be_requested: course_type == CourseType::Repeat && drug.requestable,
            last_issue_date: last_issue,
            next_issue_date: next_issue,
            review_date: review,
            hidden: false,
            hidden_from_proxies,
            ended_on,
            created_at: self.ctx.now,
            updated_at: self.ctx.now,
        });
        let author = self.author(start);
        let mut entry = self.entry(
            RecordSection::Medications,
            drug.snomed,
            drug.name,
            start,
            Some(format!("{}. Quantity: {}", drug.dosage, drug.quantity)),
            Some(author),
        );
        entry.end_date = ended_on;
        entry.hidden_from_proxies = hidden_from_proxies;
        rows.entries.push(entry);
    }

    fn medications(&mut self, rows: &mut Rows) {
        for position in 0..self.conditions.len() {
            let (Some(condition), Some(onset)) = (
                self.conditions.get(position).copied(),
                self.onsets.get(&position).copied(),
            ) else {
                continue;
            };
            for (group, drugs) in condition.drugs.iter().enumerate() {
                if drugs.is_empty() || (group > 0 && !self.rng.random_bool(0.45)) {
                    continue;
                }
                let drug = *pick(&mut self.rng, drugs);
                if rows
                    .courses
                    .iter()
                    .any(|c| c.patient_id == self.person.model.id && c.snomed_code == drug.snomed)
                {
                    continue;
                }
                let start = (onset + Duration::days(self.rng.random_range(0..60)))
                    .min(self.ctx.today - Duration::days(14));
                let course_type = match self.rng.random_range(0..100) {
                    0..=87 => CourseType::Repeat,
                    88..=97 => CourseType::RepeatDispensing,
                    _ => CourseType::Automatic,
                };
                let sensitive = matches!(condition.cond, Cond::Depression | Cond::Anxiety)
                    && self.rng.random_bool(0.3);
                self.course(rows, &drug, start, course_type, sensitive);
            }
        }
        // Contraception for some women, kept from proxies.
        if self.sex == Sex::Female
            && (16..=45).contains(&self.person.age)
            && self.rng.random_bool(0.15)
        {
            let from = self.window(16, 6);
            let start = date_between(&mut self.rng, from, self.ctx.today - Duration::days(30));
            self.course(rows, &DESOGESTREL_75, start, CourseType::Repeat, true);
        }
    }

    fn immunisation(
        &mut self,
        rows: &mut Rows,
        code: catalogue::Coded,
        date: NaiveDate,
        detail: &str,
    ) {
        if date >= self.ctx.today || date < self.dob {
            return;
        }
        let nurse = self.ctx.staff.nurse.name.to_owned();
        let author = if date < NaiveDate::from_ymd_opt(2016, 9, 1).unwrap_or(NaiveDate::MIN) {
            "Practice nurse".to_owned()
        } else {
            nurse
        };
        rows.entries.push(self.entry(
            RecordSection::Immunisations,
            code.snomed,
            code.term,
            date,
            Some(detail.to_owned()),
            Some(author),
        ));
    }

    fn immunisations(&mut self, rows: &mut Rows) {
        let dob = self.dob;
        let weeks = |w: i64| dob + Duration::weeks(w);
        if self.person.age < 25 {
            let rotavirus_from = NaiveDate::from_ymd_opt(2013, 7, 1).unwrap_or(NaiveDate::MIN);
            let schedule: [(catalogue::Coded, NaiveDate, &str); 13] = [
                (
                    SIX_IN_ONE_VACCINE,
                    weeks(8),
                    "Dose 1. Infanrix hexa, left thigh.",
                ),
                (MENB_VACCINE, weeks(8), "Dose 1. Bexsero, left thigh."),
                (ROTAVIRUS_VACCINE, weeks(8), "Dose 1. Rotarix, oral."),
                (
                    SIX_IN_ONE_VACCINE,
                    weeks(12),
                    "Dose 2. Infanrix hexa, left thigh.",
                ),
                (
                    PNEUMOCOCCAL_VACCINE,
                    weeks(12),
                    "Dose 1. Prevenar 13, right thigh.",
                ),
                (ROTAVIRUS_VACCINE, weeks(12), "Dose 2. Rotarix, oral."),
                (
                    SIX_IN_ONE_VACCINE,
                    weeks(16),
                    "Dose 3. Infanrix hexa, left thigh.",
                ),
                (MENB_VACCINE, weeks(16), "Dose 2. Bexsero, left thigh."),
                (
                    HIB_MENC_VACCINE,
                    weeks(53),
                    "Booster. Menitorix, left upper arm.",
                ),
                (MMR_VACCINE, weeks(53), "Dose 1. Priorix, right upper arm."),
                (
                    PNEUMOCOCCAL_VACCINE,
                    weeks(54),
                    "Booster. Prevenar 13, left thigh.",
                ),
                (
                    MMR_SECOND_VACCINE,
                    weeks(174),
                    "Dose 2. Priorix, right upper arm.",
                ),
                (
                    TD_IPV_VACCINE,
                    years_after(dob, 14) + Duration::days(40),
                    "Teenage booster. Revaxis.",
                ),
            ];
            for (code, date, detail) in schedule {
                if code.snomed == ROTAVIRUS_VACCINE.snomed && dob < rotavirus_from {
                    continue;
                }
                if self.rng.random_bool(0.95) {
                    let date = date + Duration::days(self.rng.random_range(0..10));
                    self.immunisation(rows, code, date, detail);
                }
            }
            let hpv_for_boys = NaiveDate::from_ymd_opt(2006, 9, 1).unwrap_or(NaiveDate::MIN);
            if self.sex == Sex::Female || dob >= hpv_for_boys {
                let date = years_after(dob, 12) + Duration::days(self.rng.random_range(200..300));
                self.immunisation(rows, HPV_VACCINE, date, "Gardasil 9. Given in school.");
            }
            let date = years_after(dob, 14) + Duration::days(self.rng.random_range(40..120));
            self.immunisation(rows, MENACWY_VACCINE, date, "Nimenrix. Given in school.");
        }
        // Seasonal flu: over-65s, people with long-term conditions, and children (nasal).
        let at_risk = self.conditions.iter().any(|c| {
            matches!(
                c.cond,
                Cond::Asthma
                    | Cond::Copd
                    | Cond::Diabetes
                    | Cond::IschaemicHeartDisease
                    | Cond::HeartFailure
                    | Cond::Ckd3
                    | Cond::Stroke
            )
        });
        let uptake = if self.person.age >= 65 { 0.8 } else { 0.55 };
        for year in (self.ctx.today.year() - 8)..=self.ctx.today.year() {
            let start = NaiveDate::from_ymd_opt(year, 9, 25).unwrap_or(NaiveDate::MIN);
            let age = self.age_on(start);
            let child = (2..=15).contains(&age);
            if !(age >= 65 || child || (at_risk && age >= 16)) || !self.rng.random_bool(uptake) {
                continue;
            }
            let date = start + Duration::days(self.rng.random_range(5..70));
            let detail = if child {
                "Fluenz (live attenuated influenza vaccine) nasal spray."
            } else if age >= 65 {
                "Adjuvanted quadrivalent influenza vaccine, left deltoid."
            } else {
                "Quadrivalent influenza vaccine (cell-based), left deltoid."
            };
            self.immunisation(rows, FLU_VACCINE, date, detail);
        }
        // COVID-19: primary course in 2021, then seasonal boosters for older people.
        let first = NaiveDate::from_ymd_opt(2021, 1, 8).unwrap_or(NaiveDate::MIN);
        let age_2021 = self.age_on(first);
        if age_2021 >= 18 && self.rng.random_bool(0.88) {
            let offset = i64::from((95 - age_2021.min(95)) * 2) + self.rng.random_range(0..14);
            let dose1 = first + Duration::days(offset);
            let dose2 = dose1 + Duration::days(self.rng.random_range(56..84));
            self.immunisation(
                rows,
                COVID_VACCINE,
                dose1,
                "Dose 1. Comirnaty (Pfizer BioNTech).",
            );
            self.immunisation(
                rows,
                COVID_VACCINE,
                dose2,
                "Dose 2. Comirnaty (Pfizer BioNTech).",
            );
            if self.rng.random_bool(0.75) {
                let booster = NaiveDate::from_ymd_opt(2021, 10, 1).unwrap_or(NaiveDate::MIN)
                    + Duration::days(self.rng.random_range(0..75));
                self.immunisation(rows, COVID_VACCINE, booster, "Booster. Spikevax (Moderna).");
            }
            for year in 2022..=self.ctx.today.year() {
                let autumn = NaiveDate::from_ymd_opt(year, 9, 20).unwrap_or(NaiveDate::MIN);
                if self.age_on(autumn) >= 65 && self.rng.random_bool(0.65) {
                    let date = autumn + Duration::days(self.rng.random_range(0..60));
                    self.immunisation(rows, COVID_VACCINE, date, "Autumn booster. Comirnaty.");
                }
            }
        }
        if self.person.age >= 66 && self.rng.random_bool(0.75) {
            let date = years_after(self.dob, 65) + Duration::days(self.rng.random_range(30..300));
            self.immunisation(rows, PNEUMOCOCCAL_VACCINE, date, "PPV23, left deltoid.");
        }
        if self.person.age >= 20 && self.rng.random_bool(0.06) {
            let from = self.window(18, 10);
            let date = date_between(&mut self.rng, from, self.ctx.today - Duration::days(30));
            self.immunisation(rows, TD_IPV_VACCINE, date, "Travel booster. Revaxis.");
        }
    }

    /// How a consultation happened, as the note begins.
    fn channel_prefix(&mut self) -> &'static str {
        match self.rng.random_range(0..100) {
            0..=34 => "Telephone consultation.",
            35..=39 => "Video consultation.",
            40..=44 if self.person.age >= 85 => "Home visit.",
            _ => "Face to face.",
        }
    }

    fn consultations(&mut self, rows: &mut Rows) {
        let age = self.person.age;
        let base = match age {
            0..=4 => self.rng.random_range(2..=6),
            5..=15 => self.rng.random_range(1..=5),
            16..=39 => self.rng.random_range(4..=12),
            40..=64 => self.rng.random_range(6..=15),
            _ => self.rng.random_range(8..=18),
        };
        let count = (base + 2 * self.conditions.len()).clamp(2, 20);
        let from = self.window(0, 12) + Duration::days(14);
        let to = self.ctx.today - Duration::days(1);
        // Child health surveillance.
        if age < 5 {
            let date = self.dob + Duration::weeks(7);
            if date < to {
                let gp = self.author(date);
                rows.entries.push(
                    self.entry(
                        RecordSection::Consultations,
                        CHILD_CHECK.snomed,
                        CHILD_CHECK.term,
                        date,
                        Some(
                            "Face to face. 6–8 week baby check. Feeding well, weight on the 50th \
                         centile. Hips stable, red reflexes present bilaterally, testes \
                         descended where applicable, heart sounds normal. Parent's mood \
                         discussed."
                                .to_owned(),
                        ),
                        Some(gp),
                    ),
                );
            }
        }
        if (40..=74).contains(&age) && self.rng.random_bool(0.4) {
            let date = date_between(&mut self.rng, from.max(to - Duration::days(1800)), to);
            let nurse = self.ctx.staff.nurse.name.to_owned();
            let qrisk = self.rng.random_range(20..180);
            let bmi = self.rng.random_range(210..340);
            rows.entries.push(self.entry(
                RecordSection::Consultations,
                HEALTH_CHECK.snomed,
                HEALTH_CHECK.term,
                date,
                Some(format!(
                    "Face to face. NHS Health Check. QRISK3 {}.{}%. BMI {}.{}. AUDIT-C 3. \
                     Physical activity: moderately active. Lifestyle advice given; results \
                     discussed.",
                    qrisk / 10,
                    qrisk % 10,
                    bmi / 10,
                    bmi % 10
                )),
                Some(nurse),
            ));
        }
        let eligible: Vec<&catalogue::Complaint> = COMPLAINTS
            .iter()
            .filter(|c| {
                (i32::try_from(c.ages.0).unwrap_or(0)..=i32::try_from(c.ages.1).unwrap_or(120))
                    .contains(&age)
            })
            .collect();
        let total: u32 = eligible.iter().map(|c| c.weight).sum();
        for _ in 0..count {
            // Recent years are busier than the distant past.
            let recent_from = (to - Duration::days(4 * 365)).max(from);
            let date = if self.rng.random_bool(0.6) {
                date_between(&mut self.rng, recent_from, to)
            } else {
                date_between(&mut self.rng, from, to)
            };
            let prefix = self.channel_prefix();
            let kind = self.rng.random_range(0..100);
            if kind < 25 && !self.conditions.is_empty() {
                let condition = *pick(&mut self.rng, &self.conditions);
                let bp = format!(
                    "{}/{}",
                    self.rng.random_range(122..146),
                    self.rng.random_range(72..90)
                );
                let note = condition.review.replace("{bp}", &bp);
                let author = self.author(date);
                rows.entries.push(self.entry(
                    RecordSection::Consultations,
                    condition.snomed,
                    condition.term,
                    date,
                    Some(format!("{prefix} {note}")),
                    Some(author),
                ));
                continue;
            }
            if kind < 35
                && rows
                    .courses
                    .iter()
                    .any(|c| c.patient_id == self.person.model.id)
            {
                let author = self.author(date);
                rows.entries.push(self.entry(
                    RecordSection::Consultations,
                    MEDICATION_REVIEW.snomed,
                    MEDICATION_REVIEW.term,
                    date,
                    Some(format!(
                        "{prefix} Structured medication review. Taking all medicines as \
                         prescribed; no side effects reported. Repeat templates updated and \
                         review date set for 12 months."
                    )),
                    Some(author),
                ));
                continue;
            }
            if total == 0 {
                continue;
            }
            let mut roll = self.rng.random_range(0..total);
            let mut chosen = None;
            for complaint in &eligible {
                if roll < complaint.weight {
                    chosen = Some(*complaint);
                    break;
                }
                roll -= complaint.weight;
            }
            let Some(complaint) = chosen else { continue };
            let note = *pick(&mut self.rng, complaint.notes);
            let author = self.author(date);
            let mut entry = self.entry(
                RecordSection::Consultations,
                complaint.code.snomed,
                complaint.code.term,
                date,
                Some(format!("{prefix} {note}")),
                Some(author),
            );
            if complaint.sensitive && self.rng.random_bool(0.5) {
                entry.hidden_from_proxies = true;
            }
            rows.entries.push(entry);
            // No anti-inflammatories for older people (kidneys, bleeding risk).
            let nsaid = complaint.code.snomed == "279039007";
            if let Some(drug) = complaint.treatment
                && !(nsaid && age >= 65)
                && self.rng.random_bool(0.45)
            {
                self.course(rows, &drug, date, CourseType::Acute, false);
            }
        }
        // Third-party or safeguarding information is hidden from online view entirely.
        if self.rng.random_bool(0.03) || self.person.index == 6 {
            let date = date_between(&mut self.rng, from, to);
            let detail = if age < 16 {
                "Health visitor liaison. Safeguarding discussion with the school nurse about \
                 concerns raised by a relative. Information shared in confidence by a third \
                 party. Safeguarding lead informed."
            } else {
                "Relative attended separately and shared concerns about the patient's safety \
                 at home. Third-party information given in confidence. Safeguarding lead \
                 informed; plan agreed at practice safeguarding meeting."
            };
            let author = self.author(date);
            let mut entry = self.entry(
                RecordSection::Consultations,
                CONSULTATION.snomed,
                CONSULTATION.term,
                date,
                Some(format!("Face to face. {detail}")),
                Some(author),
            );
            entry.hidden = true;
            rows.entries.push(entry);
        }
    }

    /// The patient's own physiology: a baseline for each analyte.
    fn baselines(&mut self) -> BTreeMap<u8, f64> {
        let mut baselines = BTreeMap::new();
        let age = f64::from(self.person.age);
        for panel in [
            Panel::Fbc,
            Panel::Renal,
            Panel::Lipids,
            Panel::HbA1c,
            Panel::Thyroid,
            Panel::Liver,
            Panel::Acr,
        ] {
            for test in panel_tests(panel, self.sex) {
                let mut mean = test.mean;
                let mut sd = test.sd;
                match test.analyte {
                    Analyte::Egfr => {
                        mean = 108.0 - 0.75 * (age - 25.0).max(0.0);
                        if self.has(Cond::Ckd3) {
                            mean = 47.0;
                            sd = 6.0;
                        }
                    }
                    Analyte::HbA1c if self.has(Cond::Diabetes) => {
                        mean = 56.0;
                        sd = 8.0;
                    }
                    Analyte::Cholesterol | Analyte::Ldl
                        if self.has(Cond::Hyperlipidaemia)
                            || self.has(Cond::IschaemicHeartDisease)
                            || self.has(Cond::Stroke)
                            || self.has(Cond::Diabetes) =>
                    {
                        // On a statin.
                        mean *= 0.75;
                    }
                    Analyte::Acr if self.has(Cond::Diabetes) || self.has(Cond::Ckd3) => {
                        mean = 3.0;
                        sd = 2.0;
                    }
                    Analyte::Haemoglobin if self.has(Cond::Ckd3) || age >= 80.0 => {
                        mean -= 10.0;
                    }
                    _ => {}
                }
                let value = (mean + sd * normal(&mut self.rng)).max(test.min);
                baselines.insert(test.analyte as u8, value);
            }
        }
        baselines
    }

    fn results(&mut self, rows: &mut Rows) {
        let today = self.ctx.today;
        let monitored = self.conditions.iter().any(|c| !c.panels.is_empty());
        // Dates of the blood tests (episodes) and what each one covered.
        let mut episodes: Vec<(NaiveDate, BTreeSet<Panel>)> = Vec::new();
        if monitored {
            let first_onset = self
                .conditions
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.panels.is_empty())
                .filter_map(|(position, _)| self.onsets.get(&position).copied())
                .min()
                .unwrap_or(today);
            let diabetes = self.onset_of(Cond::Diabetes);
            let mut date = (today - Duration::days(5 * 365)).max(first_onset);
            while date < today - Duration::days(7) {
                let jitter = self.rng.random_range(-20..20);
                let day = (date + Duration::days(jitter)).min(today - Duration::days(8));
                // Annual bloods cover the basics, plus what each diagnosed condition needs.
                let mut set: BTreeSet<Panel> = [Panel::Fbc, Panel::Renal].into_iter().collect();
                for (position, condition) in self.conditions.iter().enumerate() {
                    if self
                        .onsets
                        .get(&position)
                        .is_some_and(|onset| *onset <= day)
                    {
                        set.extend(condition.panels.iter().copied());
                    }
                }
                episodes.push((day, set));
                let interval = if diabetes.is_some_and(|onset| onset <= day) {
                    182
                } else {
                    365
                };
                date += Duration::days(interval + self.rng.random_range(-30..30));
            }
        } else if self.rng.random_bool(0.65) {
            let count = self.rng.random_range(1..=2);
            for _ in 0..count {
                let from = self.window(18, 6);
                let day = date_between(&mut self.rng, from, today - Duration::days(8));
                let mut set = BTreeSet::new();
                set.insert(Panel::Fbc);
                for extra in [Panel::Renal, Panel::Liver, Panel::Thyroid, Panel::HbA1c] {
                    if self.rng.random_bool(0.6) {
                        set.insert(extra);
                    }
                }
                if self.person.age >= 40 && self.rng.random_bool(0.6) {
                    set.insert(Panel::Lipids);
                }
                episodes.push((day, set));
            }
        }
        if let Some(onset) = self.onset_of(Cond::Hypothyroidism) {
            for (day, set) in &mut episodes {
                if *day >= onset {
                    set.insert(Panel::Thyroid);
                }
            }
        }
        episodes.sort_by_key(|(day, _)| *day);
        if episodes.len() > 6 {
            let drop = episodes.len() - 6;
            episodes.drain(..drop);
        }
        // Some patients have bloods back in the last few days, not yet reviewed.
        if !episodes.is_empty() && self.rng.random_bool(0.12) {
            let day = today - Duration::days(self.rng.random_range(1..6));
            let set = episodes
                .last()
                .map(|(_, set)| set.clone())
                .unwrap_or_default();
            episodes.push((day, set));
        }
        if episodes.is_empty() {
            return;
        }
        let baselines = self.baselines();
        let requester = self.gp();
        let diabetes = self.onset_of(Cond::Diabetes);
        let last = episodes.len() - 1;
        for (number, (day, set)) in episodes.into_iter().enumerate() {
            let received = self.ctx.not_after_now(uk_time(
                day + Duration::days(1),
                13 + self.rng.random_range(0..4),
                self.rng.random_range(0..60),
            ));
            let pending = number == last && day >= today - Duration::days(6);
            let years_ago = f64::from(i32::try_from((today - day).num_days()).unwrap_or(0)) / 365.0;
            let first = rows.results.len();
            for panel in set {
                if panel == Panel::BloodPressure {
                    let systolic_mean = if self.has(Cond::Hypertension) {
                        138.0
                    } else {
                        124.0
                    };
                    let systolic = (systolic_mean + 9.0 * normal(&mut self.rng)).round();
                    let diastolic = (systolic * 0.58 + 5.0 * normal(&mut self.rng)).round();
                    let high = systolic >= 140.0 || diastolic >= 90.0;
                    let value = format!("{systolic:.0}/{diastolic:.0}");
                    let flag = if high {
                        AbnormalFlag::High
                    } else {
                        AbnormalFlag::Normal
                    };
                    let row = self.result_row(
                        BLOOD_PRESSURE.0,
                        BLOOD_PRESSURE.1,
                        value,
                        None,
                        Some("mmHg"),
                        (None, None),
                        Some("< 140/90".to_owned()),
                        flag,
                        &requester,
                        day,
                        received,
                    );
                    rows.results.push(row);
                    continue;
                }
                for test in panel_tests(panel, self.sex) {
                    let baseline = baselines
                        .get(&(test.analyte as u8))
                        .copied()
                        .unwrap_or(test.mean);
                    let mut value = baseline + 0.45 * test.sd * normal(&mut self.rng);
                    match test.analyte {
                        // Raised before diagnosis, worst at diagnosis, better with treatment.
                        Analyte::HbA1c if diabetes.is_some() => {
                            let since = diabetes.map_or(0, |onset| (day - onset).num_days());
                            value = if since < 0 {
                                44.0 + 2.0 * normal(&mut self.rng)
                            } else {
                                value + 12.0 * (-(since as f64) / 300.0).exp()
                            };
                        }
                        // Kidney function drifts down slowly.
                        Analyte::Egfr => value += 1.2 * years_ago,
                        // An under-replaced thyroid now and then.
                        Analyte::Tsh
                            if self.has(Cond::Hypothyroidism) && self.rng.random_bool(0.25) =>
                        {
                            value = 5.0 + 4.0 * self.rng.random::<f64>();
                        }
                        _ => {}
                    }
                    let value = value.max(test.min);
                    let row = self.numeric_result(test, value, &requester, day, received);
                    rows.results.push(row);
                }
            }
            // Review: pending, released (mostly), or withheld.
            let start = rows.results.len();
            let all_normal = rows
                .results
                .iter()
                .skip(first)
                .all(|r| r.abnormal_flag == AbnormalFlag::Normal);
            let reviewer = if self.rng.random_bool(0.7) {
                requester.clone()
            } else {
                self.gp()
            };
            let reviewed = self.ctx.not_after_now(
                received
                    + Duration::days(self.rng.random_range(0..3))
                    + Duration::hours(self.rng.random_range(1..6)),
            );
            let normal_comment = self.rng.random_bool(0.8);
            for index in first..start {
                let withhold = self.rng.random_bool(0.012);
                let hidden = self.rng.random_bool(0.006);
                let hidden_from_proxies = self.rng.random_bool(0.006);
                let reason = if self.rng.random_bool(0.5) {
                    WithholdReason::ThirdParty
                } else {
                    WithholdReason::SeriousHarm
                };
                let Some(row) = rows.results.get_mut(index) else {
                    continue;
                };
                row.hidden = hidden;
                row.hidden_from_proxies = hidden_from_proxies;
                if pending {
                    continue;
                }
                row.reviewed_at = Some(reviewed);
                row.reviewed_by_staff_id = Some(reviewer.id);
                if withhold {
                    row.review_state = ReviewState::Withheld;
                    row.withhold_reason = Some(reason);
                    row.clinician_comment =
                        Some("Withheld: discuss with the patient before release.".to_owned());
                    continue;
                }
                row.review_state = ReviewState::Released;
                row.released_at = Some(reviewed);
                row.clinician_comment = if all_normal {
                    normal_comment.then(|| "Normal – no action".to_owned())
                } else {
                    comment(row)
                };
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn result_row(
        &mut self,
        code: &str,
        name: &str,
        value: String,
        numeric: Option<f64>,
        unit: Option<&str>,
        range: (Option<f64>, Option<f64>),
        range_text: Option<String>,
        flag: AbnormalFlag,
        requester: &StaffMember,
        day: NaiveDate,
        received: DateTime<Utc>,
    ) -> results::Model {
        let external_id = self.external_id("R");
        results::Model {
            id: new_id(&mut self.rng),
            practice_id: self.person.model.practice_id,
            patient_id: self.person.model.id,
            external_id: Some(external_id),
            test_code: code.to_owned(),
            test_name: name.to_owned(),
            value,
            numeric_value: numeric,
            unit: unit.map(str::to_owned),
            range_low: range.0,
            range_high: range.1,
            range_text,
            abnormal_flag: flag,
            requester: Some(requester.name.to_owned()),
            effective_date: day,
            received_at: received,
            entered_on: received.date_naive(),
            review_state: ReviewState::Pending,
            reviewed_at: None,
            reviewed_by_staff_id: None,
            clinician_comment: None,
            withhold_reason: None,
            released_at: None,
            retracted_at: None,
            retraction_reason: None,
            hidden: false,
            hidden_from_proxies: false,
            created_at: self.ctx.now,
            updated_at: self.ctx.now,
        }
    }

    fn numeric_result(
        &mut self,
        test: &TestDef,
        value: f64,
        requester: &StaffMember,
        day: NaiveDate,
        received: DateTime<Utc>,
    ) -> results::Model {
        let scale = 10f64.powi(i32::try_from(test.decimals).unwrap_or(0));
        let rounded = (value * scale).round() / scale;
        let (text, numeric) = if test.analyte == Analyte::Egfr && rounded > 90.0 {
            (">90".to_owned(), 90.0)
        } else {
            (format!("{rounded:.prec$}", prec = test.decimals), rounded)
        };
        let flag = match (test.low, test.high) {
            (Some(low), _) if numeric < low => AbnormalFlag::Low,
            (_, Some(high)) if numeric > high => AbnormalFlag::High,
            _ => AbnormalFlag::Normal,
        };
        let range_text = match (test.low, test.high) {
            (Some(low), Some(high)) => Some(format!("{low} - {high}")),
            (None, Some(high)) => Some(format!("< {high}")),
            (Some(low), None) => Some(format!("> {low}")),
            (None, None) => None,
        };
        self.result_row(
            test.code,
            test.name,
            text,
            Some(numeric),
            Some(test.unit),
            (test.low, test.high),
            range_text,
            flag,
            requester,
            day,
            received,
        )
    }

    fn documents(&mut self, rows: &mut Rows, blobs: &mut BTreeMap<String, blobs::Model>) {
        let today = self.ctx.today;
        let mut letters: Vec<&'static LetterTemplate> = LETTERS
            .iter()
            .filter(|(cond, _)| cond.is_none_or(|c| self.has(c)))
            .map(|(_, template)| template)
            .collect();
        let count = match self.rng.random_range(0..100) {
            0..=29 => 0,
            30..=64 => 1,
            65..=89 => 2,
            _ => 3,
        };
        let mut chosen = Vec::new();
        for _ in 0..count {
            if letters.is_empty() {
                break;
            }
            let position = self.rng.random_range(0..letters.len());
            chosen.push(letters.swap_remove(position));
        }
        if (60..=74).contains(&self.person.age) && self.rng.random_bool(0.5) {
            chosen.push(&SCREENING_LEAFLET);
        }
        let recent_pending = self.rng.random_bool(0.07);
        let total = chosen.len();
        for (number, template) in chosen.into_iter().enumerate() {
            let from = self.window(18, 6);
            let pending = recent_pending && number + 1 == total;
            let effective = if pending {
                today - Duration::days(self.rng.random_range(2..8))
            } else {
                date_between(&mut self.rng, from, today - Duration::days(14))
            };
            self.document(
                rows,
                blobs,
                template.kind,
                template.title,
                template.organisation,
                template.body,
                effective,
                pending,
                None,
            );
        }
        if self.rng.random_bool(0.012) || (self.person.index == 9) {
            let choice = usize::from(self.has(Cond::Depression) || self.has(Cond::Anxiety));
            if let Some((kind, title, organisation, body, serious)) = WITHHELD_LETTERS.get(choice) {
                let from = self.window(18, 4);
                let effective = date_between(&mut self.rng, from, today - Duration::days(20));
                let reason = if *serious {
                    WithholdReason::SeriousHarm
                } else {
                    WithholdReason::ThirdParty
                };
                self.document(
                    rows,
                    blobs,
                    *kind,
                    title,
                    organisation,
                    body,
                    effective,
                    false,
                    Some(reason),
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn document(
        &mut self,
        rows: &mut Rows,
        blobs: &mut BTreeMap<String, blobs::Model>,
        kind: LetterKind,
        title: &str,
        organisation: &str,
        body: &str,
        effective: NaiveDate,
        pending: bool,
        withheld: Option<WithholdReason>,
    ) {
        let gp = self.gp();
        let model = &self.person.model;
        let personal = !std::ptr::eq(body, SCREENING_LEAFLET.body);
        let content = if personal {
            let salutation = match kind {
                LetterKind::Referral => "Dear Colleague",
                LetterKind::Other => "Dear {name}",
                LetterKind::Discharge | LetterKind::Outpatient => "Dear {gp}",
            };
            format!("{organisation}\n\n{LETTER_HEADER}{salutation},\n\n{body}")
        } else {
            body.to_owned()
        }
        .replace(
            "{name}",
            &format!("{} {}", model.given_name, model.family_name),
        )
        .replace("{dob}", &model.date_of_birth.format("%d %B %Y").to_string())
        .replace("{nhs}", &model.nhs_number)
        .replace("{date}", &effective.format("%d %B %Y").to_string())
        .replace("{gp}", gp.name)
        .replace("{practice}", PRACTICE_NAME);
        let bytes = content.into_bytes();
        let sha = hex::encode(Sha256::digest(&bytes));
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let received = self.ctx.not_after_now(uk_time(
            effective + Duration::days(self.rng.random_range(1..4)),
            self.rng.random_range(9..17),
            self.rng.random_range(0..60),
        ));
        blobs.entry(sha.clone()).or_insert_with(|| blobs::Model {
            sha256: sha.clone(),
            content_type: "text/plain".to_owned(),
            size_bytes: size,
            content: bytes,
            created_at: self.ctx.now,
        });
        let document_type = match kind {
            LetterKind::Discharge => DocumentType::DischargeSummary,
            LetterKind::Outpatient => DocumentType::OutpatientLetter,
            LetterKind::Referral => DocumentType::ReferralLetter,
            LetterKind::Other => DocumentType::OtherLetter,
        };
        let reviewed = self
            .ctx
            .not_after_now(received + Duration::hours(self.rng.random_range(4..72)));
        let external_id = self.external_id("D");
        let mut row = documents::Model {
            id: new_id(&mut self.rng),
            practice_id: model.practice_id,
            patient_id: model.id,
            external_id: Some(external_id),
            document_type,
            title: title.to_owned(),
            author_organisation: Some(organisation.to_owned()),
            effective_date: effective,
            content_type: "text/plain".to_owned(),
            size_bytes: size,
            blob_sha256: sha,
            received_at: received,
            entered_on: received.date_naive(),
            review_state: ReviewState::Pending,
            reviewed_at: None,
            reviewed_by_staff_id: None,
            clinician_comment: None,
            withhold_reason: None,
            released_at: None,
            retracted_at: None,
            retraction_reason: None,
            hidden: false,
            hidden_from_proxies: false,
            created_at: self.ctx.now,
            updated_at: self.ctx.now,
        };
        if !pending {
            row.reviewed_at = Some(reviewed);
            row.reviewed_by_staff_id = Some(gp.id);
            if let Some(reason) = withheld {
                row.review_state = ReviewState::Withheld;
                row.withhold_reason = Some(reason);
            } else {
                row.review_state = ReviewState::Released;
                row.released_at = Some(reviewed);
                row.clinician_comment = match self.rng.random_range(0..10) {
                    0..=5 => None,
                    6..=8 => Some("Filed – no action needed".to_owned()),
                    _ => Some("Noted. Actions completed by the practice".to_owned()),
                };
            }
        }
        rows.documents.push(row);
    }
}

/// A clinician's comment on an abnormal released result.
fn comment(row: &results::Model) -> Option<String> {
    let text = match (row.test_code.as_str(), row.abnormal_flag) {
        (_, AbnormalFlag::Normal) => return None,
        (code, AbnormalFlag::High) if code == HBA1C.code => {
            "Above target – please book a diabetes review with the nurse"
        }
        ("1005671000000105" | "1022191000000100" | "1005691000000109", AbnormalFlag::High) => {
            "Raised – to discuss at your next review; no urgent action"
        }
        ("1011481000000105", AbnormalFlag::Low) => "Stable kidney function – recheck in 6 months",
        ("1022791000000101", AbnormalFlag::High) => {
            "TSH raised – please book a telephone appointment to adjust levothyroxine"
        }
        ("75367002", _) => "Blood pressure above target – please send home readings",
        _ => "Borderline – repeat with your next routine bloods",
    };
    Some(text.to_owned())
}

/// Retracts a couple of released results and one letter (laboratory amendments).
pub(super) fn retract_some(ctx: &Ctx, rows: &mut Rows) {
    let positions = [rows.results.len() / 3, 2 * rows.results.len() / 3];
    for start in positions {
        if let Some(row) = rows.results.iter_mut().skip(start).find(|r| {
            r.review_state == ReviewState::Released && !r.hidden && r.retracted_at.is_none()
        }) && let Some(released) = row.released_at
        {
            row.retracted_at = Some(ctx.not_after_now(released + Duration::days(2)));
            row.retraction_reason = Some(catalogue::RETRACTION_REASON.to_owned());
        }
    }
    let start = rows.documents.len() / 2;
    if let Some(row) = rows.documents.iter_mut().skip(start).find(|d| {
        d.review_state == ReviewState::Released && d.document_type == DocumentType::DischargeSummary
    }) && let Some(released) = row.released_at
    {
        row.retracted_at = Some(ctx.not_after_now(released + Duration::days(1)));
        row.retraction_reason = Some("Sent to the practice in error by the hospital.".to_owned());
    }
    // A consultation entry recorded against the wrong patient and withdrawn.
    let start = rows.entries.len() / 2;
    if let Some(entry) = rows
        .entries
        .iter_mut()
        .skip(start)
        .find(|e| e.section == RecordSection::Consultations && !e.hidden)
    {
        entry.retracted_at = Some(ctx.now - Duration::days(3));
    }
}
