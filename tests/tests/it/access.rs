//! The access module through the REST API: a table-driven visibility matrix (each rule and
//! combination → exactly which items come back) and a property test (random records and rule
//! settings → never an item the rules forbid, always those they allow).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use gp_online::db::entities::{
    access_codes, blobs, documents, patients, proxy_grants, record_entries, results,
};
use gp_online::settings::PracticeSettings;
use gp_online_tests::fixtures::{self, NewPatient, NewPractice};
use gp_online_tests::{TestApp, spawn_app};
use patients::AccessLevel;
use proptest::prelude::*;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

const SWITCH_ON: (i32, u32, u32) = (2023, 10, 31);

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// How a scenario's patient and viewer are set up.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) access_level: AccessLevel,
    pub(crate) born: NaiveDate,
    pub(crate) record_access_from: Option<NaiveDate>,
    pub(crate) codes: Vec<(&'static str, i64)>,
    pub(crate) record_feature: bool,
    /// None: the patient themself; Some(scopes): a proxy with these scopes.
    pub(crate) proxy_scopes: Option<&'static str>,
    pub(crate) grant_ends: Option<NaiveDate>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            access_level: AccessLevel::Detailed,
            born: date(1970, 6, 1),
            record_access_from: None,
            codes: Vec::new(),
            record_feature: true,
            proxy_scopes: None,
            grant_ends: None,
        }
    }
}

/// One item of a scenario's record, with its marker term.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) marker: String,
    pub(crate) kind: Kind,
    pub(crate) date: NaiveDate,
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
    ]
}

/// The rules restated independently of the server: what a viewer should see.
fn expected(rules: &Rules, items: &[Item], today: NaiveDate) -> BTreeSet<String> {
    use chrono::Datelike;
    let age = today.year()
        - rules.born.year()
        - i32::from((today.month(), today.day()) < (rules.born.month(), rules.born.day()));
    let latest = |code: &str| {
        rules
            .codes
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
    let from = rules
        .record_access_from
        .or((age >= 16 && !blocked).then(|| date(SWITCH_ON.0, SWITCH_ON.1, SWITCH_ON.2)));
    if let (Some(_), Some(ends)) = (rules.proxy_scopes, rules.grant_ends)
        && ends < today
    {
        return BTreeSet::new();
    }
    items
        .iter()
        .filter(|i| {
            let (summary, needs, scope) = match i.kind {
                Kind::Allergy => (true, 1, "record_summary"),
                Kind::Problem | Kind::Consultation | Kind::Result => (false, 2, "record_detailed"),
                Kind::Document => (false, 3, "documents"),
            };
            let level = match rules.access_level {
                AccessLevel::None => 0,
                AccessLevel::Summary => 1,
                AccessLevel::Detailed => 2,
                AccessLevel::Documents => 3,
            };
            let granted = match rules.proxy_scopes {
                None => level >= needs,
                Some(scopes) => scopes.split(',').any(|s| s == scope),
            };
            let in_window = summary || from.is_some_and(|from| i.date >= from);
            granted
                && rules.record_feature
                && in_window
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
    let practice = NewPractice::default()
        .settings(settings)
        .prospective_access_date(Some(date(SWITCH_ON.0, SWITCH_ON.1, SWITCH_ON.2)))
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
            patient_id: Set(patient.id),
            external_id: Set(None),
            snomed_code: Set((*code).to_owned()),
            recorded_at: Set(now - Duration::days(1000) + Duration::days(*offset)),
            recorded_by_staff_id: Set(None),
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
            })
            .await;
            carer
        }
    };
    (patient.id, fixtures::account(app, &viewer).await.1)
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
                patient_id: Set(patient_id),
                external_id: Set(None),
                section: Set(section),
                snomed_code: Set("38341003".to_owned()),
                term: Set(item.marker.clone()),
                effective_date: Set(item.date),
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
                effective_date: Set(item.date),
                received_at: Set(now),
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
                patient_id: Set(patient_id),
                external_id: Set(None),
                document_type: Set(documents::DocumentType::OutpatientLetter),
                title: Set(item.marker.clone()),
                author_organisation: Set(None),
                effective_date: Set(item.date),
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
    let adult_detailed = [
        "allergy-old",
        "problem-new",
        "consult-new",
        "consult-proxy-hidden",
        "result-released-new",
    ];
    let mut with_documents = adult_detailed.to_vec();
    with_documents.push("document-released");
    let mut full_history = adult_detailed.to_vec();
    full_history.extend(["problem-old", "result-released-old"]);
    let cases: Vec<(&str, Rules, Vec<&str>)> = vec![
        (
            "adult, detailed, automatic access from the switch-on date",
            Rules::default(),
            adult_detailed.to_vec(),
        ),
        (
            "documents level adds released letters",
            Rules {
                access_level: AccessLevel::Documents,
                ..Rules::default()
            },
            with_documents.clone(),
        ),
        (
            "summary level: allergies, medications, immunisations only",
            Rules {
                access_level: AccessLevel::Summary,
                ..Rules::default()
            },
            vec!["allergy-old"],
        ),
        (
            "no access",
            Rules {
                access_level: AccessLevel::None,
                ..Rules::default()
            },
            vec![],
        ),
        (
            "older history granted by hand",
            Rules {
                record_access_from: Some(date(2000, 1, 1)),
                ..Rules::default()
            },
            full_history,
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
            adult_detailed.to_vec(),
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
            "enhanced review does not remove access granted by hand",
            Rules {
                codes: vec![("1364731000000104", 0)],
                record_access_from: Some(date(2023, 10, 31)),
                ..Rules::default()
            },
            adult_detailed.to_vec(),
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
            "under 16: no automatic access",
            Rules {
                born: today - Duration::days(15 * 366),
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
            "proxy with the summary scope",
            Rules {
                proxy_scopes: Some("appointments,record_summary"),
                ..Rules::default()
            },
            vec!["allergy-old"],
        ),
        (
            "proxy with detailed and documents scopes: not what is hidden from proxies",
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
    use chrono::Datelike;
    let born = today.with_year(today.year() - 16).unwrap() + Duration::days(1);
    let rules = Rules {
        born,
        ..Rules::default()
    };
    let (patient, token) = arrange(&app, &rules, &standard_record()).await;
    assert_eq!(
        visible(&app, patient, &token).await.unwrap(),
        set(&["allergy-old"])
    );
    app.clock.advance(Duration::days(1));
    assert!(
        visible(&app, patient, &token)
            .await
            .unwrap()
            .contains("problem-new")
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
    )
        .prop_map(
            |(access_level, year, record_access_from, codes, record_feature, proxy_scopes)| Rules {
                access_level,
                born: date(year, 3, 3),
                record_access_from,
                codes,
                record_feature: record_feature || year % 2 == 0,
                proxy_scopes,
                grant_ends: None,
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
