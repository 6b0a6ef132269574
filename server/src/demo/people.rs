//! The people of the demo practice: the practice itself, its staff, 500 patients (a few
//! families and carers written by hand for the proxy scenarios, the rest drawn at random),
//! linkage details, record-access SNOMED codes and proxy grants.

use super::calendar::{prospective_access_date, uk_time, years_after, years_before};
use super::catalogue::{
    ACCESS_DECLINED, Cond, ENHANCED_REVIEW_INDICATED, ENHANCED_REVIEW_NOT_INDICATED, FAMILY_NAMES,
    GIVEN_NAMES, NEUTRAL_NAMES, PHARMACIES,
};
use super::{Ctx, Rows, date_between, new_id, pick, stream};
use crate::db::entities::patients::{AccessLevel, Sex};
use crate::db::entities::proxy_grants::{GrantStatus, LegalBasis};
use crate::db::entities::staff::StaffRole;
use crate::db::entities::{
    access_codes, carers, linkage_keys, patients, practices, proxy_grants, staff,
};
use crate::settings::PracticeSettings;
use crate::validate::{NhsNumber, age_on};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// The demo practice's ODS code.
pub(super) const ODS_CODE: &str = "A81001";
/// The demo practice's name.
pub(super) const PRACTICE_NAME: &str = "Riverside Medical Practice";
/// How many patients the demo registers.
pub(super) const PATIENT_COUNT: usize = 500;

const STREAM_PRACTICE: u64 = 1;
const STREAM_IDENTITY: u64 = 2;
const STREAM_LINKAGE: u64 = 3;
const STREAM_ACCESS_CODES: u64 = 4;
const STREAM_PROXIES: u64 = 5;

/// Characters of printed linkage details: no 0/O, 1/I.
const UNAMBIGUOUS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A member of staff as the generator refers to them.
#[derive(Debug, Clone)]
pub(super) struct StaffMember {
    pub id: Uuid,
    pub name: &'static str,
}

/// Who works at the practice.
#[derive(Debug, Clone)]
pub(super) struct StaffDirectory {
    /// The GPs (partners first).
    pub gps: Vec<StaffMember>,
    /// The practice nurse.
    pub nurse: StaffMember,
    /// The practice manager (decides proxy access, issues linkage details).
    pub manager: StaffMember,
    /// The receptionist (answers messages, issues linkage details).
    pub receptionist: StaffMember,
}

/// The GP whose name is on older entries, retired before the current team.
pub(super) const RETIRED_GP: &str = "Dr Alan Whitfield";

/// The practice's id, the same on every run.
pub(super) fn practice_id() -> Uuid {
    new_id(&mut stream(STREAM_PRACTICE))
}

/// The practice row and its staff.
pub(super) fn practice_and_staff(
    now: DateTime<Utc>,
) -> (practices::Model, Vec<staff::Model>, StaffDirectory) {
    let mut rng = stream(STREAM_PRACTICE);
    let id = new_id(&mut rng);
    let practice = practices::Model {
        id,
        ods_code: ODS_CODE.to_owned(),
        name: PRACTICE_NAME.to_owned(),
        live: true,
        prospective_access_date: Some(prospective_access_date()),
        settings: PracticeSettings::default().to_json(),
        created_at: now,
        updated_at: now,
    };
    let people: [(&'static str, StaffRole, &'static str); 6] = [
        ("Dr Sarah Mitchell", StaffRole::Clinician, "GP partner"),
        ("Dr James Okafor", StaffRole::Clinician, "GP partner"),
        ("Dr Priya Sharma", StaffRole::Clinician, "Salaried GP"),
        ("Emma Clarke", StaffRole::Clinician, "Practice nurse"),
        ("Karen Booth", StaffRole::Admin, "Practice manager"),
        ("Tom Hughes", StaffRole::Admin, "Receptionist"),
    ];
    let mut rows = Vec::new();
    let mut members = Vec::new();
    for (name, role, title) in people {
        let member = StaffMember {
            id: new_id(&mut rng),
            name,
        };
        rows.push(staff::Model {
            id: member.id,
            practice_id: id,
            display_name: name.to_owned(),
            role,
            job_title: Some(title.to_owned()),
            active: true,
            created_at: now,
            updated_at: now,
        });
        members.push(member);
    }
    let mut members = members.into_iter();
    let mut next = || {
        members.next().unwrap_or(StaffMember {
            id: Uuid::nil(),
            name: "",
        })
    };
    let gps = vec![next(), next(), next()];
    let directory = StaffDirectory {
        gps,
        nurse: next(),
        manager: next(),
        receptionist: next(),
    };
    (practice, rows, directory)
}

/// A patient as generated, with what the record generator needs to know.
#[derive(Debug, Clone)]
pub(super) struct Person {
    /// Position in the generation order (0-based); names the external ids.
    pub index: usize,
    pub model: patients::Model,
    /// Age on the load date.
    pub age: i32,
    /// Long-term conditions fixed by a scenario (`None`: drawn at random).
    pub conditions: Option<&'static [Cond]>,
    /// Whether the patient receives linkage details.
    pub gets_linkage: bool,
}

/// A hand-written patient of a proxy scenario.
struct Scripted {
    given: &'static str,
    family: &'static str,
    sex: Sex,
    years: u32,
    days: i64,
    access: AccessLevel,
    competent: bool,
    conditions: &'static [Cond],
}

/// The families behind the proxy scenarios (indices 0–10).
const SCRIPTED: &[Scripted] = &[
    // 0–2: a mother acting for her two young children.
    Scripted {
        given: "Laura",
        family: "Bennett",
        sex: Sex::Female,
        years: 34,
        days: 120,
        access: AccessLevel::Detailed,
        competent: false,
        conditions: &[Cond::Asthma],
    },
    Scripted {
        given: "Isla",
        family: "Bennett",
        sex: Sex::Female,
        years: 6,
        days: 200,
        access: AccessLevel::Detailed,
        competent: false,
        conditions: &[Cond::Eczema],
    },
    Scripted {
        given: "Noah",
        family: "Bennett",
        sex: Sex::Male,
        years: 1,
        days: 40,
        access: AccessLevel::Detailed,
        competent: false,
        conditions: &[],
    },
    // 3–5: a father acting for his 13-year-old (appointments and prescriptions only); the
    // 15-year-old daughter is judged competent and has her own access.
    Scripted {
        given: "Daniel",
        family: "Okoro",
        sex: Sex::Male,
        years: 45,
        days: 10,
        access: AccessLevel::Documents,
        competent: false,
        conditions: &[Cond::Hyperlipidaemia],
    },
    Scripted {
        given: "Samuel",
        family: "Okoro",
        sex: Sex::Male,
        years: 13,
        days: 150,
        access: AccessLevel::Detailed,
        competent: false,
        conditions: &[Cond::Eczema, Cond::AllergicRhinitis],
    },
    Scripted {
        given: "Grace",
        family: "Okoro",
        sex: Sex::Female,
        years: 15,
        days: 60,
        access: AccessLevel::Detailed,
        competent: true,
        conditions: &[Cond::Asthma],
    },
    // 6: an elderly woman with dementia; her daughter (a carer, not a patient here) holds a
    // lasting power of attorney for health and welfare.
    Scripted {
        given: "Margaret",
        family: "Whitworth",
        sex: Sex::Female,
        years: 88,
        days: 300,
        access: AccessLevel::Documents,
        competent: false,
        conditions: &[
            Cond::Dementia,
            Cond::Hypertension,
            Cond::Osteoarthritis,
            Cond::AtrialFibrillation,
        ],
    },
    // 7–8: an elderly father who consented to his son ordering his medicines and booking.
    Scripted {
        given: "Arthur",
        family: "Davies",
        sex: Sex::Male,
        years: 84,
        days: 90,
        access: AccessLevel::Detailed,
        competent: false,
        conditions: &[
            Cond::Copd,
            Cond::IschaemicHeartDisease,
            Cond::Hypertension,
            Cond::Diabetes,
        ],
    },
    Scripted {
        given: "Gareth",
        family: "Davies",
        sex: Sex::Male,
        years: 56,
        days: 220,
        access: AccessLevel::Detailed,
        competent: false,
        conditions: &[Cond::Hypertension],
    },
    // 9–10: a request for proxy access that the practice refused.
    Scripted {
        given: "Joanne",
        family: "Price",
        sex: Sex::Female,
        years: 41,
        days: 30,
        access: AccessLevel::Detailed,
        competent: false,
        conditions: &[Cond::Depression, Cond::Anxiety],
    },
    Scripted {
        given: "Mark",
        family: "Price",
        sex: Sex::Male,
        years: 43,
        days: 180,
        access: AccessLevel::Summary,
        competent: false,
        conditions: &[],
    },
];

/// Indices of the scripted people, for the proxy grants.
mod who {
    pub const LAURA: usize = 0;
    pub const ISLA: usize = 1;
    pub const NOAH: usize = 2;
    pub const DANIEL: usize = 3;
    pub const SAMUEL: usize = 4;
    pub const MARGARET: usize = 6;
    pub const ARTHUR: usize = 7;
    pub const GARETH: usize = 8;
    pub const JOANNE: usize = 9;
    pub const MARK: usize = 10;
}

/// Patients archived (left the practice or died).
const ARCHIVED: &[usize] = &[457, 488];

/// The age bands of the practice list: (youngest, oldest, weight).
const AGE_BANDS: &[(u32, u32, u32)] = &[
    (0, 4, 5),
    (5, 10, 7),
    (11, 15, 6),
    (16, 24, 10),
    (25, 34, 13),
    (35, 44, 13),
    (45, 54, 13),
    (55, 64, 12),
    (65, 74, 11),
    (75, 84, 7),
    (85, 95, 3),
];

/// A date of birth making someone `years` old today, `days` past their birthday.
fn birth_date(today: NaiveDate, years: u32, days: i64) -> NaiveDate {
    years_before(today, years) - Duration::days(days.clamp(0, 364))
}

/// Draws a given name for someone born in `year`.
fn given_name(rng: &mut impl Rng, sex: Sex, year: i32) -> &'static str {
    let era = GIVEN_NAMES
        .iter()
        .find(|era| year >= era.from_year)
        .or(GIVEN_NAMES.last());
    let names: &'static [&'static str] = match (era, sex) {
        (Some(era), Sex::Female) => era.female,
        (Some(era), Sex::Male) => era.male,
        _ => NEUTRAL_NAMES,
    };
    names[rng.random_range(0..names.len())]
}

/// A fresh valid NHS number in the 999 test range.
fn nhs_number(rng: &mut impl Rng, used: &mut HashSet<String>) -> String {
    loop {
        let mut first = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
        for digit in first.iter_mut().skip(3) {
            *digit = rng.random_range(0..10);
        }
        if let Some(number) = NhsNumber::from_first_nine(first) {
            let number = number.to_string();
            if used.insert(number.clone()) {
                return number;
            }
        }
    }
}

/// The 500 patients.
pub(super) fn patients(ctx: &Ctx) -> Vec<Person> {
    let mut rng = stream(STREAM_IDENTITY);
    let mut used = HashSet::new();
    let total_weight: u32 = AGE_BANDS.iter().map(|band| band.2).sum();
    let mut people = Vec::with_capacity(PATIENT_COUNT);
    for index in 0..PATIENT_COUNT {
        let id = new_id(&mut rng);
        let nhs = nhs_number(&mut rng, &mut used);
        // Random identity, drawn for everyone so the stream stays aligned.
        let sex = match rng.random_range(0..1000) {
            0..=4 => Sex::Other,
            5..=502 => Sex::Female,
            _ => Sex::Male,
        };
        let mut roll = rng.random_range(0..total_weight);
        let mut band = (16, 24);
        for (low, high, weight) in AGE_BANDS {
            if roll < *weight {
                band = (*low, *high);
                break;
            }
            roll -= weight;
        }
        let years = rng.random_range(band.0..=band.1);
        let days = rng.random_range(0..365);
        let family = *pick(&mut rng, FAMILY_NAMES);
        let access_roll = rng.random_range(0..100);
        let historic_roll = rng.random_range(0..100);
        let competent_roll = rng.random_range(0..100);
        let pharmacy_roll = rng.random_range(0..100);
        let pharmacy = *pick(&mut rng, PHARMACIES);
        let name_draw: u64 = rng.random();
        let historic_days = rng.random_range(0..3000);

        let scripted = SCRIPTED.get(index);
        let (given, family, sex, dob, access_level, competent, conditions) = match scripted {
            Some(s) => (
                s.given,
                s.family,
                s.sex,
                birth_date(ctx.today, s.years, s.days),
                s.access,
                s.competent,
                Some(s.conditions),
            ),
            None => {
                let dob = birth_date(ctx.today, years, days);
                let mut name_rng = super::stream_from(name_draw);
                let given = given_name(&mut name_rng, sex, dob.year());
                let access_level = match access_roll {
                    0..=74 => AccessLevel::Detailed,
                    75..=86 => AccessLevel::Documents,
                    87..=95 => AccessLevel::Summary,
                    _ => AccessLevel::None,
                };
                let competent = (13..=15).contains(&years) && competent_roll < 25;
                (given, family, sex, dob, access_level, competent, None)
            }
        };
        let age = age_on(dob, ctx.today);
        let archived = ARCHIVED.contains(&index);
        // A few adults were granted access to their older history before the switch-on.
        let record_access_from =
            (scripted.is_none() && age >= 25 && historic_roll < 6).then(|| {
                NaiveDate::from_ymd_opt(2015, 4, 1).unwrap_or(NaiveDate::MIN)
                    + Duration::days(historic_days)
            });
        let record_access_from =
            record_access_from.filter(|date| *date < prospective_access_date());
        // The demo's accounts are made when someone registers, so prospective access starts
        // that day; patients with detailed access were given their record from the switch-on
        // date by hand, as a practice does for patients who were online before.
        let record_access_from = match access_level {
            AccessLevel::Detailed | AccessLevel::Documents => {
                record_access_from.or(Some(prospective_access_date()))
            }
            AccessLevel::Summary | AccessLevel::None => record_access_from,
        };
        let model = patients::Model {
            id,
            practice_id: ctx.practice_id,
            external_id: Some(format!("EMIS-P-{:06}", index + 1)),
            nhs_number: nhs,
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            date_of_birth: dob,
            sex,
            access_level,
            record_access_from,
            competent,
            nominated_pharmacy_ods: (pharmacy_roll < 85).then(|| pharmacy.to_owned()),
            archived_at: archived.then(|| {
                uk_time(
                    ctx.today - Duration::days(40 + (90 * index as i64) % 300),
                    11,
                    20,
                )
            }),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        people.push(Person {
            index,
            model,
            age,
            conditions,
            gets_linkage: !archived && (age >= 16 || competent),
        });
    }
    people
}

/// Carers who act for a patient but are not patients of the practice.
pub(super) fn carers(ctx: &Ctx) -> Vec<carers::Model> {
    let mut rng = stream(STREAM_PROXIES);
    vec![carers::Model {
        id: new_id(&mut rng),
        practice_id: ctx.practice_id,
        given_name: "Helen".to_owned(),
        family_name: "Whitworth".to_owned(),
        date_of_birth: birth_date(ctx.today, 61, 45),
        created_at: ctx.now,
        updated_at: ctx.now,
    }]
}

/// Printed linkage details: an account code and a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LinkageDetails {
    pub account_code: String,
    pub key: String,
}

fn random_text(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(UNAMBIGUOUS[rng.random_range(0..UNAMBIGUOUS.len())]))
        .collect()
}

/// The linkage details of every patient index (`0..PATIENT_COUNT`) then every carer, drawn
/// from the seed alone: the same on every run, whatever the date.
pub(super) fn linkage_details(carers: usize) -> Vec<LinkageDetails> {
    let mut rng = stream(STREAM_LINKAGE);
    let mut codes = HashSet::new();
    let mut details = Vec::with_capacity(PATIENT_COUNT + carers);
    for _ in 0..PATIENT_COUNT + carers {
        let account_code = loop {
            let code = random_text(&mut rng, 10);
            if codes.insert(code.clone()) {
                break code;
            }
        };
        let key = format!(
            "{}-{}-{}",
            random_text(&mut rng, 5),
            random_text(&mut rng, 5),
            random_text(&mut rng, 5)
        );
        details.push(LinkageDetails { account_code, key });
    }
    details
}

/// Every demo account code with its printed linkage key.
pub(super) fn known_keys() -> BTreeMap<String, String> {
    linkage_details(CARER_COUNT)
        .into_iter()
        .map(|d| (d.account_code, d.key))
        .collect()
}

/// How many carers the demo has.
pub(super) const CARER_COUNT: usize = 1;

/// The stored hash of a printed linkage key: lowercase hex SHA-256 of the string as printed.
pub(super) fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Linkage keys for every eligible patient and every carer.
pub(super) fn linkage_keys(
    ctx: &Ctx,
    people: &[Person],
    carers: &[carers::Model],
) -> Vec<linkage_keys::Model> {
    let details = linkage_details(carers.len());
    let mut rng = stream(STREAM_LINKAGE + 100);
    let valid_days = i64::from(PracticeSettings::default().linkage_key_valid_days);
    let issue = |rng: &mut rand_chacha::ChaCha8Rng,
                 detail: &LinkageDetails,
                 patient_id: Option<Uuid>,
                 carer_id: Option<Uuid>| {
        let issuer = if rng.random_bool(0.7) {
            &ctx.staff.receptionist
        } else {
            &ctx.staff.manager
        };
        linkage_keys::Model {
            id: new_id(rng),
            practice_id: ctx.practice_id,
            patient_id,
            carer_id,
            account_code: detail.account_code.clone(),
            key_hash: key_hash(&detail.key),
            recovery: false,
            failed_attempts: 0,
            expires_at: ctx.now + Duration::days(valid_days),
            locked_at: None,
            used_at: None,
            revoked_at: None,
            issued_by_staff_id: Some(issuer.id),
            created_at: ctx.now,
        }
    };
    let mut rows = Vec::new();
    for person in people {
        if let Some(detail) = details.get(person.index)
            && person.gets_linkage
        {
            rows.push(issue(&mut rng, detail, Some(person.model.id), None));
        }
    }
    for (position, carer) in carers.iter().enumerate() {
        if let Some(detail) = details.get(PATIENT_COUNT + position) {
            rows.push(issue(&mut rng, detail, None, Some(carer.id)));
        }
    }
    rows
}

/// Record-access SNOMED codes: enhanced review indicated (one later overridden) and access
/// declined by the patient.
pub(super) fn access_codes(ctx: &Ctx, people: &[Person]) -> Vec<access_codes::Model> {
    let mut rng = stream(STREAM_ACCESS_CODES);
    let candidates: Vec<&Person> = people
        .iter()
        .filter(|p| p.index >= SCRIPTED.len() && p.gets_linkage && p.age >= 16)
        .collect();
    let mut chosen = HashSet::new();
    let mut draw = |rng: &mut rand_chacha::ChaCha8Rng| loop {
        if chosen.len() >= candidates.len() {
            return None;
        }
        let person = candidates[rng.random_range(0..candidates.len())];
        if chosen.insert(person.index) {
            return Some(person);
        }
    };
    let mut rows = Vec::new();
    let switch_on = prospective_access_date();
    for n in 0..10 {
        let Some(person) = draw(&mut rng) else { break };
        let gp = pick(&mut rng, &ctx.staff.gps);
        let (code, recorded) = if n < 6 {
            // Reviewed before the national switch-on.
            (
                ENHANCED_REVIEW_INDICATED,
                switch_on - Duration::days(rng.random_range(2..40)),
            )
        } else {
            (
                ACCESS_DECLINED,
                date_between(&mut rng, switch_on, ctx.today - Duration::days(20)),
            )
        };
        rows.push(access_codes::Model {
            id: new_id(&mut rng),
            practice_id: person.model.practice_id,
            patient_id: person.model.id,
            external_id: Some(format!(
                "EMIS-AC-{:06}-{}",
                person.index + 1,
                rows.len() + 1
            )),
            snomed_code: code.to_owned(),
            recorded_at: uk_time(
                recorded,
                10 + rng.random_range(0..7),
                rng.random_range(0..60),
            ),
            recorded_by_staff_id: Some(gp.id),
            ended_on: None,
        });
        if n == 0 {
            // The review concluded that access is safe after all.
            let later = date_between(
                &mut rng,
                switch_on + Duration::days(60),
                ctx.today - Duration::days(10),
            );
            rows.push(access_codes::Model {
                id: new_id(&mut rng),
                practice_id: person.model.practice_id,
                patient_id: person.model.id,
                external_id: Some(format!(
                    "EMIS-AC-{:06}-{}",
                    person.index + 1,
                    rows.len() + 1
                )),
                snomed_code: ENHANCED_REVIEW_NOT_INDICATED.to_owned(),
                recorded_at: uk_time(later, 15, rng.random_range(0..60)),
                recorded_by_staff_id: Some(gp.id),
                ended_on: None,
            });
        }
    }
    rows
}

/// Every scope a grant may carry.
pub(super) const ALL_SCOPES: &str =
    "appointments,prescriptions,messages,record_summary,record_detailed,documents";

/// Proxy grants for the scripted families (and one refusal).
pub(super) fn proxy_grants(
    ctx: &Ctx,
    people: &[Person],
    carers: &[carers::Model],
) -> Vec<proxy_grants::Model> {
    let mut rng = stream(STREAM_PROXIES + 100);
    let patient = |index: usize| people.get(index).map(|p| &p.model);
    let decider = &ctx.staff.manager;
    let mut rows = Vec::new();
    let mut grant = |rng: &mut rand_chacha::ChaCha8Rng,
                     for_patient: Option<&patients::Model>,
                     proxy_patient: Option<&patients::Model>,
                     proxy_carer: Option<&carers::Model>,
                     spec: GrantSpec| {
        let Some(for_patient) = for_patient else {
            return;
        };
        let starts_on = ctx.today - Duration::days(spec.started_days_ago);
        let decided_at = uk_time(starts_on, 11, rng.random_range(0..60));
        rows.push(proxy_grants::Model {
            id: new_id(rng),
            practice_id: ctx.practice_id,
            patient_id: for_patient.id,
            proxy_patient_id: proxy_patient.map(|p| p.id),
            proxy_carer_id: proxy_carer.map(|c| c.id),
            relationship: spec.relationship.to_owned(),
            status: spec.status,
            scopes: spec.scopes.to_owned(),
            legal_basis: spec.legal_basis,
            decided_by_staff_id: Some(decider.id),
            decided_at,
            starts_on,
            ends_on: spec.ends_on,
            no_end_date_exception: spec.ends_on.is_none(),
            young_person_consent_at: None,
            suspended_at: None,
            suspended_reason: None,
            revoked_at: None,
            revoked_by: None,
            refusal_reason: spec.refusal_reason.map(str::to_owned),
            last_used_at: None,
            record_access_from: None,
            created_at: decided_at,
            updated_at: decided_at,
        });
    };
    // The day before a birthday.
    let before_birthday = |index: usize, years: u32| {
        patient(index).map(|p| years_after(p.date_of_birth, years) - Duration::days(1))
    };
    grant(
        &mut rng,
        patient(who::ISLA),
        patient(who::LAURA),
        None,
        GrantSpec {
            relationship: "Mother",
            status: GrantStatus::Active,
            scopes: ALL_SCOPES,
            legal_basis: LegalBasis::ParentalResponsibility,
            started_days_ago: 200,
            // Record access is reviewed at 11 (the practice's review age).
            ends_on: before_birthday(who::ISLA, 11),
            refusal_reason: None,
        },
    );
    grant(
        &mut rng,
        patient(who::NOAH),
        patient(who::LAURA),
        None,
        GrantSpec {
            relationship: "Mother",
            status: GrantStatus::Active,
            scopes: ALL_SCOPES,
            legal_basis: LegalBasis::ParentalResponsibility,
            started_days_ago: 120,
            ends_on: before_birthday(who::NOAH, 11),
            refusal_reason: None,
        },
    );
    grant(
        &mut rng,
        patient(who::SAMUEL),
        patient(who::DANIEL),
        None,
        GrantSpec {
            relationship: "Father",
            status: GrantStatus::Active,
            scopes: "appointments,prescriptions",
            legal_basis: LegalBasis::ParentalResponsibility,
            started_days_ago: 400,
            // All proxy access ends at 16 unless the young person consents.
            ends_on: before_birthday(who::SAMUEL, 16),
            refusal_reason: None,
        },
    );
    grant(
        &mut rng,
        patient(who::MARGARET),
        None,
        carers.first(),
        GrantSpec {
            relationship: "Daughter",
            status: GrantStatus::Active,
            scopes: ALL_SCOPES,
            legal_basis: LegalBasis::LastingPowerOfAttorney,
            started_days_ago: 500,
            // A registered LPA for health and welfare does not lapse: an open-ended exception.
            ends_on: None,
            refusal_reason: None,
        },
    );
    grant(
        &mut rng,
        patient(who::ARTHUR),
        patient(who::GARETH),
        None,
        GrantSpec {
            relationship: "Son",
            status: GrantStatus::Active,
            scopes: "appointments,prescriptions",
            legal_basis: LegalBasis::PatientConsent,
            started_days_ago: 90,
            ends_on: Some(ctx.today + Duration::days(275)),
            refusal_reason: None,
        },
    );
    grant(
        &mut rng,
        patient(who::JOANNE),
        patient(who::MARK),
        None,
        GrantSpec {
            relationship: "Husband",
            status: GrantStatus::Refused,
            scopes: "appointments,prescriptions,messages,record_summary",
            legal_basis: LegalBasis::PatientConsent,
            started_days_ago: 30,
            ends_on: Some(ctx.today + Duration::days(335)),
            refusal_reason: Some(
                "The patient did not consent when asked on her own; proxy access refused.",
            ),
        },
    );
    rows
}

/// What differs between the scripted grants.
struct GrantSpec {
    relationship: &'static str,
    status: GrantStatus,
    scopes: &'static str,
    legal_basis: LegalBasis,
    started_days_ago: i64,
    ends_on: Option<NaiveDate>,
    refusal_reason: Option<&'static str>,
}

/// Adds the people rows to `rows`.
pub(super) fn add_people(ctx: &Ctx, people: &[Person], rows: &mut Rows) {
    rows.patients = people.iter().map(|p| p.model.clone()).collect();
    rows.carers = carers(ctx);
    rows.linkage_keys = linkage_keys(ctx, people, &rows.carers);
    rows.access_codes = access_codes(ctx, people);
    rows.grants = proxy_grants(ctx, people, &rows.carers);
}
