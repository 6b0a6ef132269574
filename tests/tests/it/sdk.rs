//! The device SDK (`gp-online-sdk`) against the real server: a patient registers with a
//! software passkey through the SDK's WebAuthn JSON, syncs, loses a retracted result from the
//! store (history included), and has the store wiped when the device is revoked. The store is killed at every write step of a sync and of queuing an intent and
//! reopened: it always opens, and the intent is neither lost nor applied twice. No planted
//! clinical marker is ever in a store file in plain text.

use chrono::{Duration, NaiveDate};
use gp_online::db::entities::slots::{Channel, SlotStatus};
use gp_online::db::entities::{messages, practices, results, slots};
use gp_online::identity::linkage::{self, LinkageSubject};
use gp_online_sdk::store::WriteStep;
use gp_online_sdk::{GpOnline, SdkConfig, SdkError, Section, Trust};
use gp_online_tests::fixtures::{self, NewPatient, unique_nhs_number};
use gp_online_tests::passkey::SoftDiscoverablePasskey;
use gp_online_tests::{TestApp, spawn_app};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use uuid::Uuid;

const ORIGIN: &str = "https://localhost";
/// Clinical markers planted in the record; none may be on disk in plain text.
const MARKERS: [&str; 3] = ["Zebrafinch", "QUOKKA-FERRITIN", "NARWHAL-RETRACTED"];
const HOST_KEY: [u8; 32] = [42; 32];

struct World {
    app: TestApp,
    practice: practices::Model,
    patient: Uuid,
    slot: Uuid,
    claim: [String; 5],
}

async fn world() -> World {
    let app = spawn_app().await;
    let practice = fixtures::practice(&app).await;
    let patient = NewPatient::at(practice.id)
        .named("Ada", "Zebrafinch")
        .born(NaiveDate::from_ymd_opt(1980, 5, 17).unwrap())
        .nhs_number(&unique_nhs_number())
        .at_the_desk()
        .insert(&app)
        .await;
    for name in ["QUOKKA-FERRITIN", "NARWHAL-RETRACTED"] {
        fixtures::result(&app, patient.id, |r| r.test_name = name.to_owned()).await;
    }
    let now = app.clock.now();
    let starts_at = now + Duration::days(3);
    let slot = slots::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(practice.id),
        external_id: Set(None),
        clinician_staff_id: Set(None),
        clinician_name: Set("Dr Rhea Shah".to_owned()),
        slot_type: Set("GP appointment".to_owned()),
        session_name: Set("Morning surgery".to_owned()),
        location: Set("Room 2".to_owned()),
        channel: Set(Channel::InPerson),
        starts_at: Set(starts_at),
        ends_at: Set(starts_at + Duration::minutes(10)),
        status: Set(SlotStatus::Open),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id;
    let issued = linkage::issue(
        &app.db,
        &practice,
        LinkageSubject::Patient(patient.id),
        false,
        None,
        now,
    )
    .await
    .unwrap();
    World {
        claim: [
            issued.account_id,
            issued.linkage_key,
            practice.ods_code.clone(),
            "Zebrafinch".to_owned(),
            "1980-05-17".to_owned(),
        ],
        app,
        practice,
        patient: patient.id,
        slot,
    }
}

fn config(app: &TestApp, address: &str, dir: &Path) -> SdkConfig {
    SdkConfig {
        server_url: address.to_owned(),
        trust: Trust::PinnedCa {
            pem: String::from_utf8(app.certificate_pem.clone()).unwrap(),
        },
        store_dir: dir.display().to_string(),
        key_material: HOST_KEY.to_vec(),
        device_name: "Test phone".to_owned(),
    }
}

/// Registers through the SDK, answering the ceremony with the software passkey.
async fn register(world: &World, sdk: &GpOnline) {
    let [account_id, linkage_key, ods, surname, dob] = world.claim.clone();
    let ceremony = sdk
        .begin_registration(account_id, linkage_key, ods, surname, dob)
        .await
        .unwrap();
    let options: serde_json::Value = serde_json::from_str(&ceremony.options_json).unwrap();
    assert!(options["challenge"].is_string(), "{options}");
    let mut passkey = SoftDiscoverablePasskey::new(true);
    let answer = passkey
        .register(ORIGIN, &json!({ "publicKey": options }))
        .unwrap();
    sdk.finish_registration(ceremony.ceremony_id, answer.to_string())
        .await
        .unwrap();
}

/// Every byte of every file in the store folder.
fn files(dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| std::fs::read(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default()
}

fn assert_no_plaintext(dir: &Path) {
    for bytes in files(dir) {
        for marker in MARKERS {
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                "{marker} in plain text on disk"
            );
        }
    }
}

fn result_names(sdk: &GpOnline, patient: Uuid) -> Vec<String> {
    let mut names: Vec<String> = sdk
        .items(patient.to_string(), Section::Results)
        .unwrap()
        .iter()
        .map(|i| i.text("test_name").unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_retraction_leaves_nothing_of_the_item_in_the_store_and_revocation_wipes_it() {
    let world = world().await;
    let app = &world.app;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let sdk = GpOnline::new(config(app, &app.address, &store)).unwrap();
    register(&world, &sdk).await;
    sdk.sync_now().await.unwrap();
    assert_eq!(result_names(&sdk, world.patient).len(), 2);

    let target = results::Entity::find()
        .filter(results::Column::TestName.eq("NARWHAL-RETRACTED"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut retracted: results::ActiveModel = target.into();
    retracted.retracted_at = Set(Some(app.clock.now()));
    retracted.update(&app.db).await.unwrap();
    gp_online_tests::sync::changed(app, world.patient).await;

    let report = sdk.sync_now().await.unwrap();
    assert!(
        report.destroyed.iter().any(|d| d.section == "results"),
        "{report:?}"
    );
    assert_eq!(result_names(&sdk, world.patient), ["QUOKKA-FERRITIN"]);
    drop(sdk);
    // Every entry decrypted with the host key: the old generation (and its history) is gone.
    let opened = gp_online_sdk::store::Store::open(&store, &HOST_KEY).unwrap();
    let names: Vec<String> = opened.names().map(str::to_owned).collect();
    for name in &names {
        let plain = opened.get(name).unwrap().unwrap_or_default();
        let text = String::from_utf8_lossy(&plain);
        assert!(
            !text.contains("NARWHAL"),
            "{name} still holds the retracted result"
        );
    }
    drop(opened);

    // The device is revoked (as from another device): its next sync wipes the store.
    let sdk = GpOnline::new(config(app, &app.address, &store)).unwrap();
    let devices = sdk.devices().await.unwrap();
    let this = devices.iter().find(|d| d.current).unwrap();
    sdk.revoke_device(this.id.clone()).await.unwrap();
    assert_eq!(sdk.sync_now().await, Err(SdkError::Revoked));
    assert!(!sdk.is_signed_in());
    assert!(
        sdk.items(world.patient.to_string(), Section::Results)
            .unwrap()
            .is_empty()
    );
    assert!(files(&store).is_empty(), "the store folder is empty");
    let _ = &world.practice;
}

/// Copies the store folder (a snapshot of the device's disk).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A hook that lets `survive` steps through, then fails every later step, as a process killed
/// at that step writes nothing more. Counts the steps it saw.
fn killed_after(survive: usize, seen: Arc<AtomicUsize>) -> gp_online_sdk::store::files::FaultHook {
    Arc::new(move |_step: WriteStep| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        if n >= survive {
            Err(std::io::Error::other("killed"))
        } else {
            Ok(())
        }
    })
}

#[tokio::test]
async fn a_store_killed_at_every_write_step_reopens_with_the_intent_neither_lost_nor_doubled() {
    let world = world().await;
    let app = &world.app;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let sdk = GpOnline::new(config(app, &app.address, &base)).unwrap();
    register(&world, &sdk).await;
    sdk.sync_now().await.unwrap();
    drop(sdk);

    // Queuing an intent, killed at each step: the store opens, and the intent is either
    // queued whole or not at all (the call said so).
    let mut step = 0;
    loop {
        let copy = dir.path().join(format!("queue-{step}"));
        copy_dir(&base, &copy);
        let seen = Arc::new(AtomicUsize::new(0));
        let sdk = GpOnline::open_with_faults(
            config(app, &app.address, &copy),
            Some(killed_after(step, seen.clone())),
        )
        .unwrap();
        let queued = sdk.book(world.patient.to_string(), world.slot.to_string(), None);
        drop(sdk);
        let reopened = GpOnline::new(config(app, &app.address, &copy)).unwrap();
        let pending = reopened.pending_intents().unwrap();
        // Told queued: it is. Killed: it is there whole or not at all (a kill after the
        // rename leaves it written though the call never returned).
        assert!(pending.len() <= 1, "step {step}");
        if queued.is_ok() {
            assert_eq!(pending.len(), 1, "step {step}");
        }
        assert_eq!(result_names(&reopened, world.patient).len(), 2);
        if queued.is_ok() {
            break;
        }
        step += 1;
    }
    assert!(step >= 5, "queuing writes through every step ({step})");

    // A message queued, then a sync killed at each of its write steps in turn. The device
    // goes on from whatever each crash left on its disk, as a phone would.
    let mut step = 0;
    loop {
        let body = format!("Fault test message {step}");
        let sdk = GpOnline::new(config(app, &app.address, &base)).unwrap();
        let key = sdk
            .send_message(
                world.patient.to_string(),
                None,
                Some(format!("Fault {step}")),
                body.clone(),
            )
            .unwrap();
        drop(sdk);
        let seen = Arc::new(AtomicUsize::new(0));
        let sdk = GpOnline::open_with_faults(
            config(app, &app.address, &base),
            Some(killed_after(step, seen.clone())),
        )
        .unwrap();
        let synced = sdk.sync_now().await;
        drop(sdk);
        let reopened = GpOnline::new(config(app, &app.address, &base)).unwrap();
        assert_eq!(
            result_names(&reopened, world.patient).len(),
            2,
            "step {step}"
        );
        let still = reopened.pending_intents().unwrap();
        assert!(still.len() <= 1, "step {step}");
        if let Some(intent) = still.first() {
            assert_eq!(intent.key, key, "step {step}: the same key is sent again");
        }
        // The app syncs again after the crash: the intent ends settled, applied once.
        reopened.sync_now().await.unwrap();
        assert!(
            reopened.pending_intents().unwrap().is_empty(),
            "step {step}"
        );
        let held = reopened
            .items(world.patient.to_string(), Section::Messages)
            .unwrap()
            .into_iter()
            .filter(|item| item.text("body") == Some(body.as_str()))
            .count();
        assert_eq!(held, 1, "step {step}");
        let stored = messages::Entity::find()
            .filter(messages::Column::Body.eq(body.as_str()))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(stored, 1, "step {step}: applied exactly once");
        drop(reopened);
        if synced.is_ok() {
            break;
        }
        step += 1;
        assert!(step < 400, "the sync never finished");
    }
    assert!(
        step > 5,
        "the sync was killed at each of its {step} write steps"
    );
    assert_no_plaintext(&base);
}
