//! Identity end to end: linkage details → passkey registration → sign-in → refresh → device
//! revocation, with a software authenticator holding discoverable credentials, and each refusal
//! checked for its stable code.

use chrono::{Duration, NaiveDate};
use gp_online::db::entities::{patients, practices, staff};
use gp_online::identity::linkage::{self, IssuedLinkage, LinkageSubject};
use gp_online_tests::fixtures::{
    self, NewPatient, NewPractice, integration_key, staff_token, unique_nhs_number,
};
use gp_online_tests::passkey::SoftDiscoverablePasskey;
use gp_online_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};

const ORIGIN: &str = "https://localhost";

struct Fixture {
    practice: practices::Model,
    patient: patients::Model,
    linkage: IssuedLinkage,
}

/// A patient the linkage claims of these tests name: Ada O'Neill, with a valid NHS number, not
/// yet known to the clinical system.
async fn patient(
    app: &TestApp,
    practice: &practices::Model,
    born: NaiveDate,
    competent: bool,
) -> patients::Model {
    NewPatient::at(practice.id)
        .named("Ada", "O'Neill")
        .born(born)
        .competent(competent)
        .nhs_number(&unique_nhs_number())
        .at_the_desk()
        .insert(app)
        .await
}

async fn fixture(app: &TestApp) -> Fixture {
    let practice = fixtures::practice(app).await;
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
    // Seven attempts on one Account ID: the per-ID rate limit is raised so the lock is what shows.
    let app = gp_online_tests::spawn_app_with(|config| {
        config.identity.attempts_per_account_per_minute = 100;
    })
    .await;
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

#[tokio::test]
async fn staff_enrol_with_a_one_time_code_then_sign_in_by_passkey() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let identity =
        gp_online::identity::Identity::new(&gp_online::config::IdentityConfig::default()).unwrap();
    let invitation = gp_online::identity::staff::invite(
        &app.db,
        &identity,
        &fixture.practice.ods_code,
        staff::StaffRole::Admin,
        "Sam Admin",
        app.clock.now(),
    )
    .await
    .unwrap();

    let mut key = SoftDiscoverablePasskey::new(true);
    let code = json!({"enrolment_code": invitation.enrolment_code.to_lowercase()});
    let (status, begun) = post(&app, "/api/v1/practice/enrolment/begin", &code).await;
    assert_eq!(status, StatusCode::OK, "{begun}");
    let credential = key.register(ORIGIN, &begun["public_key"]).unwrap();
    let (status, tokens) = post(
        &app,
        "/api/v1/practice/enrolment/finish",
        &json!({"ceremony_id": begun["ceremony_id"], "credential": credential}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["session_kind"], "staff");

    // The code works once.
    let (status, problem) = post(&app, "/api/v1/practice/enrolment/begin", &code).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("enrolment_code_invalid"))
    );

    // Passkey sign-in gives a staff session that can act for the practice.
    let (status, signed_in) = login(&app, &mut key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(signed_in["session_kind"], "staff");
    let issued = app
        .client
        .post(app.url(&format!(
            "/api/v1/practice/patients/{}/linkage",
            fixture.patient.id
        )))
        .bearer_auth(signed_in["access_token"].as_str().unwrap())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), StatusCode::CREATED);
    // The earlier linkage details were revoked by the reissue.
    let (_, problem) = post(&app, "/api/v1/registration/begin", &claim(&fixture)).await;
    assert_eq!(problem["code"], "invalid_linkage_details");
}

#[tokio::test]
async fn integration_keys_are_scoped_to_one_practice() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let key = integration_key(&app, &fixture.practice).await;
    let response = app
        .client
        .get(app.url("/api/v1/integration/practice"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let practice: Value = response.json().await.unwrap();
    assert_eq!(practice["ods_code"], fixture.practice.ods_code.as_str());

    let forged = format!("{key}x");
    let response = app
        .client
        .get(app.url("/api/v1/integration/practice"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A patient's token is not an integration key.
    let (_, tokens) = register(
        &app,
        &claim(&fixture),
        &mut SoftDiscoverablePasskey::new(true),
    )
    .await;
    let response = app
        .client
        .get(app.url("/api/v1/integration/practice"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_are_listed_and_one_can_be_signed_out() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);
    let (_, first) = register(&app, &claim(&fixture), &mut phone).await;
    let (_, second) = login(&app, &mut phone).await;
    let first_access = first["access_token"].as_str().unwrap();
    let listed: Value = app
        .client
        .get(app.url("/api/v1/me/sessions"))
        .bearer_auth(first_access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let other = second["session_id"].as_str().unwrap();
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/me/sessions/{other}")))
        .bearer_auth(first_access)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        devices(&app, second["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(devices(&app, first_access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn identity_attempts_are_rate_limited_with_retry_after() {
    let app =
        gp_online_tests::spawn_app_with(|config| config.identity.attempts_per_minute = 3).await;
    for _ in 0..3 {
        let (status, _) = post(&app, "/api/v1/login/begin", &json!({})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let refused = app
        .client
        .post(app.url("/api/v1/login/begin"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
}

#[tokio::test]
async fn no_token_or_key_is_written_to_the_audit_trail() {
    use gp_online::db::entities::audit_events;
    use sea_orm::EntityTrait;
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);
    let (_, tokens) = register(&app, &claim(&fixture), &mut phone).await;
    post(
        &app,
        "/api/v1/token/refresh",
        &json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    post(
        &app,
        "/api/v1/token/refresh",
        &json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    let events = audit_events::Entity::find().all(&app.db).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"registration.finish"), "{actions:?}");
    assert!(actions.contains(&"session.refresh_reuse"), "{actions:?}");
    let trail = serde_json::to_string(&events).unwrap();
    for secret in [
        fixture.linkage.linkage_key.as_str(),
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!trail.contains(secret), "a secret reached the audit trail");
    }
}

#[tokio::test]
async fn recovery_replaces_old_passkeys_and_ends_old_sessions() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut lost_phone = SoftDiscoverablePasskey::new(true);
    let (_, old) = register(&app, &claim(&fixture), &mut lost_phone).await;

    let recovery = linkage::issue(
        &app.db,
        &fixture.practice,
        LinkageSubject::Patient(fixture.patient.id),
        true,
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
    let recovered = Fixture {
        linkage: recovery,
        ..fixture
    };
    let mut new_phone = SoftDiscoverablePasskey::new(true);
    let (status, new) = register(&app, &claim(&recovered), &mut new_phone).await;
    assert_eq!(status, StatusCode::OK, "{new}");
    assert_eq!(
        devices(&app, old["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = login(&app, &mut lost_phone).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the lost phone's passkey is gone"
    );
    let (status, _) = login(&app, &mut new_phone).await;
    assert_eq!(status, StatusCode::OK);
    let events = gp_online_tests::query_strings(
        &app.db,
        "SELECT action FROM audit_events WHERE action = 'account.recovery'",
    )
    .await;
    assert_eq!(events.len(), 1, "recovery is audited");
}

#[tokio::test]
async fn patient_and_staff_sessions_only_work_on_their_own_routes() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);
    let (_, patient_tokens) = register(&app, &claim(&fixture), &mut phone).await;
    let patient_access = patient_tokens["access_token"].as_str().unwrap();

    let staff_access = staff_token(&app, fixture.practice.id, staff::StaffRole::Admin).await;

    let linkage_path = format!("/api/v1/practice/patients/{}/linkage", fixture.patient.id);
    let as_patient = app
        .client
        .post(app.url(&linkage_path))
        .bearer_auth(patient_access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(as_patient.status(), StatusCode::FORBIDDEN);
    let as_staff = devices(&app, &staff_access).await;
    assert_eq!(as_staff.status(), StatusCode::FORBIDDEN);
    let anonymous = app
        .client
        .get(app.url("/api/v1/me/devices"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // The admin issues recovery details through the staff API; the letter carries them.
    let issued: Value = app
        .client
        .post(app.url(&linkage_path))
        .bearer_auth(&staff_access)
        .json(&json!({"recovery": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = issued["linkage_key"].as_str().unwrap();
    assert!(issued["letter"].as_str().unwrap().contains(key));
    // A patient of another practice is not found.
    let elsewhere = fixtures::practice(&app).await;
    let stranger = patient(
        &app,
        &elsewhere,
        NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
        false,
    )
    .await;
    let other = app
        .client
        .post(app.url(&format!(
            "/api/v1/practice/patients/{}/linkage",
            stranger.id
        )))
        .bearer_auth(&staff_access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_practice_that_is_not_live_refuses_registration() {
    let app = spawn_app().await;
    let closed = NewPractice::default().live(false).insert(&app).await;
    let patient = patient(
        &app,
        &closed,
        NaiveDate::from_ymd_opt(1980, 5, 17).unwrap(),
        false,
    )
    .await;
    let issued = linkage::issue(
        &app.db,
        &closed,
        LinkageSubject::Patient(patient.id),
        false,
        None,
        app.clock.now(),
    )
    .await
    .unwrap();
    let fixture = Fixture {
        practice: closed,
        patient,
        linkage: issued,
    };
    let (_, problem) = register(
        &app,
        &claim(&fixture),
        &mut SoftDiscoverablePasskey::new(true),
    )
    .await;
    assert_eq!(problem["code"], "practice_not_live");
}

#[tokio::test]
async fn a_signed_in_device_adds_a_passkey_for_another_device() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);
    let (_, tokens) = register(&app, &claim(&fixture), &mut phone).await;
    let access = tokens["access_token"].as_str().unwrap();

    let begin = |access: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/api/v1/me/passkeys/begin"))
                .bearer_auth(access)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    // The phone's own credential is excluded: it cannot be added a second time.
    let begun = begin(access.to_owned()).await;
    assert!(phone.register(ORIGIN, &begun["public_key"]).is_err());

    let mut tablet = SoftDiscoverablePasskey::new(true);
    let begun = begin(access.to_owned()).await;
    let credential = tablet.register(ORIGIN, &begun["public_key"]).unwrap();
    let added = app.client.post(app.url("/api/v1/me/passkeys/finish")).bearer_auth(access)
        .json(&json!({"ceremony_id": begun["ceremony_id"], "credential": credential, "device_name": "Tablet"}))
        .send().await.unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let listed: Value = devices(&app, access).await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // The tablet signs in by itself, and keeps working when the phone is revoked.
    let (status, on_tablet) = login(&app, &mut tablet).await;
    assert_eq!(status, StatusCode::OK);
    let device_id = tokens["device_id"].as_str().unwrap();
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/me/devices/{device_id}")))
        .bearer_auth(on_tablet["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        devices(&app, on_tablet["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        devices(&app, access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_wrong_key_learns_nothing_about_used_details() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    register(
        &app,
        &claim(&fixture),
        &mut SoftDiscoverablePasskey::new(true),
    )
    .await;
    let mut guess = claim(&fixture);
    guess["linkage_key"] = json!("BBBBB-BBBBB-BBBBB");
    let (_, problem) = post(&app, "/api/v1/registration/begin", &guess).await;
    assert_eq!(problem["code"], "invalid_linkage_details");
}

#[tokio::test]
async fn mutations_replay_by_idempotency_key_with_stripe_semantics() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);
    let (_, first) = register(&app, &claim(&fixture), &mut phone).await;
    let (_, second) = login(&app, &mut phone).await;
    let (_, third) = login(&app, &mut phone).await;
    let access = first["access_token"].as_str().unwrap();
    let end = |session: &Value, key: &str| {
        app.client
            .delete(app.url(&format!(
                "/api/v1/me/sessions/{}",
                session["session_id"].as_str().unwrap()
            )))
            .bearer_auth(access)
            .header("idempotency-key", key)
            .send()
    };
    let original = end(&second, "end-second").await.unwrap();
    assert_eq!(original.status(), StatusCode::NO_CONTENT);
    // The same call again: the stored outcome, not a 404 for an already ended session.
    let replayed = end(&second, "end-second").await.unwrap();
    assert_eq!(replayed.status(), StatusCode::NO_CONTENT);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    // The same key for another request is refused, and nothing happens to that session.
    let reused = end(&third, "end-second").await.unwrap();
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = reused.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_reused");
    assert_eq!(
        devices(&app, third["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    // After a token refresh the same caller still gets the stored outcome.
    let (_, refreshed) = post(
        &app,
        "/api/v1/token/refresh",
        &json!({"refresh_token": first["refresh_token"]}),
    )
    .await;
    let replayed = app
        .client
        .delete(app.url(&format!(
            "/api/v1/me/sessions/{}",
            second["session_id"].as_str().unwrap()
        )))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .header("idempotency-key", "end-second")
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
}

#[tokio::test]
async fn sign_out_everywhere_ends_every_device_at_once() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut phone = SoftDiscoverablePasskey::new(true);
    let (_, first) = register(&app, &claim(&fixture), &mut phone).await;
    let (_, second) = login(&app, &mut phone).await;
    let everywhere = app
        .client
        .delete(app.url("/api/v1/me/devices"))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(everywhere.status(), StatusCode::NO_CONTENT);
    for tokens in [&first, &second] {
        assert_eq!(
            devices(&app, tokens["access_token"].as_str().unwrap())
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        let (status, _) = post(
            &app,
            "/api/v1/token/refresh",
            &json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = login(&app, &mut phone).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the passkeys went with the devices"
    );
}

#[tokio::test]
async fn an_archived_patient_cannot_register() {
    let app = spawn_app().await;
    let fixture = fixture(&app).await;
    let mut archived: patients::ActiveModel = fixture.patient.clone().into();
    archived.archived_at = Set(Some(app.clock.now()));
    archived.update(&app.db).await.unwrap();
    let (_, problem) = register(
        &app,
        &claim(&fixture),
        &mut SoftDiscoverablePasskey::new(true),
    )
    .await;
    assert_eq!(problem["code"], "patient_archived");
}

#[tokio::test]
async fn linkage_attempts_are_limited_per_account_id_across_addresses() {
    // Every request comes from 127.0.0.1 here, so the per-address limit is raised to isolate
    // the per-Account-ID one (both share the setting): the 4th attempt on one ID is refused.
    let app =
        gp_online_tests::spawn_app_with(|config| config.identity.attempts_per_minute = 3).await;
    let fixture = fixture(&app).await;
    let mut wrong = claim(&fixture);
    wrong["linkage_key"] = json!("CCCCC-CCCCC-CCCCC");
    for _ in 0..3 {
        let (status, _) = post(&app, "/api/v1/registration/begin", &wrong).await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    let (status, problem) = post(&app, "/api/v1/registration/begin", &wrong).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let attempt = |app: &gp_online_tests::TestApp, forwarded_for: &str| {
        app.client
            .post(app.url("/api/v1/login/begin"))
            .header("x-forwarded-for", forwarded_for)
            .json(&json!({}))
            .send()
    };
    let behind_proxy = gp_online_tests::spawn_app_with(|config| {
        config.identity.attempts_per_minute = 2;
        config.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for _ in 0..2 {
        let response = attempt(&behind_proxy, "203.0.113.5").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = attempt(&behind_proxy, "203.0.113.5").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy, even one claiming the first address further left.
    let other = attempt(&behind_proxy, "203.0.113.5, 203.0.113.6")
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);

    // Without the setting the header is not believed: every claimed address is one peer.
    let direct =
        gp_online_tests::spawn_app_with(|config| config.identity.attempts_per_minute = 2).await;
    for (i, claimed) in ["203.0.113.7", "203.0.113.8", "203.0.113.9"]
        .iter()
        .enumerate()
    {
        let status = attempt(&direct, claimed).await.unwrap().status();
        let expected = if i < 2 {
            StatusCode::OK
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(status, expected, "attempt {i}");
    }
}

#[tokio::test]
async fn the_account_id_with_spaces_inside_is_the_same_id_to_the_rate_limit() {
    // The per-address limit is raised so the per-Account-ID one is what shows.
    let app = gp_online_tests::spawn_app_with(|config| {
        config.identity.attempts_per_minute = 100;
        config.identity.attempts_per_account_per_minute = 3;
    })
    .await;
    let fixture = fixture(&app).await;
    let id = fixture.linkage.account_id.clone();
    let (head, tail) = id.split_at(id.len() / 2);
    let spellings = [
        format!("{head} {tail}"),
        format!(" {head}  {tail}\t"),
        format!("{}-{}", head.to_lowercase(), tail),
        id.clone(),
    ];
    let mut statuses = Vec::new();
    for spelling in &spellings {
        let mut wrong = claim(&fixture);
        wrong["account_id"] = json!(spelling);
        wrong["linkage_key"] = json!("CCCCC-CCCCC-CCCCC");
        let (status, problem) = post(&app, "/api/v1/registration/begin", &wrong).await;
        statuses.push((status, problem["code"].as_str().map(str::to_owned)));
    }
    // Each spelling is looked up as the same details (a wrong key, not unknown details)…
    for (status, code) in &statuses[..3] {
        assert_eq!(
            (*status, code.as_deref()),
            (StatusCode::FORBIDDEN, Some("invalid_linkage_details"))
        );
    }
    // …and counted against the same limit.
    assert_eq!(
        (statuses[3].0, statuses[3].1.as_deref()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
}

#[tokio::test]
async fn twelve_concurrent_wrong_keys_cannot_pass_the_attempt_limit() {
    use gp_online::db::entities::linkage_keys;
    use sea_orm::EntityTrait;
    let app = gp_online_tests::spawn_app_with(|config| {
        config.identity.attempts_per_minute = 100;
        config.identity.attempts_per_account_per_minute = 100;
    })
    .await;
    let fixture = fixture(&app).await;
    let mut wrong = claim(&fixture);
    wrong["linkage_key"] = json!("DDDDD-DDDDD-DDDDD");
    let attempts = (0..12).map(|_| post(&app, "/api/v1/registration/begin", &wrong));
    let answers = futures_util::future::join_all(attempts).await;
    let codes: Vec<&str> = answers
        .iter()
        .map(|(_, problem)| problem["code"].as_str().unwrap_or("none"))
        .collect();
    let invalid = codes
        .iter()
        .filter(|c| **c == "invalid_linkage_details")
        .count();
    let locked = codes.iter().filter(|c| **c == "linkage_key_locked").count();
    assert_eq!(invalid + locked, 12, "{codes:?}");
    // At most the first four are told the key is wrong; the fifth locks; the rest are locked.
    assert!(invalid <= 4, "{codes:?}");
    let stored = linkage_keys::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.account_code == fixture.linkage.account_id)
        .unwrap();
    assert_eq!(stored.failed_attempts, 5);
    assert!(stored.locked_at.is_some());
    // The right key is refused as locked too.
    let (_, problem) = post(&app, "/api/v1/registration/begin", &claim(&fixture)).await;
    assert_eq!(problem["code"], "linkage_key_locked");
}
