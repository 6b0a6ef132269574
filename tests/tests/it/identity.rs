//! Identity end to end: linkage details → passkey registration → sign-in → refresh → device
//! revocation, with a software authenticator holding discoverable credentials, and each refusal
//! checked for its stable code.

use chrono::{Duration, NaiveDate};
use gp_online::db::entities::{patients, practices, staff};
use gp_online::identity::linkage::{self, IssuedLinkage, LinkageSubject};
use gp_online::identity::sessions::{self, Subject};
use gp_online::settings::PracticeSettings;
use gp_online_tests::passkey::SoftDiscoverablePasskey;
use gp_online_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

const ORIGIN: &str = "https://localhost";

struct Fixture {
    practice: practices::Model,
    patient: patients::Model,
    linkage: IssuedLinkage,
}

async fn practice(app: &TestApp, live: bool) -> practices::Model {
    let now = app.clock.now();
    practices::ActiveModel {
        id: Set(Uuid::new_v4()),
        ods_code: Set(format!("B{:05}", rand_suffix())),
        name: Set("Test Surgery".to_owned()),
        live: Set(live),
        prospective_access_date: Set(NaiveDate::from_ymd_opt(2023, 10, 31)),
        settings: Set(PracticeSettings::default().to_json()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
}

/// A valid NHS number in the 999 test range, different for each call.
fn unique_nhs_number() -> String {
    loop {
        let seed = Uuid::new_v4().as_u128();
        let mut digits = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
        for (i, digit) in digits.iter_mut().enumerate().skip(3) {
            *digit = ((seed >> (i * 4)) % 10) as u8;
        }
        if let Some(number) = gp_online::validate::NhsNumber::from_first_nine(digits) {
            return number.to_string();
        }
    }
}

fn rand_suffix() -> u32 {
    Uuid::new_v4().as_u128() as u32 % 100_000
}

async fn patient(
    app: &TestApp,
    practice: &practices::Model,
    born: NaiveDate,
    competent: bool,
) -> patients::Model {
    let now = app.clock.now();
    patients::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(practice.id),
        external_id: Set(None),
        nhs_number: Set(unique_nhs_number()),
        given_name: Set("Ada".to_owned()),
        family_name: Set("O'Neill".to_owned()),
        date_of_birth: Set(born),
        sex: Set(patients::Sex::Female),
        access_level: Set(patients::AccessLevel::Detailed),
        record_access_from: Set(None),
        competent: Set(competent),
        nominated_pharmacy_ods: Set(None),
        archived_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
}

async fn fixture(app: &TestApp) -> Fixture {
    let practice = practice(app, true).await;
    let patient = patient(
        app,
        &practice,
        NaiveDate::from_ymd_opt(1980, 5, 17).unwrap(),
        false,
    )
    .await;
    let linkage = linkage::issue(
        &app.db,
        &practice,
        LinkageSubject::Patient(patient.id),
        false,
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
    Fixture {
        practice,
        patient,
        linkage,
    }
}

fn claim(fixture: &Fixture) -> Value {
    json!({
        "account_id": fixture.linkage.account_id,
        "linkage_key": fixture.linkage.linkage_key,
        "ods_code": fixture.practice.ods_code,
        "surname": "o'neill",
        "date_of_birth": "1980-05-17",
    })
}

async fn post(app: &TestApp, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn register(
    app: &TestApp,
    body: &Value,
    passkey: &mut SoftDiscoverablePasskey,
) -> (StatusCode, Value) {
    let (status, begun) = post(app, "/api/v1/registration/begin", body).await;
    if status != StatusCode::OK {
        return (status, begun);
    }
    let credential = passkey.register(ORIGIN, &begun["public_key"]).unwrap();
    post(app, "/api/v1/registration/finish", &json!({
        "ceremony_id": begun["ceremony_id"], "credential": credential, "device_name": "Test phone"
    }))
    .await
}

async fn login(app: &TestApp, passkey: &mut SoftDiscoverablePasskey) -> (StatusCode, Value) {
    let (status, begun) = post(app, "/api/v1/login/begin", &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let credential = passkey.authenticate(ORIGIN, &begun["public_key"]).unwrap();
    post(
        app,
        "/api/v1/login/finish",
        &json!({"ceremony_id": begun["ceremony_id"], "credential": credential}),
    )
    .await
}

async fn devices(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/me/devices"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_patient_registers_signs_in_refreshes_and_revokes_a_device() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);

    let (status, tokens) = register(&app, &claim(&fixture), &mut phone).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["session_kind"], "patient");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let listed: Value = devices(&app, &access).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["current"], true);

    // The linkage details are single use.
    let (status, problem) = post(&app, "/api/v1/registration/begin", &claim(&fixture)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("already_linked"))
    );

    // Usernameless sign-in with the same phone.
    let (status, signed_in) = login(&app, &mut phone).await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");
    assert_ne!(signed_in["access_token"], tokens["access_token"]);

    // Refresh rotates; the old refresh token then revokes the family.
    let (status, refreshed) = post(
        &app,
        "/api/v1/token/refresh",
        &json!({"refresh_token": signed_in["refresh_token"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = post(
        &app,
        "/api/v1/token/refresh",
        &json!({"refresh_token": signed_in["refresh_token"]}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("refresh_token_reused"))
    );
    let refreshed_access = refreshed["access_token"].as_str().unwrap();
    let after_reuse = devices(&app, refreshed_access).await;
    assert_eq!(
        after_reuse.status(),
        StatusCode::UNAUTHORIZED,
        "the whole family is revoked"
    );
    let (status, _) = post(
        &app,
        "/api/v1/token/refresh",
        &json!({"refresh_token": refreshed["refresh_token"]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The first session still works until its device is revoked; then at once it does not.
    assert_eq!(devices(&app, &access).await.status(), StatusCode::OK);
    let device_id = tokens["device_id"].as_str().unwrap();
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/me/devices/{device_id}")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let problem: Value = devices(&app, &access).await.json().await.unwrap();
    assert_eq!(problem["code"], "session_ended");
    // Its passkey went with it.
    let (status, problem) = login(&app, &mut phone).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("passkey_rejected"))
    );
}

#[tokio::test]
async fn access_tokens_expire_and_refresh_respects_the_idle_limit() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);
    let (_, tokens) = register(&app, &claim(&fixture), &mut phone).await;
    let access = tokens["access_token"].as_str().unwrap();
    app.clock.advance(Duration::minutes(16));
    assert_eq!(
        devices(&app, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, refreshed) = post(
        &app,
        "/api/v1/token/refresh",
        &json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(Duration::days(31));
    let (status, problem) = post(
        &app,
        "/api/v1/token/refresh",
        &json!({"refresh_token": refreshed["refresh_token"]}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_ended"))
    );
}

#[tokio::test]
async fn registration_refusals_have_their_own_codes() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);

    let mut wrong_surname = claim(&fixture);
    wrong_surname["surname"] = json!("Smith");
    let (status, problem) = register(&app, &wrong_surname, &mut phone).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("no_patient_match"))
    );

    let mut wrong_birth = claim(&fixture);
    wrong_birth["date_of_birth"] = json!("1980-05-18");
    let (_, problem) = register(&app, &wrong_birth, &mut phone).await;
    assert_eq!(problem["code"], "no_patient_match");

    let mut wrong_key = claim(&fixture);
    wrong_key["linkage_key"] = json!("AAAAA-AAAAA-AAAAA");
    let (_, problem) = register(&app, &wrong_key, &mut phone).await;
    assert_eq!(problem["code"], "invalid_linkage_details");

    let mut bad_fields = claim(&fixture);
    bad_fields["ods_code"] = json!("12345");
    bad_fields["date_of_birth"] = json!("2090-01-01");
    let (status, problem) = register(&app, &bad_fields, &mut phone).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let names: Vec<&str> = problem["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ods_code", "date_of_birth"]);

    // Two more failures reach the limit of five: the details lock, even for the right key.
    for _ in 0..2 {
        register(&app, &wrong_key, &mut phone).await;
    }
    let (_, problem) = register(&app, &claim(&fixture), &mut phone).await;
    assert_eq!(problem["code"], "linkage_key_locked");
}

#[tokio::test]
async fn expired_linkage_details_and_under_16s_are_refused() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);
    app.clock.advance(Duration::days(91));
    let (_, problem) = register(&app, &claim(&fixture), &mut phone).await;
    assert_eq!(problem["code"], "linkage_key_expired");

    let now = app.clock.now().date_naive();
    let born = now.with_year_checked(-15);
    let child = patient(&app, &fixture.practice, born, false).await;
    let issued = linkage::issue(
        &app.db,
        &fixture.practice,
        LinkageSubject::Patient(child.id),
        false,
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
    let body = json!({"account_id": issued.account_id, "linkage_key": issued.linkage_key,
        "ods_code": fixture.practice.ods_code, "surname": "O'Neill", "date_of_birth": born.to_string()});
    let (_, problem) = register(&app, &body, &mut phone).await;
    assert_eq!(problem["code"], "under_minimum_age");

    // The practice records the young person as competent: now they may register.
    let competent = patient(&app, &fixture.practice, born, true).await;
    let issued = linkage::issue(
        &app.db,
        &fixture.practice,
        LinkageSubject::Patient(competent.id),
        false,
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
    let body = json!({"account_id": issued.account_id, "linkage_key": issued.linkage_key,
        "ods_code": fixture.practice.ods_code, "surname": "O'Neill", "date_of_birth": born.to_string()});
    let (status, _) = register(&app, &body, &mut SoftDiscoverablePasskey::new(true)).await;
    assert_eq!(status, StatusCode::OK);
}

trait YearsBack {
    fn with_year_checked(self, years: i32) -> NaiveDate;
}

impl YearsBack for NaiveDate {
    fn with_year_checked(self, years: i32) -> NaiveDate {
        use chrono::Datelike;
        self.with_year(self.year() + years).unwrap()
    }
}

#[tokio::test]
async fn ceremonies_are_single_use_short_lived_and_bound_to_their_challenge() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);

    // Replayed: finishing the same ceremony twice.
    let (_, begun) = post(&app, "/api/v1/registration/begin", &claim(&fixture)).await;
    let credential = phone.register(ORIGIN, &begun["public_key"]).unwrap();
    let finish = json!({"ceremony_id": begun["ceremony_id"], "credential": credential, "device_name": "Phone"});
    let (first, second) = tokio::join!(
        post(&app, "/api/v1/registration/finish", &finish),
        post(&app, "/api/v1/registration/finish", &finish)
    );
    let statuses = [first.0, second.0];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{first:?} {second:?}"
    );
    let loser = if first.0 == StatusCode::OK {
        second.1
    } else {
        first.1
    };
    assert_eq!(loser["code"], "ceremony_invalid");

    // Expired: a sign-in ceremony older than five minutes.
    let (_, begun) = post(&app, "/api/v1/login/begin", &json!({})).await;
    let answer = phone.authenticate(ORIGIN, &begun["public_key"]).unwrap();
    app.clock.advance(Duration::minutes(6));
    let (status, problem) = post(
        &app,
        "/api/v1/login/finish",
        &json!({"ceremony_id": begun["ceremony_id"], "credential": answer}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("ceremony_expired"))
    );

    // An answer to one begin presented with another begin's ceremony id.
    let (_, first) = post(&app, "/api/v1/login/begin", &json!({})).await;
    let (_, other) = post(&app, "/api/v1/login/begin", &json!({})).await;
    let answer = phone.authenticate(ORIGIN, &first["public_key"]).unwrap();
    let (_, problem) = post(
        &app,
        "/api/v1/login/finish",
        &json!({"ceremony_id": other["ceremony_id"], "credential": answer}),
    )
    .await;
    assert_eq!(problem["code"], "passkey_rejected");

    // Wrong origin.
    let (_, begun) = post(&app, "/api/v1/login/begin", &json!({})).await;
    let answer = phone
        .authenticate_unchecked_origin("https://evil.example", &begun["public_key"])
        .unwrap();
    let (_, problem) = post(
        &app,
        "/api/v1/login/finish",
        &json!({"ceremony_id": begun["ceremony_id"], "credential": answer}),
    )
    .await;
    assert_eq!(problem["code"], "passkey_rejected");
    // The real answer to a fresh ceremony still works.
    let (status, _) = login(&app, &mut phone).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn user_verification_is_required_and_a_credential_belongs_to_one_account() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut no_uv = SoftDiscoverablePasskey::new(false);
    let (status, problem) = register(&app, &claim(&fixture), &mut no_uv).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("passkey_rejected"))
    );

    // The linkage details were not used up by the failed attempt: register properly.
    let fixture = Fixture {
        linkage: linkage::issue(
            &app.db,
            &fixture.practice,
            LinkageSubject::Patient(fixture.patient.id),
            false,
            None,
            app.clock.now(),
        )
        .await
        .unwrap(),
        ..fixture
    };
    let mut phone = SoftDiscoverablePasskey::new(true);
    let (status, _) = register(&app, &claim(&fixture), &mut phone).await;
    assert_eq!(status, StatusCode::OK);

    // Someone replays the same credential for another person's registration.
    let other = patient(
        &app,
        &fixture.practice,
        NaiveDate::from_ymd_opt(1970, 1, 2).unwrap(),
        false,
    )
    .await;
    let issued = linkage::issue(
        &app.db,
        &fixture.practice,
        LinkageSubject::Patient(other.id),
        false,
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
    let (_, begun) = post(&app, "/api/v1/registration/begin", &json!({"account_id": issued.account_id,
        "linkage_key": issued.linkage_key, "ods_code": fixture.practice.ods_code, "surname": "O'Neill",
        "date_of_birth": "1970-01-02"})).await;
    // The same phone answers the other person's ceremony with its existing credential.
    let reused = phone
        .register_reusing_credential(ORIGIN, &begun["public_key"])
        .unwrap();
    let (status, problem) = post(
        &app,
        "/api/v1/registration/finish",
        &json!({"ceremony_id": begun["ceremony_id"], "credential": reused, "device_name": "x"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("credential_already_registered"))
    );
}
