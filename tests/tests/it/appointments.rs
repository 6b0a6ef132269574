//! Appointments end to end: slot search within the practice's window, booking with the
//! practice's reason rule and limits, fifty patients racing for one slot, cancelling with the
//! cut-off and the practice's reasons, the upcoming and past lists, proxies, the practice's
//! publishing, withdrawing and moving (with notifications), the clinical system's idempotent
//! publishing, Idempotency-Key replays and the audit trail.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use gp_online::db::entities::appointments::AppointmentStatus;
use gp_online::db::entities::slots::{Channel, SlotStatus};
use gp_online::db::entities::{
    appointments, audit_events, notification_outbox, patients, practices, projection_outbox, slots,
    staff,
};
use gp_online::settings::{BookingReasonRule, PracticeSettings};
use gp_online_tests::api::{get, post, send};
use gp_online_tests::fixtures::{
    NewPatient, account_for, integration_key, practice_with, proxy_account, staff_token,
};
use gp_online_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{Value, json};
use uuid::Uuid;

/// A practice whose default settings `adjust` changes.
async fn practice(app: &TestApp, adjust: impl FnOnce(&mut PracticeSettings)) -> practices::Model {
    let mut settings = PracticeSettings::default();
    adjust(&mut settings);
    practice_with(app, settings).await
}

async fn set_settings(
    app: &TestApp,
    practice_id: Uuid,
    adjust: impl FnOnce(&mut PracticeSettings),
) {
    let practice = practices::Entity::find_by_id(practice_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut settings = PracticeSettings::from_json(&practice.settings).unwrap();
    adjust(&mut settings);
    let mut active: practices::ActiveModel = practice.into();
    active.settings = Set(settings.to_json());
    active.update(&app.db).await.unwrap();
}

/// A patient of the practice, by id.
async fn patient(app: &TestApp, practice_id: Uuid) -> Uuid {
    NewPatient::at(practice_id)
        .born(NaiveDate::from_ymd_opt(1975, 3, 9).unwrap())
        .competent(false)
        .at_the_desk()
        .insert(app)
        .await
        .id
}

/// An account for the patient with a long-lived session (tests move the clock).
async fn token(app: &TestApp, practice_id: Uuid, patient_id: Uuid) -> String {
    account_for(app, practice_id, Some(patient_id), None)
        .await
        .1
}

/// A proxy (another patient of the practice) with a grant of `scopes` for `patient_id`.
async fn proxy_token(app: &TestApp, patient_id: Uuid, scopes: &str) -> String {
    let patient = patients::Entity::find_by_id(patient_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    proxy_account(app, &patient, scopes).await.1
}

/// A slot of the practice starting `starts_in` from now, lasting 10 minutes.
async fn slot(app: &TestApp, practice_id: Uuid, starts_in: Duration) -> Uuid {
    slot_with(
        app,
        practice_id,
        starts_in,
        Channel::InPerson,
        "Dr Rhea Shah",
    )
    .await
}

async fn slot_with(
    app: &TestApp,
    practice_id: Uuid,
    starts_in: Duration,
    channel: Channel,
    clinician: &str,
) -> Uuid {
    gp_online_tests::fixtures::open_slot(app, practice_id, starts_in, |slot| {
        slot.clinician_name = clinician.to_owned();
        slot.location = "Riverside Surgery, Room 2".to_owned();
        slot.channel = channel;
    })
    .await
}

async fn book(app: &TestApp, token: &str, patient: Uuid, body: Value) -> (StatusCode, Value) {
    post(
        app,
        token,
        &format!("/api/v1/patients/{patient}/appointments"),
        body,
    )
    .await
}

async fn cancel(
    app: &TestApp,
    token: &str,
    patient: Uuid,
    appointment: &Value,
    reason: &str,
) -> (StatusCode, Value) {
    let path = format!(
        "/api/v1/patients/{patient}/appointments/{}",
        appointment.as_str().unwrap()
    );
    send(
        app,
        reqwest::Method::DELETE,
        token,
        &path,
        Some(json!({ "reason": reason })),
    )
    .await
}

async fn slot_ids(app: &TestApp, token: &str, patient: Uuid, query: &str) -> Vec<String> {
    let (status, body) = get(
        app,
        token,
        &format!("/api/v1/patients/{patient}/slots{query}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

fn invalid_code(body: &Value) -> (&str, &str) {
    (
        body["invalid_params"][0]["name"]
            .as_str()
            .unwrap_or_default(),
        body["invalid_params"][0]["code"]
            .as_str()
            .unwrap_or_default(),
    )
}

async fn stored(app: &TestApp, id: &Value) -> appointments::Model {
    appointments::Entity::find_by_id(Uuid::parse_str(id.as_str().unwrap()).unwrap())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

async fn notifications(app: &TestApp, patient: Uuid) -> Vec<notification_outbox::Model> {
    notification_outbox::Entity::find()
        .filter(notification_outbox::Column::PatientId.eq(patient))
        .all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn fifty_patients_racing_for_one_slot_get_exactly_one_booking() {
    let app = spawn_app().await;
    let practice = practice(&app, |s| s.booking_reason = BookingReasonRule::Optional).await;
    let slot = slot(&app, practice.id, Duration::days(3)).await;
    let mut racers = Vec::new();
    for _ in 0..50 {
        let patient = patient(&app, practice.id).await;
        racers.push((patient, token(&app, practice.id, patient).await));
    }
    let mut handles = Vec::new();
    for (patient, token) in racers {
        let client = app.client.clone();
        let url = app.url(&format!("/api/v1/patients/{patient}/appointments"));
        handles.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "slot_id": slot }))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (status, body)
        }));
    }
    let mut booked = 0;
    let mut taken = 0;
    for handle in handles {
        let (status, body) = handle.await.unwrap();
        match status {
            StatusCode::CREATED => booked += 1,
            StatusCode::CONFLICT if body["code"] == "slot_taken" => taken += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((booked, taken), (1, 49), "on {}", app.database.backend);
    let rows = appointments::Entity::find()
        .filter(appointments::Column::SlotId.eq(slot))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].active_slot_id, Some(slot));
    assert_eq!(rows[0].status, AppointmentStatus::Booked);
    let audited = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("appointment.book"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn search_shows_open_unbooked_future_slots_in_the_window_with_the_booking_rules() {
    let app = spawn_app().await;
    let practice = practice(&app, |s| {
        s.booking_reason = BookingReasonRule::Optional;
        s.booking_reason_max_chars = 40;
        s.booking_guidance = "One problem per appointment.".to_owned();
    })
    .await;
    let patient = patient(&app, practice.id).await;
    let token = token(&app, practice.id, patient).await;
    let soon = slot(&app, practice.id, Duration::days(1)).await;
    let video = slot_with(
        &app,
        practice.id,
        Duration::days(2),
        Channel::Video,
        "Nurse Ann Lee",
    )
    .await;
    let week_ten = slot(&app, practice.id, Duration::weeks(10)).await;
    let past = slot(&app, practice.id, -Duration::hours(1)).await;
    let withdrawn = slot(&app, practice.id, Duration::days(3)).await;
    let booked = slot(&app, practice.id, Duration::days(4)).await;
    slots::Entity::update_many()
        .col_expr(slots::Column::Status, SlotStatus::Withdrawn.into())
        .filter(slots::Column::Id.eq(withdrawn))
        .exec(&app.db)
        .await
        .unwrap();
    let other_practice = self::practice(&app, |_| {}).await;
    let elsewhere = slot(&app, other_practice.id, Duration::days(1)).await;
    let (status, _) = book(&app, &token, patient, json!({ "slot_id": booked })).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = get(&app, &token, &format!("/api/v1/patients/{patient}/slots")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["booking_guidance"], "One problem per appointment.");
    assert_eq!(body["booking_reason"], "Optional");
    assert_eq!(body["booking_reason_max_chars"], 40);
    let ids: Vec<&str> = body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [soon.to_string(), video.to_string()]);
    for hidden in [week_ten, past, withdrawn, booked, elsewhere] {
        assert!(!ids.contains(&hidden.to_string().as_str()));
    }
    let first = &body["slots"][0];
    assert_eq!(first["clinician_name"], "Dr Rhea Shah");
    assert_eq!(first["channel"], "in_person");
    assert_eq!(first["location"], "Riverside Surgery, Room 2");

    // Filters.
    assert_eq!(
        slot_ids(&app, &token, patient, "?channel=video").await,
        [video.to_string()]
    );
    assert_eq!(
        slot_ids(&app, &token, patient, "?clinician=nurse").await,
        [video.to_string()]
    );
    let tomorrow = (app.clock.now() + Duration::days(1)).date_naive();
    assert_eq!(
        slot_ids(
            &app,
            &token,
            patient,
            &format!("?from={tomorrow}&to={tomorrow}")
        )
        .await,
        [soon.to_string()]
    );
    let (status, body) = get(
        &app,
        &token,
        &format!("/api/v1/patients/{patient}/slots?channel=fax&from=soon"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["invalid_params"].as_array().unwrap().len(), 2);

    // A 16-week window shows week ten, and it can then be booked.
    let (status, body) = book(&app, &token, patient, json!({ "slot_id": week_ten })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("slot_unavailable"))
    );
    set_settings(&app, practice.id, |s| s.slot_window_weeks = 16).await;
    assert!(
        slot_ids(&app, &token, patient, "")
            .await
            .contains(&week_ten.to_string())
    );
}

#[tokio::test]
async fn booking_rules_each_have_their_code() {
    let app = spawn_app().await;
    let practice = practice(&app, |s| {
        s.booking_reason = BookingReasonRule::Mandatory;
        s.booking_reason_max_chars = 10;
        s.max_future_appointments = 2;
    })
    .await;
    let patient = patient(&app, practice.id).await;
    let token = token(&app, practice.id, patient).await;
    let a = slot(&app, practice.id, Duration::days(1)).await;
    let b = slot(&app, practice.id, Duration::days(2)).await;
    let c = slot(&app, practice.id, Duration::days(3)).await;

    // Mandatory: a reason is required, within the limit.
    let (status, body) = book(&app, &token, patient, json!({ "slot_id": a })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid_code(&body), ("reason", "required"));
    let (status, body) = book(
        &app,
        &token,
        patient,
        json!({ "slot_id": a, "reason": "x".repeat(11) }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid_code(&body), ("reason", "too_long"));
    let (status, body) = book(
        &app,
        &token,
        patient,
        json!({ "slot_id": a, "reason": "Rash" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["reason"], "Rash");
    assert_eq!(body["status"], "booked");
    assert_eq!(body["booked_by_proxy"], false);
    assert_eq!(body["slot"]["id"], a.to_string());

    // NotAllowed: a reason is refused.
    set_settings(&app, practice.id, |s| {
        s.booking_reason = BookingReasonRule::NotAllowed
    })
    .await;
    let (status, body) = book(
        &app,
        &token,
        patient,
        json!({ "slot_id": b, "reason": "Cough" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid_code(&body), ("reason", "reason_not_allowed"));

    // Optional: none is fine.
    set_settings(&app, practice.id, |s| {
        s.booking_reason = BookingReasonRule::Optional
    })
    .await;
    let (status, body) = book(&app, &token, patient, json!({ "slot_id": b })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["reason"], Value::Null);

    // Two future appointments held: the third is refused.
    let (status, body) = book(&app, &token, patient, json!({ "slot_id": c })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("booking_limit_reached"))
    );

    // Unknown, past, withdrawn and out-of-window slots are all simply unavailable.
    let other = self::patient(&app, practice.id).await;
    let other_token = self::token(&app, practice.id, other).await;
    let past = slot(&app, practice.id, -Duration::minutes(5)).await;
    let far = slot(&app, practice.id, Duration::weeks(9)).await;
    let withdrawn = slot(&app, practice.id, Duration::days(5)).await;
    slots::Entity::update_many()
        .col_expr(slots::Column::Status, SlotStatus::Withdrawn.into())
        .filter(slots::Column::Id.eq(withdrawn))
        .exec(&app.db)
        .await
        .unwrap();
    for unavailable in [Uuid::new_v4(), past, far, withdrawn] {
        let (status, body) =
            book(&app, &other_token, other, json!({ "slot_id": unavailable })).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("slot_unavailable"))
        );
    }
    // A slot someone holds is taken.
    let (status, body) = book(&app, &other_token, other, json!({ "slot_id": a })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("slot_taken"))
    );
    // Once one appointment is in the past, the limit frees up.
    app.clock.advance(Duration::days(1) + Duration::hours(1));
    let (status, body) = book(&app, &token, patient, json!({ "slot_id": c })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn cancelling_needs_a_listed_reason_respects_the_cutoff_and_frees_the_slot() {
    let app = spawn_app().await;
    let practice = practice(&app, |s| {
        s.booking_reason = BookingReasonRule::NotAllowed;
        s.cancellation_cutoff_hours = 2;
    })
    .await;
    let patient = patient(&app, practice.id).await;
    let token = token(&app, practice.id, patient).await;
    let soon = slot(&app, practice.id, Duration::minutes(90)).await;
    let later = slot(&app, practice.id, Duration::days(2)).await;
    let (_, soon_appt) = book(&app, &token, patient, json!({ "slot_id": soon })).await;
    let (_, later_appt) = book(&app, &token, patient, json!({ "slot_id": later })).await;

    let (status, body) = cancel(&app, &token, patient, &later_appt["id"], "Because").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        invalid_code(&body),
        ("reason", "unknown_cancellation_reason")
    );
    let (status, body) = cancel(&app, &token, patient, &soon_appt["id"], "Cannot attend").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("too_late_to_cancel"))
    );
    assert_eq!(
        stored(&app, &soon_appt["id"]).await.status,
        AppointmentStatus::Booked
    );

    let (status, body) = cancel(&app, &token, patient, &later_appt["id"], "Cannot attend").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled_by_patient");
    assert_eq!(body["cancellation_reason"], "Cannot attend");
    let row = stored(&app, &later_appt["id"]).await;
    assert_eq!(row.active_slot_id, None);
    assert!(
        slot_ids(&app, &token, patient, "")
            .await
            .contains(&later.to_string())
    );
    // Cancelling again answers the same; another patient can now book the slot.
    let (status, again) = cancel(&app, &token, patient, &later_appt["id"], "Cannot attend").await;
    assert_eq!((status, &again), (StatusCode::OK, &body));
    let other = self::patient(&app, practice.id).await;
    let other_token = self::token(&app, practice.id, other).await;
    let (status, _) = book(&app, &other_token, other, json!({ "slot_id": later })).await;
    assert_eq!(status, StatusCode::CREATED);
    // Someone else's appointment is not found.
    let (status, _) = cancel(&app, &other_token, other, &soon_appt["id"], "Cannot attend").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let projections = projection_outbox::Entity::find()
        .filter(projection_outbox::Column::PatientId.eq(patient))
        .filter(projection_outbox::Column::Section.eq("appointments"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(projections, 3, "two bookings and one cancellation");
}

/// Inserts an appointment on a slot starting `starts_in` from now.
async fn appointment_at(
    app: &TestApp,
    practice_id: Uuid,
    patient: Uuid,
    starts_in: Duration,
) -> Uuid {
    let slot = slot(app, practice_id, starts_in).await;
    let now: DateTime<Utc> = app.clock.now();
    appointments::ActiveModel {
        id: Set(Uuid::new_v4()),
        slot_id: Set(slot),
        practice_id: Set(practice_id),
        patient_id: Set(patient),
        active_slot_id: Set(Some(slot)),
        status: Set(AppointmentStatus::Booked),
        reason: Set(Some("Knee pain".to_owned())),
        booked_by_account_id: Set(None),
        booked_by_proxy: Set(false),
        cancellation_reason: Set(None),
        booked_at: Set(now - Duration::days(400)),
        cancelled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

#[tokio::test]
async fn the_list_shows_upcoming_and_one_year_of_past_appointments() {
    let app = spawn_app().await;
    let practice = practice(&app, |_| {}).await;
    let patient = patient(&app, practice.id).await;
    let token = token(&app, practice.id, patient).await;
    let next_week = appointment_at(&app, practice.id, patient, Duration::days(7)).await;
    let tomorrow = appointment_at(&app, practice.id, patient, Duration::days(1)).await;
    let last_week = appointment_at(&app, practice.id, patient, -Duration::days(7)).await;
    let eleven_months = appointment_at(&app, practice.id, patient, -Duration::days(335)).await;
    let _thirteen_months = appointment_at(&app, practice.id, patient, -Duration::days(396)).await;
    let other = self::patient(&app, practice.id).await;
    let _not_mine = appointment_at(&app, practice.id, other, Duration::days(2)).await;

    let (status, body) = get(
        &app,
        &token,
        &format!("/api/v1/patients/{patient}/appointments"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids = |key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids("upcoming"),
        [tomorrow.to_string(), next_week.to_string()]
    );
    assert_eq!(
        ids("past"),
        [last_week.to_string(), eleven_months.to_string()]
    );
    let first = &body["upcoming"][0];
    assert_eq!(first["reason"], "Knee pain");
    for key in [
        "starts_at",
        "ends_at",
        "clinician_name",
        "slot_type",
        "channel",
        "location",
    ] {
        assert!(first["slot"][key].is_string(), "{key}");
    }
    assert_eq!(body["cancellation_reasons"].as_array().unwrap().len(), 4);
    assert_eq!(body["cancellation_cutoff_hours"], 2);
}

#[tokio::test]
async fn proxies_book_with_the_appointments_scope_and_are_refused_without_it() {
    let app = spawn_app().await;
    let practice = practice(&app, |s| s.booking_reason = BookingReasonRule::Optional).await;
    let patient = patient(&app, practice.id).await;
    let patient_token = token(&app, practice.id, patient).await;
    let with_scope = proxy_token(&app, patient, "appointments").await;
    let without = proxy_token(&app, patient, "record_summary,messages").await;
    let a = slot(&app, practice.id, Duration::days(1)).await;
    let b = slot(&app, practice.id, Duration::days(2)).await;

    let (status, body) = book(
        &app,
        &with_scope,
        patient,
        json!({ "slot_id": a, "reason": "Review" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["booked_by_proxy"], true);
    let row = stored(&app, &body["id"]).await;
    assert!(row.booked_by_proxy);
    assert!(row.booked_by_account_id.is_some());
    let event = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("appointment.book"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.actor_kind, audit_events::ActorKind::Proxy);
    assert_eq!(event.acting_for_patient_id, Some(patient));
    // The patient sees the proxy's reason; a patient's own reason is not shown to the proxy.
    let (_, own) = book(
        &app,
        &patient_token,
        patient,
        json!({ "slot_id": b, "reason": "Private" }),
    )
    .await;
    let (_, list) = get(
        &app,
        &with_scope,
        &format!("/api/v1/patients/{patient}/appointments"),
    )
    .await;
    let reasons: Vec<&Value> = list["upcoming"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["reason"])
        .collect();
    assert_eq!(reasons, [&json!("Review"), &Value::Null]);
    assert_eq!(own["reason"], "Private");

    for path in ["slots", "appointments"] {
        let (status, body) = get(
            &app,
            &without,
            &format!("/api/v1/patients/{patient}/{path}"),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden"))
        );
    }
    let (status, body) = book(&app, &without, patient, json!({ "slot_id": b })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    // The practice switches appointments off.
    set_settings(&app, practice.id, |s| s.features.appointments = false).await;
    let (status, body) = get(
        &app,
        &patient_token,
        &format!("/api/v1/patients/{patient}/slots"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("feature_disabled"))
    );
}

#[tokio::test]
async fn another_practices_slot_and_another_patient_reveal_nothing() {
    let app = spawn_app().await;
    let ours = practice(&app, |s| s.booking_reason = BookingReasonRule::Optional).await;
    let theirs = practice(&app, |_| {}).await;
    let patient = patient(&app, ours.id).await;
    let token = token(&app, ours.id, patient).await;
    let their_slot = slot(&app, theirs.id, Duration::days(1)).await;
    let (status, body) = book(&app, &token, patient, json!({ "slot_id": their_slot })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("slot_unavailable"))
    );
    let (_, unknown) = book(&app, &token, patient, json!({ "slot_id": Uuid::new_v4() })).await;
    assert_eq!(body, unknown, "a slot elsewhere looks exactly like no slot");

    let stranger = self::patient(&app, theirs.id).await;
    for path in [
        format!("/api/v1/patients/{stranger}/slots"),
        format!("/api/v1/patients/{stranger}/appointments"),
        format!("/api/v1/patients/{}/appointments", Uuid::new_v4()),
    ] {
        let (status, body) = get(&app, &token, &path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
    }
    let (status, _) = book(&app, &token, stranger, json!({ "slot_id": their_slot })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn new_slot(starts_in_days: i64, now: DateTime<Utc>) -> Value {
    let starts = now + Duration::days(starts_in_days);
    json!({
        "starts_at": starts.to_rfc3339(),
        "ends_at": (starts + Duration::minutes(15)).to_rfc3339(),
        "clinician_name": "Dr Rhea Shah",
        "slot_type": "GP appointment",
        "session_name": "Morning surgery",
        "location": "Room 1",
        "channel": "telephone",
    })
}

#[tokio::test]
async fn the_practice_publishes_withdraws_and_moves_with_notifications() {
    let app = spawn_app().await;
    let practice = practice(&app, |s| s.booking_reason = BookingReasonRule::Optional).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let clinician = staff_token(&app, practice.id, staff::StaffRole::Clinician).await;
    let now = app.clock.now();

    // Publishing validates every slot and stores nothing when one is bad.
    let mut bad = new_slot(1, now);
    bad["ends_at"] = bad["starts_at"].clone();
    bad["channel"] = json!("fax");
    let (status, body) = post(
        &app,
        &admin,
        "/api/v1/practice/slots",
        json!({ "slots": [new_slot(1, now), bad] }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let names: Vec<&str> = body["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["slots[1].ends_at", "slots[1].channel"]);
    assert_eq!(slots::Entity::find().count(&app.db).await.unwrap(), 0);
    let (status, body) = post(
        &app,
        &admin,
        "/api/v1/practice/slots",
        json!({ "slots": [new_slot(1, now), new_slot(2, now), new_slot(3, now)] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let published: Vec<String> = body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slot"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(body["slots"][0]["outcome"], "created");
    assert_eq!(body["slots"][0]["slot"]["channel"], "telephone");

    let ann = patient(&app, practice.id).await;
    let ann_token = token(&app, practice.id, ann).await;
    let bob = patient(&app, practice.id).await;
    let bob_token = token(&app, practice.id, bob).await;
    let (_, ann_appt) = book(&app, &ann_token, ann, json!({ "slot_id": published[0] })).await;
    let (_, bob_appt) = book(&app, &bob_token, bob, json!({ "slot_id": published[1] })).await;

    // Moving Ann onto Bob's slot is refused and changes nothing.
    let move_path = format!(
        "/api/v1/practice/appointments/{}/move",
        ann_appt["id"].as_str().unwrap()
    );
    let (status, body) = post(
        &app,
        &clinician,
        &move_path,
        json!({ "slot_id": published[1] }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("slot_taken"))
    );
    let row = stored(&app, &ann_appt["id"]).await;
    assert_eq!(
        (
            row.slot_id.to_string(),
            row.active_slot_id.map(|s| s.to_string())
        ),
        (published[0].clone(), Some(published[0].clone()))
    );
    assert!(notifications(&app, ann).await.is_empty());
    // Moving to the free slot frees the old one and notifies Ann.
    let (status, body) = post(
        &app,
        &clinician,
        &move_path,
        json!({ "slot_id": published[2] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["slot"]["id"], published[2]);
    assert_eq!(body["id"], ann_appt["id"]);
    let free = slot_ids(&app, &bob_token, bob, "").await;
    assert_eq!(free, [published[0].clone()]);
    let sent = notifications(&app, ann).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, "appointment_changed");

    // Withdrawing Bob's slot cancels his appointment, notifies him, and touches nothing else.
    let withdraw = format!("/api/v1/practice/slots/{}/cancel", published[1]);
    let (status, body) = post(&app, &admin, &withdraw, json!({})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is required: {body}"
    );
    let (status, body) = post(
        &app,
        &admin,
        &withdraw,
        json!({ "reason": "Clinician unavailable" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cancelled_appointment_id"], bob_appt["id"]);
    let bob_row = stored(&app, &bob_appt["id"]).await;
    assert_eq!(bob_row.status, AppointmentStatus::CancelledByPractice);
    assert_eq!(bob_row.active_slot_id, None);
    assert_eq!(notifications(&app, bob).await.len(), 1);
    assert_eq!(
        stored(&app, &ann_appt["id"]).await.status,
        AppointmentStatus::Booked
    );
    assert_eq!(
        free,
        slot_ids(&app, &bob_token, bob, "").await,
        "a withdrawn slot is not offered"
    );
    let (status, _) = book(&app, &bob_token, bob, json!({ "slot_id": published[1] })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, list) = get(
        &app,
        &bob_token,
        &format!("/api/v1/patients/{bob}/appointments"),
    )
    .await;
    assert_eq!(list["upcoming"][0]["status"], "cancelled_by_practice");
    // Withdrawing again answers the same and notifies no one twice.
    let (status, _) = post(
        &app,
        &admin,
        &withdraw,
        json!({ "reason": "Clinician unavailable" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(notifications(&app, bob).await.len(), 1);

    // Another practice's staff and patients cannot touch any of it.
    let elsewhere = self::practice(&app, |_| {}).await;
    let stranger = staff_token(&app, elsewhere.id, staff::StaffRole::Admin).await;
    let (status, _) = post(
        &app,
        &stranger,
        &format!("/api/v1/practice/slots/{}/cancel", published[0]),
        json!({ "reason": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &app,
        &stranger,
        &move_path,
        json!({ "slot_id": published[0] }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &app,
        &ann_token,
        "/api/v1/practice/slots",
        json!({ "slots": [new_slot(1, now)] }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let staff_events = audit_events::Entity::find()
        .filter(audit_events::Column::ActorKind.eq(audit_events::ActorKind::Staff))
        .order_by_asc(audit_events::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    let actions: Vec<&str> = staff_events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "slot.publish",
            "appointment.move",
            "appointment.cancel_by_practice",
            "slot.withdraw"
        ]
    );
}

#[tokio::test]
async fn the_clinical_system_publishes_slots_idempotently_by_external_id() {
    let app = spawn_app().await;
    let practice = practice(&app, |s| s.booking_reason = BookingReasonRule::Optional).await;
    let key = integration_key(&app, &practice).await;
    let now = app.clock.now();
    let (status, body) = post(
        &app,
        &key,
        "/api/v1/integration/slots",
        json!({ "slots": [new_slot(1, now)] }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid_code(&body), ("slots[0].external_id", "required"));

    let mut first = new_slot(1, now);
    first["external_id"] = json!("emis-1");
    let mut second = new_slot(2, now);
    second["external_id"] = json!("emis-2");
    let batch = json!({ "slots": [first.clone(), second.clone()] });
    let (status, body) = post(&app, &key, "/api/v1/integration/slots", batch.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, again) = post(&app, &key, "/api/v1/integration/slots", batch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["slots"][0]["outcome"], "unchanged");
    assert_eq!(
        again["slots"][0]["slot"]["id"],
        body["slots"][0]["slot"]["id"]
    );
    assert_eq!(slots::Entity::find().count(&app.db).await.unwrap(), 2);

    // A booked slot that changes is updated in place and its patient notified.
    let patient = patient(&app, practice.id).await;
    let token = token(&app, practice.id, patient).await;
    let (status, _) = book(
        &app,
        &token,
        patient,
        json!({ "slot_id": body["slots"][0]["slot"]["id"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    first["location"] = json!("Room 9");
    let (status, changed) = post(
        &app,
        &key,
        "/api/v1/integration/slots",
        json!({ "slots": [first] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["slots"][0]["outcome"], "updated");
    assert_eq!(changed["slots"][0]["slot"]["location"], "Room 9");
    assert_eq!(notifications(&app, patient).await.len(), 1);
    let integration_events = audit_events::Entity::find()
        .filter(audit_events::Column::ActorKind.eq(audit_events::ActorKind::Integration))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(
        integration_events, 3,
        "two publications and one change to a booked slot"
    );
}

#[tokio::test]
async fn a_replayed_booking_returns_the_same_appointment_and_audit_holds_no_reason_text() {
    let app = spawn_app().await;
    let practice = practice(&app, |s| s.booking_reason = BookingReasonRule::Mandatory).await;
    let patient = patient(&app, practice.id).await;
    let token = token(&app, practice.id, patient).await;
    let slot = slot(&app, practice.id, Duration::days(2)).await;
    let secret = "Lump in left breast";
    let path = app.url(&format!("/api/v1/patients/{patient}/appointments"));
    let mut answers = Vec::new();
    for _ in 0..2 {
        let response = app
            .client
            .post(&path)
            .bearer_auth(&token)
            .header("idempotency-key", "book-1")
            .json(&json!({ "slot_id": slot, "reason": secret }))
            .send()
            .await
            .unwrap();
        let replayed = response.headers().contains_key("idempotent-replayed");
        answers.push((
            response.status(),
            replayed,
            response.json::<Value>().await.unwrap(),
        ));
    }
    assert_eq!(answers[0].0, StatusCode::CREATED);
    assert_eq!(answers[1].0, StatusCode::CREATED);
    assert!(!answers[0].1 && answers[1].1);
    assert_eq!(answers[0].2, answers[1].2);
    let count = appointments::Entity::find()
        .filter(appointments::Column::PatientId.eq(patient))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);

    let (status, _) = cancel(&app, &token, patient, &answers[0].2["id"], "Other").await;
    assert_eq!(status, StatusCode::OK);
    let events = audit_events::Entity::find()
        .filter(audit_events::Column::ActingForPatientId.eq(patient))
        .order_by_asc(audit_events::Column::Id)
        .all(&app.db)
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["appointment.book", "appointment.cancel"]);
    for event in &events {
        assert_eq!(event.actor_kind, audit_events::ActorKind::Patient);
        let detail = event.detail.to_string();
        assert!(
            !detail.contains("Lump") && !detail.contains("Other"),
            "{detail}"
        );
    }
}
