//! A polling device falls quiet while the live connection of its sign-in is pushed the same
//! change: many patients at once, each with a polling device (`POST /api/v1/sync`) and a live
//! device (the WebSocket) on one sign-in, which share one sync state per document on the
//! server, both following the profile and the record. After both have synced, the record
//! changes (an opt-out ending on the day the clock moves to, or an entry imported) and the
//! polling device must reach a round trip in which neither side has anything to say within a
//! few frames (a failure prints every frame), holding the change, and, asking again, be told
//! nothing. The live connection stays open and is pushed the change meanwhile (or not, when the
//! polling device acknowledged it first: the server keeps one state per signed-in device).
//!
//! A device whose acknowledgement never reached the server (lost with its connection, or the
//! server killed before it saved it) falls quiet at its next poll too: the server sends again
//! what the device holds, and the device answers with its heads.
//!
//! The scenario: summary access with an opt-out recorded 1,000 days ago and ending in two days,
//! an allergy entered in 2010 and a problem entered in 2024 (shown once the opt-out ends).

use chrono::Duration;
use gp_online::access::rules::ACCESS_DECLINED;
use gp_online::db::entities::patients::AccessLevel;
use gp_online_tests::live::Live;
use gp_online_tests::scenario::{Item, Kind, Rules, arrange, date, item, standard_record};
use gp_online_tests::sync::{
    changed, device_record, exchange, following, import_entry, relayed, sync, sync_within,
};
use gp_online_tests::{TestApp, spawn_app};
use std::collections::BTreeSet;
use std::sync::Arc;
use sync_protocol::{DevicePeer, Section};
use uuid::Uuid;

/// Patients syncing at once in each test.
const PATIENTS: usize = 24;

/// Round trips a sync may take: the device's frame answered with the changes, the device's new
/// heads answered with nothing, its "anything new?" answered with nothing; a projection by the
/// relay between two of them may add one more exchange.
const ROUND_TRIPS: usize = 6;

/// The profile and the record, as an app shows them first.
const SECTIONS: [Section; 2] = [Section::Profile, Section::Record];

/// The entry imported when there is no opt-out to end.
const IMPORTED: &str = "problem-imported";

/// How the record changes once both devices have synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// The opt-out ends: the clock moves two days and no job runs (the polling device's frame
    /// meets the boundary).
    OptOutEnds,
    /// No access code: the clinical system imports an entry.
    EntryImported,
}

/// One patient's two devices on one sign-in.
struct Patient {
    id: Uuid,
    token: String,
    polling: DevicePeer,
    live: Live,
}

fn terms(device: &DevicePeer, patient: Uuid) -> BTreeSet<String> {
    device_record(device, patient)
        .into_values()
        .map(|entry| entry.term)
        .collect()
}

fn expected(change: Change) -> BTreeSet<String> {
    let after = match change {
        Change::OptOutEnds => "problem-2024",
        Change::EntryImported => IMPORTED,
    };
    let mut shown = BTreeSet::from(["allergy-2010".to_owned(), after.to_owned()]);
    if change == Change::EntryImported {
        // Without an opt-out the 2024 entry was shown from the start.
        shown.insert("problem-2024".to_owned());
    }
    shown
}

/// A patient of the scenario, and their first syncs: the polling device's, then the live
/// device's.
async fn synced(app: &TestApp, change: Change) -> Result<Patient, String> {
    let rules = Rules {
        access_level: AccessLevel::Summary,
        codes: match change {
            Change::OptOutEnds => vec![(ACCESS_DECLINED, 0)],
            Change::EntryImported => Vec::new(),
        },
        code_ends: (change == Change::OptOutEnds).then_some(1002),
        ..Rules::default()
    };
    let record: Vec<Item> = vec![
        item("allergy-2010", Kind::Allergy, date(2010, 3, 1)),
        item("problem-2024", Kind::Problem, date(2024, 2, 1)),
    ];
    let (id, token) = arrange(app, &rules, &record).await;
    let mut polling = following(id, &SECTIONS);
    sync_within(app, &token, &mut polling, ROUND_TRIPS, || async {})
        .await
        .map_err(|frames| format!("the polling device's first sync:\n{frames}"))?;
    let mut live_device = following(id, &SECTIONS);
    let mut live = Live::connect(app, &token).await;
    live.settle(&mut live_device).await;
    Ok(Patient {
        id,
        token,
        polling,
        live,
    })
}

/// After the change: the polling device syncs (the relay projecting the patient between its
/// frames when `relay`) while the live connection stays open, then asks again and is told
/// nothing.
async fn after_the_change(
    app: &TestApp,
    patient: Patient,
    change: Change,
    relay: bool,
) -> Result<(), String> {
    let Patient {
        id,
        token,
        mut polling,
        live,
    } = patient;
    if change == Change::EntryImported {
        import_entry(app, id, IMPORTED, false).await;
    }
    let between = move || async move {
        if relay {
            changed(app, id).await;
            relayed(app, id).await;
        }
    };
    sync_within(app, &token, &mut polling, ROUND_TRIPS, between)
        .await
        .map_err(|frames| format!("the polling device after the change:\n{frames}"))?;
    if terms(&polling, id) != expected(change) {
        return Err(format!(
            "the polling device holds {:?}",
            terms(&polling, id)
        ));
    }
    sync_within(app, &token, &mut polling, 1, || async {})
        .await
        .map_err(|frames| format!("the polling device asking again:\n{frames}"))?;
    drop(live);
    Ok(())
}

/// Runs the scenario for [`PATIENTS`] patients at once; fails listing every device that did
/// not fall quiet, with its frames.
async fn many(change: Change, relay: bool) {
    let app = Arc::new(spawn_app().await);
    let patients = join_all((0..PATIENTS).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { synced(&app, change).await })
    }))
    .await;
    if change == Change::OptOutEnds {
        app.clock.advance(Duration::days(2)); // The opt-out's end; no job runs.
    }
    let outcomes = join_all(patients.into_iter().map(|patient| {
        let app = app.clone();
        tokio::spawn(async move { after_the_change(&app, patient?, change, relay).await })
    }))
    .await;
    let failures: Vec<String> = outcomes
        .into_iter()
        .enumerate()
        .filter_map(|(n, outcome)| outcome.err().map(|frames| format!("patient {n}: {frames}")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {PATIENTS} did not fall quiet:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Awaits every task, in order.
async fn join_all<T>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut done = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        done.push(task.await.unwrap());
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_polling_device_falls_quiet_when_an_opt_out_ends_beside_its_live_connection() {
    many(Change::OptOutEnds, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_polling_device_falls_quiet_when_an_entry_is_imported_beside_its_live_connection() {
    many(Change::EntryImported, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_polling_device_falls_quiet_with_the_relay_projecting_between_its_frames() {
    many(Change::OptOutEnds, true).await;
}

#[tokio::test]
async fn a_device_whose_acknowledgement_was_lost_falls_quiet_at_its_next_poll() {
    let app = spawn_app().await;
    let (patient, token) = arrange(&app, &Rules::default(), &standard_record()).await;
    let mut device = following(patient, &[Section::Record]);
    sync(&app, &token, &mut device).await;

    import_entry(&app, patient, IMPORTED, false).await;
    relayed(&app, patient).await;
    device.reconnect();
    let poll = device.outgoing();
    assert!(poll.documents.is_empty(), "\"anything new?\": {poll:?}");
    let (_, answer) = exchange(&app, &token, &poll).await;
    device.receive(&answer).unwrap();
    assert!(
        device_record(&device, patient)
            .values()
            .any(|entry| entry.term == IMPORTED)
    );
    let acknowledgement = device.outgoing();
    assert_eq!(acknowledgement.documents.len(), 1, "{acknowledgement:?}");
    // The acknowledgement is lost: the server still holds the device's earlier heads.

    // The next poll is answered with the change again; the device, holding it, says so, and
    // the poll after that is answered with nothing.
    sync_within(&app, &token, &mut device, ROUND_TRIPS, || async {})
        .await
        .unwrap_or_else(|frames| panic!("the device never fell quiet:\n{frames}"));
    device.reconnect();
    let (_, again) = exchange(&app, &token, &device.outgoing()).await;
    assert!(again.documents.is_empty(), "{again:?}");
}
