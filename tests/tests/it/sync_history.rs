//! The history threshold: a section document whose automerge history passes
//! `sync.history_threshold` changes starts a new generation from its current items, so history
//! (and what a new device downloads) stays short, and devices take the new generation in place
//! of theirs without losing anything current.

use gp_online::db::entities::{results, sync_documents};
use gp_online::settings::PracticeSettings;
use gp_online_tests::{fixtures, spawn_app_with};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use sync_protocol::schema::ResultItem;
use sync_protocol::{DevicePeer, DocumentId, Event, Section};

const THRESHOLD: usize = 5;

#[tokio::test]
async fn a_long_history_starts_a_new_generation_from_the_current_items() {
    let app = spawn_app_with(|config| config.sync.history_threshold = THRESHOLD).await;
    let practice = fixtures::practice_with(&app, PracticeSettings::default()).await;
    let patient = fixtures::patient(&app, practice.id, None).await;
    let (_, token) = fixtures::account(&app, &patient).await;
    let result = fixtures::result(&app, patient.id, |r| {
        r.test_name = "Serum creatinine".to_owned();
        r.value = "80".to_owned();
    })
    .await;
    let doc = DocumentId::new(patient.id, Section::Results);
    let mut device = DevicePeer::new();
    device.follow(doc);
    gp_online_tests::sync::sync(&app, &token, &mut device).await;

    // Each change of a value written in place (the instant it was filed: see
    // `sync_protocol::redaction`) is one more change in the document's history.
    let filed = result.released_at.expect("released");
    let mut superseded_after = None;
    for correction in 1..=2 * THRESHOLD {
        let at = filed + chrono::Duration::minutes(i64::try_from(correction).unwrap());
        let mut update: results::ActiveModel = result.clone().into();
        update.released_at = Set(Some(at));
        update.update(&app.db).await.unwrap();
        gp_online_tests::sync::changed(&app, patient.id).await;
        let (_, events) = gp_online_tests::sync::sync(&app, &token, &mut device).await;
        if superseded_after.is_none() && events.contains(&Event::Superseded(doc)) {
            superseded_after = Some(correction);
        }
        let held = device.item_list::<ResultItem>(doc).unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(
            held[0].filed_at.as_deref(),
            Some(
                at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                    .as_str()
            )
        );
    }
    let superseded_after = superseded_after.expect("the history never rolled over");
    assert!(superseded_after <= THRESHOLD + 1, "{superseded_after}");

    // Stored: the latest generation is short; every earlier one is superseded.
    let rows = sync_documents::Entity::find()
        .filter(sync_documents::Column::Audience.eq(format!("self:{}", patient.id)))
        .filter(sync_documents::Column::Section.eq("results"))
        .order_by_asc(sync_documents::Column::Generation)
        .all(&app.db)
        .await
        .unwrap();
    let (latest, earlier) = rows.split_last().unwrap();
    assert!(!earlier.is_empty());
    assert!(earlier.iter().all(|row| row.superseded_at.is_some()));
    assert!(latest.superseded_at.is_none());
    assert!(
        usize::try_from(latest.change_count).unwrap() <= THRESHOLD + 1,
        "{}",
        latest.change_count
    );
    // The device's copy is the new generation's short history, not the old one's.
    let history = device.document(doc).unwrap().clone().get_changes(&[]).len();
    assert!(history <= THRESHOLD + 1, "{history}");
}
