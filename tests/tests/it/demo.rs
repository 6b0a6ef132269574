//! The demo practice loads on both backends, quickly, once, and its printed linkage details
//! match what is stored.

use gp_online::db::entities::{linkage_keys, patients, practices, results, slots};
use gp_online_tests::{TestDatabase, test_start};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn demo_practice_loads_once_and_its_linkage_details_match_the_database() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    gp_online::db::migrate_up(&db).await.unwrap();

    let summary = gp_online::demo::load(&db, test_start()).await.unwrap();
    assert_eq!(patients::Entity::find().count(&db).await.unwrap(), 500);
    assert!(
        summary.patients.len() > 300,
        "most adults get linkage details"
    );
    assert!(!summary.proxies.is_empty());
    assert!(slots::Entity::find().count(&db).await.unwrap() > 500);
    let pending = results::Entity::find()
        .filter(results::Column::ReviewState.eq(results::ReviewState::Pending))
        .count(&db)
        .await
        .unwrap();
    assert!(pending > 0, "some results await review");

    let practice = practices::Entity::find()
        .filter(practices::Column::OdsCode.eq(summary.practice.ods_code.clone()))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    for login in summary.patients.iter().take(25) {
        assert!(gp_online::validate::NhsNumber::parse(&login.nhs_number).is_ok());
        assert_eq!(login.ods_code, practice.ods_code);
        let stored = linkage_keys::Entity::find()
            .filter(linkage_keys::Column::AccountCode.eq(login.account_id.clone()))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let hash = hex::encode(Sha256::digest(login.linkage_key.as_bytes()));
        assert_eq!(stored.key_hash, hash);
    }

    // A second load changes nothing and prints the same details.
    let again = gp_online::demo::load(&db, test_start()).await.unwrap();
    assert_eq!(patients::Entity::find().count(&db).await.unwrap(), 500);
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&summary).unwrap()
    );
}

#[tokio::test]
async fn demo_linkage_details_register_patients_and_carers_with_a_passkey() {
    use gp_online_tests::passkey::SoftDiscoverablePasskey;
    use serde_json::{Value, json};
    let app = gp_online_tests::spawn_app().await;
    let summary = gp_online::demo::load(&app.db, app.clock.now())
        .await
        .unwrap();
    let register = |login: Value| {
        let app = &app;
        async move {
            let begun: Value = app
                .client
                .post(app.url("/api/v1/registration/begin"))
                .json(&login)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let credential = SoftDiscoverablePasskey::new(true)
                .register("https://localhost", &begun["public_key"])
                .unwrap_or_else(|e| panic!("{e}: {begun}"));
            let response = app.client.post(app.url("/api/v1/registration/finish"))
                .json(&json!({"ceremony_id": begun["ceremony_id"], "credential": credential, "device_name": "Demo phone"}))
                .send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let patient = &summary.patients[0];
    let (status, tokens) = register(json!({
        "account_id": patient.account_id, "linkage_key": patient.linkage_key, "ods_code": patient.ods_code,
        "surname": patient.family_name, "date_of_birth": patient.date_of_birth.to_string(),
    }))
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{tokens}");
    assert_eq!(tokens["session_kind"], "patient");

    let summary_json = serde_json::to_value(&summary).unwrap();
    let carer = summary_json["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["proxy_kind"] == "carer")
        .expect("the demo has a carer");
    let (status, tokens) = register(json!({
        "account_id": carer["account_id"], "linkage_key": carer["linkage_key"], "ods_code": carer["ods_code"],
        "surname": carer["family_name"], "date_of_birth": carer["date_of_birth"],
    }))
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{tokens}");
}

#[tokio::test]
async fn in_the_demo_a_released_result_appears_at_once_and_a_retracted_one_is_gone() {
    use gp_online::db::entities::{accounts, results, staff};
    use gp_online::identity::sessions::{self, Subject};
    use gp_online_tests::passkey::SoftDiscoverablePasskey;
    use sea_orm::{EntityTrait, QueryFilter};
    use serde_json::{Value, json};
    let app = gp_online_tests::spawn_app().await;
    let summary = gp_online::demo::load(&app.db, app.clock.now())
        .await
        .unwrap();

    // A demo patient with a pending result registers.
    let pending = results::Entity::find()
        .filter(results::Column::ReviewState.eq(results::ReviewState::Pending))
        .filter(results::Column::Hidden.eq(false))
        .all(&app.db)
        .await
        .unwrap();
    let patients_with_pending: std::collections::HashSet<_> =
        pending.iter().map(|r| r.patient_id).collect();
    let mut chosen = None;
    for login in &summary.patients {
        let patient = gp_online::db::entities::patients::Entity::find()
            .filter(
                gp_online::db::entities::patients::Column::NhsNumber.eq(login.nhs_number.clone()),
            )
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        if patients_with_pending.contains(&patient.id)
            && patient.access_level != gp_online::db::entities::patients::AccessLevel::Summary
            && patient.access_level != gp_online::db::entities::patients::AccessLevel::None
            && pending.iter().any(|r| {
                r.patient_id == patient.id
                    && r.entered_on >= chrono::NaiveDate::from_ymd_opt(2023, 10, 31).unwrap()
            })
        {
            chosen = Some((login.clone(), patient));
            break;
        }
    }
    let (login, patient) = chosen.expect("the demo has a patient with a recent pending result");
    let begun: Value = app.client.post(app.url("/api/v1/registration/begin")).json(&json!({
        "account_id": login.account_id, "linkage_key": login.linkage_key, "ods_code": login.ods_code,
        "surname": login.family_name, "date_of_birth": login.date_of_birth.to_string(),
    })).send().await.unwrap().json().await.unwrap();
    let credential = SoftDiscoverablePasskey::new(true)
        .register("https://localhost", &begun["public_key"])
        .unwrap();
    let tokens: Value = app.client.post(app.url("/api/v1/registration/finish"))
        .json(&json!({"ceremony_id": begun["ceremony_id"], "credential": credential, "device_name": "Phone"}))
        .send().await.unwrap().json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    assert!(
        accounts::Entity::find()
            .one(&app.db)
            .await
            .unwrap()
            .is_some()
    );

    let result_ids = |app: &gp_online_tests::TestApp, token: String| {
        let url = app.url(&format!("/api/v1/patients/{}/record/results", patient.id));
        let client = app.client.clone();
        async move {
            let body: Value = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let target = pending
        .iter()
        .find(|r| {
            r.patient_id == patient.id
                && r.entered_on >= chrono::NaiveDate::from_ymd_opt(2023, 10, 31).unwrap()
        })
        .unwrap();
    assert!(
        !result_ids(&app, token.clone())
            .await
            .contains(&target.id.to_string()),
        "pending is invisible"
    );

    // A clinician releases it: it appears at once.
    let clinician = staff::Entity::find()
        .filter(staff::Column::Role.eq(staff::StaffRole::Clinician))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let staff_token = sessions::open(
        &app.db,
        &gp_online::config::IdentityConfig::default(),
        Subject::Staff {
            staff_id: clinician.id,
        },
        app.clock.now(),
    )
    .await
    .unwrap()
    .access_token;
    let released = app
        .client
        .post(app.url(&format!("/api/v1/practice/results/{}/release", target.id)))
        .bearer_auth(&staff_token)
        .json(&json!({"comment": "Normal - no action"}))
        .send()
        .await
        .unwrap();
    assert!(
        released.status().is_success(),
        "{}",
        released.text().await.unwrap()
    );
    assert!(
        result_ids(&app, token.clone())
            .await
            .contains(&target.id.to_string()),
        "released appears"
    );

    // Retracted: gone again.
    let retracted = app
        .client
        .post(app.url(&format!("/api/v1/practice/results/{}/retract", target.id)))
        .bearer_auth(&staff_token)
        .json(&json!({"reason": "filed against the wrong patient"}))
        .send()
        .await
        .unwrap();
    assert!(
        retracted.status().is_success(),
        "{}",
        retracted.text().await.unwrap()
    );
    assert!(
        !result_ids(&app, token)
            .await
            .contains(&target.id.to_string()),
        "retracted is gone"
    );
}

#[tokio::test]
async fn the_demo_refuses_a_database_that_holds_another_practice() {
    use gp_online::db::entities::{patients, practices};
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = gp_online_tests::spawn_app().await;
    let practice = gp_online_tests::fixtures::practice_with(
        &app,
        gp_online::settings::PracticeSettings::default(),
    )
    .await;
    gp_online_tests::fixtures::patient(&app, practice.id, None).await;
    let error = gp_online::demo::load(&app.db, app.clock.now())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("other practices"), "{error}");
    assert_eq!(practices::Entity::find().count(&app.db).await.unwrap(), 1);
    assert_eq!(patients::Entity::find().count(&app.db).await.unwrap(), 1);
}
