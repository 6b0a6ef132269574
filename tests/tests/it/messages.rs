//! Messages end to end: a thread both ways with read status on each side, the practice's
//! queue, replies that notify the patient, closing, the practice's subject, length and deletion
//! settings, messaging switched off, proxies and which threads they see, another practice's
//! staff, audit events without message text and an `Idempotency-Key` replay of a send.

use chrono::Duration;
use gp_online::db::entities::{
    audit_events, message_threads, messages, notification_outbox, projection_outbox, staff,
};
use gp_online::settings::PracticeSettings;
use gp_online_tests::api::{get, post, send};
use gp_online_tests::fixtures::{account, patient, practice_with, proxy_account, staff_token};
use gp_online_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

async fn audit(app: &TestApp, action: &str) -> Vec<audit_events::Model> {
    audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq(action))
        .all(&app.db)
        .await
        .unwrap()
}

fn patient_path(patient_id: Uuid) -> String {
    format!("/api/v1/patients/{patient_id}/messages")
}

async fn start(app: &TestApp, token: &str, patient_id: Uuid, body: Value) -> (StatusCode, Value) {
    post(app, token, &patient_path(patient_id), body).await
}

fn id_of(value: &Value) -> Uuid {
    value["id"].as_str().unwrap().parse().unwrap()
}

async fn stored_messages(app: &TestApp, thread_id: Uuid) -> Vec<messages::Model> {
    messages::Entity::find()
        .filter(messages::Column::ThreadId.eq(thread_id))
        .all(&app.db)
        .await
        .unwrap()
}

/// No audit event of the messages carries the text of a message or a subject.
async fn assert_audit_has_no_text(app: &TestApp, texts: &[&str]) {
    let all = audit_events::Entity::find().all(&app.db).await.unwrap();
    assert!(all.iter().any(|e| e.action.starts_with("message.")));
    for event in all {
        let dump = format!("{event:?}");
        for text in texts {
            assert!(!dump.contains(text), "{} carries {text}", event.action);
        }
    }
}

#[tokio::test]
async fn messages_go_both_ways_with_read_status_on_each_side() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let (account_id, token) = account(&app, &me).await;
    let clinician = staff_token(&app, practice.id, staff::StaffRole::Clinician).await;
    let admin = staff_token(&app, practice.id, staff::StaffRole::Admin).await;

    let (status, quiet) = start(
        &app,
        &token,
        me.id,
        json!({"subject": "Repeat sick note", "body": "Could I have another fit note please?"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{quiet}");
    app.clock.advance(Duration::minutes(5));
    let (status, thread) = start(
        &app,
        &token,
        me.id,
        json!({"subject": "Rash after new tablets", "body": "My rash is spreading since Monday."}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{thread}");
    assert_eq!(thread["status"], "open");
    assert_eq!(thread["started_by"], "patient");
    assert_eq!(thread["messages"][0]["sender"], "patient");
    assert_eq!(thread["messages"][0]["sent_by_you"], true);
    let thread_id = id_of(&thread);
    let stored = stored_messages(&app, thread_id).await;
    assert_eq!(stored[0].sender_kind, messages::SenderKind::Patient);
    assert_eq!(stored[0].sender_account_id, Some(account_id));

    // The practice: both unread, the newest first; opening one marks it read by the practice.
    let (status, queue) = get(&app, &admin, "/api/v1/practice/messages?status=open").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    assert_eq!(queue.as_array().unwrap().len(), 2);
    assert_eq!(queue[0]["id"], thread_id.to_string());
    assert_eq!(queue[0]["unread_count"], 1);
    assert_eq!(queue[0]["patient"]["id"], me.id.to_string());
    let (status, opened) = get(
        &app,
        &clinician,
        &format!("/api/v1/practice/messages/{thread_id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert!(opened["messages"][0]["read_by_practice_at"].is_string());
    let (_, queue) = get(&app, &admin, "/api/v1/practice/messages").await;
    assert_eq!(queue[0]["id"], quiet["id"], "unread threads come first");
    assert_eq!(queue[1]["unread_count"], 0);

    // A clinician replies: the patient is notified, without the text.
    app.clock.advance(Duration::minutes(5));
    let (status, replied) = post(
        &app,
        &clinician,
        &format!("/api/v1/practice/messages/{thread_id}"),
        json!({"body": "Please send a photo of the rash and stop the tablets."}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{replied}");
    assert_eq!(replied["messages"][1]["sender"], "staff");
    assert_eq!(replied["messages"][1]["sender_name"], "Clinician One");
    let notified = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::PatientId.eq(me.id))
        .filter(notification_outbox::Column::Kind.eq("message_received"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(notified.len(), 1);
    assert_eq!(notified[0].account_id, account_id);

    // The patient: the thread first, one unread; opening it marks the reply read.
    let (status, listed) = get(&app, &token, &patient_path(me.id)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["id"], thread_id.to_string());
    assert_eq!(listed[0]["unread_count"], 1);
    assert_eq!(listed[0]["subject"], "Rash after new tablets");
    assert_eq!(listed[1]["unread_count"], 0);
    let thread_path = format!("{}/{thread_id}", patient_path(me.id));
    let (status, shown) = get(&app, &token, &thread_path).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (
            messages[0]["sender"].as_str(),
            messages[1]["sender"].as_str()
        ),
        (Some("patient"), Some("staff"))
    );
    assert_eq!(messages[1]["sender_name"], "Clinician One");
    assert!(messages[1]["read_by_patient_at"].is_string());
    let (_, listed) = get(&app, &token, &patient_path(me.id)).await;
    assert_eq!(listed[0]["unread_count"], 0);

    // Marking read is idempotent.
    let (status, read) = post(&app, &token, &format!("{thread_path}/read"), json!({})).await;
    assert_eq!((status, read["marked"].as_u64()), (StatusCode::OK, Some(0)));
    post(
        &app,
        &clinician,
        &format!("/api/v1/practice/messages/{thread_id}"),
        json!({"body": "Any better?"}),
    )
    .await;
    let (_, read) = post(&app, &token, &format!("{thread_path}/read"), json!({})).await;
    assert_eq!(read["marked"], 1);
    let (_, read) = post(&app, &token, &format!("{thread_path}/read"), json!({})).await;
    assert_eq!(read["marked"], 0);

    // The patient replies; the practice closes; no more replies either way.
    let (status, answered) = post(&app, &token, &thread_path, json!({"body": "Photo sent."})).await;
    assert_eq!(status, StatusCode::CREATED, "{answered}");
    assert_eq!(answered["messages"].as_array().unwrap().len(), 4);
    let close_path = format!("/api/v1/practice/messages/{thread_id}/close");
    let (status, closed) = post(&app, &admin, &close_path, json!({})).await;
    assert_eq!(
        (status, closed["status"].as_str()),
        (StatusCode::OK, Some("closed"))
    );
    let (status, again) = post(&app, &admin, &close_path, json!({})).await;
    assert_eq!(
        (status, again["status"].as_str()),
        (StatusCode::OK, Some("closed"))
    );
    assert_eq!(audit(&app, "message.close").await.len(), 1);
    let (status, refused) = post(&app, &token, &thread_path, json!({"body": "One more"})).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("thread_closed"))
    );
    let (status, refused) = post(
        &app,
        &clinician,
        &format!("/api/v1/practice/messages/{thread_id}"),
        json!({"body": "One more"}),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("thread_closed"))
    );
    let (_, open_queue) = get(&app, &admin, "/api/v1/practice/messages?status=open").await;
    assert_eq!(open_queue.as_array().unwrap().len(), 1);
    let (_, closed_queue) = get(&app, &admin, "/api/v1/practice/messages?status=closed").await;
    assert_eq!(closed_queue[0]["id"], thread_id.to_string());
    let (status, _) = get(&app, &admin, "/api/v1/practice/messages?status=all").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Audit and outbox: every change recorded, codes and ids only.
    assert_eq!(audit(&app, "message.send").await.len(), 2);
    let replies = audit(&app, "message.reply").await;
    assert_eq!(replies.len(), 3);
    assert!(
        replies
            .iter()
            .any(|e| e.actor_kind == audit_events::ActorKind::Staff)
    );
    assert!(
        replies
            .iter()
            .all(|e| e.acting_for_patient_id == Some(me.id))
    );
    assert_audit_has_no_text(
        &app,
        &[
            "Rash after new tablets",
            "rash is spreading",
            "photo of the rash",
            "Photo sent",
            "Any better",
            "Repeat sick note",
            "fit note",
        ],
    )
    .await;
    let dirty = projection_outbox::Entity::find()
        .filter(projection_outbox::Column::PatientId.eq(me.id))
        .filter(projection_outbox::Column::Section.eq("messages"))
        .count(&app.db)
        .await
        .unwrap();
    assert!(dirty >= 7, "{dirty}");
}

#[tokio::test]
async fn the_practice_settings_decide_subject_length_and_messaging() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;

    let (status, refused) = start(&app, &token, me.id, json!({"body": "Hello"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["invalid_params"][0]["name"], "subject");
    assert_eq!(refused["invalid_params"][0]["code"], "required");
    let (status, refused) = start(
        &app,
        &token,
        me.id,
        json!({"subject": "Long", "body": "x".repeat(2001)}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["invalid_params"][0]["name"], "body");
    assert_eq!(refused["invalid_params"][0]["code"], "too_long");
    let (status, _) = start(
        &app,
        &token,
        me.id,
        json!({"subject": "Exact", "body": "é".repeat(2000)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // A practice without subjects and with shorter messages.
    let relaxed = PracticeSettings {
        message_subject_required: false,
        message_max_chars: 20,
        ..PracticeSettings::default()
    };
    let relaxed = practice_with(&app, relaxed).await;
    let them = patient(&app, relaxed.id, None).await;
    let (_, their_token) = account(&app, &them).await;
    let (status, created) = start(&app, &their_token, them.id, json!({"body": "No subject"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["subject"], Value::Null);
    let (status, refused) = post(
        &app,
        &their_token,
        &format!("{}/{}", patient_path(them.id), id_of(&created)),
        json!({"body": "x".repeat(21)}),
    )
    .await;
    assert_eq!(
        (status, refused["invalid_params"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("too_long"))
    );

    // A practice that switched messaging off.
    let mut off = PracticeSettings::default();
    off.features.messages = false;
    let closed = practice_with(&app, off).await;
    let other = patient(&app, closed.id, None).await;
    let (_, other_token) = account(&app, &other).await;
    for (status, body) in [
        get(&app, &other_token, &patient_path(other.id)).await,
        start(
            &app,
            &other_token,
            other.id,
            json!({"subject": "Hi", "body": "Hello"}),
        )
        .await,
    ] {
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("feature_disabled"))
        );
    }
}

#[tokio::test]
async fn a_patient_deletes_a_thread_only_when_the_practice_allows_it() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;
    let (_, thread) = start(&app, &token, me.id, json!({"subject": "S", "body": "B"})).await;
    let path = format!("{}/{}", patient_path(me.id), id_of(&thread));
    let (status, refused) = send(&app, reqwest::Method::DELETE, &token, &path, None).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("message_deletion_not_allowed"))
    );

    let allows = PracticeSettings {
        patient_may_delete_messages: true,
        ..PracticeSettings::default()
    };
    let allows = practice_with(&app, allows).await;
    let them = patient(&app, allows.id, None).await;
    let (_, their_token) = account(&app, &them).await;
    let admin = staff_token(&app, allows.id, staff::StaffRole::Admin).await;
    let (_, thread) = start(
        &app,
        &their_token,
        them.id,
        json!({"subject": "S", "body": "B"}),
    )
    .await;
    let thread_id = id_of(&thread);
    let path = format!("{}/{thread_id}", patient_path(them.id));
    let (status, _) = send(&app, reqwest::Method::DELETE, &their_token, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let stored = message_threads::Entity::find_by_id(thread_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.deleted_by_patient_at.is_some());
    let (_, listed) = get(&app, &their_token, &patient_path(them.id)).await;
    assert_eq!(listed, json!([]));
    let (status, _) = get(&app, &their_token, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, reqwest::Method::DELETE, &their_token, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(audit(&app, "message.delete").await.len(), 1);
    // The practice keeps its copy.
    let (status, kept) = get(
        &app,
        &admin,
        &format!("/api/v1/practice/messages/{thread_id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert!(kept["deleted_by_patient_at"].is_string());
}

#[tokio::test]
async fn proxies_message_as_proxies_and_see_only_threads_not_started_by_the_patient() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;
    let (carer_id, carer) = proxy_account(&app, &me, "messages,appointments").await;
    let (_, limited) = proxy_account(&app, &me, "appointments").await;
    let unrelated = account(&app, &patient(&app, practice.id, None).await)
        .await
        .1;
    let clinician = staff_token(&app, practice.id, staff::StaffRole::Clinician).await;

    let (_, own) = start(
        &app,
        &token,
        me.id,
        json!({"subject": "Mine", "body": "Private"}),
    )
    .await;
    let (status, theirs) = start(
        &app,
        &carer,
        me.id,
        json!({"subject": "For Mum", "body": "Mum's hearing aid needs a check."}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    assert_eq!(theirs["started_by"], "proxy");
    assert_eq!(theirs["messages"][0]["sender"], "proxy");
    let stored = stored_messages(&app, id_of(&theirs)).await;
    assert_eq!(stored[0].sender_kind, messages::SenderKind::Proxy);
    assert_eq!(stored[0].sender_account_id, Some(carer_id));
    let sent = audit(&app, "message.send").await;
    let by_proxy: Vec<_> = sent
        .iter()
        .filter(|e| e.actor_kind == audit_events::ActorKind::Proxy)
        .collect();
    assert_eq!(by_proxy.len(), 1);
    assert_eq!(by_proxy[0].acting_for_patient_id, Some(me.id));

    // The proxy sees their thread, not the patient's own; the patient sees both.
    let (status, listed) = get(&app, &carer, &patient_path(me.id)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], theirs["id"]);
    let own_path = format!("{}/{}", patient_path(me.id), id_of(&own));
    let (status, _) = get(&app, &carer, &own_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(&app, &carer, &own_path, json!({"body": "Peek"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, mine) = get(&app, &token, &patient_path(me.id)).await;
    assert_eq!(mine.as_array().unwrap().len(), 2);

    // The practice answers the proxy's thread; the proxy reads and replies as a proxy.
    let their_path = format!("{}/{}", patient_path(me.id), id_of(&theirs));
    let (status, answer) = post(
        &app,
        &clinician,
        &format!("/api/v1/practice/messages/{}", id_of(&theirs)),
        json!({"body": "Book a hearing test."}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, shown) = get(&app, &carer, &their_path).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert!(
        shown["messages"][1]["read_by_patient_at"].is_string(),
        "{shown}"
    );
    let (status, replied) = post(&app, &carer, &their_path, json!({"body": "Thanks"})).await;
    assert_eq!(status, StatusCode::CREATED, "{replied}");
    assert_eq!(replied["messages"][2]["sender"], "proxy");
    assert_eq!(replied["messages"][2]["sent_by_you"], true);

    // Without the messages scope: 403; no relation at all: 404.
    let (status, refused) = get(&app, &limited, &patient_path(me.id)).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _) = start(&app, &limited, me.id, json!({"subject": "S", "body": "B"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get(&app, &unrelated, &patient_path(me.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&app, &unrelated, &their_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn staff_of_another_practice_cannot_see_or_answer_a_thread() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let elsewhere = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;
    let stranger = staff_token(&app, elsewhere.id, staff::StaffRole::Clinician).await;
    let (_, thread) = start(&app, &token, me.id, json!({"subject": "S", "body": "B"})).await;
    let thread_path = format!("/api/v1/practice/messages/{}", id_of(&thread));

    let (status, queue) = get(&app, &stranger, "/api/v1/practice/messages").await;
    assert_eq!((status, queue), (StatusCode::OK, json!([])));
    let (status, _) = get(&app, &stranger, &thread_path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(&app, &stranger, &thread_path, json!({"body": "Hi"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(&app, &stranger, &format!("{thread_path}/close"), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(stored_messages(&app, id_of(&thread)).await.len(), 1);
    // A patient's session is not a staff session.
    let (status, _) = get(&app, &token, "/api/v1/practice/messages").await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
        "{status}"
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_a_send_without_a_second_message() {
    let app = spawn_app().await;
    let practice = practice_with(&app, PracticeSettings::default()).await;
    let me = patient(&app, practice.id, None).await;
    let (_, token) = account(&app, &me).await;
    let url = app.url(&patient_path(me.id));
    let send_once = || {
        app.client
            .post(&url)
            .bearer_auth(&token)
            .header("Idempotency-Key", "message-1")
            .json(&json!({"subject": "Results", "body": "Are my results back?"}))
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
    assert_eq!(messages::Entity::find().count(&app.db).await.unwrap(), 1);
    assert_eq!(
        message_threads::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        1
    );
    assert_eq!(audit(&app, "message.send").await.len(), 1);
}
