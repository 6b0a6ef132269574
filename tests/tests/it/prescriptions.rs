//! Repeat prescriptions end to end: courses as the patient sees them, partly successful orders
//! with a code per course, the database deciding between concurrent orders, cancellation and
//! re-ordering, the practice's queue and a clinician's approval or rejection (with audit,
//! outbox rows and notifications), proxies and their scopes, the nominated pharmacy, an
//! `Idempotency-Key` replay and the clinical system's course feed.

use chrono::{Duration, NaiveDate};
use gp_online::db::entities::courses::CourseType;
use gp_online::db::entities::{
    audit_events, courses, notification_outbox, prescription_request_items, prescription_requests,
    projection_outbox, staff,
};
use gp_online::settings::PracticeSettings;
use gp_online_tests::api::{get, post, send};
use gp_online_tests::fixtures::{
    account, integration_key, patient, practice_with, proxy_account, staff_token,
};
use gp_online_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

fn today(app: &TestApp) -> NaiveDate {
    app.clock.now().date_naive()
}

/// A repeat course, adjusted by `adjust`.
async fn course(
    app: &TestApp,
    patient_id: Uuid,
    medication: &str,
    adjust: impl FnOnce(&mut courses::Model),
) -> courses::Model {
    let now = app.clock.now();
    let mut model = courses::Model {
        id: Uuid::new_v4(),
        practice_id: gp_online_tests::fixtures::practice_of(app, patient_id).await,
        patient_id,
        external_id: None,
        snomed_code: "322236009".to_owned(),
        medication: medication.to_owned(),
        dosage: "One a day".to_owned(),
        quantity: "28 tablets".to_owned(),
        course_type: CourseType::Repeat,
        can_be_requested: true,
        last_issue_date: Some(today(app) - Duration::days(60)),
        next_issue_date: Some(today(app) - Duration::days(32)),
        review_date: Some(today(app) + Duration::days(200)),
        hidden: false,
        hidden_from_proxies: false,
        ended_on: None,
        created_at: now,
        updated_at: now,
    };
    adjust(&mut model);
    courses::ActiveModel::from(model)
        .insert(&app.db)
        .await
        .unwrap()
}

async fn order(app: &TestApp, token: &str, patient_id: Uuid, ids: &[Uuid]) -> (StatusCode, Value) {
    post(
        app,
        token,
        &format!("/api/v1/patients/{patient_id}/prescription-requests"),
        json!({ "course_ids": ids }),
    )
    .await
}

fn codes(reply: &Value) -> Vec<(String, String)> {
    reply["unsuccessful"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["course_id"].as_str().unwrap().to_owned(),
                r["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn request_count(app: &TestApp) -> u64 {
    prescription_requests::Entity::find()
        .count(&app.db)
        .await
        .unwrap()
}

async fn audit(app: &TestApp, action: &str) -> Vec<audit_events::Model> {
    audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq(action))
        .all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_order_succeeds_in_part_with_a_code_for_each_refused_course() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, Some("FA123")).await;
    let other = patient(&app, practice.id, None).await;
    let (account_id, token) = account(&app, &me).await;
    let t = today(&app);

    let ok = course(&app, me.id, "Amlodipine 5mg tablets", |_| {}).await;
    let pending = course(&app, me.id, "Atorvastatin 20mg tablets", |_| {}).await;
    let recent = course(&app, me.id, "Ramipril 5mg capsules", |c| {
        c.last_issue_date = Some(t - Duration::days(10));
    })
    .await;
    let acute = course(&app, me.id, "Amoxicillin 500mg capsules", |c| {
        c.course_type = CourseType::Acute;
    })
    .await;
    let review = course(&app, me.id, "Levothyroxine 50mcg tablets", |c| {
        c.review_date = Some(t - Duration::days(3));
    })
    .await;
    let hidden = course(&app, me.id, "Sertraline 50mg tablets", |c| c.hidden = true).await;
    let ended = course(&app, me.id, "Omeprazole 20mg capsules", |c| {
        c.ended_on = Some(t - Duration::days(1));
    })
    .await;
    let not_flagged = course(&app, me.id, "Salbutamol inhaler", |c| {
        c.can_be_requested = false;
    })
    .await;
    let others = course(&app, other.id, "Metformin 500mg tablets", |_| {}).await;

    let (status, first) = order(&app, &token, me.id, &[pending.id]).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");

    // The courses list: hidden and ended left out, flags computed, the pending one marked.
    let (status, listed) = get(&app, &token, &format!("/api/v1/patients/{}/courses", me.id)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let by_id = |id: Uuid| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id.to_string())
            .cloned()
    };
    assert!(by_id(hidden.id).is_none() && by_id(ended.id).is_none());
    assert_eq!(listed.as_array().unwrap().len(), 6);
    let p = by_id(pending.id).unwrap();
    assert_eq!(p["request_pending"], true);
    assert_eq!(p["pending_request_id"], first["request_id"]);
    assert_eq!(p["type"], "repeat");
    let a = by_id(acute.id).unwrap();
    assert_eq!(
        (a["type"].as_str(), a["can_be_requested"].as_bool()),
        (Some("acute"), Some(false))
    );
    assert_eq!(by_id(review.id).unwrap()["review_due"], true);
    assert_eq!(by_id(not_flagged.id).unwrap()["can_be_requested"], false);
    assert_eq!(by_id(ok.id).unwrap()["can_be_requested"], true);

    app.clock.advance(Duration::minutes(1));
    let before = request_count(&app).await;
    let ghost = Uuid::new_v4();
    let ids = [
        ok.id,
        pending.id,
        recent.id,
        acute.id,
        review.id,
        hidden.id,
        ended.id,
        not_flagged.id,
        others.id,
        ghost,
    ];
    let (status, reply) = post(
        &app,
        &token,
        &format!("/api/v1/patients/{}/prescription-requests", me.id),
        json!({ "course_ids": ids, "note": "SECRET-NOTE: running low before my holiday" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(
        reply["successful"],
        json!([
            {"course_id": ok.id, "routed_to_clinician": false},
            {"course_id": review.id, "routed_to_clinician": true},
        ])
    );
    let expected: Vec<(String, String)> = [
        (pending.id, "already_pending"),
        (recent.id, "ordered_recently"),
        (acute.id, "not_requestable"),
        (hidden.id, "not_requestable"),
        (ended.id, "not_requestable"),
        (not_flagged.id, "not_requestable"),
        (others.id, "not_requestable"),
        (ghost, "not_requestable"),
    ]
    .iter()
    .map(|(id, code)| (id.to_string(), (*code).to_owned()))
    .collect();
    assert_eq!(codes(&reply), expected);
    assert_eq!(request_count(&app).await, before + 1);

    let request_id: Uuid = reply["request_id"].as_str().unwrap().parse().unwrap();
    let stored = prescription_requests::Entity::find_by_id(request_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.requested_by_account_id, Some(account_id));
    assert!(!stored.requested_by_proxy);
    assert_eq!(stored.pharmacy_ods.as_deref().map(str::trim), Some("FA123"));
    let items = prescription_request_items::Entity::find()
        .filter(prescription_request_items::Column::RequestId.eq(request_id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|i| i.pending_course_id == Some(i.course_id))
    );

    // Nothing requestable: 409 with the per-course codes, and nothing stored.
    let before = request_count(&app).await;
    let (status, refused) = order(&app, &token, me.id, &[acute.id, ok.id]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "nothing_ordered");
    assert_eq!(
        codes(&refused),
        vec![
            (acute.id.to_string(), "not_requestable".to_owned()),
            (ok.id.to_string(), "already_pending".to_owned()),
        ]
    );
    assert_eq!(request_count(&app).await, before);

    // Bad input: every bad field named.
    let (status, bad) = post(
        &app,
        &token,
        &format!("/api/v1/patients/{}/prescription-requests", me.id),
        json!({ "course_ids": [ok.id, ok.id], "note": "x".repeat(501) }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let names: Vec<&str> = bad["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["course_ids[1]", "note"]);
    let (status, empty) = order(&app, &token, me.id, &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty["invalid_params"][0]["name"], "course_ids");

    // Audit: the order and the refusal, never the note; the medications section is dirty.
    let orders = audit(&app, "prescription.order").await;
    assert_eq!(orders.len(), 3);
    assert!(
        orders
            .iter()
            .all(|e| e.acting_for_patient_id == Some(me.id))
    );
    assert!(
        orders
            .iter()
            .any(|e| e.outcome == audit_events::Outcome::Failure)
    );
    let all = audit_events::Entity::find().all(&app.db).await.unwrap();
    assert!(
        all.iter()
            .all(|e| !e.detail.to_string().contains("SECRET-NOTE"))
    );
    let dirty = projection_outbox::Entity::find()
        .filter(projection_outbox::Column::PatientId.eq(me.id))
        .filter(projection_outbox::Column::Section.eq("medications"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(dirty, 2);

    // The patient's list shows the note to the patient.
    let (_, requests) = get(
        &app,
        &token,
        &format!("/api/v1/patients/{}/prescription-requests", me.id),
    )
    .await;
    assert_eq!(requests[0]["id"], reply["request_id"]);
    assert!(
        requests[0]["note"]
            .as_str()
            .unwrap()
            .starts_with("SECRET-NOTE")
    );
    assert_eq!(requests[0]["items"].as_array().unwrap().len(), 2);
    assert_eq!(requests[0]["items"][0]["status"], "requested");
}

#[tokio::test]
async fn concurrent_orders_of_one_course_leave_exactly_one_pending() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;
    let contested = course(&app, me.id, "Bisoprolol 2.5mg tablets", |_| {}).await;

    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let request = app
            .client
            .post(app.url(&format!("/api/v1/patients/{}/prescription-requests", me.id)))
            .bearer_auth(&token)
            .json(&json!({ "course_ids": [contested.id] }));
        attempts.spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    let replies = attempts.join_all().await;
    let created = replies
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{replies:?}");
    for (status, reply) in replies.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::CONFLICT, "{reply}");
        assert_eq!(reply["unsuccessful"][0]["code"], "already_pending");
    }
    let pending = prescription_request_items::Entity::find()
        .filter(prescription_request_items::Column::PendingCourseId.eq(contested.id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(pending, 1);
    assert_eq!(request_count(&app).await, 1);
}

#[tokio::test]
async fn a_cancelled_request_can_be_ordered_again() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;
    let repeat = course(&app, me.id, "Sertraline 100mg tablets", |_| {}).await;

    let (_, first) = order(&app, &token, me.id, &[repeat.id]).await;
    let path = format!(
        "/api/v1/patients/{}/prescription-requests/{}",
        me.id,
        first["request_id"].as_str().unwrap()
    );
    let (status, cancelled) = send(&app, reqwest::Method::DELETE, &token, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["items"][0]["status"], "cancelled");
    let (status, again) = send(&app, reqwest::Method::DELETE, &token, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(again["code"], "request_not_pending");
    let unknown = format!(
        "/api/v1/patients/{}/prescription-requests/{}",
        me.id,
        Uuid::new_v4()
    );
    let (status, _) = send(&app, reqwest::Method::DELETE, &token, &unknown, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, reordered) = order(&app, &token, me.id, &[repeat.id]).await;
    assert_eq!(status, StatusCode::CREATED, "{reordered}");
    assert_eq!(audit(&app, "prescription.cancel").await.len(), 1);
}

#[tokio::test]
async fn clinicians_approve_and_reject_with_codes_and_notifications() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let clinician = staff_token(&app, practice.id, staff::StaffRole::Clinician).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let elsewhere = practice_with(&app, PracticeSettings::default()).await;
    let stranger = staff_token(&app, elsewhere.id, staff::StaffRole::Clinician).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;
    let t = today(&app);
    let a = course(&app, me.id, "Lisinopril 10mg tablets", |_| {}).await;
    let b = course(&app, me.id, "Simvastatin 40mg tablets", |_| {}).await;
    let due = course(&app, me.id, "Warfarin 1mg tablets", |c| {
        c.review_date = Some(t - Duration::days(1));
    })
    .await;

    let (_, first) = order(&app, &token, me.id, &[a.id, b.id]).await;
    app.clock.advance(Duration::minutes(5));
    let (_, routed) = order(&app, &token, me.id, &[due.id]).await;

    // The queue: the clinician-routed request first although it is newer.
    let (status, queue) = get(&app, &admin, "/api/v1/practice/prescription-requests").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let ids: Vec<&Value> = queue.as_array().unwrap().iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&routed["request_id"], &first["request_id"]]);
    assert_eq!(queue[0]["routed_to_clinician"], true);
    assert_eq!(queue[1]["patient"]["id"], me.id.to_string());
    let (_, foreign) = get(&app, &stranger, "/api/v1/practice/prescription-requests").await;
    assert_eq!(foreign, json!([]));
    let (status, _) = get(
        &app,
        &admin,
        "/api/v1/practice/prescription-requests?status=nope",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let request_id = first["request_id"].as_str().unwrap();
    let item = |course_id: Uuid| {
        queue[1]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["course_id"] == course_id.to_string())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let approve = format!(
        "/api/v1/practice/prescription-requests/{request_id}/items/{}/approve",
        item(a.id)
    );
    let reject_b = format!(
        "/api/v1/practice/prescription-requests/{request_id}/items/{}/reject",
        item(b.id)
    );
    let reject_a = approve.replace("/approve", "/reject");

    let (status, denied) = post(&app, &admin, &approve, json!({})).await;
    assert_eq!(
        (status, denied["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _) = post(&app, &stranger, &approve, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(&app, &token, &approve, json!({})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a patient token on a staff route"
    );

    let (status, approved) = post(&app, &clinician, &approve, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["item"]["status"], "approved");
    let issued = courses::Entity::find_by_id(a.id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(issued.last_issue_date, Some(t));
    assert_eq!(issued.next_issue_date, Some(t + Duration::days(28)));
    let (status, replay) = post(&app, &clinician, &approve, json!({})).await;
    assert_eq!(
        (status, &replay["item"]["status"]),
        (StatusCode::OK, &json!("approved"))
    );
    let (status, moved) = post(&app, &clinician, &reject_a, json!({"reason": "no"})).await;
    assert_eq!(
        (status, moved["code"].as_str()),
        (StatusCode::CONFLICT, Some("request_not_pending"))
    );

    let (status, missing) = post(&app, &clinician, &reject_b, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing["invalid_params"][0]["name"], "reason");
    let reason = "REASON-TEXT: please book a blood test first";
    let (status, rejected) = post(&app, &clinician, &reject_b, json!({"reason": reason})).await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["item"]["status"], "rejected");

    // Two decisions, two notifications (the replay sent none); audit without the reason text.
    let notified = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::PatientId.eq(me.id))
        .filter(notification_outbox::Column::Kind.eq("prescription_updated"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(notified, 2);
    assert_eq!(audit(&app, "prescription.approve").await.len(), 1);
    let rejections = audit(&app, "prescription.reject").await;
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].actor_kind, audit_events::ActorKind::Staff);
    assert!(!rejections[0].detail.to_string().contains("REASON-TEXT"));

    // The patient sees both decisions, the reason with the rejection.
    let (_, mine) = get(
        &app,
        &token,
        &format!("/api/v1/patients/{}/prescription-requests", me.id),
    )
    .await;
    let decided = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == request_id)
        .unwrap();
    let states: Vec<(&str, &Value)> = decided["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["status"].as_str().unwrap(), &i["rejection_reason"]))
        .collect();
    assert!(states.contains(&("approved", &Value::Null)));
    assert!(states.contains(&("rejected", &json!(reason))));

    // Issued today: ordering it again is too soon until the reorder interval has passed.
    let (status, soon) = order(&app, &token, me.id, &[a.id]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(soon["unsuccessful"][0]["code"], "ordered_recently");
    app.clock.advance(Duration::days(31));
    let (status, later) = order(&app, &token, me.id, &[a.id, b.id]).await;
    assert_eq!(status, StatusCode::CREATED, "{later}");
    assert_eq!(later["successful"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn proxies_order_only_with_the_prescriptions_scope() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let shown = course(&app, me.id, "Donepezil 10mg tablets", |_| {}).await;
    let private = course(&app, me.id, "Mirtazapine 15mg tablets", |c| {
        c.hidden_from_proxies = true;
    })
    .await;
    let carer = proxy_account(&app, &me, "prescriptions,appointments")
        .await
        .1;
    let limited = proxy_account(&app, &me, "appointments").await.1;
    let unrelated = account(&app, &patient(&app, practice.id, None).await)
        .await
        .1;
    let courses_path = format!("/api/v1/patients/{}/courses", me.id);

    let (status, listed) = get(&app, &carer, &courses_path).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], shown.id.to_string());
    let (status, reply) = order(&app, &carer, me.id, &[shown.id, private.id]).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["unsuccessful"][0]["code"], "not_requestable");
    let request_id: Uuid = reply["request_id"].as_str().unwrap().parse().unwrap();
    let stored = prescription_requests::Entity::find_by_id(request_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.requested_by_proxy);
    let ordered = audit(&app, "prescription.order").await;
    assert_eq!(ordered[0].actor_kind, audit_events::ActorKind::Proxy);
    assert_eq!(ordered[0].acting_for_patient_id, Some(me.id));

    let (status, refused) = get(&app, &limited, &courses_path).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _) = order(&app, &limited, me.id, &[shown.id]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get(&app, &unrelated, &courses_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A practice that switched online ordering off.
    let mut off = PracticeSettings::default();
    off.features.prescriptions = false;
    let closed = practice_with(&app, off).await;
    let them = patient(&app, closed.id, None).await;
    let (_, their_token) = account(&app, &them).await;
    let (status, body) = get(
        &app,
        &their_token,
        &format!("/api/v1/patients/{}/courses", them.id),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("feature_disabled"))
    );
}

#[tokio::test]
async fn the_nominated_pharmacy_is_shown_validated_and_changed() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;
    let path = format!("/api/v1/patients/{}/pharmacy", me.id);

    let (status, none) = get(&app, &token, &path).await;
    assert_eq!((status, none), (StatusCode::OK, json!({"ods_code": null})));
    for bad in [json!({"ods_code": "A81001"}), json!({})] {
        let (status, refused) = send(&app, reqwest::Method::PUT, &token, &path, Some(bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["invalid_params"][0]["name"], "ods_code");
    }
    let (status, set) = send(
        &app,
        reqwest::Method::PUT,
        &token,
        &path,
        Some(json!({"ods_code": "fq123"})),
    )
    .await;
    assert_eq!(
        (status, set),
        (StatusCode::OK, json!({"ods_code": "FQ123"}))
    );
    let (_, shown) = get(&app, &token, &path).await;
    assert_eq!(shown, json!({"ods_code": "FQ123"}));
    let changes = audit(&app, "pharmacy.change").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].detail["to"], "FQ123");

    let repeat = course(&app, me.id, "Gliclazide 80mg tablets", |_| {}).await;
    let (_, reply) = order(&app, &token, me.id, &[repeat.id]).await;
    let (_, requests) = get(
        &app,
        &token,
        &format!("/api/v1/patients/{}/prescription-requests", me.id),
    )
    .await;
    assert_eq!(requests[0]["id"], reply["request_id"]);
    assert_eq!(requests[0]["pharmacy_ods"], "FQ123");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_order_without_a_second_request() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;
    let repeat = course(&app, me.id, "Furosemide 40mg tablets", |_| {}).await;
    let path = app.url(&format!("/api/v1/patients/{}/prescription-requests", me.id));
    let send_once = || {
        app.client
            .post(&path)
            .bearer_auth(&token)
            .header("Idempotency-Key", "order-1")
            .json(&json!({ "course_ids": [repeat.id] }))
            .send()
    };
    let first = send_once().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let second = send_once().await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second);
    assert_eq!(request_count(&app).await, 1);
    assert_eq!(audit(&app, "prescription.order").await.len(), 1);
}

#[tokio::test]
async fn the_clinical_system_feeds_courses_idempotently() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let key = integration_key(&app, &practice).await;
    let feed = |quantity: &str| {
        json!({"courses": [{
            "patient_external_id": me.external_id,
            "external_id": "C-1",
            "snomed_code": "318135000",
            "medication": "Omeprazole 20mg gastro-resistant capsules",
            "dosage": "One daily",
            "quantity": quantity,
            "course_type": "repeat",
            "can_be_requested": true,
            "last_issue_date": "2026-10-01",
            "review_date": "2027-06-01"
        }]})
    };
    let put = |body: Value| {
        send(
            &app,
            reqwest::Method::PUT,
            &key,
            "/api/v1/integration/courses",
            Some(body),
        )
    };
    let (status, created) = put(feed("28 capsules")).await;
    assert_eq!(
        (status, created),
        (StatusCode::OK, json!({"created": 1, "updated": 0}))
    );
    let (status, updated) = put(feed("56 capsules")).await;
    assert_eq!(
        (status, updated),
        (StatusCode::OK, json!({"created": 0, "updated": 1}))
    );
    let stored = courses::Entity::find()
        .filter(courses::Column::PatientId.eq(me.id))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].quantity, "56 capsules");

    let (status, bad) = put(json!({"courses": [{
        "patient_external_id": "nobody",
        "external_id": "C-2",
        "snomed_code": "12",
        "medication": "X",
        "dosage": "Y",
        "quantity": "Z",
        "course_type": "repeat",
        "can_be_requested": true
    }]}))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let names: Vec<&str> = bad["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["courses[0].snomed_code", "courses[0].patient_external_id"]
    );
    let (_, token) = account(&app, &me).await;
    let (_, listed) = get(&app, &token, &format!("/api/v1/patients/{}/courses", me.id)).await;
    assert_eq!(listed[0]["quantity"], "56 capsules");
}
