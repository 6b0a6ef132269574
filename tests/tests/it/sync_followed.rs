//! What sync reads and follows, per viewer: every delivery of record, results or documents items
//! to a device is a line in the patient's access log (one per delivery, not per item); a live
//! socket follows only documents its viewer may see (a stranger naming another patient's
//! document is answered `removed` once and learns nothing of later writes), is pushed only when
//! a followed document changed for that viewer (never for an entry hidden from proxies), follows
//! after an "anything new?" frame every document the device had synced, and follows a bounded
//! number of documents.

use gp_online::db::entities::access_log::{self, ViewerKind};
use gp_online::db::entities::{devices, patients};
use gp_online_tests::live::Live;
use gp_online_tests::scenario::{Rules, arrange, second_patient_at, standard_record};
use gp_online_tests::sync::{
    RECORD_SECTIONS, device_record, following, import_entry, relayed, sync,
};
use gp_online_tests::{TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use sync_protocol::{DevicePeer, DocumentBody, DocumentId, Frame, Section};
use uuid::Uuid;

async fn log_lines(app: &TestApp, patient: Uuid) -> Vec<access_log::Model> {
    access_log::Entity::find()
        .filter(access_log::Column::PatientId.eq(patient))
        .all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_proxy_syncing_the_record_is_in_the_patients_access_log() {
    let app = spawn_app().await;
    let rules = Rules {
        proxy_scopes: Some("record_summary,record_detailed,documents"),
        ..Rules::default()
    };
    let (patient, proxy_token) = arrange(&app, &rules, &standard_record()).await;
    assert!(log_lines(&app, patient).await.is_empty());

    let mut device = following(patient, &RECORD_SECTIONS);
    sync(&app, &proxy_token, &mut device).await;
    assert!(device_record(&device, patient).len() > 1, "several items");
    let lines = log_lines(&app, patient).await;
    let mut per_section: BTreeMap<&str, usize> = BTreeMap::new();
    for line in &lines {
        *per_section.entry(line.section.as_str()).or_default() += 1;
        assert_eq!(line.viewer_kind, ViewerKind::Proxy);
        assert_eq!(line.viewer_role, "proxy (parent)");
        let device_id = line.device_id.expect("the device is recorded");
        assert!(
            devices::Entity::find_by_id(device_id)
                .one(&app.db)
                .await
                .unwrap()
                .is_some()
        );
    }
    // One line per delivered document, however many items it carried.
    assert_eq!(per_section.get("record"), Some(&1), "{per_section:?}");
    assert!(per_section.values().all(|n| *n == 1), "{per_section:?}");
    assert!(
        per_section
            .keys()
            .all(|s| ["record", "results", "documents"].contains(s)),
        "{per_section:?}"
    );

    // The patient sees the proxy's sync in their access log (what `GET …/access-log` returns).
    let shown = gp_online::record::access_log::list(&app.db, patient, 500)
        .await
        .unwrap();
    assert!(
        shown.iter().any(|line| line.viewer == "proxy"
            && line.role == "proxy (parent)"
            && line.section == "record"),
        "{shown:?}"
    );

    // A sync with nothing new delivers nothing and logs nothing.
    sync(&app, &proxy_token, &mut device).await;
    assert_eq!(log_lines(&app, patient).await.len(), lines.len());
}

#[tokio::test]
async fn a_proxy_is_not_pushed_when_an_entry_hidden_from_proxies_is_imported() {
    let app = spawn_app().await;
    let rules = Rules {
        proxy_scopes: Some("record_summary,record_detailed,documents"),
        ..Rules::default()
    };
    let (patient, proxy_token) = arrange(&app, &rules, &standard_record()).await;
    let mut device = following(patient, &[Section::Record]);
    let mut live = Live::connect(&app, &proxy_token).await;
    live.settle(&mut device).await;
    let terms = |device: &DevicePeer| -> Vec<String> {
        device_record(device, patient)
            .into_values()
            .map(|entry| entry.term)
            .collect()
    };

    // A visible entry is pushed; the device applies it but has not acknowledged it yet.
    import_entry(&app, patient, "FIRST-SHOWN", false).await;
    let pushed = live.next(10).await.expect("a pushed frame");
    device.receive(&pushed).unwrap();
    assert!(terms(&device).contains(&"FIRST-SHOWN".to_owned()));

    // An entry hidden from proxies changes nothing of the proxy's copy: no push. Then another
    // visible entry: the next push is the one carrying it.
    import_entry(&app, patient, "HIDDEN-FROM-PROXY", true).await;
    relayed(&app, patient).await;
    import_entry(&app, patient, "SECOND-SHOWN", false).await;
    let pushed = live.next(10).await.expect("a pushed frame");
    device.receive(&pushed).unwrap();
    let terms = terms(&device);
    assert!(terms.contains(&"SECOND-SHOWN".to_owned()), "{terms:?}");
    assert!(!terms.contains(&"HIDDEN-FROM-PROXY".to_owned()));
}

#[tokio::test]
async fn a_device_reconnecting_with_anything_new_is_pushed_what_it_had_synced() {
    let app = spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &standard_record()).await;
    let mut device = following(patient, &[Section::Profile, Section::Record]);
    sync(&app, &token, &mut device).await;

    // App open: every copy is in sync, so the live connection's first frame names no document
    // ("anything new?"); the connection still follows what the device had synced.
    device.reconnect();
    let first = device.outgoing();
    assert!(first.documents.is_empty(), "{first:?}");
    let mut live = Live::connect(&app, &token).await;
    live.send(&first).await;
    live.handled().await;
    import_entry(&app, patient, "AFTER-RECONNECT", false).await;
    let pushed = live.next(10).await.expect("a push after the reconnect");
    device.receive(&pushed).unwrap();
    let terms: Vec<String> = device_record(&device, patient)
        .into_values()
        .map(|entry| entry.term)
        .collect();
    assert!(terms.contains(&"AFTER-RECONNECT".to_owned()), "{terms:?}");
}

#[tokio::test]
async fn a_stranger_following_another_patients_document_is_told_removed_once_and_nothing_more() {
    let app = spawn_app().await;
    let (victim, victim_token) = arrange(&app, &Rules::default(), &[]).await;
    let practice = patients::Entity::find_by_id(victim)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .practice_id;
    let (stranger, stranger_token) = second_patient_at(&app, practice).await;
    let theirs = DocumentId::new(victim, Section::Messages);
    let own = DocumentId::new(stranger, Section::Messages);
    let mut device = DevicePeer::new();
    device.follow(theirs);
    device.follow(own);
    let mut live = Live::connect(&app, &stranger_token).await;
    live.send(&device.outgoing()).await;
    let reply = live.next(10).await.expect("a reply");
    let about_theirs: Vec<&DocumentBody> = reply
        .documents
        .iter()
        .filter(|d| d.document == theirs)
        .map(|d| &d.body)
        .collect();
    assert_eq!(about_theirs, [&DocumentBody::Removed]);
    device.receive(&reply).unwrap();
    live.settle(&mut device).await;

    let send = |token: &str, patient: Uuid| {
        app.client
            .post(app.url(&format!("/api/v1/patients/{patient}/messages")))
            .bearer_auth(token.to_owned())
            .json(&json!({"subject": "A question", "body": "Is the surgery open on Monday?"}))
            .send()
    };
    // The victim writes; once that is projected and announced, the stranger writes too.
    let sent = send(&victim_token, victim).await.unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    relayed(&app, victim).await;
    let sent = send(&stranger_token, stranger).await.unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    // The first push the stranger gets is about their own document only.
    let pushed = live.next(10).await.expect("a pushed frame");
    assert!(!pushed.documents.is_empty());
    assert!(
        pushed.documents.iter().all(|d| d.document == own),
        "{:?}",
        pushed.documents
    );
}

#[tokio::test]
async fn the_documents_a_device_follows_are_bounded() {
    let app = spawn_app_with(|config| config.sync.max_followed_documents = 2).await;
    let (patient, token) = arrange(&app, &Rules::default(), &[]).await;
    let three = following(
        patient,
        &[Section::Record, Section::Results, Section::Documents],
    )
    .outgoing();
    let two = following(patient, &[Section::Record, Section::Results]).outgoing();

    // One frame over POST naming too many.
    let refused = app
        .client
        .post(app.url("/api/v1/sync"))
        .bearer_auth(&token)
        .header("content-type", "application/cbor")
        .body(three.encode())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "too_many_followed_documents");

    // A live connection following two, then asked to follow a third, is closed with the code.
    let mut live = Live::connect(&app, &token).await;
    live.send(&two).await;
    live.next(10).await.expect("a reply");
    let third = Frame {
        documents: following(patient, &[Section::Documents])
            .outgoing()
            .documents,
        ..Frame::new()
    };
    live.send(&third).await;
    let (code, reason) = live.closed(10).await.expect("a close frame");
    assert_eq!(
        (code, reason.as_str()),
        (1008, "too_many_followed_documents")
    );
}
