//! A record scenario for access and sync tests: a practice with its switch-on date, a patient
//! with a record of marked items (coded entries, results, letters) in chosen review states, and
//! a viewer (the patient or a proxy) the [`Rules`] describe; [`visible`] reads back the markers
//! the whole-record endpoint returns.

use crate::TestApp;
use crate::fixtures::{self, NewPatient, NewPractice};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use gp_online::db::entities::{
    access_codes, accounts, blobs, documents, patients, proxy_grants, record_entries, results,
};
use gp_online::settings::PracticeSettings;
use patients::AccessLevel;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

/// The practice's default switch-on date of automatic (prospective) access in scenarios.
const SWITCH_ON: (i32, u32, u32) = (2023, 10, 31);

/// A calendar date (panics on an impossible one).
pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The scenarios' default switch-on date.
pub fn switch_on() -> NaiveDate {
    date(SWITCH_ON.0, SWITCH_ON.1, SWITCH_ON.2)
}

/// How a scenario's patient and viewer are set up.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The historic level the practice granted.
    pub access_level: AccessLevel,
    /// The patient's date of birth.
    pub born: NaiveDate,
    /// The historic from-date the practice granted.
    pub record_access_from: Option<NaiveDate>,
    /// Codes recorded `offset` days after 1000 days ago, each with an optional end (days after
    /// 1000 days ago).
    pub codes: Vec<(&'static str, i64)>,
    /// When every code ends (days after 1000 days ago); `None`: in force.
    pub code_ends: Option<i64>,
    /// Whether the practice offers the record online.
    pub record_feature: bool,
    /// Whether the practice offers letters online.
    pub documents_feature: bool,
    /// The practice's switch-on date; `None`: automatic access switched off.
    pub switch_on: Option<NaiveDate>,
    /// The day the patient's own account was created.
    pub account_created: NaiveDate,
    /// None: the patient themself; Some(scopes): a proxy with these scopes.
    pub proxy_scopes: Option<&'static str>,
    /// The proxy grant's last day.
    pub grant_ends: Option<NaiveDate>,
    /// The grant's own record access date (`None`: its start, 2020-01-01).
    pub grant_from: Option<NaiveDate>,
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
pub struct Item {
    /// The term, test name or title: unique within a scenario, found in responses by it.
    pub marker: String,
    /// What kind of record item it is.
    pub kind: Kind,
    /// The day it was entered or filed.
    pub date: NaiveDate,
    /// Its clinical (effective) date.
    pub clinical: NaiveDate,
    /// Hidden from everyone online by a clinician.
    pub hidden: bool,
    /// Hidden from proxies only.
    pub hidden_from_proxies: bool,
    /// Its review state.
    pub state: State,
}

/// The kind of a scenario's record item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A coded allergy (summary record).
    Allergy,
    /// A coded problem (detailed record).
    Problem,
    /// A consultation (detailed record).
    Consultation,
    /// A test result.
    Result,
    /// A letter.
    Document,
}

/// The review state of a scenario's item (results and letters; coded entries are released).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Released to the patient.
    Released,
    /// Awaiting a clinician's review.
    Pending,
    /// Withheld by a clinician.
    Withheld,
    /// Released, then retracted.
    Retracted,
}

/// A released item of `kind` entered on `date`, with the same clinical date.
pub fn item(marker: &str, kind: Kind, date: NaiveDate) -> Item {
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
pub fn standard_record() -> Vec<Item> {
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

/// A practice, a patient with `items`, and an access token for the viewer `rules` describe.
pub async fn arrange(app: &TestApp, rules: &Rules, items: &[Item]) -> (Uuid, String) {
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
        insert_item(app, patient.practice_id, patient.id, item, now).await;
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

async fn insert_item(
    app: &TestApp,
    practice_id: Uuid,
    patient_id: Uuid,
    item: &Item,
    now: DateTime<Utc>,
) {
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
                practice_id: Set(practice_id),
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
                practice_id: Set(practice_id),
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
                practice_id: Set(practice_id),
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
pub async fn visible(app: &TestApp, patient: Uuid, token: &str) -> Option<BTreeSet<String>> {
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

/// Another patient (with an account and a session token) at an existing practice.
pub async fn second_patient_at(app: &TestApp, practice_id: Uuid) -> (Uuid, String) {
    let patient = new_patient(practice_id, date(1980, 1, 1)).insert(app).await;
    (patient.id, fixtures::account(app, &patient).await.1)
}
