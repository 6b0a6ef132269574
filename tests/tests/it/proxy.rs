//! Proxy access end to end: the practice's grant decisions (granted and refused, validated),
//! what the proxy then sees, changes and revocations taking effect on the next request, the
//! patient's own view and revocation, and the time sweep (age suspensions on the day, expiry,
//! removal after years unused, one warning, idempotent reruns).

use chrono::{Duration, NaiveDate};
use gp_online::db::entities::{
    audit_events, notification_outbox, patients, projection_outbox, proxy_grants, results, staff,
};
use gp_online::proxy::{self, SweepReport};
use gp_online_tests::api::{get, post, send};
use gp_online_tests::fixtures::{self, NewPatient, account_for, practice, staff_token};
use gp_online_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A patient of the practice with documents access from 2000, by id.
async fn patient(app: &TestApp, practice_id: Uuid, born: NaiveDate, given: &str) -> Uuid {
    NewPatient::at(practice_id)
        .named(given, "Proxy")
        .born(born)
        .sex(patients::Sex::Unknown)
        .access_level(patients::AccessLevel::Documents)
        .record_access_from(Some(date(2000, 1, 1)))
        .competent(false)
        .at_the_desk()
        .insert(app)
        .await
        .id
}

/// An account for a patient or a carer, with a long-lived session.
async fn account_token(
    app: &TestApp,
    practice_id: Uuid,
    patient_id: Option<Uuid>,
    carer_id: Option<Uuid>,
) -> String {
    account_for(app, practice_id, patient_id, carer_id).await.1
}

fn grant_body(patient_id: Uuid, proxy: Value, scopes: &[&str], basis: &str) -> Value {
    json!({
        "patient_id": patient_id,
        "proxy": proxy,
        "relationship": "parent",
        "scopes": scopes,
        "legal_basis": basis,
        "starts_on": "2026-11-01",
        "ends_on": "2030-01-01",
        "decision": "granted",
    })
}

async fn grant_row(app: &TestApp, id: &Value) -> proxy_grants::Model {
    let id: Uuid = id.as_str().unwrap().parse().unwrap();
    proxy_grants::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

async fn actions(app: &TestApp, grant_id: &Value) -> Vec<String> {
    audit_events::Entity::find()
        .filter(audit_events::Column::TargetId.eq(grant_id.as_str().unwrap()))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

fn linked(me: &Value, patient_id: Uuid) -> Option<Value> {
    me["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["patient_id"] == json!(patient_id) && p["acting_as_proxy"] == json!(true))
        .cloned()
}

#[tokio::test]
async fn proxy_grant_lets_the_proxy_act_until_changed_or_revoked_by_staff() {
    let app = spawn_app().await;
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let clinician = staff_token(&app, practice.id, staff::StaffRole::Clinician).await;
    let child = patient(&app, practice.id, date(2018, 3, 4), "Child").await;
    let parent = patient(&app, practice.id, date(1985, 1, 1), "Parent").await;
    let parent_token = account_token(&app, practice.id, Some(parent), None).await;
    let body = grant_body(
        child,
        json!({"patient_id": parent}),
        &["record_summary", "record_detailed", "appointments"],
        "parental_responsibility",
    );

    // Clinicians may view, not decide.
    let (status, _) = post(
        &app,
        &clinician,
        "/api/v1/practice/proxy-grants",
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, grant) = post(&app, &admin, "/api/v1/practice/proxy-grants", body).await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert_eq!(grant["status"], "active");
    assert_eq!(grant["legal_basis"], "parental_responsibility");
    assert_eq!(grant["proxy_name"]["given_name"], "Parent");
    assert_eq!(actions(&app, &grant["id"]).await, ["proxy.grant"]);
    let dirty = projection_outbox::Entity::find()
        .filter(projection_outbox::Column::PatientId.eq(child))
        .filter(projection_outbox::Column::Reason.eq("proxy_change"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(dirty, 7);

    let (status, me) = get(&app, &parent_token, "/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    let profile = linked(&me, child).expect("linked profile");
    assert_eq!(profile["relationship"], "parent");
    let sections = profile["capabilities"]["record_sections"].clone();
    assert!(sections.as_array().unwrap().contains(&json!("allergies")));
    assert!(sections.as_array().unwrap().contains(&json!("results")));
    let record = format!("/api/v1/patients/{child}/record");
    assert_eq!(get(&app, &parent_token, &record).await.0, StatusCode::OK);

    // The proxy may not see the patient's own list of proxies.
    let proxies = format!("/api/v1/patients/{child}/proxies");
    assert_eq!(
        get(&app, &parent_token, &proxies).await.0,
        StatusCode::NOT_FOUND
    );

    // Clinicians may view the practice's list.
    let list = format!("/api/v1/practice/patients/{child}/proxy-grants");
    let (status, grants) = get(&app, &clinician, &list).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(grants.as_array().unwrap().len(), 1);

    // Narrowing removes the record sections at once.
    let grant_path = format!(
        "/api/v1/practice/proxy-grants/{}",
        grant["id"].as_str().unwrap()
    );
    let (status, changed) = send(
        &app,
        reqwest::Method::PATCH,
        &admin,
        &grant_path,
        Some(json!({"scopes": ["appointments"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["scopes"], json!(["appointments"]));
    let (_, me) = get(&app, &parent_token, "/api/v1/me").await;
    let profile = linked(&me, child).expect("still linked");
    assert_eq!(profile["capabilities"]["record_sections"], json!([]));
    assert_eq!(profile["capabilities"]["appointments"], true);
    let change = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("proxy.change"))
        .filter(audit_events::Column::TargetId.eq(grant["id"].as_str().unwrap()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        change.detail["from_scopes"],
        json!(["record_summary", "record_detailed", "appointments"])
    );
    assert_eq!(change.detail["to_scopes"], json!(["appointments"]));

    // Revocation by staff takes effect on the very next request.
    let (status, revoked) = post(
        &app,
        &admin,
        &format!("{grant_path}/revoke"),
        json!({"reason": "relationship_ended"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoked_by"], "staff");
    assert_eq!(
        get(&app, &parent_token, &record).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, me) = get(&app, &parent_token, "/api/v1/me").await;
    assert!(linked(&me, child).is_none());
    // A change to a revoked grant is refused.
    let (status, problem) = send(
        &app,
        reqwest::Method::PATCH,
        &admin,
        &grant_path,
        Some(json!({"scopes": ["messages"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "grant_not_active");
}

#[tokio::test]
async fn proxy_refusals_are_recorded_and_requests_validated() {
    let app = spawn_app().await;
    let practice = practice(&app).await;
    let other = self::practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let child = patient(&app, practice.id, date(2018, 3, 4), "Child").await;
    let parent = patient(&app, practice.id, date(1985, 1, 1), "Parent").await;
    let stranger = patient(&app, other.id, date(1985, 1, 1), "Stranger").await;
    let parent_token = account_token(&app, practice.id, Some(parent), None).await;

    let mut refused = grant_body(
        child,
        json!({"patient_id": parent}),
        &["record_detailed"],
        "parental_responsibility",
    );
    refused["decision"] = json!("refused");
    refused["refusal_reason"] = json!("Parental responsibility not evidenced");
    let (status, grant) = post(&app, &admin, "/api/v1/practice/proxy-grants", refused).await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert_eq!(grant["status"], "refused");
    assert_eq!(actions(&app, &grant["id"]).await, ["proxy.refuse"]);
    let (_, me) = get(&app, &parent_token, "/api/v1/me").await;
    assert!(linked(&me, child).is_none());
    let list = format!("/api/v1/practice/patients/{child}/proxy-grants");
    let (_, grants) = get(&app, &admin, &list).await;
    assert_eq!(grants[0]["status"], "refused");

    // Every bad field at once.
    let bad = json!({
        "patient_id": child,
        "proxy": {"patient_id": child},
        "relationship": "",
        "scopes": ["appointments", "everything"],
        "legal_basis": "friendship",
        "starts_on": "2026-12-01",
        "ends_on": "2026-11-01",
        "decision": "granted",
    });
    let (status, problem) = post(&app, &admin, "/api/v1/practice/proxy-grants", bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut names: Vec<(String, String)> = problem["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    names.sort();
    let expected: Vec<(String, String)> = [
        ("ends_on", "ends_before_start"),
        ("legal_basis", "unknown_legal_basis"),
        ("proxy.patient_id", "same_as_patient"),
        ("relationship", "required"),
        ("scopes[1]", "unknown_scope"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(names, expected);

    // No end date without the recorded exception; no scopes at all.
    let mut open = grant_body(child, json!({"patient_id": parent}), &[], "patient_consent");
    open.as_object_mut().unwrap().remove("ends_on");
    let (status, problem) = post(&app, &admin, "/api/v1/practice/proxy-grants", open).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["invalid_params"].as_array().unwrap().len(), 2);

    // A patient of another practice is not found.
    let foreign = grant_body(
        stranger,
        json!({"patient_id": parent}),
        &["appointments"],
        "patient_consent",
    );
    let (status, _) = post(&app, &admin, "/api/v1/practice/proxy-grants", foreign).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let foreign_list = format!("/api/v1/practice/patients/{stranger}/proxy-grants");
    assert_eq!(
        get(&app, &admin, &foreign_list).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn proxy_patient_sees_and_revokes_their_proxies_at_once() {
    let app = spawn_app().await;
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let adult = patient(&app, practice.id, date(1950, 6, 1), "Adult").await;
    let adult_token = account_token(&app, practice.id, Some(adult), None).await;
    let body = grant_body(
        adult,
        json!({"carer": {"given_name": "Cara", "family_name": "Carer", "date_of_birth": "1975-02-03"}}),
        &["record_summary", "prescriptions"],
        "patient_consent",
    );
    let (status, grant) = post(&app, &admin, "/api/v1/practice/proxy-grants", body).await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let carer: Uuid = grant["proxy_carer_id"].as_str().unwrap().parse().unwrap();
    let carer_token = account_token(&app, practice.id, None, Some(carer)).await;
    let record = format!("/api/v1/patients/{adult}/record");
    assert_eq!(get(&app, &carer_token, &record).await.0, StatusCode::OK);

    let (status, proxies) = get(
        &app,
        &adult_token,
        &format!("/api/v1/patients/{adult}/proxies"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(proxies.as_array().unwrap().len(), 1);
    assert_eq!(proxies[0]["proxy_name"]["given_name"], "Cara");
    assert_eq!(
        proxies[0]["scopes"],
        json!(["record_summary", "prescriptions"])
    );
    assert_eq!(proxies[0]["legal_basis"], "patient_consent");
    assert_eq!(proxies[0]["ends_on"], "2030-01-01");

    let path = format!(
        "/api/v1/patients/{adult}/proxies/{}",
        grant["id"].as_str().unwrap()
    );
    // The proxy cannot revoke through the patient's route.
    let (status, _) = send(&app, reqwest::Method::DELETE, &carer_token, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, reqwest::Method::DELETE, &adult_token, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        get(&app, &carer_token, &record).await.0,
        StatusCode::NOT_FOUND
    );
    let row = grant_row(&app, &grant["id"]).await;
    assert_eq!(row.status, proxy_grants::GrantStatus::Revoked);
    assert_eq!(row.revoked_by.as_deref(), Some("patient"));
    assert_eq!(
        actions(&app, &grant["id"]).await,
        ["proxy.grant", "proxy.revoke"]
    );
    // Replaying the revocation writes nothing more.
    let (status, _) = send(&app, reqwest::Method::DELETE, &adult_token, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(actions(&app, &grant["id"]).await.len(), 2);

    // A child without recorded competence cannot revoke.
    let child = patient(&app, practice.id, date(2016, 6, 1), "Young").await;
    let child_token = account_token(&app, practice.id, Some(child), None).await;
    let body = grant_body(
        child,
        json!({"patient_id": adult}),
        &["appointments"],
        "parental_responsibility",
    );
    let (_, grant) = post(&app, &admin, "/api/v1/practice/proxy-grants", body).await;
    let path = format!(
        "/api/v1/patients/{child}/proxies/{}",
        grant["id"].as_str().unwrap()
    );
    let (status, problem) = send(&app, reqwest::Method::DELETE, &child_token, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["code"], "capacity_required");
}

async fn warnings(app: &TestApp, patient_id: Uuid) -> u64 {
    notification_outbox::Entity::find()
        .filter(notification_outbox::Column::PatientId.eq(patient_id))
        .filter(notification_outbox::Column::Kind.eq("proxy_access_ending"))
        .count(&app.db)
        .await
        .unwrap()
}

async fn sweep(app: &TestApp) -> SweepReport {
    proxy::sweep(&app.db, app.clock.now()).await.unwrap()
}

#[tokio::test]
async fn proxy_sweep_suspends_parental_record_access_on_the_11th_birthday_after_one_warning() {
    let app = spawn_app().await; // 2026-11-23
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let child = patient(&app, practice.id, date(2015, 12, 10), "Child").await;
    let _child_token = account_token(&app, practice.id, Some(child), None).await;
    let parent = patient(&app, practice.id, date(1985, 1, 1), "Parent").await;
    let parent_token = account_token(&app, practice.id, Some(parent), None).await;
    let body = grant_body(
        child,
        json!({"patient_id": parent}),
        &["record_summary", "appointments"],
        "parental_responsibility",
    );
    let (_, grant) = post(&app, &admin, "/api/v1/practice/proxy-grants", body).await;
    let record = format!("/api/v1/patients/{child}/record");

    assert_eq!(sweep(&app).await, SweepReport::default());
    app.clock.advance(Duration::days(3)); // 14 days before: both sides warned, once.
    assert_eq!(sweep(&app).await.warned, 1);
    assert_eq!(warnings(&app, child).await, 2);
    assert_eq!(sweep(&app).await, SweepReport::default());
    app.clock.advance(Duration::days(1));
    assert_eq!(sweep(&app).await, SweepReport::default());
    assert_eq!(warnings(&app, child).await, 2);

    app.clock.advance(Duration::days(12)); // The day before the birthday.
    assert_eq!(sweep(&app).await, SweepReport::default());
    assert_eq!(get(&app, &parent_token, &record).await.0, StatusCode::OK);

    app.clock.advance(Duration::days(1)); // The 11th birthday.
    let report = sweep(&app).await;
    assert_eq!(report.suspended_age_review, 1, "{report:?}");
    let row = grant_row(&app, &grant["id"]).await;
    assert_eq!(row.status, proxy_grants::GrantStatus::Suspended);
    assert_eq!(row.suspended_reason.as_deref(), Some("age_review"));
    // Record scopes only: the parent still books for the child, and reads none of the record.
    assert_record_withheld(&app, &parent_token, child).await;
    assert_eq!(sweep(&app).await, SweepReport::default());
    assert_eq!(
        actions(&app, &grant["id"]).await,
        ["proxy.grant", "proxy.warn", "proxy.suspend"]
    );
}

/// The record answers with every section unavailable, and appointments still answer.
async fn assert_record_withheld(app: &TestApp, token: &str, child: Uuid) {
    let (status, record) = get(app, token, &format!("/api/v1/patients/{child}/record")).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    for section in record["sections"].as_array().unwrap() {
        assert_eq!(section["status"], "unavailable", "{section}");
    }
    let (status, _) = get(
        app,
        token,
        &format!("/api/v1/patients/{child}/appointments"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, me) = get(app, token, "/api/v1/me").await;
    let profile = linked(&me, child).unwrap();
    assert_eq!(profile["capabilities"]["record_sections"], json!([]));
    assert_eq!(profile["capabilities"]["appointments"], true);
}

// Defects 3 and 4 of issue 14: the age rules hold at request time, with no sweep at all, and
// the review at 11 holds the record scopes only.
#[tokio::test]
async fn age_rules_hold_at_request_time_without_the_sweep() {
    let app = spawn_app().await; // 2026-11-23
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let child = patient(&app, practice.id, date(2015, 11, 24), "Child").await;
    let teen = patient(&app, practice.id, date(2010, 11, 25), "Teen").await;
    let parent = patient(&app, practice.id, date(1985, 1, 1), "Parent").await;
    let parent_token = account_token(&app, practice.id, Some(parent), None).await;
    for who in [child, teen] {
        let body = grant_body(
            who,
            json!({"patient_id": parent}),
            &["record_summary", "appointments"],
            "parental_responsibility",
        );
        let (status, _) = post(&app, &admin, "/api/v1/practice/proxy-grants", body).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let allergies = format!("/api/v1/patients/{child}/record/allergies");
    let (_, body) = get(&app, &parent_token, &allergies).await;
    assert_eq!(body["status"], "ok", "{body}");

    app.clock.advance(Duration::days(1)); // The child's 11th birthday; no sweep runs.
    assert_record_withheld(&app, &parent_token, child).await;
    let (_, body) = get(&app, &parent_token, &allergies).await;
    assert_eq!(body["status"], "unavailable", "{body}");

    let teen_record = format!("/api/v1/patients/{teen}/record");
    assert_eq!(
        get(&app, &parent_token, &teen_record).await.0,
        StatusCode::OK
    );
    app.clock.advance(Duration::days(1)); // The teenager's 16th birthday: nothing without consent.
    assert_eq!(
        get(&app, &parent_token, &teen_record).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, me) = get(&app, &parent_token, "/api/v1/me").await;
    assert!(linked(&me, teen).is_none());
    assert_eq!(
        get(
            &app,
            &parent_token,
            &format!("/api/v1/patients/{teen}/appointments")
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn proxy_sweep_suspends_at_16_without_consent_and_expires_after_the_end_date() {
    let app = spawn_app().await; // 2026-11-23
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let teen = patient(&app, practice.id, date(2010, 12, 1), "Teen").await;
    let parent = patient(&app, practice.id, date(1985, 1, 1), "Parent").await;
    let body = grant_body(
        teen,
        json!({"patient_id": parent}),
        &["appointments"],
        "parental_responsibility",
    );
    let (_, without) = post(&app, &admin, "/api/v1/practice/proxy-grants", body.clone()).await;
    let (_, with) = post(&app, &admin, "/api/v1/practice/proxy-grants", body).await;
    let (status, consented) = review(&app, &admin, &with, true).await;
    assert_eq!(status, StatusCode::OK, "{consented}");
    assert_eq!(consented["status"], "active");

    let adult = patient(&app, practice.id, date(1970, 1, 1), "Adult").await;
    let mut ending = grant_body(
        adult,
        json!({"patient_id": parent}),
        &["appointments"],
        "patient_consent",
    );
    ending["ends_on"] = json!("2026-12-03");
    let (_, ending) = post(&app, &admin, "/api/v1/practice/proxy-grants", ending).await;

    app.clock.advance(Duration::days(7)); // 2026-11-30, the day before the 16th birthday.
    let report = sweep(&app).await;
    assert_eq!(report.suspended_age_16, 0, "{report:?}");
    app.clock.advance(Duration::days(1)); // 2026-12-01
    let report = sweep(&app).await;
    assert_eq!(report.suspended_age_16, 1, "{report:?}");
    let row = grant_row(&app, &without["id"]).await;
    assert_eq!(row.status, proxy_grants::GrantStatus::Suspended);
    assert_eq!(row.suspended_reason.as_deref(), Some("age_16"));
    assert_eq!(
        grant_row(&app, &with["id"]).await.status,
        proxy_grants::GrantStatus::Active
    );

    app.clock.advance(Duration::days(2)); // 2026-12-03, the last day.
    assert_eq!(sweep(&app).await.expired, 0);
    app.clock.advance(Duration::days(1));
    assert_eq!(sweep(&app).await.expired, 1);
    assert_eq!(
        grant_row(&app, &ending["id"]).await.status,
        proxy_grants::GrantStatus::Expired
    );
    assert!(
        actions(&app, &ending["id"])
            .await
            .contains(&"proxy.expire".to_owned())
    );
    assert_eq!(sweep(&app).await, SweepReport::default());
}

#[tokio::test]
async fn proxy_sweep_removes_grants_unused_for_five_years() {
    let app = spawn_app().await; // 2026-11-23
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let adult = patient(&app, practice.id, date(1950, 1, 1), "Adult").await;
    let helper = patient(&app, practice.id, date(1980, 1, 1), "Helper").await;
    let mut body = grant_body(
        adult,
        json!({"patient_id": helper}),
        &["appointments"],
        "lasting_power_of_attorney",
    );
    body.as_object_mut().unwrap().remove("ends_on");
    body["no_end_date_exception"] = json!(true);
    let (status, grant) = post(&app, &admin, "/api/v1/practice/proxy-grants", body).await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert_eq!(grant["ends_on"], Value::Null);

    app.clock.advance(Duration::days(1825)); // 2031-11-22
    assert_eq!(sweep(&app).await, SweepReport::default());
    app.clock.advance(Duration::days(1)); // 2031-11-23
    assert_eq!(sweep(&app).await.revoked_unused, 1);
    let row = grant_row(&app, &grant["id"]).await;
    assert_eq!(row.status, proxy_grants::GrantStatus::Revoked);
    assert_eq!(row.revoked_by.as_deref(), Some("system"));
    assert_eq!(sweep(&app).await, SweepReport::default());
}

async fn review(app: &TestApp, admin: &str, grant: &Value, consent: bool) -> (StatusCode, Value) {
    let path = format!(
        "/api/v1/practice/proxy-grants/{}/review",
        grant["id"].as_str().unwrap()
    );
    post(
        app,
        admin,
        &path,
        json!({ "young_person_consent": consent }),
    )
    .await
}

async fn notified(app: &TestApp, patient_id: Uuid, kind: &str) -> Vec<Uuid> {
    let mut accounts: Vec<Uuid> = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::PatientId.eq(patient_id))
        .filter(notification_outbox::Column::Kind.eq(kind))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.account_id)
        .collect();
    accounts.sort();
    accounts
}

#[tokio::test]
async fn proxy_review_records_consent_and_lifts_age_suspensions_for_good() {
    let app = spawn_app().await; // 2026-11-23
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let clinician = staff_token(&app, practice.id, staff::StaffRole::Clinician).await;
    let teen = patient(&app, practice.id, date(2010, 12, 1), "Teen").await;
    let child = patient(&app, practice.id, date(2015, 11, 25), "Child").await;
    let parent = patient(&app, practice.id, date(1985, 1, 1), "Parent").await;
    let parent_token = account_token(&app, practice.id, Some(parent), None).await;
    account_token(&app, practice.id, Some(teen), None).await;
    let (_, teen_grant) = post(
        &app,
        &admin,
        "/api/v1/practice/proxy-grants",
        grant_body(
            teen,
            json!({"patient_id": parent}),
            &["appointments"],
            "parental_responsibility",
        ),
    )
    .await;
    let (_, child_grant) = post(
        &app,
        &admin,
        "/api/v1/practice/proxy-grants",
        grant_body(
            child,
            json!({"patient_id": parent}),
            &["record_summary"],
            "parental_responsibility",
        ),
    )
    .await;

    // Only admins review.
    let (status, problem) = review(&app, &clinician, &teen_grant, true).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");

    app.clock.advance(Duration::days(8)); // 2026-12-01: the 16th birthday; the 11th was on the 25th.
    let report = sweep(&app).await;
    assert_eq!(
        (report.suspended_age_16, report.suspended_age_review),
        (1, 1),
        "{report:?}"
    );
    let (status, _) = get(
        &app,
        &parent_token,
        &format!("/api/v1/patients/{teen}/appointments"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // At 16 a suspension is lifted only with the young person's consent.
    let (status, problem) = review(&app, &admin, &teen_grant, false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "young_person_consent_required");
    assert_eq!(
        grant_row(&app, &teen_grant["id"]).await.status,
        proxy_grants::GrantStatus::Suspended
    );
    let (status, reviewed) = review(&app, &admin, &teen_grant, true).await;
    assert_eq!(status, StatusCode::OK, "{reviewed}");
    assert_eq!(reviewed["status"], "active");
    let row = grant_row(&app, &teen_grant["id"]).await;
    assert_eq!(row.young_person_consent_at, Some(app.clock.now()));
    assert_eq!(row.suspended_reason, None);
    let (status, _) = get(
        &app,
        &parent_token,
        &format!("/api/v1/patients/{teen}/appointments"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        actions(&app, &teen_grant["id"])
            .await
            .contains(&"proxy.review".to_owned())
    );
    // Both sides hear that the access changed (content-free).
    let both = [
        fixtures::account_of(&app, teen).await,
        fixtures::account_of(&app, parent).await,
    ];
    let changed = notified(&app, teen, proxy::CHANGED_KIND).await;
    assert!(both.iter().all(|a| changed.contains(a)), "{changed:?}");

    // Under 16 the review alone lifts the age-review suspension.
    let (status, reviewed) = review(&app, &admin, &child_grant, false).await;
    assert_eq!(status, StatusCode::OK, "{reviewed}");
    assert_eq!(reviewed["status"], "active");

    // The rules that suspended them were decided on: the next sweeps leave both grants alone.
    app.clock.advance(Duration::days(1));
    assert_eq!(sweep(&app).await, SweepReport::default());
    for grant in [&teen_grant, &child_grant] {
        assert_eq!(
            grant_row(&app, &grant["id"]).await.status,
            proxy_grants::GrantStatus::Active
        );
    }

    // A revoked grant is not reviewed back into force.
    let path = format!(
        "/api/v1/practice/proxy-grants/{}/revoke",
        child_grant["id"].as_str().unwrap()
    );
    let (status, _) = post(&app, &admin, &path, json!({"reason": "relationship_ended"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = review(&app, &admin, &child_grant, false).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "grant_not_active");
}

#[tokio::test]
async fn the_server_runs_the_proxy_sweep_on_its_own_schedule() {
    let app = gp_online_tests::spawn_app_with(|config| config.jobs.proxy_sweep_secs = 1).await;
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let adult = patient(&app, practice.id, date(1970, 1, 1), "Adult").await;
    let helper = patient(&app, practice.id, date(1980, 1, 1), "Helper").await;
    let mut body = grant_body(
        adult,
        json!({"patient_id": helper}),
        &["appointments"],
        "patient_consent",
    );
    body["ends_on"] = json!("2026-11-30");
    let (status, grant) = post(&app, &admin, "/api/v1/practice/proxy-grants", body).await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");

    app.clock.advance(Duration::days(8)); // 2026-12-01: the day after the last day.
    let mut status = proxy_grants::GrantStatus::Active;
    for _ in 0..100 {
        status = grant_row(&app, &grant["id"]).await.status;
        if status == proxy_grants::GrantStatus::Expired {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, proxy_grants::GrantStatus::Expired);
}

#[tokio::test]
async fn proxy_use_is_recorded_and_keeps_the_grant_from_removal_as_unused() {
    let app = spawn_app().await; // 2026-11-23
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let adult = patient(&app, practice.id, date(1950, 1, 1), "Adult").await;
    let helper = patient(&app, practice.id, date(1980, 1, 1), "Helper").await;
    let helper_token = account_token(&app, practice.id, Some(helper), None).await;
    let mut body = grant_body(
        adult,
        json!({"patient_id": helper}),
        &["appointments"],
        "lasting_power_of_attorney",
    );
    body.as_object_mut().unwrap().remove("ends_on");
    body["no_end_date_exception"] = json!(true);
    let (_, grant) = post(&app, &admin, "/api/v1/practice/proxy-grants", body).await;
    assert_eq!(grant_row(&app, &grant["id"]).await.last_used_at, None);

    app.clock.advance(Duration::days(20)); // 2026-12-13
    let (status, _) = get(
        &app,
        &helper_token,
        &format!("/api/v1/patients/{adult}/appointments"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let used = app.clock.now();
    assert_eq!(grant_row(&app, &grant["id"]).await.last_used_at, Some(used));
    // Within a day, use is not written again.
    app.clock.advance(Duration::hours(1));
    get(
        &app,
        &helper_token,
        &format!("/api/v1/patients/{adult}/appointments"),
    )
    .await;
    assert_eq!(grant_row(&app, &grant["id"]).await.last_used_at, Some(used));

    // Five years after the decision it is still in use; five years after the last use it goes.
    let days_until = |day: NaiveDate| (day - app.clock.now().date_naive()).num_days();
    app.clock
        .advance(Duration::days(days_until(date(2031, 11, 24))));
    assert_eq!(sweep(&app).await, SweepReport::default());
    app.clock
        .advance(Duration::days(days_until(date(2031, 12, 13))));
    assert_eq!(sweep(&app).await.revoked_unused, 1);
}

#[tokio::test]
async fn a_release_notifies_only_the_proxies_who_may_see_it() {
    let app = spawn_app().await;
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let clinician = staff_token(&app, practice.id, staff::StaffRole::Clinician).await;
    let mother = patient(&app, practice.id, date(1940, 1, 1), "Mother").await;
    let detailed = patient(&app, practice.id, date(1970, 1, 1), "Daughter").await;
    let bookings_only = patient(&app, practice.id, date(1972, 1, 1), "Son").await;
    account_token(&app, practice.id, Some(mother), None).await;
    account_token(&app, practice.id, Some(detailed), None).await;
    account_token(&app, practice.id, Some(bookings_only), None).await;
    for (proxy, scopes) in [
        (detailed, &["record_summary", "record_detailed"][..]),
        (bookings_only, &["appointments"][..]),
    ] {
        let (status, grant) = post(
            &app,
            &admin,
            "/api/v1/practice/proxy-grants",
            grant_body(
                mother,
                json!({"patient_id": proxy}),
                scopes,
                "lasting_power_of_attorney",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{grant}");
    }
    let pending = |hidden_from_proxies: bool| {
        move |r: &mut results::Model| {
            r.review_state = results::ReviewState::Pending;
            r.reviewed_at = None;
            r.released_at = None;
            r.hidden_from_proxies = hidden_from_proxies;
        }
    };
    let shared = gp_online_tests::fixtures::result(&app, mother, pending(false)).await;
    let private = gp_online_tests::fixtures::result(&app, mother, pending(true)).await;

    let release = |id: Uuid| format!("/api/v1/practice/results/{id}/release");
    let (status, body) = post(&app, &clinician, &release(private.id), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        notified(&app, mother, "result_released").await,
        vec![fixtures::account_of(&app, mother).await],
        "a result hidden from proxies reaches the patient only"
    );
    let (status, body) = post(&app, &clinician, &release(shared.id), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut expected = vec![
        fixtures::account_of(&app, mother).await,
        fixtures::account_of(&app, mother).await,
        fixtures::account_of(&app, detailed).await,
    ];
    expected.sort();
    assert_eq!(
        notified(&app, mother, "result_released").await,
        expected,
        "the proxy with detailed record access hears of the second result; the one who books appointments does not"
    );
}

#[tokio::test]
async fn after_revocation_the_proxys_next_sync_gets_nothing_of_the_patient() {
    use gp_online_tests::sync::Wire;
    use sync_protocol::schema::ProfileItem;
    use sync_protocol::{DevicePeer, DocumentBody, DocumentId, Frame, Section};

    let app = spawn_app().await;
    let practice = practice(&app).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let patient_id = patient(&app, practice.id, date(1940, 1, 1), "Marker-Given-Name").await;
    let helper = patient(&app, practice.id, date(1980, 1, 1), "Helper").await;
    let helper_token = account_token(&app, practice.id, Some(helper), None).await;
    let (_, grant) = post(
        &app,
        &admin,
        "/api/v1/practice/proxy-grants",
        grant_body(
            patient_id,
            json!({"patient_id": helper}),
            &["appointments", "record_summary"],
            "lasting_power_of_attorney",
        ),
    )
    .await;
    let mut device = DevicePeer::new();
    let sections = [Section::Profile, Section::Record, Section::Appointments];
    for section in sections {
        device.follow(DocumentId::new(patient_id, section));
    }
    let exchange = |frame: Frame| {
        let app = &app;
        let token = helper_token.clone();
        async move {
            let response = app
                .client
                .post(app.url("/api/v1/sync"))
                .bearer_auth(token)
                .header("content-type", "application/cbor")
                .body(frame.encode())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.unwrap().to_vec()
        }
    };
    let mut before = Wire::default();
    for _ in 0..10 {
        let bytes = exchange(device.outgoing()).await;
        let reply = Frame::decode(&bytes).unwrap();
        before.record(&bytes, &reply);
        let quiet = reply.documents.is_empty();
        device.receive(&reply).unwrap();
        if quiet {
            break;
        }
    }
    let profile = device
        .item_list::<ProfileItem>(DocumentId::new(patient_id, Section::Profile))
        .unwrap();
    assert_eq!(profile[0].given_name, "Marker-Given-Name");
    assert!(
        before.contains("Marker-Given-Name"),
        "the search finds the name while the proxy may see it"
    );

    let path = format!(
        "/api/v1/practice/proxy-grants/{}/revoke",
        grant["id"].as_str().unwrap()
    );
    let (status, _) = post(&app, &admin, &path, json!({"reason": "relationship_ended"})).await;
    assert_eq!(status, StatusCode::OK);

    // The next sync: every followed document is removed and not one byte of the patient.
    device.reconnect();
    let bytes = exchange(device.outgoing()).await;
    let reply = Frame::decode(&bytes).unwrap();
    let mut after = Wire::default();
    after.record(&bytes, &reply);
    assert!(
        !after.contains("Marker-Given-Name"),
        "the patient's name crossed the wire after revocation"
    );
    let removed: Vec<Section> = reply
        .documents
        .iter()
        .filter(|d| matches!(d.body, DocumentBody::Removed))
        .map(|d| d.document.section)
        .collect();
    assert_eq!(removed, sections.to_vec(), "{:?}", reply.documents);
    device.receive(&reply).unwrap();
    assert!(
        device
            .item_list::<ProfileItem>(DocumentId::new(patient_id, Section::Profile))
            .unwrap_or_default()
            .is_empty(),
        "the device wipes what it held of the patient"
    );
    let (status, _) = get(
        &app,
        &helper_token,
        &format!("/api/v1/patients/{patient_id}/record"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
