//! The access module through the REST API (ADR 0002): a table-driven visibility matrix (each
//! rule and combination → exactly which items come back, with a case for each numbered defect
//! of issue 14 that the record read shows) and a property test (random records and rule
//! settings → never an item the rules forbid, always those they allow), both against an
//! independent restatement of the model.

use chrono::{Datelike, Duration, NaiveDate};
use gp_online::db::entities::{documents, patients};
use gp_online_tests::scenario::{
    Item, Kind, Rules, State, arrange, date, item, standard_record, switch_on, visible,
};
use gp_online_tests::spawn_app;
use patients::AccessLevel;
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

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

/// A read of the whole record writes one access-log line per section it returned, from the
/// reading device, before it answers; reads at the same moment share their commits and each is
/// recorded in full.
#[tokio::test]
async fn a_whole_record_read_logs_each_section_it_returned_before_answering() {
    use gp_online::db::entities::access_log;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &standard_record()).await;
    let read = || async {
        let record: Value = app
            .client
            .get(app.url(&format!("/api/v1/patients/{patient}/record")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let returned: BTreeSet<String> = record["sections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|section| section["status"] == "ok")
            .map(|section| section["section"].as_str().unwrap().to_owned())
            .collect();
        let logged = access_log::Entity::find()
            .filter(access_log::Column::PatientId.eq(patient))
            .all(&app.db)
            .await
            .unwrap();
        (returned, logged)
    };
    let (returned, logged) = read().await;
    assert!(returned.len() >= 2, "{returned:?}");
    let sections: BTreeSet<String> = logged.iter().map(|line| line.section.clone()).collect();
    assert_eq!(
        sections, returned,
        "one line per section returned, none for the others"
    );
    assert_eq!(logged.len(), returned.len());
    assert!(logged.iter().all(|line| line.device_id.is_some()));

    let together = futures_util::future::join_all((0..8).map(|_| read())).await;
    let (_, after) = read().await;
    assert!(together.iter().all(|(again, _)| *again == returned));
    assert_eq!(
        after.len(),
        returned.len() * 10,
        "every read recorded in full"
    );
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
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
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
