//! The demo practice, audience by audience: each demo patient with linkage details and each
//! demo proxy (a patient of the practice or a carer) gets an account with a session; an account,
//! acting for itself or for a person it acts for, syncs all seven section documents, and each
//! document is compared item by item and field by field with what the REST read API returns the
//! same account for the same patient (profile, record sections, results, documents,
//! appointments, courses with prescription requests and the pharmacy, message threads with their
//! messages). A document whose section the REST API refuses is removed from the device.
//!
//! Every account's `GET /api/v1/me` is checked to list no one outside its audiences. To keep the
//! test short on PostgreSQL, the audiences compared are: every proxy audience; every patient a
//! proxy acts for and every patient with a message thread, acting for themselves; and of the
//! other patients acting for themselves, the first few (in the demo's order) of each distinct
//! combination of access level, own access date, access codes on the record, under 16 and
//! judged competent (see [`selection`]).

use futures_util::StreamExt;
use gp_online::db::entities::{access_codes, linkage_keys, message_threads, patients};
use gp_online_tests::fixtures::account_for;
use gp_online_tests::sync::{
    ALL_SECTIONS, device_appointments, device_documents, device_medications, device_messages,
    device_profile, device_record, device_results, following, holds, rest_appointments,
    rest_documents, rest_medications, rest_messages, rest_profile, rest_record, rest_results, sync,
};
use gp_online_tests::{TestApp, spawn_app};
use sea_orm::EntityTrait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use sync_protocol::Section;
use sync_protocol::schema::MessagesItem;
use uuid::Uuid;

/// An account acting for one patient.
#[derive(Debug, Clone)]
struct Audience {
    /// Who acts, for whom, for messages.
    who: String,
    token: String,
    account: Uuid,
    patient: Uuid,
    proxy: bool,
}

/// What decides what a patient sees of their own record, besides the record itself: their
/// access level, whether access starts from a date of its own, the access codes on their
/// record, and whether they are under 16 and judged competent.
type AccessFacts = (String, bool, BTreeSet<String>, bool, bool);

/// Patients acting for themselves compared per distinct set of [`AccessFacts`].
const PER_FACTS: usize = 8;

/// The audiences compared: every proxy audience; every patient a proxy acts for and every
/// patient with a message thread, acting for themselves; and of the other patients acting for
/// themselves, the first [`PER_FACTS`] (in the demo's order) of each distinct set of
/// [`AccessFacts`].
async fn selection(app: &TestApp, audiences: Vec<Audience>) -> Vec<Audience> {
    let today = app.clock.now().date_naive();
    let patients: HashMap<Uuid, patients::Model> = patients::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut codes: HashMap<Uuid, BTreeSet<String>> = HashMap::new();
    for code in access_codes::Entity::find().all(&app.db).await.unwrap() {
        codes
            .entry(code.patient_id)
            .or_default()
            .insert(code.snomed_code);
    }
    let mut always: BTreeSet<Uuid> = audiences
        .iter()
        .filter(|a| a.proxy)
        .map(|a| a.patient)
        .collect();
    // Threads are few in the demo: every patient with one.
    always.extend(
        message_threads::Entity::find()
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.patient_id),
    );
    let mut per_facts: BTreeMap<AccessFacts, usize> = BTreeMap::new();
    audiences
        .into_iter()
        .filter(|a| {
            if a.proxy || always.contains(&a.patient) {
                return true;
            }
            let p = &patients[&a.patient];
            let facts: AccessFacts = (
                format!("{:?}", p.access_level),
                p.record_access_from.is_some(),
                codes.get(&p.id).cloned().unwrap_or_default(),
                gp_online::validate::age_on(p.date_of_birth, today) < 16,
                p.competent,
            );
            let taken = per_facts.entry(facts).or_default();
            *taken += 1;
            *taken <= PER_FACTS
        })
        .collect()
}

/// What the comparisons covered, to show they were not vacuous.
#[derive(Debug, Default)]
struct Coverage {
    audiences: usize,
    /// Per section: audiences holding the document, and items compared.
    held: BTreeMap<&'static str, (usize, usize)>,
    /// Per section: audiences whose document was removed because REST refuses it.
    removed: BTreeMap<&'static str, usize>,
    /// Audiences whose messages were compared again after opening unread threads.
    reopened: usize,
}

impl Coverage {
    fn section(&mut self, name: &'static str, items: Option<usize>) {
        match items {
            Some(items) => {
                let entry = self.held.entry(name).or_default();
                entry.0 += 1;
                entry.1 += items;
            }
            None => *self.removed.entry(name).or_default() += 1,
        }
    }

    fn add(&mut self, other: Coverage) {
        self.audiences += other.audiences;
        self.reopened += other.reopened;
        for (name, (held, items)) in other.held {
            let entry = self.held.entry(name).or_default();
            entry.0 += held;
            entry.1 += items;
        }
        for (name, removed) in other.removed {
            *self.removed.entry(name).or_default() += removed;
        }
    }
}

/// Every audience of the demo: each account for itself (patients) and for everyone it acts for.
async fn audiences(app: &TestApp) -> Vec<Audience> {
    let summary = gp_online::demo::load(&app.db, app.clock.now())
        .await
        .unwrap();
    let keys: HashMap<String, linkage_keys::Model> = linkage_keys::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|key| (key.account_code.clone(), key))
        .collect();
    let by_nhs: HashMap<String, patients::Model> = patients::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.nhs_number.clone(), p))
        .collect();
    // One account per person: (patient, carer).
    let mut accounts: HashMap<(Option<Uuid>, Option<Uuid>), (Uuid, String)> = HashMap::new();
    let mut audiences = Vec::new();
    let mut seen = BTreeSet::new();
    for login in &summary.patients {
        let key = &keys[&login.account_id];
        let patient = key
            .patient_id
            .expect("a patient's linkage details name them");
        assert_eq!(by_nhs[&login.nhs_number].id, patient);
        let (account, token) = account_for(app, key.practice_id, Some(patient), None).await;
        accounts.insert((Some(patient), None), (account, token.clone()));
        seen.insert((account, patient));
        audiences.push(Audience {
            who: format!("patient {} for themself", login.nhs_number),
            token,
            account,
            patient,
            proxy: false,
        });
    }
    for login in &summary.proxies {
        let key = &keys[&login.account_id];
        let person = (key.patient_id, key.carer_id);
        assert_eq!(
            login.proxy_kind == "carer",
            key.carer_id.is_some(),
            "{login:?}"
        );
        let (account, token) = match accounts.get(&person) {
            Some(known) => known.clone(),
            None => {
                let made = account_for(app, key.practice_id, key.patient_id, key.carer_id).await;
                accounts.insert(person, made.clone());
                made
            }
        };
        if let Some(patient) = key.patient_id
            && seen.insert((account, patient))
        {
            audiences.push(Audience {
                who: format!("proxy {} for themself", login.account_id),
                token: token.clone(),
                account,
                patient,
                proxy: false,
            });
        }
        for acts_for in &login.acts_for {
            let patient = by_nhs[&acts_for.nhs_number].id;
            if seen.insert((account, patient)) {
                audiences.push(Audience {
                    who: format!(
                        "{} proxy {} ({}, {}) for {}",
                        login.proxy_kind,
                        login.account_id,
                        acts_for.relationship,
                        acts_for.scopes.join(","),
                        acts_for.nhs_number
                    ),
                    token: token.clone(),
                    account,
                    patient,
                    proxy: true,
                });
            }
        }
    }
    audiences
}

/// Syncs every section document for one audience and compares each with the REST API.
async fn check(app: &TestApp, a: &Audience) -> Coverage {
    let mut coverage = Coverage {
        audiences: 1,
        ..Coverage::default()
    };
    let (p, token, who) = (a.patient, a.token.as_str(), a.who.as_str());
    let mut device = following(p, &ALL_SECTIONS);
    sync(app, token, &mut device).await;

    let profile = rest_profile(app, token, p).await;
    assert_eq!(device_profile(&device, p), profile, "profile for {who}");
    coverage.section("profile", profile.as_ref().map(|_| 1));

    let rest = rest_record(app, token, p).await;
    let held = holds(&device, p, Section::Record).then(|| device_record(&device, p));
    assert_eq!(held, rest, "record for {who}");
    coverage.section("record", rest.as_ref().map(BTreeMap::len));

    let rest = rest_results(app, token, p).await;
    let held = holds(&device, p, Section::Results).then(|| device_results(&device, p));
    assert_eq!(held, rest, "results for {who}");
    coverage.section("results", rest.as_ref().map(BTreeMap::len));

    let rest = rest_documents(app, token, p).await;
    let held = holds(&device, p, Section::Documents).then(|| device_documents(&device, p));
    assert_eq!(held, rest, "documents for {who}");
    coverage.section("documents", rest.as_ref().map(BTreeMap::len));

    let rest = rest_appointments(app, token, p).await;
    let held = holds(&device, p, Section::Appointments).then(|| device_appointments(&device, p));
    assert_eq!(held, rest, "appointments for {who}");
    coverage.section("appointments", rest.as_ref().map(BTreeMap::len));

    let rest = rest_medications(app, token, p).await;
    let held = holds(&device, p, Section::Medications).then(|| device_medications(&device, p));
    assert_eq!(held, rest, "medications for {who}");
    coverage.section("medications", rest.as_ref().map(BTreeMap::len));

    // Threads with their unread counts, before anything is opened.
    let threads = rest_messages(app, token, p, false).await;
    let held = holds(&device, p, Section::Messages).then(|| device_messages(&device, p, false));
    assert_eq!(held, threads, "message threads for {who}");
    coverage.section("message threads", threads.as_ref().map(BTreeMap::len));
    let Some(threads) = threads else {
        return coverage;
    };
    // Every message, read by opening each thread through REST (which marks the practice's
    // messages read, so the device syncs again when any were unread).
    let rest = rest_messages(app, token, p, true).await.unwrap();
    let unread = threads
        .values()
        .any(|t| matches!(t, MessagesItem::Thread(t) if t.unread_count > 0));
    if unread {
        sync(app, token, &mut device).await;
        coverage.reopened += 1;
    }
    assert_eq!(
        device_messages(&device, p, true),
        rest,
        "messages for {who}"
    );
    let messages = rest
        .values()
        .filter(|m| matches!(m, MessagesItem::Message(_)))
        .count();
    coverage.section("messages", Some(messages));
    coverage
}

#[tokio::test]
async fn demo_audiences_hydrate_every_section_to_exactly_what_the_rest_api_returns() {
    let app = spawn_app().await;
    let started = std::time::Instant::now();
    let all = audiences(&app).await;
    // No audience is missed: every profile an account lists is one of its audiences.
    let mut by_account: BTreeMap<Uuid, (String, BTreeSet<Uuid>)> = BTreeMap::new();
    for a in &all {
        let entry = by_account
            .entry(a.account)
            .or_insert_with(|| (a.token.clone(), BTreeSet::new()));
        entry.1.insert(a.patient);
    }
    for (account, (token, patients)) in &by_account {
        let me =
            gp_online_tests::sync::ok(&app, reqwest::Method::GET, token, "/api/v1/me", None).await;
        for profile in me["profiles"].as_array().unwrap() {
            let listed: Uuid = profile["patient_id"].as_str().unwrap().parse().unwrap();
            assert!(patients.contains(&listed), "{account} lists {profile}");
        }
    }

    let every = all.len();
    let audiences = selection(&app, all).await;
    eprintln!("{} of {every} audiences selected", audiences.len());

    // Audiences of one patient run in turn (opening a thread changes what the others see);
    // different patients run side by side.
    let mut by_patient: BTreeMap<Uuid, Vec<Audience>> = BTreeMap::new();
    for a in &audiences {
        by_patient.entry(a.patient).or_default().push(a.clone());
    }
    let app = &app;
    let coverage = futures_util::stream::iter(by_patient.into_values())
        .map(|group| async move {
            let mut coverage = Coverage::default();
            for a in &group {
                coverage.add(check(app, a).await);
            }
            coverage
        })
        .buffer_unordered(4)
        .fold(Coverage::default(), |mut all, one| async move {
            all.add(one);
            all
        })
        .await;
    eprintln!(
        "{} audiences on {} in {:?}: {coverage:?}",
        audiences.len(),
        app.database.backend,
        started.elapsed()
    );

    // Every kind of audience was there, and every section was compared with items in it.
    assert_eq!(coverage.audiences, audiences.len());
    assert!(
        audiences
            .iter()
            .any(|a| a.proxy && a.who.starts_with("carer"))
    );
    assert!(
        audiences
            .iter()
            .any(|a| a.proxy && a.who.starts_with("patient"))
    );
    for section in [
        "profile",
        "record",
        "results",
        "documents",
        "appointments",
        "medications",
        "message threads",
        "messages",
    ] {
        let (held, items) = coverage.held.get(section).copied().unwrap_or_default();
        assert!(held > 0 && items > 0, "{section}: {coverage:?}");
    }
    assert!(
        !coverage.removed.is_empty(),
        "some audience is refused some section: {coverage:?}"
    );
    assert!(coverage.reopened > 0, "{coverage:?}");
}
