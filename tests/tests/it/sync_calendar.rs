//! Date boundaries reach synced documents on the day, with nothing written: a parent's live
//! device loses the child's record on the review birthday (the server's own schedule), a grant
//! past its last day stops syncing (the date-boundary job run once), and a switch-on date
//! arriving opens the record sections in the profile (met by a polling device's frame). The
//! clock is moved; no sweep runs. (An access code's end is one more boundary of the same
//! function, covered by the rules' unit tests.)

use chrono::{DateTime, Duration, Utc};
use gp_online::db::entities::{projection_due, projection_outbox, proxy_grants, sync_documents};
use gp_online::sync::calendar;
use gp_online_tests::live::Live;
use gp_online_tests::scenario::{Kind, Rules, arrange, date, item};
use gp_online_tests::sync::{
    RECORD_SECTIONS, device_profile, device_record, following, holds, relayed, rest_profile, sync,
};
use gp_online_tests::{TestApp, spawn_app, spawn_app_with};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::collections::BTreeSet;
use sync_protocol::{DevicePeer, Section};
use uuid::Uuid;

/// The terms of the device's record document.
fn terms(device: &DevicePeer, patient: Uuid) -> BTreeSet<String> {
    device_record(device, patient)
        .into_values()
        .map(|entry| entry.term)
        .collect()
}

/// The patient's stored date boundary.
async fn due(app: &TestApp, patient: Uuid) -> Option<DateTime<Utc>> {
    projection_due::Entity::find_by_id(patient)
        .one(&app.db)
        .await
        .unwrap()
        .map(|row| row.due_at)
}

fn midnight(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    date(y, m, d).and_hms_opt(0, 0, 0).unwrap().and_utc()
}

/// The current (not ended) stored documents of an audience.
async fn stored(app: &TestApp, audience: &str) -> u64 {
    sync_documents::Entity::find()
        .filter(sync_documents::Column::Audience.eq(audience))
        .filter(sync_documents::Column::SupersededAt.is_null())
        .count(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_parents_live_device_loses_the_childs_record_on_the_review_birthday() {
    // The server's own schedule runs the job; nothing else is written.
    let app = spawn_app_with(|config| config.jobs.date_boundaries_secs = 1).await; // 2026-11-23
    let rules = Rules {
        born: date(2015, 11, 25), // 11 on 2026-11-25
        proxy_scopes: Some("appointments,record_summary"),
        ..Rules::default()
    };
    let (child, parent) = arrange(
        &app,
        &rules,
        &[item("ALLERGY", Kind::Allergy, date(2024, 2, 1))],
    )
    .await;
    let mut device = following(child, &[Section::Profile, Section::Record]);
    let mut live = Live::connect(&app, &parent).await;
    live.settle(&mut device).await;
    assert_eq!(
        terms(&device, child),
        BTreeSet::from(["ALLERGY".to_owned()])
    );
    assert_eq!(due(&app, child).await, Some(midnight(2026, 11, 25)));

    app.clock.advance(Duration::days(1)); // The eve: nothing changes.
    assert!(
        live.next(2).await.is_none(),
        "nothing pushed before the day"
    );

    app.clock.advance(Duration::days(1)); // The 11th birthday.
    live.pushed_until(&mut device, |d| {
        !holds(d, child, Section::Record)
            && device_profile(d, child).is_some_and(|p| p.record_sections.is_empty())
    })
    .await;
    let profile = device_profile(&device, child).expect("the profile stays");
    assert_eq!(profile.record_sections, "", "{profile:?}");
    assert!(profile.appointments, "booking goes on");
    assert_eq!(Some(profile), rest_profile(&app, &parent, child).await);
    // The record document is ended on the server, not only refused to this device.
    let grant = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::PatientId.eq(child))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let record = sync_documents::Entity::find()
        .filter(sync_documents::Column::Audience.eq(format!("grant:{}", grant.id)))
        .filter(sync_documents::Column::Section.eq("record"))
        .filter(sync_documents::Column::SupersededAt.is_null())
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(record, 0);
    // The next boundary is the day after the grant's last day (before the 16th birthday).
    assert_eq!(due(&app, child).await, Some(midnight(2030, 1, 2)));
}

#[tokio::test]
async fn a_grant_past_its_last_day_stops_syncing() {
    let app = spawn_app().await; // 2026-11-23
    let rules = Rules {
        proxy_scopes: Some("record_summary,record_detailed"),
        grant_ends: Some(date(2026, 11, 24)),
        ..Rules::default()
    };
    let (patient, proxy) = arrange(
        &app,
        &rules,
        &[item("PROBLEM", Kind::Problem, date(2024, 2, 1))],
    )
    .await;
    let mut device = following(patient, &RECORD_SECTIONS);
    sync(&app, &proxy, &mut device).await;
    assert!(holds(&device, patient, Section::Record));
    let grant = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::PatientId.eq(patient))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let audience = format!("grant:{}", grant.id);
    assert!(stored(&app, &audience).await > 0);
    assert_eq!(due(&app, patient).await, Some(midnight(2026, 11, 25)));

    // The last day: the job finds nothing due.
    app.clock.advance(Duration::days(1));
    assert_eq!(
        calendar::mark_due(&app.db, app.clock.now()).await.unwrap(),
        0
    );
    // The day after: the job marks the patient once, the relay ends every document of the grant.
    app.clock.advance(Duration::days(1));
    assert!(
        stored(&app, &audience).await > 0,
        "as projected, until the job runs"
    );
    assert_eq!(
        calendar::mark_due(&app.db, app.clock.now()).await.unwrap(),
        1
    );
    assert_eq!(
        calendar::mark_due(&app.db, app.clock.now()).await.unwrap(),
        0
    );
    let marked = projection_outbox::Entity::find()
        .filter(projection_outbox::Column::PatientId.eq(patient))
        .filter(projection_outbox::Column::Reason.eq(calendar::REASON))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(marked, 1);
    relayed(&app, patient).await;
    assert_eq!(stored(&app, &audience).await, 0);
    // The proxy's device is told: every document removed.
    let (_, events) = sync(&app, &proxy, &mut device).await;
    assert!(device.documents().next().is_none(), "{events:?}");
}

#[tokio::test]
async fn a_switch_on_date_arriving_opens_the_record_in_the_profile() {
    let app = spawn_app().await; // 2026-11-23
    let rules = Rules {
        access_level: gp_online::db::entities::patients::AccessLevel::None,
        switch_on: Some(date(2026, 12, 1)),
        ..Rules::default()
    };
    let (patient, token) = arrange(&app, &rules, &[]).await;
    let mut device = following(patient, &[Section::Profile]);
    sync(&app, &token, &mut device).await;
    assert_eq!(
        device_profile(&device, patient).unwrap().record_sections,
        ""
    );
    assert_eq!(due(&app, patient).await, Some(midnight(2026, 12, 1)));

    app.clock.advance(Duration::days(8)); // 2026-12-01
    assert_eq!(
        calendar::mark_due(&app.db, app.clock.now()).await.unwrap(),
        1
    );
    relayed(&app, patient).await;
    let (_, _) = sync(&app, &token, &mut device).await;
    let profile = device_profile(&device, patient).unwrap();
    assert_eq!(
        profile.record_sections,
        "allergies,medications,immunisations,problems,consultations,results,documents"
    );
    assert_eq!(Some(profile), rest_profile(&app, &token, patient).await);
}
