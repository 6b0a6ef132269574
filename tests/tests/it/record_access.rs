//! The practice's controls of record access end to end (ADR 0002): hiding from proxies reaches
//! the proxy's device as a new generation and leaves the patient's alone; an archived patient
//! is absent for every viewer on every route and in sync; historic access, access codes and a
//! patient's request through the staff routes; the practice's settings, switches and switch-on
//! date; and creating a practice and taking it live.

use chrono::NaiveDate;
use gp_online::db::entities::{audit_events, notification_outbox, patients, results, staff};
use gp_online_tests::fixtures::{self, NewPatient, NewPractice};
use gp_online_tests::sync::{RECORD_SECTIONS, following, sync};
use gp_online_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{Value, json};
use sync_protocol::schema::ResultItem;
use sync_protocol::{DocumentId, Event, Section};
use uuid::Uuid;

/// A practice (switch-on 2023-10-31), an adult patient with an account and a proxy with every
/// record scope: (practice, patient, patient's token, proxy's token).
async fn family(app: &TestApp) -> (Uuid, patients::Model, String, String) {
    let practice = NewPractice::default().insert(app).await;
    let patient = NewPatient::at(practice.id).insert(app).await;
    let (_, own) = fixtures::account(app, &patient).await;
    let carer = NewPatient::at(practice.id)
        .named("Carer", "Person")
        .insert(app)
        .await;
    fixtures::proxy_grant(
        app,
        &patient,
        carer.id,
        "appointments,record_summary,record_detailed,documents",
        |_| {},
    )
    .await;
    let (_, proxy) = fixtures::account(app, &carer).await;
    (practice.id, patient, own, proxy)
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn result_names(device: &sync_protocol::DevicePeer, patient: Uuid) -> Vec<String> {
    device
        .item_list::<ResultItem>(DocumentId::new(patient, Section::Results))
        .unwrap()
        .into_iter()
        .map(|r| r.test_name)
        .collect()
}

// Defect 6: results and letters can be hidden, from proxies only.
#[tokio::test]
async fn hiding_a_released_result_from_proxies_removes_it_from_the_proxys_device_only() {
    let app = spawn_app().await;
    let (practice, patient, own, proxy) = family(&app).await;
    let result =
        fixtures::result(&app, patient.id, |r| r.test_name = "SECRET-ferritin".into()).await;
    fixtures::result(&app, patient.id, |r| r.test_name = "kept".into()).await;
    let mut mine = following(patient.id, &RECORD_SECTIONS);
    let mut theirs = following(patient.id, &RECORD_SECTIONS);
    sync(&app, &own, &mut mine).await;
    sync(&app, &proxy, &mut theirs).await;
    assert_eq!(result_names(&theirs, patient.id).len(), 2);
    let results_doc = DocumentId::new(patient.id, Section::Results);
    let mine_generation = mine.generation(results_doc);

    let clinician = fixtures::staff_token(&app, practice, staff::StaffRole::Clinician).await;
    let admin = fixtures::staff_token(&app, practice, staff::StaffRole::Admin).await;
    let path = format!("/api/v1/practice/record-items/results/{}/hidden", result.id);
    let (status, _) = call(&app, "PUT", &path, &admin, Some(json!({"from": "proxies"}))).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "hiding is a clinician's decision"
    );
    let (status, body) = call(
        &app,
        "PUT",
        &path,
        &clinician,
        Some(json!({"from": "proxies"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hidden_from"], "proxies");

    let (wire, events) = sync(&app, &proxy, &mut theirs).await;
    assert!(
        events.contains(&Event::Superseded(results_doc)),
        "{events:?}"
    );
    assert_eq!(result_names(&theirs, patient.id), ["kept"]);
    assert!(!wire.contains("SECRET-"));
    let (_, events) = sync(&app, &own, &mut mine).await;
    assert!(
        !events.contains(&Event::Superseded(results_doc)),
        "{events:?}"
    );
    assert_eq!(mine.generation(results_doc), mine_generation);
    assert_eq!(result_names(&mine, patient.id).len(), 2);

    // Hidden from everyone, then shown again; each change audited.
    call(
        &app,
        "PUT",
        &path,
        &clinician,
        Some(json!({"from": "everyone"})),
    )
    .await;
    sync(&app, &own, &mut mine).await;
    assert_eq!(result_names(&mine, patient.id), ["kept"]);
    let (status, _) = call(&app, "DELETE", &path, &clinician, None).await;
    assert_eq!(status, StatusCode::OK);
    sync(&app, &own, &mut mine).await;
    assert_eq!(result_names(&mine, patient.id).len(), 2);
    let trail = audit_events::Entity::find()
        .filter(audit_events::Column::TargetId.eq(result.id.to_string()))
        .all(&app.db)
        .await
        .unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["record.hide", "record.hide", "record.unhide"]);
}

// Defect 5: an archived patient is nobody's to see online.
#[tokio::test]
async fn an_archived_patient_is_absent_for_every_viewer_on_every_route_and_in_sync() {
    let app = spawn_app().await;
    let (_, patient, own, proxy) = family(&app).await;
    fixtures::result(&app, patient.id, |_| {}).await;
    let mut devices = [
        (own.clone(), following(patient.id, &RECORD_SECTIONS)),
        (proxy.clone(), following(patient.id, &RECORD_SECTIONS)),
    ];
    for (token, device) in &mut devices {
        sync(&app, token, device).await;
        assert!(device.documents().count() > 1);
    }
    let mut row = patient.clone().into_active_model();
    row.archived_at = Set(Some(app.clock.now()));
    row.update(&app.db).await.unwrap();
    gp_online_tests::sync::changed(&app, patient.id).await;

    let id = patient.id;
    let routes = [
        format!("/api/v1/patients/{id}/record"),
        format!("/api/v1/patients/{id}/record/results"),
        format!("/api/v1/patients/{id}/appointments"),
        format!("/api/v1/patients/{id}/export"),
        format!("/api/v1/patients/{id}/record-access-requests"),
    ];
    for token in [&own, &proxy] {
        let (_, me) = call(&app, "GET", "/api/v1/me", token, None).await;
        assert!(
            !me["profiles"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["patient_id"] == id.to_string()),
            "{me}"
        );
        for path in &routes {
            let (status, _) = call(&app, "GET", path, token, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
    for (token, device) in &mut devices {
        let (wire, events) = sync(&app, token, device).await;
        assert!(
            events.contains(&Event::Removed(DocumentId::new(id, Section::Results))),
            "{events:?}"
        );
        assert!(!wire.contains("Serum ferritin"));
    }
}

// Defects 7 and 10: historic access, codes that end, and a patient's request, by staff routes.
#[tokio::test]
async fn staff_grant_and_end_historic_access_and_record_and_end_codes() {
    let app = spawn_app().await;
    let (practice, patient, own, _) = family(&app).await;
    let old = fixtures::result(&app, patient.id, |r| {
        r.test_name = "old-result".into();
        r.entered_on = NaiveDate::from_ymd_opt(2015, 1, 1).unwrap();
    })
    .await;
    let new = fixtures::result(&app, patient.id, |r| r.test_name = "new-result".into()).await;
    let names = |body: Value| -> Vec<String> {
        body["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["test_name"].as_str().unwrap().to_owned())
            .collect()
    };
    let results_path = format!("/api/v1/patients/{}/record/results", patient.id);
    let (_, body) = call(&app, "GET", &results_path, &own, None).await;
    assert_eq!(names(body), ["new-result"]);
    let admin = fixtures::staff_token(&app, practice, staff::StaffRole::Admin).await;
    let historic = format!("/api/v1/practice/patients/{}/historic-access", patient.id);
    let (status, body) = call(
        &app,
        "PUT",
        &historic,
        &admin,
        Some(json!({"level": "detailed"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["invalid_params"][0]["name"], "from");
    let (status, body) = call(
        &app,
        "PUT",
        &historic,
        &admin,
        Some(json!({"level": "detailed", "from": "2010-01-01"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = call(&app, "GET", &results_path, &own, None).await;
    let mut shown = names(body);
    shown.sort();
    assert_eq!(shown, ["new-result", "old-result"]);

    // The opt-out recorded by staff blocks automatic access, not access granted by hand; ended,
    // it blocks nothing.
    call(&app, "DELETE", &historic, &admin, None).await;
    let codes = format!("/api/v1/practice/patients/{}/access-codes", patient.id);
    let (status, code) = call(
        &app,
        "POST",
        &codes,
        &admin,
        Some(json!({"snomed_code": "1290331000000103"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{code}");
    let (_, body) = call(&app, "GET", &results_path, &own, None).await;
    assert_eq!(body["status"], "unavailable", "{body}");
    let end = format!("{codes}/{}/end", code["id"].as_str().unwrap());
    let (status, ended) = call(&app, "POST", &end, &admin, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ended["ended_on"], app.clock.now().date_naive().to_string());
    let (_, body) = call(&app, "GET", &results_path, &own, None).await;
    assert_eq!(names(body), ["new-result"]);
    let (_, listed) = call(&app, "GET", &codes, &admin, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let _ = (old, new);

    let actions: Vec<String> = audit_events::Entity::find()
        .filter(audit_events::Column::ActingForPatientId.eq(patient.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("record_access."))
        .collect();
    assert_eq!(
        actions,
        [
            "record_access.historic_set",
            "record_access.historic_end",
            "record_access.code_recorded",
            "record_access.code_ended"
        ]
    );
}

#[tokio::test]
async fn a_patients_request_is_queued_then_granted_or_declined_and_they_are_told() {
    let app = spawn_app().await;
    let (practice, patient, own, proxy) = family(&app).await;
    fixtures::result(&app, patient.id, |r| {
        r.test_name = "old-result".into();
        r.entered_on = NaiveDate::from_ymd_opt(2015, 1, 1).unwrap();
    })
    .await;
    let path = format!("/api/v1/patients/{}/record-access-requests", patient.id);
    let send = |key: &'static str| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&own)
            .header("idempotency-key", key)
            .json(&json!({"level": "documents", "note": "For my new consultant"}))
            .send()
    };
    let first: Value = send("k-1").await.unwrap().json().await.unwrap();
    let again = send("k-1").await.unwrap();
    assert_eq!(
        again
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let second: Value = send("k-2").await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], second["id"], "one pending request at a time");
    assert_eq!(first["status"], "pending");
    let (status, _) = call(&app, "POST", &path, &proxy, Some(json!({}))).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the request is the patient's own"
    );

    let clinician = fixtures::staff_token(&app, practice, staff::StaffRole::Clinician).await;
    let (_, queue) = call(
        &app,
        "GET",
        "/api/v1/practice/record-access-requests",
        &clinician,
        None,
    )
    .await;
    assert_eq!(queue[0]["id"], first["id"]);
    assert_eq!(queue[0]["family_name"], patient.family_name);
    let grant = format!(
        "/api/v1/practice/record-access-requests/{}/grant",
        first["id"].as_str().unwrap()
    );
    let (status, granted) = call(
        &app,
        "POST",
        &grant,
        &clinician,
        Some(json!({"from": "2010-01-01"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    assert_eq!(granted["status"], "granted");
    let (_, body) = call(
        &app,
        "GET",
        &format!("/api/v1/patients/{}/record/results", patient.id),
        &own,
        None,
    )
    .await;
    assert!(body.to_string().contains("old-result"), "{body}");
    let told = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::Kind.eq("record_access_changed"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(told.len(), 1);
    let (_, queue) = call(
        &app,
        "GET",
        "/api/v1/practice/record-access-requests",
        &clinician,
        None,
    )
    .await;
    assert_eq!(queue, json!([]));

    // A second request, declined with a reason the patient reads.
    let (_, next) = call(&app, "POST", &path, &own, Some(json!({"level": "summary"}))).await;
    let decline = format!(
        "/api/v1/practice/record-access-requests/{}/decline",
        next["id"].as_str().unwrap()
    );
    let (status, body) = call(&app, "POST", &decline, &clinician, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    call(
        &app,
        "POST",
        &decline,
        &clinician,
        Some(json!({"reason": "Please book a review first"})),
    )
    .await;
    // Both requests were made at the same test instant: find the second by its id.
    let (_, mine) = call(&app, "GET", &path, &own, None).await;
    let declined = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|request| request["id"] == next["id"])
        .unwrap();
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["decision_reason"], "Please book a review first");
    let told = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::Kind.eq("record_access_changed"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(told.len(), 2);
}

// Defects 7, 9 and 10: settings within the rules, switches and the switch-on date.
#[tokio::test]
async fn admins_change_settings_within_the_rules_and_me_follows_at_once() {
    let app = spawn_app().await;
    let (practice, patient, own, _) = family(&app).await;
    fixtures::result(&app, patient.id, |_| {}).await;
    let admin = fixtures::staff_token(&app, practice, staff::StaffRole::Admin).await;
    let clinician = fixtures::staff_token(&app, practice, staff::StaffRole::Clinician).await;
    let settings = "/api/v1/practice/settings";
    let (status, body) = call(
        &app,
        "PATCH",
        settings,
        &admin,
        Some(json!({"parental_record_access_review_age": 14, "slot_window": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut named: Vec<String> = body["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["name"].as_str().unwrap(),
                f["code"].as_str().unwrap()
            )
        })
        .collect();
    named.sort();
    assert_eq!(named, ["slot_window unknown_setting"], "unknown keys first");
    let (_, body) = call(
        &app,
        "PATCH",
        settings,
        &admin,
        Some(json!({"parental_record_access_review_age": 14})),
    )
    .await;
    assert_eq!(
        body["invalid_params"][0]["name"],
        "parental_record_access_review_age"
    );
    assert_eq!(body["invalid_params"][0]["code"], "out_of_range");
    let (status, _) = call(
        &app,
        "PATCH",
        settings,
        &clinician,
        Some(json!({"slot_window_weeks": 16})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, body) = call(
        &app,
        "PATCH",
        settings,
        &admin,
        Some(json!({"parental_record_access_review_age": 13, "features": {"messages": false}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["settings"]["parental_record_access_review_age"], 13);
    assert_eq!(body["settings"]["features"]["appointments"], true);
    let (_, me) = call(&app, "GET", "/api/v1/me", &own, None).await;
    assert_eq!(me["profiles"][0]["capabilities"]["messages"], false);

    // Switching automatic access off takes the prospective record away; on again, it is back.
    let results = format!("/api/v1/patients/{}/record/results", patient.id);
    let (_, body) = call(&app, "GET", &results, &own, None).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    let (status, body) = call(
        &app,
        "DELETE",
        "/api/v1/practice/switch-on-date",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["prospective_access_date"].is_null());
    let (_, body) = call(&app, "GET", &results, &own, None).await;
    assert_eq!(body["status"], "unavailable", "{body}");
    let (_, me) = call(&app, "GET", "/api/v1/me", &own, None).await;
    assert_eq!(
        me["profiles"][0]["capabilities"]["record_sections"],
        json!(["allergies", "medications", "immunisations"])
    );
    call(
        &app,
        "PUT",
        "/api/v1/practice/switch-on-date",
        &admin,
        Some(json!({"date": "2023-10-31"})),
    )
    .await;
    let (_, body) = call(&app, "GET", &results, &own, None).await;
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    let actions: Vec<String> = audit_events::Entity::find()
        .filter(audit_events::Column::PracticeId.eq(practice))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("practice."))
        .collect();
    assert_eq!(
        actions,
        [
            "practice.settings",
            "practice.switch_on_date",
            "practice.switch_on_date"
        ]
    );
}

#[tokio::test]
async fn a_practice_is_created_and_taken_live_by_its_operators() {
    let app = spawn_app().await;
    let now = app.clock.now();
    let bad = gp_online::practice::admin::create(&app.db, "12345", "  ", now)
        .await
        .unwrap_err();
    let mut fields: Vec<&str> = bad
        .invalid_params()
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    fields.sort();
    assert_eq!(fields, ["name", "ods"]);
    let created = gp_online::practice::admin::create(&app.db, "y12345", "Riverside Surgery", now)
        .await
        .unwrap();
    assert_eq!(created.ods_code, "Y12345");
    assert!(!created.live);
    assert_eq!(created.prospective_access_date, None);
    let again = gp_online::practice::admin::create(&app.db, "Y12345", "Again", now).await;
    assert_eq!(again.unwrap_err().code().as_str(), "conflict");
    let live = gp_online::practice::admin::go_live(&app.db, "Y12345", None, now)
        .await
        .unwrap();
    assert!(live.live);
    assert_eq!(live.prospective_access_date, Some(now.date_naive()));
    let actions: Vec<String> = audit_events::Entity::find()
        .filter(audit_events::Column::PracticeId.eq(created.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["practice.create", "practice.go_live"]);
    let _ = results::Entity::find();
}
