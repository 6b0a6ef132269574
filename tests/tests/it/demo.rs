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
