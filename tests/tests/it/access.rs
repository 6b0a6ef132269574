//! The access module through the REST API (ADR 0002): a table-driven visibility matrix (each
//! rule and combination → exactly which items come back, with a case for each numbered defect
//! of issue 14 that the record read shows) and a property test (random records and rule
//! settings → never an item the rules forbid, always those they allow), both against an
//! independent restatement of the model.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use gp_online::db::entities::{
    access_codes, accounts, blobs, documents, patients, proxy_grants, record_entries, results,
};
use gp_online::settings::PracticeSettings;
use gp_online_tests::fixtures::{self, NewPatient, NewPractice};
use gp_online_tests::{TestApp, spawn_app};
use patients::AccessLevel;
use proptest::prelude::*;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

const SWITCH_ON: (i32, u32, u32) = (2023, 10, 31);

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn switch_on() -> NaiveDate {
    date(SWITCH_ON.0, SWITCH_ON.1, SWITCH_ON.2)
}

/// How a scenario's patient and viewer are set up.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// The historic level the practice granted.
    pub(crate) access_level: AccessLevel,
    pub(crate) born: NaiveDate,
    /// The historic from-date the practice granted.
    pub(crate) record_access_from: Option<NaiveDate>,
    /// Codes recorded `offset` days after 1000 days ago, each with an optional end (days after
    /// 1000 days ago).
    pub(crate) codes: Vec<(&'static str, i64)>,
    pub(crate) code_ends: Option<i64>,
    pub(crate) record_feature: bool,
    pub(crate) documents_feature: bool,
    /// The practice's switch-on date; `None`: automatic access switched off.
    pub(crate) switch_on: Option<NaiveDate>,
    /// The day the patient's own account was created.
    pub(crate) account_created: NaiveDate,
    /// None: the patient themself; Some(scopes): a proxy with these scopes.
    pub(crate) proxy_scopes: Option<&'static str>,
    pub(crate) grant_ends: Option<NaiveDate>,
    /// The grant's own record access date (`None`: its start, 2020-01-01).
    pub(crate) grant_from: Option<NaiveDate>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            access_level: AccessLevel::Detailed,
            born: date(1970, 6, 1),
            record_access_from: None,
            codes: Vec::new(),
            code_ends: None,
            record_feature: true,
            documents_feature: true,
            switch_on: Some(switch_on()),
            account_created: date(2022, 5, 1),
            proxy_scopes: None,
            grant_ends: None,
            grant_from: None,
        }
    }
}

/// One item of a scenario's record, with its marker term. `date` is the day it was entered or
/// filed; its clinical date is `clinical` (what must not decide).
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) marker: String,
    pub(crate) kind: Kind,
    pub(crate) date: NaiveDate,
    pub(crate) clinical: NaiveDate,
    pub(crate) hidden: bool,
    pub(crate) hidden_from_proxies: bool,
    pub(crate) state: State,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Allergy,
    Problem,
    Consultation,
    Result,
    Document,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum State {
    Released,
    Pending,
    Withheld,
    Retracted,
}

pub(crate) fn item(marker: &str, kind: Kind, date: NaiveDate) -> Item {
    Item {
        marker: marker.to_owned(),
        kind,
        date,
        clinical: date,
        hidden: false,
        hidden_from_proxies: false,
        state: State::Released,
    }
}

/// The standard record every matrix row is checked against.
pub(crate) fn standard_record() -> Vec<Item> {
    let old = date(2010, 3, 1);
    let new = date(2024, 2, 1);
    vec![
        item("allergy-old", Kind::Allergy, old),
        item("problem-old", Kind::Problem, old),
        item("problem-new", Kind::Problem, new),
        item("consult-new", Kind::Consultation, new),
        Item {
            hidden: true,
            ..item("consult-hidden", Kind::Consultation, new)
        },
        Item {
            hidden_from_proxies: true,
            ..item("consult-proxy-hidden", Kind::Consultation, new)
        },
        Item {
            state: State::Retracted,
            ..item("consult-retracted", Kind::Consultation, new)
        },
        item("result-released-new", Kind::Result, new),
        item("result-released-old", Kind::Result, old),
        Item {
            state: State::Pending,
            ..item("result-pending", Kind::Result, new)
        },
        Item {
            state: State::Withheld,
            ..item("result-withheld", Kind::Result, new)
        },
        Item {
            state: State::Retracted,
            ..item("result-retracted", Kind::Result, new)
        },
        item("document-released", Kind::Document, new),
        Item {
            state: State::Pending,
            ..item("document-pending", Kind::Document, new)
        },
        // Defect 2: filed after the switch-on about an earlier admission; entered before the
        // switch-on, back-dated or not.
        Item {
            clinical: date(2023, 6, 1),
            ..item("letter-filed-late", Kind::Document, new)
        },
        Item {
            clinical: date(2024, 6, 1),
            ..item("problem-entered-early", Kind::Problem, date(2023, 9, 1))
        },
    ]
}

fn birthday(born: NaiveDate, years: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(born.year() + years, born.month(), born.day())
        .unwrap_or_else(|| date(born.year() + years, 3, 1))
}

/// The model restated independently of the server (ADR 0002): what a viewer should see.
fn expected(rules: &Rules, items: &[Item], today: NaiveDate) -> BTreeSet<String> {
    if let (Some(_), Some(ends)) = (rules.proxy_scopes, rules.grant_ends)
        && ends < today
    {
        return BTreeSet::new();
    }
    let base = today - Duration::days(1000);
    let in_force: Vec<(&str, i64)> = rules
        .codes
        .iter()
        .filter(|(_, at)| {
            rules
                .code_ends
                .is_none_or(|end| today < base + Duration::days(end))
                && base + Duration::days(*at) <= today
        })
        .map(|(c, at)| (*c, *at))
        .collect();
    let latest = |code: &str| {
        in_force
            .iter()
            .filter(|(c, _)| *c == code)
            .map(|(_, at)| *at)
            .max()
    };
    let blocked = match (latest("1364731000000104"), latest("1364751000000106")) {
        (Some(a), Some(b)) => a > b,
        (Some(_), None) => true,
        _ => false,
    } || latest("1290331000000103").is_some();
    let prospective = rules.switch_on.and_then(|on| {
        let from = on.max(rules.account_created).max(birthday(rules.born, 16));
        (from <= today && !blocked).then_some(from)
    });
    let level = match rules.access_level {
        AccessLevel::None => 0,
        AccessLevel::Summary => 1,
        AccessLevel::Detailed => 2,
        AccessLevel::Documents => 3,
    };
    items
        .iter()
        .filter(|i| {
            let (summary, needs, scope) = match i.kind {
                Kind::Allergy => (true, 1, "record_summary"),
                Kind::Problem | Kind::Consultation | Kind::Result => (false, 2, "record_detailed"),
                Kind::Document => (false, 3, "documents"),
            };
            let shown = match rules.proxy_scopes {
                None => {
                    let historic = level >= needs
                        && (summary || rules.record_access_from.is_some_and(|f| i.date >= f));
                    historic || prospective.is_some_and(|p| i.date >= p)
                }
                Some(scopes) => {
                    scopes.split(',').any(|s| s == scope)
                        && (summary || i.date >= rules.grant_from.unwrap_or(date(2020, 1, 1)))
                }
            };
            let switched_on =
                rules.record_feature && (i.kind != Kind::Document || rules.documents_feature);
            shown
                && switched_on
                && !i.hidden
                && !(rules.proxy_scopes.is_some() && i.hidden_from_proxies)
                && i.state == State::Released
        })
        .map(|i| i.marker.clone())
        .collect()
}

/// A practice, a patient with `items`, and an access token for the viewer `rules` describe.
pub(crate) async fn arrange(app: &TestApp, rules: &Rules, items: &[Item]) -> (Uuid, String) {
    let now = app.clock.now();
    let mut settings = PracticeSettings::default();
    settings.features.record = rules.record_feature;
    settings.features.documents = rules.documents_feature;
    let practice = NewPractice::default()
        .settings(settings)
        .prospective_access_date(rules.switch_on)
        .insert(app)
        .await;
    let patient = new_patient(practice.id, rules.born)
        .access_level(rules.access_level)
        .record_access_from(rules.record_access_from)
        .insert(app)
        .await;
    for (code, offset) in &rules.codes {
        access_codes::ActiveModel {
            id: Set(Uuid::new_v4()),
            practice_id: Set(patient.practice_id),
            patient_id: Set(patient.id),
            external_id: Set(None),
            snomed_code: Set((*code).to_owned()),
            recorded_at: Set(now - Duration::days(1000) + Duration::days(*offset)),
            recorded_by_staff_id: Set(None),
            ended_on: Set(rules
                .code_ends
                .map(|end| now.date_naive() - Duration::days(1000) + Duration::days(end))),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
    for item in items {
        insert_item(app, patient.id, item, now).await;
    }
    let viewer = match rules.proxy_scopes {
        None => patient.clone(),
        Some(scopes) => {
            let carer = new_patient(practice.id, date(1960, 1, 1)).insert(app).await;
            fixtures::proxy_grant(app, &patient, carer.id, scopes, |grant| {
                grant.relationship = "parent".to_owned();
                grant.legal_basis = proxy_grants::LegalBasis::ParentalResponsibility;
                grant.ends_on = rules.grant_ends.or(grant.ends_on);
                grant.record_access_from = rules.grant_from;
            })
            .await;
            carer
        }
    };
    // The patient's own account, made on the day the scenario says (prospective access starts
    // no earlier); a proxy signs in with their own.
    let (own, own_token) = fixtures::account(app, &patient).await;
    let mut account = accounts::Entity::find_by_id(own)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    let created = rules
        .account_created
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
    account.created_at = Set(created);
    account.update(&app.db).await.unwrap();
    let token = match rules.proxy_scopes {
        None => own_token,
        Some(_) => fixtures::account(app, &viewer).await.1,
    };
    (patient.id, token)
}

/// A patient of a scenario, born on `born`.
fn new_patient(practice_id: Uuid, born: NaiveDate) -> NewPatient {
    NewPatient::at(practice_id)
        .named("Matrix", "Patient")
        .born(born)
        .sex(patients::Sex::Unknown)
        .at_the_desk()
}

async fn insert_item(app: &TestApp, patient_id: Uuid, item: &Item, now: DateTime<Utc>) {
    use results::ReviewState;
    let (review, retracted) = match item.state {
        State::Released => (ReviewState::Released, None),
        State::Pending => (ReviewState::Pending, None),
        State::Withheld => (ReviewState::Withheld, None),
        State::Retracted => (ReviewState::Released, Some(now)),
    };
    let id = Uuid::new_v4();
    match item.kind {
        Kind::Allergy | Kind::Problem | Kind::Consultation => {
            let section = match item.kind {
                Kind::Allergy => record_entries::RecordSection::Allergies,
                Kind::Problem => record_entries::RecordSection::Problems,
                _ => record_entries::RecordSection::Consultations,
            };
            record_entries::ActiveModel {
                id: Set(id),
                practice_id: Set(gp_online_tests::fixtures::practice_of(app, patient_id).await),
                patient_id: Set(patient_id),
                external_id: Set(None),
                section: Set(section),
                snomed_code: Set("38341003".to_owned()),
                term: Set(item.marker.clone()),
                effective_date: Set(item.clinical),
                entered_on: Set(item.date),
                end_date: Set(None),
                detail: Set(None),
                author: Set(None),
                hidden: Set(item.hidden),
                hidden_from_proxies: Set(item.hidden_from_proxies),
                retracted_at: Set(retracted),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&app.db)
            .await
            .unwrap();
        }
        Kind::Result => {
            results::ActiveModel {
                id: Set(id),
                practice_id: Set(gp_online_tests::fixtures::practice_of(app, patient_id).await),
                patient_id: Set(patient_id),
                external_id: Set(None),
                test_code: Set("1019431000000105".to_owned()),
                test_name: Set(item.marker.clone()),
                value: Set("48".to_owned()),
                numeric_value: Set(Some(48.0)),
                unit: Set(Some("mmol/mol".to_owned())),
                range_low: Set(Some(20.0)),
                range_high: Set(Some(41.0)),
                range_text: Set(None),
                abnormal_flag: Set(results::AbnormalFlag::High),
                requester: Set(None),
                effective_date: Set(item.clinical),
                received_at: Set(now),
                entered_on: Set(item.date),
                review_state: Set(review),
                reviewed_at: Set(None),
                reviewed_by_staff_id: Set(None),
                clinician_comment: Set(None),
                withhold_reason: Set(
                    (item.state == State::Withheld).then_some(results::WithholdReason::ThirdParty)
                ),
                released_at: Set((review == ReviewState::Released).then_some(now)),
                retracted_at: Set(retracted),
                retraction_reason: Set(retracted.map(|_| "wrong patient".to_owned())),
                hidden: Set(item.hidden),
                hidden_from_proxies: Set(item.hidden_from_proxies),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&app.db)
            .await
            .unwrap();
        }
        Kind::Document => {
            let content = item.marker.as_bytes().to_vec();
            let sha = gp_online::identity::secrets::hash(&item.marker);
            // Scenarios share markers, so the same body may already be stored.
            blobs::Entity::insert(blobs::ActiveModel {
                sha256: Set(sha.clone()),
                content_type: Set("text/plain".to_owned()),
                size_bytes: Set(content.len() as i64),
                content: Set(content.clone()),
                created_at: Set(now),
            })
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(blobs::Column::Sha256)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&app.db)
            .await
            .unwrap();
            documents::ActiveModel {
                id: Set(id),
                practice_id: Set(gp_online_tests::fixtures::practice_of(app, patient_id).await),
                patient_id: Set(patient_id),
                external_id: Set(None),
                document_type: Set(documents::DocumentType::OutpatientLetter),
                title: Set(item.marker.clone()),
                author_organisation: Set(None),
                effective_date: Set(item.clinical),
                entered_on: Set(item.date),
                content_type: Set("text/plain".to_owned()),
                size_bytes: Set(content.len() as i64),
                blob_sha256: Set(sha),
                received_at: Set(now),
                review_state: Set(review),
                reviewed_at: Set(None),
                reviewed_by_staff_id: Set(None),
                clinician_comment: Set(None),
                withhold_reason: Set(None),
                released_at: Set((review == ReviewState::Released).then_some(now)),
                retracted_at: Set(retracted),
                retraction_reason: Set(None),
                hidden: Set(item.hidden),
                hidden_from_proxies: Set(item.hidden_from_proxies),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&app.db)
            .await
            .unwrap();
        }
    }
}

/// Every marker the whole-record endpoint returns, or None when the patient is not found.
pub(crate) async fn visible(app: &TestApp, patient: Uuid, token: &str) -> Option<BTreeSet<String>> {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/patients/{patient}/record")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let mut markers = BTreeSet::new();
    for section in body["sections"].as_array().unwrap() {
        assert_ne!(section["status"], "error", "{section}");
        for entry in section["entries"].as_array().into_iter().flatten() {
            markers.insert(entry["term"].as_str().unwrap().to_owned());
        }
        for result in section["results"].as_array().into_iter().flatten() {
            markers.insert(result["test_name"].as_str().unwrap().to_owned());
            // The trend only holds permitted values too.
            for earlier in result["earlier"].as_array().unwrap() {
                assert!(body.to_string().contains(earlier["id"].as_str().unwrap()));
            }
        }
        for document in section["documents"].as_array().into_iter().flatten() {
            markers.insert(document["title"].as_str().unwrap().to_owned());
        }
    }
    Some(markers)
}

fn set(markers: &[&str]) -> BTreeSet<String> {
    markers.iter().map(|m| (*m).to_owned()).collect()
}

#[tokio::test]
async fn visibility_matrix() {
    let app = spawn_app().await;
    let today = app.clock.now().date_naive();
    let prospective = [
        "problem-new",
        "consult-new",
        "consult-proxy-hidden",
        "result-released-new",
        "document-released",
        "letter-filed-late",
    ];
    let with = |extra: &[&'static str]| {
        let mut all: Vec<&'static str> = prospective.to_vec();
        all.extend_from_slice(extra);
        all
    };
    let history = [
        "allergy-old",
        "problem-old",
        "result-released-old",
        "problem-entered-early",
    ];
    let cases: Vec<(&str, Rules, Vec<&str>)> = vec![
        (
            "defect 1: automatic access holds letters whatever the historic level",
            Rules::default(),
            with(&["allergy-old"]),
        ),
        (
            "summary historic level: the summary's whole history and the prospective record",
            Rules {
                access_level: AccessLevel::Summary,
                ..Rules::default()
            },
            with(&["allergy-old"]),
        ),
        (
            "no historic access: the prospective record only",
            Rules {
                access_level: AccessLevel::None,
                ..Rules::default()
            },
            with(&[]),
        ),
        (
            "older history granted by hand",
            Rules {
                record_access_from: Some(date(2000, 1, 1)),
                ..Rules::default()
            },
            with(&history),
        ),
        (
            "enhanced review indicated blocks automatic access",
            Rules {
                codes: vec![("1364731000000104", 0)],
                ..Rules::default()
            },
            vec!["allergy-old"],
        ),
        (
            "enhanced review later not indicated restores it",
            Rules {
                codes: vec![("1364731000000104", 0), ("1364751000000106", 5)],
                ..Rules::default()
            },
            with(&["allergy-old"]),
        ),
        (
            "not-indicated followed by indicated blocks again",
            Rules {
                codes: vec![("1364751000000106", 0), ("1364731000000104", 5)],
                ..Rules::default()
            },
            vec!["allergy-old"],
        ),
        (
            "enhanced review leaves access granted by hand",
            Rules {
                codes: vec![("1364731000000104", 0)],
                record_access_from: Some(switch_on()),
                ..Rules::default()
            },
            vec![
                "allergy-old",
                "problem-new",
                "consult-new",
                "consult-proxy-hidden",
                "result-released-new",
            ],
        ),
        (
            "declined by the patient",
            Rules {
                codes: vec![("1290331000000103", 0)],
                ..Rules::default()
            },
            vec!["allergy-old"],
        ),
        (
            "defect 7: an ended opt-out blocks no more",
            Rules {
                codes: vec![("1290331000000103", 0)],
                code_ends: Some(10),
                ..Rules::default()
            },
            with(&["allergy-old"]),
        ),
        (
            "under 16: no automatic access",
            Rules {
                born: today - Duration::days(15 * 366),
                ..Rules::default()
            },
            vec!["allergy-old"],
        ),
        (
            "an account made after the items were filed: from the day it was made",
            Rules {
                account_created: date(2025, 1, 1),
                ..Rules::default()
            },
            vec!["allergy-old"],
        ),
        (
            "defect 7: a practice with no switch-on date gives no automatic access",
            Rules {
                switch_on: None,
                ..Rules::default()
            },
            vec!["allergy-old"],
        ),
        (
            "practice switched record access off",
            Rules {
                record_feature: false,
                ..Rules::default()
            },
            vec![],
        ),
        (
            "practice switched letters off",
            Rules {
                documents_feature: false,
                ..Rules::default()
            },
            vec![
                "allergy-old",
                "problem-new",
                "consult-new",
                "consult-proxy-hidden",
                "result-released-new",
            ],
        ),
        (
            "proxy with the summary scope",
            Rules {
                proxy_scopes: Some("appointments,record_summary"),
                ..Rules::default()
            },
            vec!["allergy-old"],
        ),
        (
            "proxy with detailed and documents scopes: from the grant's date, not hidden from proxies",
            Rules {
                proxy_scopes: Some("record_detailed,documents"),
                access_level: AccessLevel::Documents,
                ..Rules::default()
            },
            vec![
                "problem-new",
                "consult-new",
                "result-released-new",
                "document-released",
                "letter-filed-late",
                "problem-entered-early",
            ],
        ),
        (
            "defect 8: a proxy has the grant's date, not the patient's entitlements",
            Rules {
                proxy_scopes: Some("record_detailed"),
                access_level: AccessLevel::None,
                codes: vec![("1290331000000103", 0)],
                grant_from: Some(date(2000, 1, 1)),
                ..Rules::default()
            },
            vec![
                "problem-old",
                "result-released-old",
                "problem-new",
                "consult-new",
                "result-released-new",
                "problem-entered-early",
            ],
        ),
        (
            "defect 8: the parent of a child under 16 sees from the grant's date",
            Rules {
                proxy_scopes: Some("record_detailed"),
                born: today - Duration::days(10 * 365),
                ..Rules::default()
            },
            vec![
                "problem-new",
                "consult-new",
                "result-released-new",
                "problem-entered-early",
            ],
        ),
        (
            "proxy with appointments only sees no record",
            Rules {
                proxy_scopes: Some("appointments"),
                ..Rules::default()
            },
            vec![],
        ),
    ];
    for (name, rules, want) in cases {
        let items = standard_record();
        let (patient, token) = arrange(&app, &rules, &items).await;
        let got = visible(&app, patient, &token).await.unwrap_or_default();
        assert_eq!(got, set(&want), "{name}");
        assert_eq!(
            got,
            expected(&rules, &items, today),
            "oracle disagrees: {name}"
        );
    }
}

#[tokio::test]
async fn an_expired_grant_reveals_nothing_not_even_that_the_patient_exists() {
    let app = spawn_app().await;
    let rules = Rules {
        proxy_scopes: Some("record_summary"),
        grant_ends: Some(app.clock.now().date_naive() - Duration::days(1)),
        ..Rules::default()
    };
    let (patient, token) = arrange(&app, &rules, &standard_record()).await;
    assert_eq!(visible(&app, patient, &token).await, None);
    let unknown = app
        .client
        .get(app.url(&format!("/api/v1/patients/{}/record", Uuid::new_v4())))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let expired = app
        .client
        .get(app.url(&format!("/api/v1/patients/{patient}/record")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), expired.status());
    assert_eq!(unknown.text().await.unwrap(), expired.text().await.unwrap());
}

#[tokio::test]
async fn automatic_access_starts_on_the_16th_birthday_not_a_day_before() {
    let app = spawn_app().await;
    let today = app.clock.now().date_naive();
    let born = today.with_year(today.year() - 16).unwrap() + Duration::days(1);
    let rules = Rules {
        born,
        ..Rules::default()
    };
    let mut record = standard_record();
    record.push(item(
        "entered-on-the-birthday",
        Kind::Problem,
        today + Duration::days(1),
    ));
    let (patient, token) = arrange(&app, &rules, &record).await;
    assert_eq!(
        visible(&app, patient, &token).await.unwrap(),
        set(&["allergy-old"])
    );
    app.clock.advance(Duration::days(1));
    // From the birthday on; what was filed before it stays historic.
    assert_eq!(
        visible(&app, patient, &token).await.unwrap(),
        set(&["allergy-old", "entered-on-the-birthday"])
    );
}

#[tokio::test]
async fn me_lists_self_and_linked_profiles_with_capabilities() {
    let app = spawn_app().await;
    let rules = Rules {
        proxy_scopes: Some("appointments,record_summary"),
        ..Rules::default()
    };
    let (patient, token) = arrange(&app, &rules, &standard_record()).await;
    let me: Value = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let profiles = me["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2, "{me}");
    assert_eq!(profiles[0]["relationship"], "self");
    let linked = &profiles[1];
    assert_eq!(linked["patient_id"], patient.to_string());
    assert_eq!(linked["acting_as_proxy"], true);
    assert_eq!(
        linked["capabilities"]["record_sections"],
        serde_json::json!(["allergies", "medications", "immunisations"])
    );
    assert_eq!(
        linked["capabilities"]["record_access"],
        serde_json::json!([
            {"section": "allergies"}, {"section": "medications"}, {"section": "immunisations"}
        ])
    );
    // The proxy's own profile says from when each part shows (their account is new today), and
    // nothing of what is hidden.
    let own = &profiles[0]["capabilities"]["record_access"];
    let today = app.clock.now().date_naive().to_string();
    assert!(
        own.as_array()
            .unwrap()
            .contains(&serde_json::json!({"section": "documents", "from": today})),
        "{own}"
    );
    assert!(!me.to_string().contains("hidden"));
    assert_eq!(linked["capabilities"]["appointments"], true);
    assert_eq!(linked["capabilities"]["prescriptions"], false);
    assert_eq!(linked["capabilities"]["access_log"], false);
    assert!(me["messaging_notice"].as_str().unwrap().contains("999"));
}

#[tokio::test]
async fn reads_are_in_the_access_log_which_only_the_patient_sees() {
    let app = spawn_app().await;
    let (patient, token) = arrange(
        &app,
        &Rules {
            access_level: AccessLevel::Documents,
            ..Rules::default()
        },
        &standard_record(),
    )
    .await;
    visible(&app, patient, &token).await;
    let record: Value = app
        .client
        .get(app.url(&format!("/api/v1/patients/{patient}/record/documents")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = record["documents"][0]["content_path"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = app
        .client
        .get(app.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(body.headers()["content-type"], "text/plain");
    assert_eq!(body.text().await.unwrap(), "document-released");

    let log: Value = app
        .client
        .get(app.url(&format!("/api/v1/patients/{patient}/access-log")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lines = log.as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["section"] == "documents" && l["item_id"].is_string()),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["viewer"] == "you" && l["device_name"] == "Phone")
    );
    // A pending document cannot be fetched, even by id.
    let pending: Vec<documents::Model> = {
        use sea_orm::{ColumnTrait, QueryFilter};
        documents::Entity::find()
            .filter(documents::Column::PatientId.eq(patient))
            .all(&app.db)
            .await
            .unwrap()
    };
    let hidden = pending
        .iter()
        .find(|d| d.title == "document-pending")
        .unwrap();
    let refused = app
        .client
        .get(app.url(&format!(
            "/api/v1/patients/{patient}/documents/{}/content",
            hidden.id
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);

    // A proxy may not read the patient's access log.
    let (proxied, proxy_token) = arrange(
        &app,
        &Rules {
            proxy_scopes: Some("record_summary"),
            ..Rules::default()
        },
        &[],
    )
    .await;
    let refused = app
        .client
        .get(app.url(&format!("/api/v1/patients/{proxied}/access-log")))
        .bearer_auth(&proxy_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
}

fn arbitrary_item() -> impl Strategy<Value = Item> {
    (
        prop_oneof![
            Just(Kind::Allergy),
            Just(Kind::Problem),
            Just(Kind::Consultation),
            Just(Kind::Result),
            Just(Kind::Document)
        ],
        2005i32..2026,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(State::Released),
            Just(State::Pending),
            Just(State::Withheld),
            Just(State::Retracted)
        ],
    )
        .prop_map(|(kind, year, hidden, hidden_from_proxies, state)| Item {
            marker: format!("item-{}", Uuid::new_v4().simple()),
            kind,
            date: date(year, 6, 15),
            // The clinical date never decides: sometimes years before, sometimes after.
            clinical: date(2005 + (year * 7) % 21, 2, 1),
            hidden: hidden && year % 3 == 0,
            hidden_from_proxies,
            state: if kind == Kind::Result
                || kind == Kind::Document
                || state != State::Withheld && state != State::Pending
            {
                state
            } else {
                State::Released
            },
        })
}

fn arbitrary_rules() -> impl Strategy<Value = Rules> {
    (
        prop_oneof![
            Just(AccessLevel::None),
            Just(AccessLevel::Summary),
            Just(AccessLevel::Detailed),
            Just(AccessLevel::Documents)
        ],
        prop_oneof![Just(1950i32), Just(2005), Just(2012)],
        proptest::option::of(prop_oneof![Just(date(2000, 1, 1)), Just(date(2020, 1, 1))]),
        proptest::collection::vec(
            (
                prop_oneof![
                    Just("1364731000000104"),
                    Just("1364751000000106"),
                    Just("1290331000000103")
                ],
                0i64..10,
            ),
            0..3,
        ),
        any::<bool>(),
        proptest::option::of(prop_oneof![
            Just("record_summary"),
            Just("record_detailed"),
            Just("record_summary,record_detailed,documents"),
            Just("appointments")
        ]),
        (
            proptest::option::of(prop_oneof![Just(switch_on()), Just(date(2024, 7, 1))]),
            prop_oneof![Just(date(2021, 1, 1)), Just(date(2024, 1, 1))],
            proptest::option::of(prop_oneof![Just(date(2000, 1, 1)), Just(date(2024, 1, 1))]),
            proptest::option::of(0i64..12),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                access_level,
                year,
                record_access_from,
                codes,
                record_feature,
                proxy_scopes,
                (switch_on, account_created, grant_from, code_ends, documents_feature),
            )| Rules {
                access_level,
                born: date(year, 3, 3),
                record_access_from,
                codes,
                code_ends,
                record_feature: record_feature || year % 2 == 0,
                documents_feature: documents_feature || year % 3 == 0,
                switch_on,
                account_created,
                proxy_scopes,
                grant_ends: None,
                grant_from,
            },
        )
}

#[test]
fn the_api_returns_exactly_what_the_rules_allow_for_random_records() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app());
    let today = app.clock.now().date_naive();
    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(rules in arbitrary_rules(), items in proptest::collection::vec(arbitrary_item(), 0..25))| {
        let got = runtime.block_on(async {
            let (patient, token) = arrange(&app, &rules, &items).await;
            visible(&app, patient, &token).await.unwrap_or_default()
        });
        prop_assert_eq!(got, expected(&rules, &items, today));
    });
}

/// Another patient (with an account and a session token) at an existing practice.
pub(crate) async fn second_patient_at(app: &TestApp, practice_id: Uuid) -> (Uuid, String) {
    let patient = new_patient(practice_id, date(1980, 1, 1)).insert(app).await;
    (patient.id, fixtures::account(app, &patient).await.1)
}
