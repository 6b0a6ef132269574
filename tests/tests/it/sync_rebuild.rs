//! `gp-online sync rebuild` end to end: every stored section document is recomputed from the
//! access module as a new generation that devices take in place of theirs, the documents of an
//! audience that may no longer see the patient are emptied, and no generation number is reused.

use gp_online::db::entities::{staff, sync_documents};
use gp_online::settings::PracticeSettings;
use gp_online::sync::rebuild::{RebuildReport, rebuild};
use gp_online_tests::{TestApp, fixtures, spawn_app};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sync_protocol::schema::ResultItem;
use sync_protocol::{DevicePeer, DocumentId, Event, Section};

/// Syncs until quiet, as an app does when it opens; returns the events seen.
async fn sync(app: &TestApp, token: &str, device: &mut DevicePeer) -> Vec<Event> {
    gp_online_tests::sync::sync(app, token, device).await.1
}

async fn documents_of(app: &TestApp, audience: &str) -> Vec<sync_documents::Model> {
    sync_documents::Entity::find()
        .filter(sync_documents::Column::Audience.eq(audience))
        .all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn sync_rebuild_recomputes_documents_as_new_generations_and_empties_the_rest() {
    let app = spawn_app().await;
    let practice = fixtures::practice_with(&app, PracticeSettings::default()).await;
    let admin = fixtures::staff_token(&app, practice.id, staff::StaffRole::Admin).await;
    let patient = fixtures::patient(&app, practice.id, None).await;
    let (_, patient_token) = fixtures::account(&app, &patient).await;
    let helper = fixtures::patient(&app, practice.id, None).await;
    let (_, helper_token) = fixtures::account(&app, &helper).await;
    let grant = fixtures::proxy_grant(&app, &patient, helper.id, "record_detailed", |_| {}).await;
    fixtures::result(&app, patient.id, |r| {
        r.test_name = "Marker ferritin".to_owned()
    })
    .await;

    let results_doc = DocumentId::new(patient.id, Section::Results);
    let mut phone = DevicePeer::new();
    let mut carer = DevicePeer::new();
    for device in [&mut phone, &mut carer] {
        device.follow(DocumentId::new(patient.id, Section::Profile));
        device.follow(results_doc);
    }
    sync(&app, &patient_token, &mut phone).await;
    sync(&app, &helper_token, &mut carer).await;
    let before = phone.item_list::<ResultItem>(results_doc).unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(carer.item_list::<ResultItem>(results_doc).unwrap(), before);

    // The grant ends without the carer syncing again; then the operator rebuilds.
    let path = format!("/api/v1/practice/proxy-grants/{}/revoke", grant.id);
    let response = app
        .client
        .post(app.url(&path))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"reason": "relationship_ended"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let report = rebuild(&app.db, None, app.clock.now()).await.unwrap();
    assert_eq!(
        report,
        RebuildReport {
            rebuilt: 2,
            removed: 2,
            superseded_emptied: 4,
        }
    );

    // Nothing of the patient is stored for the carer's ended audience any more.
    for row in documents_of(&app, &format!("grant:{}", grant.id)).await {
        assert!(row.superseded_at.is_some());
        let doc = automerge::AutoCommit::load(&row.document).unwrap();
        assert!(sync_protocol::items::read_items(&doc).unwrap().is_empty());
    }
    // The patient's documents are generation 1, recomputed; generation 0 is emptied.
    let own = documents_of(&app, &format!("self:{}", patient.id)).await;
    assert_eq!(own.iter().filter(|d| d.superseded_at.is_none()).count(), 2);
    assert!(
        own.iter()
            .all(|d| (d.generation == 1) == d.superseded_at.is_none())
    );

    // The phone is told its copies are superseded and takes the recomputed ones.
    let events = sync(&app, &patient_token, &mut phone).await;
    assert!(
        events.contains(&Event::Superseded(results_doc)),
        "{events:?}"
    );
    assert_eq!(phone.item_list::<ResultItem>(results_doc).unwrap(), before);
    // The carer gets nothing.
    let events = sync(&app, &helper_token, &mut carer).await;
    assert!(events.contains(&Event::Removed(results_doc)), "{events:?}");

    // Only one patient's documents: another patient's id rebuilds nothing.
    let report = rebuild(&app.db, Some(helper.id), app.clock.now())
        .await
        .unwrap();
    assert_eq!((report.rebuilt, report.removed), (0, 0));

    // Each run is audited, by counts only; a run for one patient names them.
    let runs = gp_online::db::entities::audit_events::Entity::find()
        .filter(gp_online::db::entities::audit_events::Column::Action.eq("sync.rebuild"))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().any(|e| e.detail["rebuilt"] == 2));
    assert!(
        runs.iter()
            .any(|e| e.acting_for_patient_id == Some(helper.id))
    );
}
