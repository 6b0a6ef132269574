//! The personal document end to end over `POST /api/v1/sync`: an account's devices merge
//! notes, read markers and hidden items written offline; a change that breaks a cap or the
//! shape is rejected without touching the stored document or reaching the other device; a
//! proxy's personal document about a patient is their own, never the patient's, and is removed
//! when the grant is revoked.

use gp_online::db::entities::{devices, patients, sync_documents};
use gp_online::identity::sessions::{self, Subject};
use gp_online::settings::PracticeSettings;
use gp_online_tests::sync::sync;
use gp_online_tests::{TestApp, fixtures, spawn_app_with};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use sync_protocol::automerge::ROOT;
use sync_protocol::automerge::transaction::Transactable;
use sync_protocol::personal::{self, Personal};
use sync_protocol::{DevicePeer, DocumentId, Event, Section};
use uuid::Uuid;

/// The cap on one note or draft these tests run with.
const MAX_TEXT_BYTES: usize = 200;

async fn app() -> TestApp {
    spawn_app_with(|config| config.sync.personal_max_text_bytes = MAX_TEXT_BYTES).await
}

/// A patient with an account; returns the patient, the account and its first device's token.
async fn patient_with_account(app: &TestApp) -> (patients::Model, Uuid, String) {
    let practice = fixtures::practice_with(app, PracticeSettings::default()).await;
    let patient = fixtures::patient(app, practice.id, None).await;
    let (account, token) = fixtures::account(app, &patient).await;
    (patient, account, token)
}

/// Another device of `account_id`, with its own session.
async fn second_device(app: &TestApp, account_id: Uuid) -> String {
    let now = app.clock.now();
    let device = devices::ActiveModel {
        id: Set(Uuid::new_v4()),
        account_id: Set(account_id),
        name: Set("Tablet".to_owned()),
        created_at: Set(now),
        last_seen_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let config = gp_online::config::IdentityConfig {
        access_token_secs: 90 * 24 * 3600,
        session_idle_secs: 90 * 24 * 3600,
        ..gp_online::config::IdentityConfig::default()
    };
    let subject = Subject::Account {
        account_id,
        device_id: device.id,
    };
    sessions::open(&app.db, &config, subject, now)
        .await
        .unwrap()
        .access_token
}

/// A new device following only `id`.
fn following(id: DocumentId) -> DevicePeer {
    let mut device = DevicePeer::new();
    device.follow(id);
    device
}

fn read(device: &DevicePeer, id: DocumentId) -> Personal {
    personal::read(device.document(id).expect("followed")).unwrap()
}

/// The stored personal documents (audience and bytes) of every account.
async fn stored(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    sync_documents::Entity::find()
        .filter(sync_documents::Column::Section.eq("personal"))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.audience, row.document))
        .collect()
}

#[tokio::test]
async fn two_devices_of_an_account_converge_on_what_each_wrote_offline() {
    let app = app().await;
    let (patient, account, phone_token) = patient_with_account(&app).await;
    let tablet_token = second_device(&app, account).await;
    let id = DocumentId::new(patient.id, Section::Personal);
    let (mut phone, mut tablet) = (DevicePeer::new(), DevicePeer::new());
    phone.follow(id);
    tablet.follow(id);

    // Both write before either has synced at all.
    phone
        .edit(id, |doc| {
            personal::set_note(doc, "result-1", "Ask about the ferritin")?;
            personal::set_read_marker(doc, "result-1", "2026-11-23T08:30:00Z")
        })
        .unwrap()
        .unwrap();
    tablet
        .edit(id, |doc| {
            personal::set_note(doc, "letter-2", "Bring to the clinic")?;
            personal::hide(doc, "letter-3")
        })
        .unwrap()
        .unwrap();
    sync(&app, &phone_token, &mut phone).await;
    sync(&app, &tablet_token, &mut tablet).await;
    sync(&app, &phone_token, &mut phone).await;

    let merged = read(&phone, id);
    assert_eq!(merged, read(&tablet, id), "both devices hold the same");
    assert_eq!(merged.notes["result-1"], "Ask about the ferritin");
    assert_eq!(merged.notes["letter-2"], "Bring to the clinic");
    assert_eq!(merged.read_markers["result-1"], "2026-11-23T08:30:00Z");
    assert!(merged.hidden.contains("letter-3"));
    let documents = stored(&app).await;
    assert_eq!(
        documents.len(),
        1,
        "one document for the account and patient"
    );
    assert_eq!(
        documents[0].0,
        format!("personal:{}:{}", account.simple(), patient.id.simple())
    );
}

#[tokio::test]
async fn an_oversize_or_malformed_change_is_rejected_and_reaches_no_other_device() {
    let app = app().await;
    let (patient, account, phone_token) = patient_with_account(&app).await;
    let tablet_token = second_device(&app, account).await;
    let id = DocumentId::new(patient.id, Section::Personal);
    let (mut phone, mut tablet) = (DevicePeer::new(), DevicePeer::new());
    phone.follow(id);
    tablet.follow(id);
    phone
        .edit(id, |doc| {
            personal::set_note(doc, "result-1", "Accepted note")
        })
        .unwrap()
        .unwrap();
    sync(&app, &phone_token, &mut phone).await;
    sync(&app, &tablet_token, &mut tablet).await;
    let before = stored(&app).await;
    let accepted = read(&phone, id);

    // One byte over the cap.
    let oversize = format!("OVERSIZE-{}", "x".repeat(MAX_TEXT_BYTES - 8));
    phone
        .edit(id, |doc| personal::set_note(doc, "result-2", &oversize))
        .unwrap()
        .unwrap();
    let (_, events) = sync(&app, &phone_token, &mut phone).await;
    assert!(
        events.contains(&Event::Rejected {
            document: id,
            code: "too_large".to_owned()
        }),
        "{events:?}"
    );
    assert_eq!(
        stored(&app).await,
        before,
        "the stored document is unchanged"
    );
    assert_eq!(
        read(&phone, id),
        accepted,
        "the phone is back to the server's"
    );

    // A value of a shape the document does not have.
    phone
        .edit(id, |doc| {
            doc.put(ROOT, "MALFORMED-key", "MALFORMED-value").unwrap();
        })
        .unwrap();
    let (_, events) = sync(&app, &phone_token, &mut phone).await;
    assert!(
        events.contains(&Event::Rejected {
            document: id,
            code: "invalid_shape".to_owned()
        }),
        "{events:?}"
    );
    assert_eq!(
        stored(&app).await,
        before,
        "the stored document is unchanged"
    );

    // The other device never hears of either; a valid change still goes through afterwards.
    phone
        .edit(id, |doc| personal::hide(doc, "result-1"))
        .unwrap()
        .unwrap();
    sync(&app, &phone_token, &mut phone).await;
    let (received, _) = sync(&app, &tablet_token, &mut tablet).await;
    assert!(received.contains("result-1"), "the valid change is found");
    assert!(!received.contains("OVERSIZE-"));
    assert!(!received.contains("MALFORMED-"));
    let on_tablet = read(&tablet, id);
    assert!(on_tablet.hidden.contains("result-1"), "{on_tablet:?}");
    assert_eq!(on_tablet.notes, accepted.notes);
}

#[tokio::test]
async fn a_proxys_personal_document_is_their_own_and_goes_when_the_grant_is_revoked() {
    let app = app().await;
    let (patient, patient_account, patient_token) = patient_with_account(&app).await;
    let carer = fixtures::patient(&app, patient.practice_id, None).await;
    let (_, proxy_token) = fixtures::account(&app, &carer).await;
    let grant = fixtures::proxy_grant(&app, &patient, carer.id, "appointments", |_| {}).await;
    let id = DocumentId::new(patient.id, Section::Personal);
    let (mut own, mut proxy) = (DevicePeer::new(), DevicePeer::new());
    own.follow(id);
    proxy.follow(id);
    own.edit(id, |doc| {
        personal::set_note(doc, "appt-1", "PATIENT-ONLY note")
    })
    .unwrap()
    .unwrap();
    proxy
        .edit(id, |doc| {
            personal::set_note(doc, "appt-1", "PROXY-ONLY note")
        })
        .unwrap()
        .unwrap();
    let (to_patient, _) = sync(&app, &patient_token, &mut own).await;
    let (to_proxy, _) = sync(&app, &proxy_token, &mut proxy).await;
    let (again_to_patient, _) = sync(&app, &patient_token, &mut own).await;
    let (again_to_proxy, _) = sync(&app, &proxy_token, &mut proxy).await;

    // The search works: a new device of each account is sent that account's own note.
    let (fresh_to_patient, _) = sync(&app, &patient_token, &mut following(id)).await;
    let (fresh_to_proxy, _) = sync(&app, &proxy_token, &mut following(id)).await;
    assert!(fresh_to_patient.contains("PATIENT-ONLY note"));
    assert!(fresh_to_proxy.contains("PROXY-ONLY note"));
    for wire in [&to_proxy, &again_to_proxy, &fresh_to_proxy] {
        assert!(
            !wire.contains("PATIENT-ONLY"),
            "the proxy got the patient's note"
        );
    }
    for wire in [&to_patient, &again_to_patient, &fresh_to_patient] {
        assert!(
            !wire.contains("PROXY-ONLY"),
            "the patient got the proxy's note"
        );
    }
    assert_eq!(read(&own, id).notes["appt-1"], "PATIENT-ONLY note");
    assert_eq!(read(&proxy, id).notes["appt-1"], "PROXY-ONLY note");
    assert_eq!(stored(&app).await.len(), 2, "two separate documents");

    // The patient revokes the grant: the proxy's copy is removed, the patient's stays.
    let holder = gp_online::access::viewer::Holder {
        account_id: patient_account,
        patient_id: Some(patient.id),
        carer_id: None,
    };
    gp_online::proxy::revoke_by_patient(&app.db, &holder, patient.id, grant.id, app.clock.now())
        .await
        .unwrap();
    proxy
        .edit(id, |doc| personal::set_note(doc, "appt-2", "written after"))
        .unwrap()
        .unwrap();
    let (received, events) = sync(&app, &proxy_token, &mut proxy).await;
    assert!(events.contains(&Event::Removed(id)), "{events:?}");
    assert!(proxy.document(id).is_none());
    assert!(!received.contains("note"));
    sync(&app, &patient_token, &mut own).await;
    assert_eq!(read(&own, id).notes["appt-1"], "PATIENT-ONLY note");
}

#[tokio::test]
async fn a_change_from_one_device_is_pushed_live_to_the_accounts_other_device() {
    let app = app().await;
    let (patient, account, phone_token) = patient_with_account(&app).await;
    let tablet_token = second_device(&app, account).await;
    let id = DocumentId::new(patient.id, Section::Personal);
    let (mut phone, mut tablet) = (DevicePeer::new(), DevicePeer::new());
    phone.follow(id);
    tablet.follow(id);
    let mut live = gp_online_tests::live::Live::connect(&app, &phone_token).await;
    live.settle(&mut phone).await;
    assert!(read(&phone, id).notes.is_empty());

    tablet
        .edit(id, |doc| {
            personal::set_note(doc, "result-1", "Written on the tablet")
        })
        .unwrap()
        .unwrap();
    sync(&app, &tablet_token, &mut tablet).await;
    let pushed = live.next(10).await.expect("a pushed frame");
    phone.receive(&pushed).unwrap();
    live.settle(&mut phone).await;
    assert_eq!(read(&phone, id).notes["result-1"], "Written on the tablet");
}
