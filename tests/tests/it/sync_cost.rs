//! What a sync costs when little or nothing changed: an up-to-date device is answered without
//! loading any document, "anything new?" costs a few bytes, a new item reaches a live device in
//! one frame carrying the change (only the document that changed), and a new device after a
//! rollover gets the current generation directly. A write that names the items it changed has
//! those items alone read and written by the projector. The writes of many live connections
//! (each push's access-log line, each acknowledgement) are committed together, and one that
//! fails fails alone.

use gp_online::db::entities::{device_sync_states, record_entries, sync_documents};
use gp_online_tests::live::Live;
use gp_online_tests::scenario::{Rules, arrange, standard_record};
use gp_online_tests::sync::{
    ALL_SECTIONS, changed, device_record, exchange, following, relayed, sync,
};
use gp_online_tests::{TestApp, fixtures};
use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use sync_protocol::DevicePeer;
use sync_protocol::automerge::{self, sync::SyncDoc};
use sync_protocol::schema::ResultItem;
use sync_protocol::{DocumentBody, DocumentFrame, DocumentId, Event, Frame, Section};
use uuid::Uuid;

#[tokio::test]
async fn an_up_to_date_device_is_answered_without_loading_a_document() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &standard_record()).await;
    let mut device = following(patient, &ALL_SECTIONS);
    sync(&app, &token, &mut device).await;
    let held = device.documents().count();
    assert!(held >= 6, "{held}");

    // Every stored document is made unreadable: loading one would fail the request.
    let broken = sync_documents::Entity::update_many()
        .col_expr(sync_documents::Column::Document, Expr::value(vec![0u8; 8]))
        .filter(sync_documents::Column::Audience.eq(format!("self:{patient}")))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(broken.rows_affected, held as u64);

    // App open: the device knows its copies are in sync and asks "anything new?" with an
    // empty frame; nothing is new, so an empty frame comes back.
    device.reconnect();
    let request = device.outgoing();
    assert!(request.is_empty(), "{request:?}");
    let (bytes, reply) = exchange(&app, &token, &request).await;
    assert!(reply.is_empty(), "{reply:?}");
    let both = request.encode().len() + bytes.len();
    assert!(both <= 32, "{both} bytes");

    // A peer that names every document's heads instead, as automerge does from a persisted
    // state, is answered nothing too.
    let mut named = Frame::new();
    for id in device.documents().collect::<Vec<_>>() {
        let copy = device.document(id).unwrap();
        named
            .documents
            .push(naming_heads(copy, id, device.generation(id).unwrap()));
    }
    let (bytes, reply) = exchange(&app, &token, &named).await;
    assert!(reply.is_empty(), "{reply:?}");
    assert!(bytes.len() <= 16, "{} bytes", bytes.len());
}

#[tokio::test]
async fn anything_new_answers_only_the_document_that_changed_with_the_change() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &standard_record()).await;
    let mut device = following(patient, &ALL_SECTIONS);
    sync(&app, &token, &mut device).await;

    fixtures::result(&app, patient, |r| r.test_name = "POLLED-RESULT".to_owned()).await;
    changed(&app, patient).await;
    let (_, reply) = exchange(&app, &token, &Frame::new()).await;
    let results = DocumentId::new(patient, Section::Results);
    assert_eq!(
        reply
            .documents
            .iter()
            .map(|d| d.document)
            .collect::<Vec<_>>(),
        [results],
        "only the document that changed"
    );
    assert_eq!(
        device.receive(&reply).unwrap(),
        vec![Event::Changed(results)]
    );
    assert!(
        device
            .item_list::<ResultItem>(results)
            .unwrap()
            .iter()
            .any(|r| r.test_name == "POLLED-RESULT"),
        "the answer carried the change"
    );
    // The acknowledgement is answered nothing, and the next poll finds nothing new.
    let (_, reply) = exchange(&app, &token, &device.outgoing()).await;
    assert!(reply.is_empty(), "{reply:?}");
    let (_, reply) = exchange(&app, &token, &Frame::new()).await;
    assert!(reply.is_empty(), "{reply:?}");
}

#[tokio::test]
async fn a_live_device_following_every_document_is_pushed_one_frame_carrying_the_change() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, _, mut device, mut live) = settled_live(&app, &ALL_SECTIONS).await;
    assert!(device.documents().count() >= 6);

    fixtures::result(&app, patient, |r| r.test_name = "PUSHED-RESULT".to_owned()).await;
    changed(&app, patient).await;
    let pushed = live.next(10).await.expect("a pushed frame");
    let results = DocumentId::new(patient, Section::Results);
    assert_eq!(pushed.documents.len(), 1, "{pushed:?}");
    assert_eq!(pushed.documents[0].document, results);
    assert!(matches!(pushed.documents[0].body, DocumentBody::Sync(_)));
    device.receive(&pushed).unwrap();
    assert!(
        holds_result(&device, results, "PUSHED-RESULT"),
        "the push carried the change"
    );
    // The acknowledgement goes up and nothing more comes down.
    let acknowledgement = device.outgoing();
    assert_eq!(acknowledgement.documents.len(), 1);
    live.send(&acknowledgement).await;
    assert!(
        live.next(1).await.is_none(),
        "nothing after the acknowledgement"
    );
}

#[tokio::test]
async fn a_new_device_after_a_rollover_gets_the_current_generation_directly() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &standard_record()).await;
    let results = DocumentId::new(patient, Section::Results);
    let mut first = following(patient, &[Section::Results]);
    sync(&app, &token, &mut first).await;
    gp_online::sync::rebuild::rebuild(&app.db, Some(patient), app.clock.now())
        .await
        .unwrap();

    let mut device = following(patient, &[Section::Results]);
    let (_, reply) = exchange(&app, &token, &device.outgoing()).await;
    assert!(
        reply
            .documents
            .iter()
            .all(|d| matches!(d.body, DocumentBody::Sync(_))),
        "no supersede notice: {reply:?}"
    );
    let events = device.receive(&reply).unwrap();
    assert_eq!(events, vec![Event::Changed(results)]);
    assert_eq!(device.generation(results), Some(1));
    assert_eq!(
        device.items(results).unwrap(),
        first.items(results).unwrap()
    );
}

/// A patient with the standard record, their token, and a device of theirs following
/// `sections` of that patient, settled over a live connection.
async fn settled_live(app: &TestApp, sections: &[Section]) -> (Uuid, String, DevicePeer, Live) {
    let (patient, token) = arrange(app, &Rules::default(), &standard_record()).await;
    let mut device = following(patient, sections);
    let mut live = Live::connect(app, &token).await;
    live.settle(&mut device).await;
    (patient, token, device, live)
}

/// Whether the device's `results` document holds a result of the test `name`.
fn holds_result(device: &DevicePeer, results: DocumentId, name: &str) -> bool {
    device
        .item_list::<ResultItem>(results)
        .unwrap()
        .iter()
        .any(|r| r.test_name == name)
}

/// The sync state kept for a device's copy of the patient's own `results` document (the only
/// device's when `device_id` is `None`).
async fn kept_results_state(
    app: &TestApp,
    patient: Uuid,
    device_id: Option<Uuid>,
) -> device_sync_states::Model {
    let mut kept = device_sync_states::Entity::find()
        .filter(device_sync_states::Column::DocumentKey.eq(format!("self:{patient}/results")));
    if let Some(device_id) = device_id {
        kept = kept.filter(device_sync_states::Column::DeviceId.eq(device_id));
    }
    kept.one(&app.db)
        .await
        .unwrap()
        .expect("the device's sync state")
}

/// A message naming `copy`'s heads for `document`, with no changes and nothing asked for: what
/// an automerge peer sends from a persisted state, and an acknowledgement of those heads.
fn naming_heads(
    copy: &automerge::AutoCommit,
    document: DocumentId,
    generation: u32,
) -> DocumentFrame {
    let mut copy = copy.clone();
    let mut state = automerge::sync::State::new();
    state.shared_heads = copy.get_heads();
    let message = copy.sync().generate_sync_message(&mut state).unwrap();
    DocumentFrame {
        document,
        generation,
        body: DocumentBody::Sync(message.encode()),
    }
}

/// The clinical system files `entries` (external id, term, hidden) for `external` through the
/// integration API.
async fn file_entries(app: &TestApp, key: &str, external: &str, entries: &[(&str, &str, bool)]) {
    let entries: Vec<_> = entries
        .iter()
        .map(|(id, term, hidden)| {
            json!({
                "external_id": id,
                "patient_external_id": external,
                "section": "problems",
                "snomed_code": "195967001",
                "term": term,
                "effective_date": "2024-03-01",
                "entered_on": "2026-11-23",
                "hidden": hidden,
                "hidden_from_proxies": false,
            })
        })
        .collect();
    let response = app
        .client
        .post(app.url("/api/v1/integration/batches"))
        .bearer_auth(key)
        .json(&json!({ "entries": entries }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A patient known to the clinical system, with the practice's integration key, the patient's
/// session and their clinical system id.
async fn filed_patient(app: &TestApp) -> (Uuid, String, String, String) {
    let practice = fixtures::practice(app).await;
    let key = fixtures::integration_key(app, &practice).await;
    let patient = fixtures::NewPatient::at(practice.id).insert(app).await;
    let (_, token) = fixtures::account(app, &patient).await;
    let external = patient.external_id.clone().expect("a clinical system id");
    (patient.id, key, token, external)
}

fn terms(device: &DevicePeer, patient: Uuid) -> Vec<String> {
    let mut terms: Vec<String> = device_record(device, patient)
        .into_values()
        .map(|item| item.term)
        .collect();
    terms.sort();
    terms
}

#[tokio::test]
async fn a_write_that_names_its_items_has_those_items_alone_read_and_written() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, key, token, external) = filed_patient(&app).await;
    file_entries(&app, &key, &external, &[("E1", "Asthma", false)]).await;
    file_entries(&app, &key, &external, &[("E2", "Hay fever", false)]).await;
    let mut device = following(patient, &[Section::Record]);
    sync(&app, &token, &mut device).await;
    assert_eq!(terms(&device, patient), ["Asthma", "Hay fever"]);
    // The device's exchange projected the imports but leaves their outbox rows to the relay,
    // which projects E2 again when it claims them: let it, before E2 changes.
    relayed(&app, patient).await;

    // A change behind the projector's back (no outbox row): a projection that read the whole
    // section would carry it.
    record_entries::Entity::update_many()
        .col_expr(
            record_entries::Column::Term,
            Expr::value("Hay fever, seasonal"),
        )
        .filter(record_entries::Column::ExternalId.eq("E2"))
        .exec(&app.db)
        .await
        .unwrap();
    file_entries(&app, &key, &external, &[("E3", "Eczema", false)]).await;
    relayed(&app, patient).await;
    sync(&app, &token, &mut device).await;
    assert_eq!(
        terms(&device, patient),
        ["Asthma", "Eczema", "Hay fever"],
        "the import named E3, and only E3 was read"
    );

    // A write marking the whole section reads it all.
    changed(&app, patient).await;
    sync(&app, &token, &mut device).await;
    assert_eq!(
        terms(&device, patient),
        ["Asthma", "Eczema", "Hay fever, seasonal"]
    );
}

#[tokio::test]
async fn a_named_item_that_must_leave_the_document_starts_a_new_generation_without_it() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, key, token, external) = filed_patient(&app).await;
    file_entries(
        &app,
        &key,
        &external,
        &[("E1", "LEAVING-ENTRY", false), ("E2", "Hay fever", false)],
    )
    .await;
    let record = DocumentId::new(patient, Section::Record);
    let mut device = following(patient, &[Section::Record]);
    sync(&app, &token, &mut device).await;
    assert_eq!(device.generation(record), Some(0));

    // The clinical system hides E1: the write names it, and it must leave the history too.
    file_entries(&app, &key, &external, &[("E1", "LEAVING-ENTRY", true)]).await;
    relayed(&app, patient).await;
    let (_, events) = sync(&app, &token, &mut device).await;
    assert!(events.contains(&Event::Superseded(record)), "{events:?}");
    assert_eq!(terms(&device, patient), ["Hay fever"]);
    let mut newcomer = following(patient, &[Section::Record]);
    let (wire, _) = sync(&app, &token, &mut newcomer).await;
    assert!(
        !wire.contains("LEAVING-ENTRY"),
        "nothing of it in what a new device receives"
    );
}

#[tokio::test]
async fn a_live_devices_acknowledgement_of_a_push_is_kept_as_its_sync_state() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, token, mut device, mut live) = settled_live(&app, &ALL_SECTIONS).await;
    let results = DocumentId::new(patient, Section::Results);

    fixtures::result(&app, patient, |r| r.test_name = "ACKNOWLEDGED".to_owned()).await;
    changed(&app, patient).await;
    let pushed = live.next(10).await.expect("a pushed frame");
    device.receive(&pushed).unwrap();
    let acknowledgement = device.outgoing();
    assert_eq!(acknowledgement.documents.len(), 1, "{acknowledgement:?}");
    live.send(&acknowledgement).await;
    live.handled().await;
    assert!(live.next(1).await.is_none(), "nothing answers it");

    // The server keeps that the device holds the pushed heads, as a full exchange would have.
    let kept = kept_results_state(&app, patient, None).await;
    let state = automerge::sync::State::decode(&kept.state).unwrap();
    let mut held = device.document(results).unwrap().clone();
    assert_eq!(state.shared_heads, held.get_heads());
    assert_eq!(
        i64::from(kept.generation),
        i64::from(device.generation(results).unwrap())
    );

    // So the app's next open, from its persisted copies, costs an empty frame each way.
    device.reconnect();
    let (_, reply) = exchange(&app, &token, &device.outgoing()).await;
    assert!(reply.is_empty(), "{reply:?}");
}

#[tokio::test]
async fn a_live_frame_naming_other_heads_than_the_push_gets_the_full_exchange() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, _, mut device, mut live) = settled_live(&app, &[Section::Results]).await;
    let results = DocumentId::new(patient, Section::Results);
    let before = device.document(results).unwrap().clone();

    fixtures::result(&app, patient, |r| r.test_name = "LOST-PUSH".to_owned()).await;
    changed(&app, patient).await;
    live.next(10).await.expect("a pushed frame");
    // The push is lost on the device's side: it names the heads it had before, with no
    // changes. That is no acknowledgement of the push, and the full exchange sends the change.
    let mut frame = Frame::new();
    let generation = device.generation(results).unwrap();
    frame
        .documents
        .push(naming_heads(&before, results, generation));
    live.send(&frame).await;
    let answer = live.next(10).await.expect("the change again");
    device.receive(&answer).unwrap();
    assert!(holds_result(&device, results, "LOST-PUSH"));
}

#[tokio::test]
async fn a_second_push_before_the_first_is_acknowledged_carries_only_the_new_change() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, _, mut device, mut live) = settled_live(&app, &[Section::Results]).await;
    let results = DocumentId::new(patient, Section::Results);

    // Two results released one after the other; the device answers neither push before the
    // second arrives (a phone on a slow network).
    let mut changes = Vec::new();
    let mut after_first = None;
    for name in ["FIRST-RELEASED", "SECOND-RELEASED"] {
        fixtures::result(&app, patient, |r| r.test_name = name.to_owned()).await;
        changed(&app, patient).await;
        let pushed = live.next(10).await.expect("a pushed frame");
        let [
            DocumentFrame {
                body: DocumentBody::Sync(bytes),
                ..
            },
        ] = pushed.documents.as_slice()
        else {
            panic!("one sync message: {pushed:?}");
        };
        changes.push(
            automerge::sync::Message::decode(bytes)
                .unwrap()
                .changes
                .len(),
        );
        device.receive(&pushed).unwrap();
        after_first.get_or_insert_with(|| device.document(results).unwrap().clone());
    }
    // The connection knows what it pushed first: the second push carries the second change
    // alone, not both again.
    assert_eq!(changes, vec![1, 1]);
    assert!(holds_result(&device, results, "FIRST-RELEASED"));
    assert!(holds_result(&device, results, "SECOND-RELEASED"));
    // The acknowledgement of the first push, arriving only now, is kept: the second change,
    // already on its way, is not sent again.
    let mut late = Frame::new();
    let generation = device.generation(results).unwrap();
    late.documents
        .push(naming_heads(&after_first.unwrap(), results, generation));
    live.send(&late).await;
    assert!(live.next(1).await.is_none(), "nothing sent again");
    // Its acknowledgement of both settles it.
    live.settle(&mut device).await;
    assert!(device.outgoing().is_empty());
}

#[tokio::test]
async fn every_live_device_of_a_patient_pushed_one_change_logs_its_delivery_and_keeps_its_acknowledgement()
 {
    use gp_online::db::entities::access_log;
    let app = gp_online_tests::spawn_app().await;
    let (patient, _) = arrange(&app, &Rules::default(), &standard_record()).await;
    let account = fixtures::account_of(&app, patient).await;
    let results = DocumentId::new(patient, Section::Results);
    let mut connected = Vec::new();
    for n in 0..6 {
        let (device_id, token) =
            fixtures::device_session(&app, account, &format!("Tablet {n}")).await;
        let mut device = following(patient, &[Section::Results]);
        let mut live = Live::connect(&app, &token).await;
        live.settle(&mut device).await;
        connected.push((device_id, device, live));
    }
    let delivered = || async {
        access_log::Entity::find()
            .filter(access_log::Column::PatientId.eq(patient))
            .filter(access_log::Column::Section.eq("results"))
            .all(&app.db)
            .await
            .unwrap()
    };
    let before = delivered().await.len();

    fixtures::result(&app, patient, |r| r.test_name = "FAN-OUT".to_owned()).await;
    changed(&app, patient).await;
    for (_, device, live) in &mut connected {
        let pushed = live.next(10).await.expect("a pushed frame");
        device.receive(&pushed).unwrap();
        assert!(holds_result(device, results, "FAN-OUT"));
        live.send(&device.outgoing()).await;
    }
    for (_, _, live) in &mut connected {
        live.handled().await;
    }

    // Each device's delivery is in the patient's access log, once, and each device's
    // acknowledgement is kept as its sync state.
    let lines = delivered().await;
    assert_eq!(lines.len(), before + connected.len());
    for (device_id, device, _) in &connected {
        let of_device = lines
            .iter()
            .filter(|line| line.device_id == Some(*device_id))
            .count();
        assert_eq!(of_device, 2, "the initial sync's line and the push's");
        let kept = kept_results_state(&app, patient, Some(*device_id)).await;
        let state = automerge::sync::State::decode(&kept.state).unwrap();
        let mut held = device.document(results).unwrap().clone();
        assert_eq!(state.shared_heads, held.get_heads());
    }
}

#[tokio::test]
async fn a_live_write_that_fails_among_others_fails_alone() {
    use gp_online::db::entities::access_log::{self, ViewerKind};
    use gp_online::sync::live_writes::{LiveWrites, Write};
    let app = gp_online_tests::spawn_app().await;
    let (patient, _) = arrange(&app, &Rules::default(), &standard_record()).await;
    let practice_id = fixtures::practice_of(&app, patient).await;
    let line = |id: Uuid| access_log::Model {
        id,
        practice_id,
        patient_id: patient,
        viewer_kind: ViewerKind::Patient,
        viewer_id: Uuid::new_v4(),
        viewer_role: "patient".to_owned(),
        viewer_organisation: String::new(),
        section: "results".to_owned(),
        item_id: None,
        device_id: None,
        accessed_at: app.clock.now(),
    };
    let state = device_sync_states::Model {
        device_id: Uuid::new_v4(),
        document_key: format!("self:{patient}/results"),
        generation: 1,
        state: automerge::sync::State::new().encode(),
        updated_at: app.clock.now(),
    };
    let (first, again) = (Uuid::new_v4(), Uuid::new_v4());
    let retried = || {
        gp_online::http::metrics::render()
            .lines()
            .find_map(|line| line.strip_prefix("sync_live_writes_batches_retried_total "))
            .map_or(0.0, |count| count.trim().parse::<f64>().unwrap())
    };
    let retried_before = retried();
    let writes = LiveWrites::start(app.db.clone());
    // Three connections' writes queued together; the second repeats the first's line id, so
    // a statement holding both fails.
    let (a, b, c) = tokio::join!(
        writes.write(vec![Write::AccessLog(line(first))]),
        writes.write(vec![
            Write::AccessLog(line(again)),
            Write::AccessLog(line(first))
        ]),
        writes.write(vec![Write::SyncState(state.clone())]),
    );
    assert!(a.is_ok(), "{a:?}");
    assert!(b.is_err(), "the repeated line is refused");
    assert!(c.is_ok(), "{c:?}");
    // They were written as one batch, which failed and was written again job by job.
    assert!(retried() > retried_before);
    // The failed write left nothing half-written; the others are committed.
    let lines = access_log::Entity::find()
        .filter(access_log::Column::Id.is_in([first, again]))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(lines.iter().map(|l| l.id).collect::<Vec<_>>(), vec![first]);
    assert!(
        device_sync_states::Entity::find()
            .filter(device_sync_states::Column::DeviceId.eq(state.device_id))
            .one(&app.db)
            .await
            .unwrap()
            .is_some()
    );
}
