//! The rules' unit tests: no database, no clock; the facts and `today` are built here.

use super::*;
use crate::db::entities::patients::Sex;
use crate::db::entities::proxy_grants::{GrantStatus, LegalBasis};
use chrono::TimeZone;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

fn at(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(10, 0, 0).unwrap_or_default())
}

const TODAY: (i32, u32, u32) = (2026, 12, 6);

fn today() -> NaiveDate {
    day(TODAY.0, TODAY.1, TODAY.2)
}

/// An adult at a practice switched on 2023-10-31, with an account since 2024-01-10,
/// historic level `none`.
fn facts() -> PatientFacts {
    let now = at(today());
    PatientFacts {
        patient: patients::Model {
            id: Uuid::from_u128(1),
            practice_id: Uuid::from_u128(2),
            external_id: None,
            nhs_number: "9434765919".to_owned(),
            given_name: "Ada".to_owned(),
            family_name: "Lovelace".to_owned(),
            date_of_birth: day(1980, 5, 17),
            sex: Sex::Female,
            access_level: AccessLevel::None,
            record_access_from: None,
            competent: false,
            nominated_pharmacy_ods: None,
            archived_at: None,
            created_at: now,
            updated_at: now,
        },
        practice: practices::Model {
            id: Uuid::from_u128(2),
            ods_code: "A81001".to_owned(),
            name: "Test Surgery".to_owned(),
            live: true,
            prospective_access_date: Some(day(2023, 10, 31)),
            settings: PracticeSettings::default().to_json(),
            created_at: now,
            updated_at: now,
        },
        codes: Vec::new(),
        account_created_on: Some(day(2024, 1, 10)),
    }
}

fn code(snomed: &str, recorded: NaiveDate, ended_on: Option<NaiveDate>) -> access_codes::Model {
    access_codes::Model {
        id: Uuid::new_v4(),
        practice_id: Uuid::from_u128(2),
        patient_id: Uuid::from_u128(1),
        external_id: None,
        snomed_code: snomed.to_owned(),
        recorded_at: at(recorded),
        recorded_by_staff_id: None,
        ended_on,
    }
}

fn grant(scopes: &str, basis: LegalBasis, decided: NaiveDate) -> proxy_grants::Model {
    proxy_grants::Model {
        id: Uuid::from_u128(9),
        practice_id: Uuid::from_u128(2),
        patient_id: Uuid::from_u128(1),
        proxy_patient_id: Some(Uuid::from_u128(3)),
        proxy_carer_id: None,
        relationship: "parent".to_owned(),
        status: GrantStatus::Active,
        scopes: scopes.to_owned(),
        legal_basis: basis,
        decided_by_staff_id: None,
        decided_at: at(decided),
        starts_on: decided,
        ends_on: None,
        no_end_date_exception: true,
        young_person_consent_at: None,
        suspended_at: None,
        suspended_reason: None,
        revoked_at: None,
        revoked_by: None,
        refusal_reason: None,
        last_used_at: None,
        record_access_from: None,
        created_at: at(decided),
        updated_at: at(decided),
    }
}

fn patient() -> Viewer {
    Viewer::Patient {
        account_id: Uuid::from_u128(7),
    }
}

fn proxy(grant: proxy_grants::Model) -> Viewer {
    Viewer::Proxy {
        account_id: Uuid::from_u128(8),
        grant: Box::new(grant),
    }
}

fn from(access: SectionAccess) -> Option<Option<NaiveDate>> {
    match access {
        SectionAccess::Released { from, .. } => Some(from),
        SectionAccess::Everything => Some(None),
        SectionAccess::Denied => None,
    }
}

#[test]
fn prospective_access_starts_at_the_latest_of_switch_on_sixteen_and_account() {
    let mut f = facts();
    assert_eq!(prospective_from(&f, today()), Some(day(2024, 1, 10)));
    f.account_created_on = Some(day(2020, 1, 1));
    assert_eq!(prospective_from(&f, today()), Some(day(2023, 10, 31)));
    f.patient.date_of_birth = day(2009, 3, 1);
    assert_eq!(prospective_from(&f, today()), Some(day(2025, 3, 1)));
    // Under 16 today: nothing yet.
    f.patient.date_of_birth = day(2011, 3, 1);
    assert_eq!(prospective_from(&f, today()), None);
    // No account, or a practice that switched access off: nothing.
    let mut f = facts();
    f.account_created_on = None;
    assert_eq!(prospective_from(&f, today()), None);
    let mut f = facts();
    f.practice.prospective_access_date = None;
    assert_eq!(prospective_from(&f, today()), None);
}

// Defect 1: automatic access covers letters whatever the historic level.
#[test]
fn automatic_access_includes_letters() {
    let mut f = facts();
    f.patient.access_level = AccessLevel::Detailed;
    let access = section_access(&patient(), &f, Section::Documents, today());
    assert_eq!(from(access), Some(Some(day(2024, 1, 10))));
}

// Defect 2: the entered date decides, not the clinical date.
#[test]
fn the_entered_date_decides_not_the_clinical_date() {
    let f = facts();
    let access = section_access(&patient(), &f, Section::Documents, today());
    let mut letter = documents::Model {
        id: Uuid::new_v4(),
        practice_id: f.patient.practice_id,
        patient_id: f.patient.id,
        external_id: None,
        document_type: documents::DocumentType::DischargeSummary,
        title: "Discharge".to_owned(),
        author_organisation: None,
        effective_date: day(2023, 6, 1),
        content_type: "text/plain".to_owned(),
        size_bytes: 1,
        blob_sha256: String::new(),
        received_at: at(day(2025, 2, 1)),
        entered_on: day(2025, 2, 1),
        review_state: ReviewState::Released,
        reviewed_at: None,
        reviewed_by_staff_id: None,
        clinician_comment: None,
        withhold_reason: None,
        released_at: None,
        retracted_at: None,
        retraction_reason: None,
        hidden: false,
        hidden_from_proxies: false,
        created_at: at(today()),
        updated_at: at(today()),
    };
    assert!(
        document_visible(access, &letter),
        "filed after, about before"
    );
    letter.effective_date = day(2025, 6, 1);
    letter.entered_on = day(2023, 12, 1);
    assert!(!document_visible(access, &letter), "filed before access");
}

// Defect 7: a code ends; the opt-out no longer blocks from its end date.
#[test]
fn codes_apply_from_recorded_until_ended() {
    let mut f = facts();
    f.codes = vec![code(
        ACCESS_DECLINED,
        day(2025, 1, 1),
        Some(day(2025, 6, 1)),
    )];
    assert_eq!(prospective_from(&f, day(2025, 3, 1)), None);
    assert_eq!(
        prospective_from(&f, day(2025, 6, 1)),
        Some(day(2024, 1, 10))
    );
    // Enhanced review indicated blocks until a later "not indicated".
    f.codes = vec![code(ENHANCED_REVIEW_INDICATED, day(2024, 2, 1), None)];
    assert_eq!(prospective_from(&f, today()), None);
    f.codes
        .push(code(ENHANCED_REVIEW_NOT_INDICATED, day(2024, 3, 1), None));
    assert!(prospective_from(&f, today()).is_some());
    // Ending the override brings the block back.
    f.codes[1].ended_on = Some(day(2024, 4, 1));
    assert_eq!(prospective_from(&f, today()), None);
}

#[test]
fn a_block_leaves_access_granted_by_hand() {
    let mut f = facts();
    f.codes = vec![code(ENHANCED_REVIEW_INDICATED, day(2024, 2, 1), None)];
    f.patient.access_level = AccessLevel::Detailed;
    f.patient.record_access_from = Some(day(2015, 4, 1));
    let problems = section_access(&patient(), &f, Section::Problems, today());
    assert_eq!(from(problems), Some(Some(day(2015, 4, 1))));
    let allergies = section_access(&patient(), &f, Section::Allergies, today());
    assert_eq!(from(allergies), Some(None), "summary history whole");
    let letters = section_access(&patient(), &f, Section::Documents, today());
    assert_eq!(
        from(letters),
        None,
        "not covered by the level, automatic blocked"
    );
}

#[test]
fn historic_and_prospective_windows_combine_to_the_wider() {
    let mut f = facts();
    f.patient.access_level = AccessLevel::Documents;
    f.patient.record_access_from = Some(day(2020, 1, 1));
    let letters = section_access(&patient(), &f, Section::Documents, today());
    assert_eq!(from(letters), Some(Some(day(2020, 1, 1))));
    f.patient.record_access_from = None;
    let problems = section_access(&patient(), &f, Section::Problems, today());
    assert_eq!(from(problems), Some(Some(day(2024, 1, 10))));
}

// Defect 3: the review at 11 holds record scopes only.
#[test]
fn the_review_age_holds_record_scopes_only() {
    let mut f = facts();
    f.patient.date_of_birth = day(2015, 12, 6);
    let g = grant(
        "appointments,messages,record_summary,record_detailed",
        LegalBasis::ParentalResponsibility,
        day(2020, 1, 1),
    );
    let eve = day(2026, 12, 5);
    assert_eq!(age_hold(&g, &f, eve), AgeHold::None);
    assert_eq!(age_hold(&g, &f, today()), AgeHold::RecordReview);
    assert_eq!(
        grant_scopes(&g, &f, today()),
        vec![Scope::Appointments, Scope::Messages]
    );
    assert!(grant_is_valid(&g, &f, today()));
    let v = proxy(g.clone());
    assert_eq!(
        section_access(&v, &f, Section::Allergies, today()),
        SectionAccess::Denied
    );
    assert!(holds_scope(&v, &f, Scope::Appointments, today()));
    // The practice's review is a new decision: the rule no longer applies.
    let mut reviewed = g;
    reviewed.decided_at = at(today());
    assert_eq!(age_hold(&reviewed, &f, today()), AgeHold::None);
    // With record scopes only, nothing is left: the grant does not act at all.
    let records_only = grant(
        "record_summary",
        LegalBasis::ParentalResponsibility,
        day(2020, 1, 1),
    );
    assert!(grant_is_valid(&records_only, &f, eve));
    assert!(!grant_is_valid(&records_only, &f, today()));
}

#[test]
fn the_review_age_is_the_practices() {
    let mut f = facts();
    f.patient.date_of_birth = day(2014, 12, 6);
    let settings = PracticeSettings {
        parental_record_access_review_age: 13,
        ..PracticeSettings::default()
    };
    f.practice.settings = settings.to_json();
    let g = grant(
        "record_summary,appointments",
        LegalBasis::ParentalResponsibility,
        day(2020, 1, 1),
    );
    assert_eq!(age_hold(&g, &f, today()), AgeHold::None, "12 today");
    assert_eq!(age_hold(&g, &f, day(2027, 12, 6)), AgeHold::RecordReview);
}

// Defect 4: validity is decided at request time, on the birthday itself.
#[test]
fn sixteen_holds_everything_without_consent_on_the_day() {
    let mut f = facts();
    f.patient.date_of_birth = day(2010, 12, 6);
    let mut g = grant(
        "appointments,record_summary",
        LegalBasis::ParentalResponsibility,
        day(2024, 1, 1),
    );
    g.decided_at = at(day(2022, 1, 1));
    assert!(grant_is_valid(&g, &f, day(2026, 12, 5)));
    assert_eq!(age_hold(&g, &f, today()), AgeHold::Sixteen);
    assert!(!grant_is_valid(&g, &f, today()));
    g.young_person_consent_at = Some(at(day(2026, 11, 1)));
    assert!(grant_is_valid(&g, &f, today()));
}

// Defect 5: an archived patient is nobody's to see.
#[test]
fn an_archived_patient_is_visible_to_no_patient_or_proxy() {
    let mut f = facts();
    f.patient.archived_at = Some(at(day(2026, 1, 1)));
    let g = grant(
        "appointments,record_summary",
        LegalBasis::PatientConsent,
        day(2020, 1, 1),
    );
    assert!(!may_view_patient(&patient(), &f, today()));
    assert!(!grant_is_valid(&g, &f, today()));
    assert!(!may_view_patient(&proxy(g), &f, today()));
}

// Defect 6: hidden results and letters; hidden from proxies only.
#[test]
fn hidden_and_hidden_from_proxies() {
    let released = |proxy| SectionAccess::Released { from: None, proxy };
    assert!(!dated_hidden_visible(released(false), today(), true, false));
    assert!(dated_hidden_visible(released(false), today(), false, true));
    assert!(!dated_hidden_visible(released(true), today(), false, true));
    assert!(dated_hidden_visible(
        SectionAccess::Everything,
        today(),
        true,
        true
    ));
}

// Defect 8: a proxy has the grant's own entitlements, never the patient's.
#[test]
fn a_proxy_sees_the_grants_scopes_from_the_grants_date() {
    let mut f = facts();
    // The patient's own access: none historic, automatic blocked by their opt-out.
    f.codes = vec![code(ACCESS_DECLINED, day(2024, 2, 1), None)];
    let mut g = grant(
        "record_summary,record_detailed",
        LegalBasis::LastingPowerOfAttorney,
        day(2025, 1, 1),
    );
    let v = proxy(g.clone());
    assert_eq!(
        from(section_access(&v, &f, Section::Problems, today())),
        Some(Some(day(2025, 1, 1)))
    );
    assert_eq!(
        from(section_access(&v, &f, Section::Allergies, today())),
        Some(None)
    );
    assert_eq!(
        from(section_access(&v, &f, Section::Documents, today())),
        None
    );
    g.record_access_from = Some(day(2010, 1, 1));
    let v = proxy(g);
    assert_eq!(
        from(section_access(&v, &f, Section::Results, today())),
        Some(Some(day(2010, 1, 1)))
    );
    // The patient's automatic access is not the proxy's: with no opt-out the patient
    // sees documents, the proxy without the scope still does not.
    f.codes.clear();
    assert_eq!(
        from(section_access(&v, &f, Section::Documents, today())),
        None
    );
}

#[test]
fn switches_turn_sections_off() {
    let mut f = facts();
    let mut settings = PracticeSettings::default();
    settings.features.documents = false;
    f.practice.settings = settings.to_json();
    assert_eq!(
        section_access(&patient(), &f, Section::Documents, today()),
        SectionAccess::Denied
    );
    assert_ne!(
        section_access(&patient(), &f, Section::Problems, today()),
        SectionAccess::Denied
    );
    settings.features.record = false;
    f.practice.settings = settings.to_json();
    let caps = capabilities(&patient(), &f, today());
    assert!(caps.record_sections.is_empty() && caps.record_access.is_empty());
}

#[test]
fn capabilities_say_from_when() {
    let mut f = facts();
    f.patient.access_level = AccessLevel::Summary;
    let caps = capabilities(&patient(), &f, today());
    let allergies = caps
        .record_access
        .iter()
        .find(|w| w.section == Section::Allergies);
    assert_eq!(allergies.and_then(|w| w.from), None);
    let letters = caps
        .record_access
        .iter()
        .find(|w| w.section == Section::Documents);
    assert_eq!(letters.and_then(|w| w.from), Some(day(2024, 1, 10)));
}

fn course(ended_on: Option<NaiveDate>) -> courses::Model {
    courses::Model {
        id: Uuid::from_u128(20),
        practice_id: Uuid::from_u128(2),
        patient_id: Uuid::from_u128(1),
        external_id: None,
        snomed_code: "322236009".to_owned(),
        medication: "Paracetamol".to_owned(),
        dosage: "1 tablet".to_owned(),
        quantity: "32".to_owned(),
        course_type: courses::CourseType::Repeat,
        can_be_requested: true,
        last_issue_date: None,
        next_issue_date: None,
        review_date: None,
        hidden: false,
        hidden_from_proxies: false,
        ended_on,
        created_at: at(day(2020, 1, 1)),
        updated_at: at(day(2020, 1, 1)),
    }
}

#[test]
fn the_next_boundary_of_a_child_is_the_review_birthday_then_sixteen() {
    let mut f = facts();
    f.patient.date_of_birth = day(2016, 3, 10);
    let parent = grant(
        "appointments,record_summary",
        LegalBasis::ParentalResponsibility,
        day(2020, 1, 1),
    );
    let grants = [parent.clone()];
    assert_eq!(
        next_boundary(&f, &grants, &[], today()),
        Some(day(2027, 3, 10)),
        "the 11th birthday"
    );
    assert_eq!(
        next_boundary(&f, &grants, &[], day(2027, 3, 10)),
        Some(day(2032, 3, 10)),
        "then the 16th"
    );
    // A grant reviewed after the 11th birthday has no review day ahead; with the young
    // person's consent, no 16th either. Prospective access at 16 remains.
    let mut reviewed = parent;
    reviewed.decided_at = at(day(2027, 4, 1));
    reviewed.young_person_consent_at = Some(at(day(2027, 4, 1)));
    assert_eq!(
        next_boundary(&f, &[reviewed.clone()], &[], day(2027, 4, 1)),
        Some(day(2032, 3, 10))
    );
    f.account_created_on = None;
    assert_eq!(next_boundary(&f, &[reviewed], &[], day(2027, 4, 1)), None);
}

#[test]
fn the_next_boundary_follows_grants_codes_switch_on_and_courses() {
    let mut f = facts();
    assert_eq!(next_boundary(&f, &[], &[], today()), None, "nothing ahead");
    let mut ending = grant("appointments", LegalBasis::PatientConsent, day(2020, 1, 1));
    ending.ends_on = Some(day(2027, 1, 31));
    assert_eq!(
        next_boundary(&f, &[ending.clone()], &[], today()),
        Some(day(2027, 2, 1)),
        "the day after the last day"
    );
    let mut starting = ending.clone();
    starting.starts_on = day(2026, 12, 20);
    assert_eq!(
        next_boundary(&f, &[starting], &[], today()),
        Some(day(2026, 12, 20))
    );
    f.codes = vec![code(
        ACCESS_DECLINED,
        day(2025, 1, 1),
        Some(day(2027, 1, 15)),
    )];
    assert_eq!(
        next_boundary(&f, &[ending], &[], today()),
        Some(day(2027, 1, 15)),
        "the code's end"
    );
    f.codes = vec![code(ENHANCED_REVIEW_INDICATED, day(2026, 12, 9), None)];
    assert_eq!(
        next_boundary(&f, &[], &[], today()),
        Some(day(2026, 12, 9)),
        "a code recorded ahead comes into force"
    );
    f.codes.clear();
    f.practice.prospective_access_date = Some(day(2027, 4, 1));
    assert_eq!(
        next_boundary(&f, &[], &[], today()),
        Some(day(2027, 4, 1)),
        "the switch-on date"
    );
    f.practice.prospective_access_date = None;
    let courses = [course(Some(day(2027, 2, 14))), course(None)];
    assert_eq!(
        next_boundary(&f, &[], &courses, today()),
        Some(day(2027, 2, 14))
    );
    // Another patient's grant says nothing of this one.
    let mut other = grant("appointments", LegalBasis::PatientConsent, day(2020, 1, 1));
    other.patient_id = Uuid::from_u128(99);
    other.ends_on = Some(day(2026, 12, 10));
    assert_eq!(next_boundary(&f, &[other], &[], today()), None);
}

/// Everything the rules answer for the patient and each grant on `on`.
fn answers(
    f: &PatientFacts,
    grants: &[proxy_grants::Model],
    courses: &[courses::Model],
    on: NaiveDate,
) -> String {
    let mut out = format!("{:?}", capabilities(&patient(), f, on));
    for g in grants {
        let v = proxy(g.clone());
        out += &format!(
            "|{}{:?}{:?}",
            grant_is_valid(g, f, on),
            age_hold(g, f, on),
            capabilities(&v, f, on)
        );
    }
    for c in courses {
        out += &format!("|{}", course_visible(&patient(), c, on));
    }
    out
}

// Walking day by day: the rules never answer differently on a day the boundary did not
// name, so a projection kept until its boundary is never stale.
#[test]
fn no_answer_changes_between_boundaries() {
    let mut f = facts();
    f.patient.date_of_birth = day(2016, 6, 1);
    f.account_created_on = Some(day(2026, 1, 1));
    f.practice.prospective_access_date = Some(day(2027, 9, 1));
    f.codes = vec![
        code(ENHANCED_REVIEW_INDICATED, day(2025, 1, 1), None),
        code(
            ENHANCED_REVIEW_NOT_INDICATED,
            day(2025, 2, 1),
            Some(day(2029, 5, 5)),
        ),
    ];
    let parent = grant(
        "appointments,record_summary,record_detailed",
        LegalBasis::ParentalResponsibility,
        day(2016, 1, 1),
    );
    let mut carer = grant(
        "messages,documents",
        LegalBasis::PatientConsent,
        day(2026, 1, 1),
    );
    carer.starts_on = day(2027, 2, 2);
    carer.ends_on = Some(day(2028, 8, 30));
    let grants = [parent, carer];
    let courses = [course(Some(day(2027, 11, 11)))];
    let mut on = today();
    let mut seen = answers(&f, &grants, &courses, on);
    let mut boundary = next_boundary(&f, &grants, &courses, on);
    let mut changes = 0;
    while on < day(2034, 1, 1) {
        on = on.succ_opt().unwrap_or(NaiveDate::MAX);
        let now = answers(&f, &grants, &courses, on);
        if boundary.is_some_and(|b| on >= b) {
            assert_eq!(boundary, Some(on), "a boundary is a day walked");
            boundary = next_boundary(&f, &grants, &courses, on);
        } else {
            assert_eq!(now, seen, "the answers changed on {on} with no boundary");
        }
        changes += usize::from(now != seen);
        seen = now;
    }
    // The carer's start and end, the 11th birthday, the course's end, the 16th birthday
    // (the switch-on date and the code's end come before 16 and change nothing).
    assert!(
        changes >= 5,
        "the walk crossed the rules' changes: {changes}"
    );
}
