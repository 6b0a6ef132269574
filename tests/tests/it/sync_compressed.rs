//! Compressed frames (`gp-sync-deflate`): a device that asks for them over the WebSocket
//! (subprotocol) or over `POST /api/v1/sync` (`Content-Encoding` and `Accept-Encoding`) syncs to
//! exactly the documents a plain device holds, live pushes and their acknowledgements cost less
//! than plain ones measured in the same run, and compressed bytes that inflate past the frame
//! limit or do not inflate at all are refused with `sync_message_refused` before anything is
//! parsed or applied.

use gp_online::db::entities::messages;
use gp_online_tests::TestApp;
use gp_online_tests::fixtures;
use gp_online_tests::live::Live;
use gp_online_tests::scenario::{Rules, arrange, standard_record};
use gp_online_tests::sync::{
    ALL_SECTIONS, changed, following, post_refusable, sync, sync_compressed,
};
use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use std::collections::BTreeMap;
use sync_protocol::compressed::compress;
use sync_protocol::envelope::MAX_FRAME_BYTES;
use sync_protocol::items::Items;
use sync_protocol::schema::ResultItem;
use sync_protocol::{DevicePeer, DocumentId, Frame, Intent, IntentAction, Section};
use uuid::Uuid;

/// Every document a device holds, with its items.
fn held(device: &DevicePeer) -> BTreeMap<DocumentId, Items> {
    device
        .documents()
        .map(|id| (id, device.items(id).unwrap()))
        .collect()
}

fn has_result(device: &DevicePeer, patient: Uuid, name: &str) -> bool {
    device
        .item_list::<ResultItem>(DocumentId::new(patient, Section::Results))
        .is_ok_and(|results| results.iter().any(|r| r.test_name == name))
}

/// Takes pushes on `live` until the device holds the result `name`; the bytes the push and the
/// acknowledgement took, down and up.
async fn push_and_acknowledge(
    live: &mut Live,
    device: &mut DevicePeer,
    patient: Uuid,
    name: &str,
) -> (usize, usize) {
    let (up, down) = live.bytes();
    live.pushed_until(device, |d| has_result(d, patient, name))
        .await;
    let (up_after, down_after) = live.bytes();
    (down_after - down, up_after - up)
}

/// A device with a kept copy on a new connection: it asks "anything new?", applies the push of
/// the item added while it was away and acknowledges it; the bytes of the three frames.
async fn reconnect(mut live: Live, device: &mut DevicePeer, patient: Uuid) -> usize {
    device.reconnect();
    let question = device.outgoing();
    assert!(question.is_empty(), "{question:?}");
    live.send(&question).await;
    live.pushed_until(device, |d| has_result(d, patient, "WHILE-AWAY"))
        .await;
    let (up, down) = live.bytes();
    up + down
}

#[tokio::test]
async fn compressed_websocket_and_post_devices_hold_what_a_plain_device_holds_for_fewer_bytes() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &standard_record()).await;
    // Four devices of the account, each with its own sync states on the server.
    let account = fixtures::account_of(&app, patient).await;
    let compressed_post_token = fixtures::device_token(&app, account, "compressed POST").await;
    let plain_live_token = fixtures::device_token(&app, account, "plain live").await;
    let compressed_live_token = fixtures::device_token(&app, account, "compressed live").await;

    let mut plain_post = following(patient, &ALL_SECTIONS);
    sync(&app, &token, &mut plain_post).await;
    let mut compressed_post = following(patient, &ALL_SECTIONS);
    sync_compressed(&app, &compressed_post_token, &mut compressed_post).await;
    let mut plain_live_device = following(patient, &ALL_SECTIONS);
    let mut plain_live = Live::connect(&app, &plain_live_token).await;
    plain_live.settle(&mut plain_live_device).await;
    let mut compressed_live_device = following(patient, &ALL_SECTIONS);
    let mut compressed_live = Live::connect_compressed(&app, &compressed_live_token).await;
    compressed_live.settle(&mut compressed_live_device).await;

    let expected = held(&plain_post);
    assert!(expected.len() >= 6, "{}", expected.len());
    assert_eq!(held(&compressed_post), expected, "compressed over POST");
    assert_eq!(
        held(&plain_live_device),
        expected,
        "plain over the WebSocket"
    );
    assert_eq!(
        held(&compressed_live_device),
        expected,
        "compressed over the WebSocket"
    );
    let (plain_up, plain_down) = plain_live.bytes();
    let (compressed_up, compressed_down) = compressed_live.bytes();
    assert!(
        compressed_up + compressed_down < plain_up + plain_down,
        "the initial sync: {compressed_up} + {compressed_down} B compressed, {plain_up} + \
         {plain_down} B plain"
    );

    // New items pushed live, one after another: each push compresses against the previous
    // frame sent down, each acknowledgement against the previous one sent up.
    let mut sizes = Vec::new();
    for n in 0..3 {
        let name = format!("PUSHED-RESULT-{n}");
        fixtures::result(&app, patient, |r| r.test_name = name.clone()).await;
        changed(&app, patient).await;
        let compressed = push_and_acknowledge(
            &mut compressed_live,
            &mut compressed_live_device,
            patient,
            &name,
        )
        .await;
        let plain =
            push_and_acknowledge(&mut plain_live, &mut plain_live_device, patient, &name).await;
        sizes.push((compressed, plain));
    }
    let ((down, up), (plain_down, plain_up)) = sizes[2];
    assert!(
        down + up < (plain_down + plain_up) / 2,
        "a push and its acknowledgement in steady state: {down} + {up} B compressed, \
         {plain_down} + {plain_up} B plain ({sizes:?})"
    );
    assert!(
        down + up <= 400,
        "one new item to a live device in at most 400 B: {down} + {up} ({sizes:?})"
    );

    // Reconnect with a kept copy after one new item: "anything new?", the push, the
    // acknowledgement, on a new connection (no previous frames).
    drop(compressed_live);
    drop(plain_live);
    fixtures::result(&app, patient, |r| r.test_name = "WHILE-AWAY".to_owned()).await;
    changed(&app, patient).await;
    gp_online_tests::sync::relayed(&app, patient).await;
    let compressed = reconnect(
        Live::connect_compressed(&app, &compressed_live_token).await,
        &mut compressed_live_device,
        patient,
    )
    .await;
    let plain = reconnect(
        Live::connect(&app, &plain_live_token).await,
        &mut plain_live_device,
        patient,
    )
    .await;
    assert!(
        compressed < plain && compressed <= 600,
        "reconnect with a kept copy and one new item: {compressed} B compressed, {plain} B plain"
    );

    // Every device reaches the same documents again, over both transports.
    sync(&app, &token, &mut plain_post).await;
    sync_compressed(&app, &compressed_post_token, &mut compressed_post).await;
    let expected = held(&plain_post);
    assert!(has_result(&plain_post, patient, "PUSHED-RESULT-2"));
    assert_eq!(held(&compressed_post), expected);
    assert_eq!(held(&plain_live_device), expected);
    assert_eq!(held(&compressed_live_device), expected);
}

async fn assert_refused(app: &TestApp, token: &str, body: Vec<u8>, reason: &str) {
    let (status, problem) = post_refusable(app, token, body, true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "sync_message_refused", "{problem}");
    assert_eq!(problem["detail"], reason, "{problem}");
}

/// A frame carrying one intent (send a message) whose text is `body`.
fn message_frame(patient: Uuid, body: String) -> Frame {
    Frame {
        intents: vec![Intent {
            key: Uuid::new_v4().to_string(),
            patient_id: patient,
            action: IntentAction::SendMessage {
                thread_id: None,
                subject: Some("Compressed".to_owned()),
                body,
            },
        }],
        ..Frame::new()
    }
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_before_it_is_inflated_and_applies_nothing() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &standard_record()).await;
    // A frame whose message text inflates past the frame limit, from a few KiB on the wire.
    let bomb = compress(
        &message_frame(patient, "a".repeat(MAX_FRAME_BYTES)).encode(),
        None,
    );
    assert!(bomb.len() < 16 * 1024, "{}", bomb.len());
    assert_refused(&app, &token, bomb.clone(), "inflated_too_large").await;

    // Over the WebSocket: a close frame saying why.
    let mut live = Live::connect_compressed(&app, &token).await;
    live.send_bytes(bomb).await;
    let close = live.closed(10).await.expect("a close frame");
    assert_eq!(
        close,
        (1008, "sync_message_refused: inflated_too_large".to_owned())
    );
    assert_eq!(
        messages::Entity::find().count(&app.db).await.unwrap(),
        0,
        "the frame's intent was not applied"
    );

    // The same intent at an honest size is applied.
    let honest = compress(
        &message_frame(patient, "Could I have a fit note?".to_owned()).encode(),
        None,
    );
    let (status, _) = post_refusable(&app, &token, honest, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(messages::Entity::find().count(&app.db).await.unwrap(), 1);
}

#[tokio::test]
async fn corrupt_compressed_frames_are_refused_over_post_and_close_a_socket() {
    let app = gp_online_tests::spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &standard_record()).await;
    let frame = compress(
        &message_frame(patient, "Never stored".to_owned()).encode(),
        None,
    );
    let truncated = frame[..frame.len() - 4].to_vec();
    assert_refused(&app, &token, truncated.clone(), "inflate_failed").await;
    assert_refused(
        &app,
        &token,
        b"not deflate at all".to_vec(),
        "inflate_failed",
    )
    .await;
    // A plain frame labelled compressed is not a DEFLATE stream either.
    assert_refused(&app, &token, Frame::new().encode(), "inflate_failed").await;

    let mut live = Live::connect_compressed(&app, &token).await;
    live.send_bytes(truncated).await;
    let close = live.closed(10).await.expect("a close frame");
    assert_eq!(
        close,
        (1008, "sync_message_refused: inflate_failed".to_owned())
    );
    assert_eq!(messages::Entity::find().count(&app.db).await.unwrap(), 0);

    // The server is fine: a compressed device syncs as before.
    let mut device = following(patient, &ALL_SECTIONS);
    let mut live = Live::connect_compressed(&app, &token).await;
    live.settle(&mut device).await;
    assert!(device.documents().count() >= 6);
}
