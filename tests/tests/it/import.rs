//! The clinical-system import end to end: batches of patients, coded entries, results and
//! record-access codes (atomic, idempotent by external id, validated whole, scoped to the key's
//! practice) and documents typed by their content.

use base64::Engine as _;
use chrono::NaiveDate;
use gp_online::db::entities::results::ReviewState;
use gp_online::db::entities::{
    access_codes, audit_events, blobs, documents, notification_outbox, patients, practices,
    projection_outbox, record_entries, results,
};
use gp_online::settings::PracticeSettings;
use gp_online::validate::NhsNumber;
use gp_online_tests::fixtures::{NewPatient, NewPractice, integration_key};
use gp_online_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// The test code the practice releases without review.
const IMMEDIATE: &str = "CHOL";
/// Clinical text that must never reach the audit trail.
const TERM: &str = "Anaphylaxis to penicillin";

/// A practice (releasing the [`IMMEDIATE`] test at once, with no prospective access date) and a
/// key for it.
async fn practice_with_key(app: &TestApp) -> (practices::Model, String) {
    let settings = PracticeSettings {
        immediate_release_test_codes: vec![IMMEDIATE.to_owned()],
        ..PracticeSettings::default()
    };
    let practice = NewPractice::default()
        .settings(settings)
        .prospective_access_date(None)
        .insert(app)
        .await;
    let key = integration_key(app, &practice).await;
    (practice, key)
}

/// The `n`th valid NHS number of the 999 test range.
fn nhs(n: u32) -> String {
    (n * 7..)
        .find_map(|seed| {
            let mut digits = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
            for (i, digit) in digits.iter_mut().enumerate().skip(3) {
                *digit = ((seed / 10u32.pow(8 - i as u32)) % 10) as u8;
            }
            NhsNumber::from_first_nine(digits)
        })
        .unwrap()
        .to_string()
}

async fn post(app: &TestApp, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn batch(app: &TestApp, key: &str, body: &Value) -> (StatusCode, Value) {
    post(app, key, "/api/v1/integration/batches", body).await
}

async fn document(app: &TestApp, key: &str, body: &Value) -> (StatusCode, Value) {
    post(app, key, "/api/v1/integration/documents", body).await
}

fn counts(created: u32, updated: u32, unchanged: u32) -> Value {
    json!({"created": created, "updated": updated, "unchanged": unchanged})
}

fn patient(external_id: &str, n: u32) -> Value {
    json!({
        "external_id": external_id,
        "nhs_number": nhs(n),
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": "1980-05-17",
        "sex": "female",
    })
}

fn entry(external_id: &str, patient: &str, section: &str, term: &str) -> Value {
    json!({
        "external_id": external_id,
        "patient_external_id": patient,
        "section": section,
        "snomed_code": "294505008",
        "term": term,
        "effective_date": "2024-03-01",
        "entered_on": "2024-03-01",
        "hidden": false,
        "hidden_from_proxies": false,
    })
}

fn result(external_id: &str, patient: &str, test_code: &str, value: &str) -> Value {
    json!({
        "external_id": external_id,
        "patient_external_id": patient,
        "test_code": test_code,
        "test_name": "Serum cholesterol",
        "value": value,
        "numeric_value": value.parse::<f64>().ok(),
        "unit": "mmol/L",
        "range_low": 0.0,
        "range_high": 5.0,
        "abnormal_flag": "normal",
        "requester": "Dr Patel",
        "effective_date": "2024-04-02",
        "entered_on": "2024-04-03",
    })
}

/// A batch touching every kind of item, for patients `P1` and `P2`.
fn full_batch() -> Value {
    json!({
        "prospective_access_date": "2023-10-31",
        "patients": [
            patient("P1", 1),
            {
                "external_id": "P2", "nhs_number": nhs(2), "given_name": "Tom",
                "family_name": "Jones", "date_of_birth": "2012-01-09", "sex": "male",
                "access_level": "summary", "record_access_from": "2024-01-01",
                "competent": true, "archived": false,
            },
        ],
        "entries": [
            entry("E1", "P1", "allergies", TERM),
            entry("E2", "P1", "problems", "Asthma"),
            {
                "external_id": "E3", "patient_external_id": "P2", "section": "consultations",
                "snomed_code": "185317003", "term": "Telephone consultation",
                "effective_date": "2024-05-01", "end_date": "2024-05-01",
                "entered_on": "2024-05-01",
                "detail": "Discussed inhaler technique.\nReview in 3 months.",
                "author": "Dr Patel", "hidden": true, "hidden_from_proxies": true,
            },
        ],
        "results": [
            result("R1", "P1", "HBA1C", "41"),
            result("R2", "P1", IMMEDIATE, "4.2"),
        ],
        "access_codes": [{
            "external_id": "C1", "patient_external_id": "P2",
            "snomed_code": "1364731000000104", "recorded_at": "2024-06-01T10:30:00Z",
        }],
    })
}

/// Row counts of every table an import writes.
async fn table_counts(app: &TestApp) -> [u64; 8] {
    [
        patients::Entity::find().count(&app.db).await.unwrap(),
        record_entries::Entity::find().count(&app.db).await.unwrap(),
        results::Entity::find().count(&app.db).await.unwrap(),
        access_codes::Entity::find().count(&app.db).await.unwrap(),
        documents::Entity::find().count(&app.db).await.unwrap(),
        blobs::Entity::find().count(&app.db).await.unwrap(),
        projection_outbox::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        audit_events::Entity::find()
            .filter(audit_events::Column::Action.starts_with("integration.import"))
            .count(&app.db)
            .await
            .unwrap(),
    ]
}

async fn stored_patient(app: &TestApp, practice_id: Uuid, external_id: &str) -> patients::Model {
    patients::Entity::find()
        .filter(patients::Column::PracticeId.eq(practice_id))
        .filter(patients::Column::ExternalId.eq(external_id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

async fn stored_result(app: &TestApp, external_id: &str) -> results::Model {
    results::Entity::find()
        .filter(results::Column::ExternalId.eq(external_id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

async fn ids_of_entries(app: &TestApp) -> Vec<(Option<String>, Uuid)> {
    record_entries::Entity::find()
        .order_by_asc(record_entries::Column::ExternalId)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.external_id, e.id))
        .collect()
}

#[tokio::test]
async fn a_full_batch_imports_and_its_replay_changes_nothing() {
    let app = spawn_app().await;
    let (practice, key) = practice_with_key(&app).await;

    let (status, body) = batch(&app, &key, &full_batch()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["patients"], counts(2, 0, 0));
    assert_eq!(body["entries"], counts(3, 0, 0));
    assert_eq!(body["results"], counts(2, 0, 0));
    assert_eq!(body["access_codes"], counts(1, 0, 0));
    assert_eq!(body["results_released_immediately"], 1);
    assert_eq!(body["prospective_access_date_changed"], true);

    let p1 = stored_patient(&app, practice.id, "P1").await;
    let p2 = stored_patient(&app, practice.id, "P2").await;
    assert_eq!(p1.nhs_number, nhs(1));
    assert_eq!(
        p1.access_level,
        patients::AccessLevel::Detailed,
        "the default"
    );
    assert!(!p1.competent && p1.archived_at.is_none());
    assert_eq!(p2.access_level, patients::AccessLevel::Summary);
    assert_eq!(p2.record_access_from, NaiveDate::from_ymd_opt(2024, 1, 1));
    assert!(p2.competent);
    let e3 = record_entries::Entity::find()
        .filter(record_entries::Column::ExternalId.eq("E3"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e3.patient_id, p2.id);
    assert!(e3.hidden && e3.hidden_from_proxies);
    assert_eq!(e3.section, record_entries::RecordSection::Consultations);
    let pending = stored_result(&app, "R1").await;
    assert_eq!(pending.review_state, ReviewState::Pending);
    assert_eq!(pending.released_at, None);
    let released = stored_result(&app, "R2").await;
    assert_eq!(released.review_state, ReviewState::Released);
    assert_eq!(released.released_at, Some(app.clock.now()));
    let practice_now = practices::Entity::find_by_id(practice.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        practice_now.prospective_access_date,
        NaiveDate::from_ymd_opt(2023, 10, 31)
    );
    let marks: Vec<(Uuid, Option<String>, Option<Uuid>)> = projection_outbox::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.patient_id, row.section, row.item_id))
        .collect();
    let dirty: Vec<(Uuid, Option<String>)> = marks
        .iter()
        .map(|(patient, section, _)| (*patient, section.clone()))
        .collect();
    // Coded entries of every clinical section live in the synced `record` document.
    for (patient_id, section) in [
        (p1.id, "record"),
        (p1.id, "results"),
        (p2.id, "record"),
        (p2.id, "profile"),
    ] {
        assert!(
            dirty.contains(&(patient_id, Some(section.to_owned()))),
            "{section} not marked dirty"
        );
    }
    assert_eq!(
        marks.len(),
        marks.iter().collect::<std::collections::HashSet<_>>().len(),
        "each section, or each item of it, is marked once"
    );
    // A new entry is named, so the projector reads it alone.
    let entries: std::collections::HashSet<Uuid> = ids_of_entries(&app)
        .await
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert!(
        marks
            .iter()
            .any(|(_, section, item)| section.as_deref() == Some("record")
                && item.is_some_and(|item| entries.contains(&item))),
        "{marks:?}"
    );

    // The replay: same ids, nothing written, no new outbox rows.
    let entry_ids = ids_of_entries(&app).await;
    let before = table_counts(&app).await;
    let (status, body) = batch(&app, &key, &full_batch()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["patients"], counts(0, 0, 2));
    assert_eq!(body["entries"], counts(0, 0, 3));
    assert_eq!(body["results"], counts(0, 0, 2));
    assert_eq!(body["access_codes"], counts(0, 0, 1));
    assert_eq!(body["results_released_immediately"], 0);
    assert_eq!(body["prospective_access_date_changed"], false);
    let after = table_counts(&app).await;
    assert_eq!(before[..7], after[..7], "rows unchanged");
    assert_eq!(after[7], before[7] + 1, "the replay is audited too");
    assert_eq!(ids_of_entries(&app).await, entry_ids);
    assert_eq!(stored_patient(&app, practice.id, "P1").await, p1);
    assert_eq!(stored_result(&app, "R2").await, released);
}

#[tokio::test]
async fn the_audit_event_has_counts_and_no_clinical_text() {
    let app = spawn_app().await;
    let (practice, key) = practice_with_key(&app).await;
    let (status, _) = batch(&app, &key, &full_batch()).await;
    assert_eq!(status, StatusCode::OK);

    let events = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("integration.import"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.actor_kind, audit_events::ActorKind::Integration);
    assert_eq!(event.practice_id, Some(practice.id));
    assert!(event.actor_id.is_some());
    assert_eq!(event.detail["entries"]["created"], 3);
    let everything = serde_json::to_string(&events).unwrap();
    for clinical in [TERM, "Asthma", "inhaler", "Lovelace", "Serum cholesterol"] {
        assert!(!everything.contains(clinical), "{clinical} in {everything}");
    }
    // The outbox carries ids and section names only.
    let outbox = serde_json::to_string(
        &projection_outbox::Entity::find()
            .all(&app.db)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(!outbox.contains(TERM));
}

#[tokio::test]
async fn an_updated_entry_changes_in_place() {
    let app = spawn_app().await;
    let (_, key) = practice_with_key(&app).await;
    batch(&app, &key, &full_batch()).await;
    let before = ids_of_entries(&app).await;
    let outbox_before = projection_outbox::Entity::find()
        .count(&app.db)
        .await
        .unwrap();

    let update = json!({
        "entries": [entry("E2", "P1", "problems", "Asthma, resolved")],
    });
    let (status, body) = batch(&app, &key, &update).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["entries"], counts(0, 1, 0));
    assert_eq!(body["patients"], counts(0, 0, 0));
    assert_eq!(ids_of_entries(&app).await, before, "same ids, no new rows");
    let e2 = record_entries::Entity::find()
        .filter(record_entries::Column::ExternalId.eq("E2"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e2.term, "Asthma, resolved");
    let dirty = projection_outbox::Entity::find()
        .order_by_asc(projection_outbox::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(dirty.len() as u64, outbox_before + 1);
    assert_eq!(dirty.last().unwrap().section.as_deref(), Some("record"));
}

#[tokio::test]
async fn a_reviewed_result_keeps_its_state_unless_its_content_changes() {
    let app = spawn_app().await;
    let (_, key) = practice_with_key(&app).await;
    batch(&app, &key, &full_batch()).await;

    // A clinician released R1 with a comment.
    let mut reviewed = stored_result(&app, "R1").await.into_active_model();
    reviewed.review_state = Set(ReviewState::Released);
    reviewed.released_at = Set(Some(app.clock.now()));
    reviewed.reviewed_at = Set(Some(app.clock.now()));
    reviewed.clinician_comment = Set(Some("Normal - no action".to_owned()));
    reviewed.update(&app.db).await.unwrap();
    app.clock.advance(chrono::Duration::hours(1));

    // The requester's name is corrected: still released, comment kept.
    let mut renamed = result("R1", "P1", "HBA1C", "41");
    renamed["requester"] = json!("Dr A Patel");
    let (status, body) = batch(&app, &key, &json!({"results": [renamed]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"], counts(0, 1, 0));
    let kept = stored_result(&app, "R1").await;
    assert_eq!(kept.review_state, ReviewState::Released);
    assert_eq!(kept.requester.as_deref(), Some("Dr A Patel"));
    assert!(kept.clinician_comment.is_some());

    // The value is amended: back to review, the old comment no longer applies.
    let mut amended = result("R1", "P1", "HBA1C", "48");
    amended["requester"] = json!("Dr A Patel");
    amended["abnormal_flag"] = json!("high");
    let (status, body) = batch(&app, &key, &json!({"results": [amended]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"], counts(0, 1, 0));
    let pending = stored_result(&app, "R1").await;
    assert_eq!(pending.id, kept.id);
    assert_eq!(pending.review_state, ReviewState::Pending);
    assert_eq!(pending.released_at, None);
    assert_eq!(pending.clinician_comment, None);
    assert_eq!(pending.value, "48");

    // An amended immediate-release result is released again, and the patient is told.
    let notified = notification_outbox::Entity::find()
        .count(&app.db)
        .await
        .unwrap();
    let (status, body) = batch(
        &app,
        &key,
        &json!({"results": [result("R2", "P1", IMMEDIATE, "5.9")]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results_released_immediately"], 1);
    let r2 = stored_result(&app, "R2").await;
    assert_eq!(r2.review_state, ReviewState::Released);
    assert_eq!(r2.released_at, Some(app.clock.now()));
    // No account yet, so nothing is queued for a device.
    assert_eq!(
        notification_outbox::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        notified
    );
}

#[tokio::test]
async fn a_bad_batch_lists_every_bad_field_and_stores_nothing() {
    let app = spawn_app().await;
    let (_, key) = practice_with_key(&app).await;
    batch(&app, &key, &full_batch()).await;
    let before = table_counts(&app).await;

    let mut bad_result = result("R9", "P3", "HBA1C", "40");
    bad_result["effective_date"] = json!("2024-02-30");
    bad_result["abnormal_flag"] = json!("very high");
    let mut undated = entry("E12", "P3", "problems", "Gout");
    undated.as_object_mut().unwrap().remove("entered_on");
    let mut bad_patient = patient("P4", 4);
    bad_patient["nhs_number"] = json!("9434765918");
    let bad = json!({
        "patients": [patient("P3", 3), bad_patient, patient("P3", 5)],
        "entries": [
            entry("E9", "P3", "problems", "Hypertension"),
            entry("E10", "NOBODY", "problems", "Hypertension"),
            entry("E9", "P3", "problems", "Hypertension again"),
            entry("E11", "P1", "diagnoses", "Gout"),
            undated,
        ],
        "results": [result("R8", "P3", "HBA1C", "40"), bad_result],
        "access_codes": [{
            "external_id": "C9", "patient_external_id": "P3",
            "snomed_code": "123456789", "recorded_at": "2024-06-01",
        }],
        "prospective_access_date": "31/10/2023",
    });
    let (status, body) = batch(&app, &key, &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "validation_failed");
    let mut fields: Vec<String> = body["invalid_params"]
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
    fields.sort();
    let mut expected = vec![
        "patients[1].nhs_number invalid_nhs_number",
        "patients[2].external_id duplicate_external_id",
        "entries[1].patient_external_id unknown_patient",
        "entries[2].external_id duplicate_external_id",
        "entries[3].section invalid_value",
        "entries[4].entered_on required",
        "results[1].effective_date invalid_date",
        "results[1].abnormal_flag invalid_value",
        "access_codes[0].snomed_code invalid_access_code",
        "access_codes[0].recorded_at invalid_datetime",
        "prospective_access_date invalid_date",
    ];
    expected.sort();
    assert_eq!(fields, expected);
    assert_eq!(
        table_counts(&app).await,
        before,
        "nothing of the batch is stored"
    );
}

#[tokio::test]
async fn unknown_patients_and_unknown_fields_are_refused() {
    let app = spawn_app().await;
    let (_, key) = practice_with_key(&app).await;

    let (status, body) = batch(
        &app,
        &key,
        &json!({"results": [result("R1", "GHOST", "HBA1C", "40")]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["invalid_params"][0]["name"],
        "results[0].patient_external_id"
    );
    assert_eq!(body["invalid_params"][0]["code"], "unknown_patient");

    let mut extra = patient("P1", 1);
    extra["ethnicity"] = json!("not a field");
    let (status, body) = batch(&app, &key, &json!({"patients": [extra]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["invalid_params"][0]["name"], "patients[0].ethnicity");

    let (status, _) = post(
        &app,
        "gpk_not_a_key",
        "/api/v1/integration/batches",
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(patients::Entity::find().count(&app.db).await.unwrap(), 0);
}

#[tokio::test]
async fn a_key_of_another_practice_cannot_touch_this_practices_patients() {
    let app = spawn_app().await;
    let (ours, our_key) = practice_with_key(&app).await;
    let (theirs, their_key) = practice_with_key(&app).await;
    batch(&app, &our_key, &full_batch()).await;
    let p1 = stored_patient(&app, ours.id, "P1").await;
    let before = table_counts(&app).await;

    // Our patient's external id means nothing to the other practice's key.
    let (status, body) = batch(
        &app,
        &their_key,
        &json!({"entries": [entry("E1", "P1", "allergies", "Overwritten")]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["invalid_params"][0]["code"], "unknown_patient");
    let (status, body) = document(
        &app,
        &their_key,
        &letter("D1", "P1", b"%PDF-1.4\n% not yours\n"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["invalid_params"][0]["name"], "patient_external_id");
    assert_eq!(table_counts(&app).await, before);

    // The same external id (and NHS number) at their practice is their own patient.
    let mut renamed = patient("P1", 1);
    renamed["family_name"] = json!("Changed");
    let (status, body) = batch(&app, &their_key, &json!({"patients": [renamed]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["patients"], counts(1, 0, 0));
    let theirs_p1 = stored_patient(&app, theirs.id, "P1").await;
    assert_ne!(theirs_p1.id, p1.id);
    assert_eq!(
        stored_patient(&app, ours.id, "P1").await,
        p1,
        "ours untouched"
    );
}

#[tokio::test]
async fn a_patient_created_at_the_desk_is_adopted_by_nhs_number() {
    let app = spawn_app().await;
    let (practice, key) = practice_with_key(&app).await;
    let desk = NewPatient::at(practice.id)
        .named("Ada", "Lovelace")
        .born(NaiveDate::from_ymd_opt(1980, 5, 17).unwrap())
        .access_level(patients::AccessLevel::Documents)
        .competent(false)
        .nhs_number(&nhs(1))
        .at_the_desk()
        .insert(&app)
        .await;

    let (status, body) = batch(&app, &key, &json!({"patients": [patient("P1", 1)]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["patients"], counts(0, 1, 0));
    let adopted = stored_patient(&app, practice.id, "P1").await;
    assert_eq!(adopted.id, desk.id);
    assert_eq!(
        adopted.access_level,
        patients::AccessLevel::Documents,
        "left out: kept"
    );

    // Another clinical-system id with that NHS number is a conflict, named.
    let (status, body) = batch(&app, &key, &json!({"patients": [patient("P2", 1)]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["invalid_params"][0]["name"], "patients[0].nhs_number");
    assert_eq!(body["invalid_params"][0]["code"], "nhs_number_in_use");

    // Archiving sets archived_at; un-archiving clears it.
    let mut archived = patient("P1", 1);
    archived["archived"] = json!(true);
    batch(&app, &key, &json!({"patients": [archived]})).await;
    assert!(
        stored_patient(&app, practice.id, "P1")
            .await
            .archived_at
            .is_some()
    );
    let mut back = patient("P1", 1);
    back["archived"] = json!(false);
    batch(&app, &key, &json!({"patients": [back]})).await;
    assert!(
        stored_patient(&app, practice.id, "P1")
            .await
            .archived_at
            .is_none()
    );
}

#[tokio::test]
async fn a_large_batch_imports_in_chunks() {
    let app = spawn_app().await;
    let (_, key) = practice_with_key(&app).await;
    let patients: Vec<Value> = (0..50).map(|i| patient(&format!("P{i}"), i + 1)).collect();
    let entries: Vec<Value> = (0..1500)
        .map(|i| {
            entry(
                &format!("E{i}"),
                &format!("P{}", i % 50),
                "consultations",
                "Seen",
            )
        })
        .collect();
    let results: Vec<Value> = (0..1500)
        .map(|i| result(&format!("R{i}"), &format!("P{}", i % 50), "HBA1C", "40"))
        .collect();
    let body = json!({"patients": patients, "entries": entries, "results": results});

    let started = std::time::Instant::now();
    let (status, reply) = batch(&app, &key, &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    eprintln!(
        "1,500 entries + 1,500 results imported in {:?}",
        started.elapsed()
    );
    assert_eq!(reply["entries"], counts(1500, 0, 0));
    assert_eq!(reply["results"], counts(1500, 0, 0));
    assert_eq!(
        record_entries::Entity::find().count(&app.db).await.unwrap(),
        1500
    );

    let started = std::time::Instant::now();
    let (status, reply) = batch(&app, &key, &body).await;
    assert_eq!(status, StatusCode::OK);
    eprintln!("replayed in {:?}", started.elapsed());
    assert_eq!(reply["entries"], counts(0, 0, 1500));
    assert_eq!(reply["results"], counts(0, 0, 1500));
}

fn letter(external_id: &str, patient: &str, content: &[u8]) -> Value {
    json!({
        "external_id": external_id,
        "patient_external_id": patient,
        "document_type": "discharge_summary",
        "title": "Discharge summary.pdf",
        "author_organisation": "Royal Infirmary",
        "effective_date": "2024-07-01",
        "entered_on": "2024-07-02",
        "content_base64": base64::engine::general_purpose::STANDARD.encode(content),
    })
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

#[tokio::test]
async fn documents_are_typed_by_their_content() {
    let app = spawn_app().await;
    let (_, key) = practice_with_key(&app).await;
    batch(&app, &key, &json!({"patients": [patient("P1", 1)]})).await;

    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    let text = "Dear Dr Patel,\r\nThank you for seeing Ms Lovelace.\n".as_bytes();
    for (external_id, content, content_type) in [
        ("D1", PDF, "application/pdf"),
        ("D2", &png[..], "image/png"),
        ("D3", text, "text/plain; charset=utf-8"),
    ] {
        let (status, body) = document(&app, &key, &letter(external_id, "P1", content)).await;
        assert_eq!(status, StatusCode::OK, "{external_id}: {body}");
        assert_eq!(body["outcome"], "created");
        assert_eq!(body["content_type"], content_type);
        assert_eq!(body["size_bytes"], content.len());
        let stored = documents::Entity::find()
            .filter(documents::Column::ExternalId.eq(external_id))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.review_state, ReviewState::Pending);
        assert_eq!(stored.content_type, content_type);
        assert_eq!(stored.id.to_string(), body["document_id"].as_str().unwrap());
        let blob = blobs::Entity::find_by_id(stored.blob_sha256.clone())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(blob.content, content);
        assert_eq!(blob.sha256, body["sha256"].as_str().unwrap());
        assert_eq!(blob.sha256, blob.sha256.to_lowercase());
    }

    // A ".pdf" that is really a Windows executable.
    let (status, body) = document(
        &app,
        &key,
        &letter("D4", "P1", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00"),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(body["code"], "unsupported_document_type");

    // One byte over 4 MiB.
    let mut big = PDF.to_vec();
    big.resize(4 * 1024 * 1024 + 1, b' ');
    let (status, body) = document(&app, &key, &letter("D5", "P1", &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "document_too_large");
    // Exactly 4 MiB is accepted.
    big.truncate(4 * 1024 * 1024);
    let (status, body) = document(&app, &key, &letter("D6", "P1", &big)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut broken = letter("D7", "P1", PDF);
    broken["content_base64"] = json!("%%% not base64 %%%");
    broken["document_type"] = json!("photo");
    let (status, body) = document(&app, &key, &broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let names: Vec<&str> = body["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["document_type", "content_base64"]);
    assert_eq!(documents::Entity::find().count(&app.db).await.unwrap(), 4);
}

#[tokio::test]
async fn a_document_replay_changes_nothing_and_new_content_goes_back_to_review() {
    let app = spawn_app().await;
    let (_, key) = practice_with_key(&app).await;
    batch(&app, &key, &json!({"patients": [patient("P1", 1)]})).await;

    let (status, first) = document(&app, &key, &letter("D1", "P1", PDF)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let before = table_counts(&app).await;
    let (status, replay) = document(&app, &key, &letter("D1", "P1", PDF)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replay["outcome"], "unchanged");
    assert_eq!(replay["document_id"], first["document_id"]);
    let after = table_counts(&app).await;
    assert_eq!(after[..7], before[..7], "a replay writes nothing");
    assert_eq!(after[7], before[7] + 1, "but is audited");

    // The same content as another letter: one blob, two documents.
    let (status, other) = document(&app, &key, &letter("D2", "P1", PDF)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(other["sha256"], first["sha256"]);
    assert_eq!(blobs::Entity::find().count(&app.db).await.unwrap(), 1);

    // Released by a clinician, then amended by the hospital: back to review, same row.
    let id: Uuid = first["document_id"].as_str().unwrap().parse().unwrap();
    let mut released = documents::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    released.review_state = Set(ReviewState::Released);
    released.released_at = Set(Some(app.clock.now()));
    released.update(&app.db).await.unwrap();
    let (status, amended) = document(
        &app,
        &key,
        &letter("D1", "P1", b"%PDF-1.4\n% amended\n%%EOF\n"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{amended}");
    assert_eq!(amended["outcome"], "updated");
    assert_eq!(amended["document_id"], first["document_id"]);
    let stored = documents::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.review_state, ReviewState::Pending);
    assert_eq!(stored.released_at, None);

    let events = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("integration.import_document"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 4, "created, unchanged, created, updated");
    assert!(
        events
            .iter()
            .all(|e| e.target_kind.as_deref() == Some("document"))
    );
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains("Discharge")
    );
    let dirty = projection_outbox::Entity::find()
        .filter(projection_outbox::Column::Section.eq("documents"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(dirty, 3);
}

#[tokio::test]
async fn the_import_routes_are_described_in_openapi() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    for path in [
        "/api/v1/integration/batches",
        "/api/v1/integration/documents",
    ] {
        let post = &doc["paths"][path]["post"];
        assert_eq!(post["tags"][0], "integration", "{path}");
        assert!(post["security"].is_array(), "{path}");
    }
    for schema in [
        "ImportBatch",
        "PatientImport",
        "EntryImport",
        "ResultImport",
        "AccessCodeImport",
        "ImportSummary",
        "DocumentImport",
        "DocumentImported",
    ] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
}
