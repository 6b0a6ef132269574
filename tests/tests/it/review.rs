//! Review and release end to end: the practice's review queue, a clinician's release, withholding
//! and retraction of results and documents, with the audit event and outbox rows each decision
//! writes, the state machine's refusals, and who may do what.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use gp_online::db::entities::results::{AbnormalFlag, ReviewState, WithholdReason};
use gp_online::db::entities::{
    audit_events, blobs, documents, notification_outbox, patients, practices, projection_outbox,
    results, staff,
};
use gp_online_tests::api::{get, post};
use gp_online_tests::fixtures::{self, NewPatient, account, staff_token};
use gp_online_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

/// A practice with a clinician, an admin and a patient who has an account.
struct Practice {
    practice: practices::Model,
    clinician: String,
    admin: String,
    patient: patients::Model,
    /// The patient's own access token.
    patient_token: String,
}

async fn setup(app: &TestApp, nhs_number: &str) -> Practice {
    let practice = fixtures::practice(app).await;
    let clinician = staff_token(app, practice.id, staff::StaffRole::Clinician).await;
    let admin = staff_token(app, practice.id, staff::StaffRole::Admin).await;
    // An account, so releases notify someone.
    let patient = NewPatient::at(practice.id)
        .named("Ada", "Lovelace")
        .born(NaiveDate::from_ymd_opt(1980, 5, 17).unwrap())
        .access_level(patients::AccessLevel::Documents)
        .competent(false)
        .nhs_number(nhs_number)
        .at_the_desk()
        .insert(app)
        .await;
    let (_, patient_token) = account(app, &patient).await;
    Practice {
        practice,
        clinician,
        admin,
        patient,
        patient_token,
    }
}

fn received(minutes: i64) -> DateTime<Utc> {
    gp_online_tests::test_start() - Duration::hours(1) + Duration::minutes(minutes)
}

async fn result(
    app: &TestApp,
    patient_id: Uuid,
    state: ReviewState,
    received_at: DateTime<Utc>,
) -> results::Model {
    let now = app.clock.now();
    let released = (state == ReviewState::Released).then_some(received_at);
    results::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(gp_online_tests::fixtures::practice_of(app, patient_id).await),
        patient_id: Set(patient_id),
        external_id: Set(None),
        test_code: Set("1022431000000105".to_owned()),
        test_name: Set("Haemoglobin".to_owned()),
        value: Set("131".to_owned()),
        numeric_value: Set(Some(131.0)),
        unit: Set(Some("g/L".to_owned())),
        range_low: Set(Some(115.0)),
        range_high: Set(Some(165.0)),
        range_text: Set(None),
        abnormal_flag: Set(AbnormalFlag::Normal),
        requester: Set(Some("Dr Patel".to_owned())),
        effective_date: Set(received_at.date_naive()),
        entered_on: Set(received_at.date_naive()),
        received_at: Set(received_at),
        review_state: Set(state),
        reviewed_at: Set(released),
        reviewed_by_staff_id: Set(None),
        clinician_comment: Set(None),
        withhold_reason: Set(
            (state == ReviewState::Withheld).then_some(WithholdReason::SeriousHarm)
        ),
        released_at: Set(released),
        retracted_at: Set(None),
        retraction_reason: Set(None),
        hidden: Set(false),
        hidden_from_proxies: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
}

async fn document(app: &TestApp, patient_id: Uuid, received_at: DateTime<Utc>) -> documents::Model {
    let now = app.clock.now();
    let content = format!("Outpatient letter {}", Uuid::new_v4()).into_bytes();
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&content));
    blobs::ActiveModel {
        sha256: Set(sha256.clone()),
        content_type: Set("text/plain".to_owned()),
        size_bytes: Set(content.len() as i64),
        content: Set(content.clone()),
        created_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    documents::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(gp_online_tests::fixtures::practice_of(app, patient_id).await),
        patient_id: Set(patient_id),
        external_id: Set(None),
        document_type: Set(documents::DocumentType::OutpatientLetter),
        title: Set("Cardiology clinic letter".to_owned()),
        author_organisation: Set(Some("St Elsewhere NHS Trust".to_owned())),
        effective_date: Set(received_at.date_naive()),
        entered_on: Set(received_at.date_naive()),
        content_type: Set("text/plain".to_owned()),
        size_bytes: Set(content.len() as i64),
        blob_sha256: Set(sha256),
        received_at: Set(received_at),
        review_state: Set(ReviewState::Pending),
        reviewed_at: Set(None),
        reviewed_by_staff_id: Set(None),
        clinician_comment: Set(None),
        withhold_reason: Set(None),
        released_at: Set(None),
        retracted_at: Set(None),
        retraction_reason: Set(None),
        hidden: Set(false),
        hidden_from_proxies: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
}

/// Rows of the outboxes and the audit trail for one patient.
async fn written(app: &TestApp, patient_id: Uuid) -> (u64, u64, Vec<audit_events::Model>) {
    let projections = projection_outbox::Entity::find()
        .filter(projection_outbox::Column::PatientId.eq(patient_id))
        .count(&app.db)
        .await
        .unwrap();
    let notifications = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::PatientId.eq(patient_id))
        .count(&app.db)
        .await
        .unwrap();
    let events = audit_events::Entity::find()
        .filter(audit_events::Column::ActingForPatientId.eq(patient_id))
        .all(&app.db)
        .await
        .unwrap();
    (projections, notifications, events)
}

#[tokio::test]
async fn review_queue_lists_the_practices_pending_items_oldest_first_in_pages() {
    let app = spawn_app().await;
    let ours = setup(&app, "9990000018").await;
    let theirs = setup(&app, "9990000026").await;
    let p = ours.patient.id;
    let newest = result(&app, p, ReviewState::Pending, received(50)).await;
    let oldest = result(&app, p, ReviewState::Pending, received(1)).await;
    // Two items that arrived at the same instant are ordered by id.
    let mut same = [
        result(&app, p, ReviewState::Pending, received(20)).await.id,
        document(&app, p, received(20)).await.id,
    ];
    same.sort();
    let letter = document(&app, p, received(30)).await;
    result(&app, p, ReviewState::Released, received(5)).await;
    result(&app, p, ReviewState::Withheld, received(6)).await;
    result(&app, theirs.patient.id, ReviewState::Pending, received(2)).await;
    document(&app, theirs.patient.id, received(3)).await;

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut path = "/api/v1/practice/review-queue?limit=2".to_owned();
    loop {
        // Admins may look at the queue.
        let (status, page) = get(&app, &ours.admin, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/practice/review-queue?limit=2&after={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let ids: Vec<Uuid> = seen
        .iter()
        .map(|item| item["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids, [oldest.id, same[0], same[1], letter.id, newest.id]);

    let first = &seen[0];
    assert_eq!(first["kind"], "result");
    assert_eq!(first["title"], "Haemoglobin");
    assert_eq!(first["patient"]["id"], p.to_string());
    assert_eq!(first["patient"]["nhs_number"], "9990000018");
    assert_eq!(first["patient"]["family_name"], "Lovelace");
    assert_eq!(first["result"]["value"], "131");
    assert_eq!(first["result"]["unit"], "g/L");
    assert_eq!(first["result"]["range_low"], 115.0);
    assert_eq!(first["result"]["abnormal_flag"], "normal");
    let received_at: DateTime<Utc> = first["received_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(received_at, received(1));
    let letter_item = &seen[3];
    assert_eq!(letter_item["kind"], "document");
    assert_eq!(letter_item["title"], "Cardiology clinic letter");
    assert_eq!(
        letter_item["document"]["document_type"],
        "outpatient_letter"
    );
    assert_eq!(letter_item["result"], Value::Null);

    // One page holds everything: no cursor.
    let (_, all) = get(&app, &ours.clinician, "/api/v1/practice/review-queue").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    assert_eq!(all["next_cursor"], Value::Null);

    // The other practice sees only its own two.
    let (_, other) = get(&app, &theirs.clinician, "/api/v1/practice/review-queue").await;
    assert_eq!(other["items"].as_array().unwrap().len(), 2);

    // Bad paging is a 422 naming each field.
    let (status, problem) = get(
        &app,
        &ours.admin,
        "/api/v1/practice/review-queue?limit=201&after=nonsense",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let names: Vec<&str> = problem["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["limit", "after"]);
}

#[tokio::test]
async fn a_release_writes_state_audit_and_outboxes_at_once_and_replays_safely() {
    let app = spawn_app().await;
    let ours = setup(&app, "9990000018").await;
    let item = result(&app, ours.patient.id, ReviewState::Pending, received(1)).await;
    let path = format!("/api/v1/practice/results/{}/release", item.id);
    let comment = "Normal – no action needed, Ada";

    app.clock.advance(Duration::minutes(3));
    let (status, review) = post(&app, &ours.clinician, &path, json!({"comment": comment})).await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert_eq!(review["status"], "released");
    assert_eq!(review["kind"], "result");
    assert_eq!(review["clinician_comment"], comment);

    let stored = results::Entity::find_by_id(item.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.review_state, ReviewState::Released);
    assert_eq!(stored.released_at, Some(app.clock.now()));
    assert_eq!(stored.reviewed_at, Some(app.clock.now()));
    assert!(stored.reviewed_by_staff_id.is_some());
    assert_eq!(
        review["reviewed_by_staff_id"],
        stored.reviewed_by_staff_id.unwrap().to_string()
    );
    assert_eq!(stored.clinician_comment.as_deref(), Some(comment));

    let (projections, notifications, events) = written(&app, ours.patient.id).await;
    assert_eq!((projections, notifications, events.len()), (1, 1, 1));
    let dirty = projection_outbox::Entity::find()
        .filter(projection_outbox::Column::PatientId.eq(ours.patient.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dirty.section.as_deref(), Some("results"));
    assert_eq!(dirty.reason, "result.release");
    let notification = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::PatientId.eq(ours.patient.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notification.kind, "result_released");
    let event = &events[0];
    assert_eq!(event.action, "result.release");
    assert_eq!(event.actor_kind, audit_events::ActorKind::Staff);
    assert_eq!(event.actor_id, stored.reviewed_by_staff_id);
    assert_eq!(event.practice_id, Some(ours.practice.id));
    assert_eq!(event.target_kind.as_deref(), Some("result"));
    assert_eq!(event.target_id, Some(item.id.to_string()));
    let detail = event.detail.to_string();
    assert!(
        !detail.contains("Normal"),
        "no comment text in the audit: {detail}"
    );
    assert!(
        !detail.contains("131"),
        "no clinical values in the audit: {detail}"
    );

    // A retried release answers the same state and writes nothing more.
    app.clock.advance(Duration::minutes(1));
    let (status, replay) = post(&app, &ours.clinician, &path, json!({"comment": comment})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replay, review);
    let (projections, notifications, events) = written(&app, ours.patient.id).await;
    assert_eq!((projections, notifications, events.len()), (1, 1, 1));
    // A different decision on a released item is refused.
    let (status, problem) = post(&app, &ours.clinician, &path, json!({})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_pending"))
    );
    let withhold = format!("/api/v1/practice/results/{}/withhold", item.id);
    let (status, problem) = post(
        &app,
        &ours.clinician,
        &withhold,
        json!({"reason": "third_party"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_pending"))
    );

    // Released items can be retracted: dirty again, no notification.
    let retract = format!("/api/v1/practice/results/{}/retract", item.id);
    let (status, problem) = post(&app, &ours.clinician, &retract, json!({"reason": " "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["invalid_params"][0]["name"], "reason");
    let reason = "filed to the wrong patient";
    let (status, retracted) =
        post(&app, &ours.clinician, &retract, json!({"reason": reason})).await;
    assert_eq!(status, StatusCode::OK, "{retracted}");
    assert_eq!(retracted["status"], "retracted");
    assert_eq!(retracted["retraction_reason"], reason);
    let stored = results::Entity::find_by_id(item.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.retracted_at, Some(app.clock.now()));
    assert_eq!(stored.retraction_reason.as_deref(), Some(reason));
    let (projections, notifications, events) = written(&app, ours.patient.id).await;
    assert_eq!((projections, notifications, events.len()), (2, 1, 2));
    assert_eq!(events[1].action, "result.retract");
    assert!(!events[1].detail.to_string().contains("wrong patient"));
    let (status, _) = post(&app, &ours.clinician, &retract, json!({"reason": reason})).await;
    assert_eq!(status, StatusCode::OK, "a retried retraction is a replay");
    assert_eq!(written(&app, ours.patient.id).await.0, 2);

    // A retracted item stays retracted.
    let (status, problem) = post(&app, &ours.clinician, &path, json!({"comment": comment})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_pending"))
    );
    let (status, problem) = post(
        &app,
        &ours.clinician,
        &retract,
        json!({"reason": "another reason"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_released"))
    );
}

#[tokio::test]
async fn a_document_is_withheld_then_released_by_a_later_decision() {
    let app = spawn_app().await;
    let ours = setup(&app, "9990000018").await;
    let letter = document(&app, ours.patient.id, received(1)).await;
    let base = format!("/api/v1/practice/documents/{}", letter.id);

    // Retracting what was never released is refused.
    let (status, problem) = post(
        &app,
        &ours.clinician,
        &format!("{base}/retract"),
        json!({"reason": "x"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_released"))
    );

    let (status, problem) = post(
        &app,
        &ours.clinician,
        &format!("{base}/withhold"),
        json!({"reason": "because"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["invalid_params"][0]["name"], "reason");
    let (status, problem) = post(
        &app,
        &ours.clinician,
        &format!("{base}/withhold"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, problem["invalid_params"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("required"))
    );

    let (status, withheld) = post(
        &app,
        &ours.clinician,
        &format!("{base}/withhold"),
        json!({"reason": "third_party"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{withheld}");
    assert_eq!(withheld["status"], "withheld");
    assert_eq!(withheld["withhold_reason"], "third_party");
    let stored = documents::Entity::find_by_id(letter.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.review_state, ReviewState::Withheld);
    assert_eq!(stored.withhold_reason, Some(WithholdReason::ThirdParty));
    assert_eq!(stored.released_at, None);
    let (projections, notifications, events) = written(&app, ours.patient.id).await;
    assert_eq!(
        (projections, notifications, events.len()),
        (1, 0, 1),
        "no push for a withholding"
    );
    assert_eq!(events[0].action, "document.withhold");
    assert_eq!(events[0].detail["reason"], "third_party");

    // The same withholding again is a replay; another reason is a conflict.
    let (status, _) = post(
        &app,
        &ours.clinician,
        &format!("{base}/withhold"),
        json!({"reason": "third_party"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = post(
        &app,
        &ours.clinician,
        &format!("{base}/withhold"),
        json!({"reason": "serious_harm"}),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_pending"))
    );
    assert_eq!(written(&app, ours.patient.id).await.2.len(), 1);

    // The queue no longer shows it.
    let (_, queue) = get(&app, &ours.clinician, "/api/v1/practice/review-queue").await;
    assert_eq!(queue["items"], json!([]));

    // A later decision releases it, and the patient is told.
    let (status, released) =
        post(&app, &ours.clinician, &format!("{base}/release"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["status"], "released");
    assert_eq!(released["withhold_reason"], Value::Null);
    assert_eq!(released["clinician_comment"], Value::Null);
    let (projections, notifications, events) = written(&app, ours.patient.id).await;
    assert_eq!((projections, notifications, events.len()), (2, 1, 2));
    assert_eq!(events[1].action, "document.release");
    assert_eq!(events[1].detail["from"], "withheld");
    let notification = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::PatientId.eq(ours.patient.id))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notification.kind, "document_released");

    // A comment that is too long is refused before anything else.
    let other = document(&app, ours.patient.id, received(2)).await;
    let (status, problem) = post(
        &app,
        &ours.clinician,
        &format!("/api/v1/practice/documents/{}/release", other.id),
        json!({"comment": "x".repeat(1001)}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["invalid_params"][0]["name"], "comment");
}

#[tokio::test]
async fn only_clinicians_of_the_practice_decide() {
    let app = spawn_app().await;
    let ours = setup(&app, "9990000018").await;
    let theirs = setup(&app, "9990000026").await;
    let item = result(&app, ours.patient.id, ReviewState::Pending, received(1)).await;
    let release = format!("/api/v1/practice/results/{}/release", item.id);

    let (status, problem) = post(&app, &ours.admin, &release, json!({})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _) = post(
        &app,
        &ours.admin,
        &format!("/api/v1/practice/results/{}/withhold", item.id),
        json!({"reason": "serious_harm"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A patient's session is refused on staff routes, including their own item.
    let (status, _) = post(&app, &ours.patient_token, &release, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get(&app, &ours.patient_token, "/api/v1/practice/review-queue").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let anonymous = app
        .client
        .post(app.url(&release))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Another practice's clinician cannot find it; an unknown id is not found either.
    let (status, problem) = post(&app, &theirs.clinician, &release, json!({})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = post(
        &app,
        &theirs.clinician,
        &format!("/api/v1/practice/results/{}/retract", item.id),
        json!({"reason": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &app,
        &ours.clinician,
        &format!("/api/v1/practice/documents/{}/release", item.id),
        json!({}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a result's id is not a document's"
    );

    let untouched = results::Entity::find_by_id(item.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched, item);
    let (projections, notifications, events) = written(&app, ours.patient.id).await;
    assert_eq!((projections, notifications, events.len()), (0, 0, 0));

    // Its own clinician can.
    let (status, _) = post(&app, &ours.clinician, &release, json!({})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_identical_releases_notify_once() {
    let app = spawn_app().await;
    let ours = setup(&app, "9990000018").await;
    let item = result(&app, ours.patient.id, ReviewState::Pending, received(1)).await;
    let release = format!("/api/v1/practice/results/{}/release", item.id);
    let body = json!({"comment": "Normal"});
    let (first, second, third) = tokio::join!(
        post(&app, &ours.clinician, &release, body.clone()),
        post(&app, &ours.clinician, &release, body.clone()),
        post(&app, &ours.clinician, &release, body.clone()),
    );
    for (status, review) in [&first, &second, &third] {
        assert_eq!(*status, StatusCode::OK, "{review}");
        assert_eq!(review["status"], "released");
    }
    let (projections, notifications, events) = written(&app, ours.patient.id).await;
    assert_eq!((projections, notifications, events.len()), (1, 1, 1));
}

#[tokio::test]
async fn a_staff_member_seeing_the_queue_is_in_the_patients_access_log() {
    let app = spawn_app().await;
    let ours = setup(&app, "9990000018").await;
    result(&app, ours.patient.id, ReviewState::Pending, app.clock.now()).await;
    let (status, _) = get(&app, &ours.clinician, "/api/v1/practice/review-queue").await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/api/v1/patients/{}/access-log", ours.patient.id);
    let (status, log) = get(&app, &ours.patient_token, &path).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let staff_line = log
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["viewer"] == "staff")
        .expect("the staff read is logged");
    assert_eq!(staff_line["section"], "results");
    assert!(!staff_line["organisation"].as_str().unwrap().is_empty());
    assert!(!staff_line["role"].as_str().unwrap().is_empty());
}
