//! The demo practice loads on both backends, quickly, once, and its printed linkage details
//! match what is stored.

use gp_online::db::entities::{linkage_keys, patients, practices, results, slots};
use gp_online_tests::{TestDatabase, test_start};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn demo_practice_loads_once_and_its_linkage_details_match_the_database() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    gp_online::db::migrate_up(&db).await.unwrap();

    let summary = gp_online::demo::load(&db, test_start()).await.unwrap();
    assert_eq!(patients::Entity::find().count(&db).await.unwrap(), 500);
    assert!(
        summary.patients.len() > 300,
        "most adults get linkage details"
    );
    assert!(!summary.proxies.is_empty());
    assert!(slots::Entity::find().count(&db).await.unwrap() > 500);
    let pending = results::Entity::find()
        .filter(results::Column::ReviewState.eq(results::ReviewState::Pending))
        .count(&db)
        .await
        .unwrap();
    assert!(pending > 0, "some results await review");

    let practice = practices::Entity::find()
        .filter(practices::Column::OdsCode.eq(summary.practice.ods_code.clone()))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    for login in summary.patients.iter().take(25) {
        assert!(gp_online::validate::NhsNumber::parse(&login.nhs_number).is_ok());
        assert_eq!(login.ods_code, practice.ods_code);
        let stored = linkage_keys::Entity::find()
            .filter(linkage_keys::Column::AccountCode.eq(login.account_id.clone()))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let hash = hex::encode(Sha256::digest(login.linkage_key.as_bytes()));
        assert_eq!(stored.key_hash, hash);
    }

    // A second load changes nothing and prints the same details.
    let again = gp_online::demo::load(&db, test_start()).await.unwrap();
    assert_eq!(patients::Entity::find().count(&db).await.unwrap(), 500);
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&summary).unwrap()
    );
}
