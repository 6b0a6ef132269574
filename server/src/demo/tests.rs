//! Tests of the demo generator: validity and spread of the generated people, determinism,
//! linkage keys matching their stored hashes, the shape of the clinical data, and a real load
//! into a database (SQLite by default, PostgreSQL when `GP_ONLINE_TEST_DATABASE_URL` is set)
//! that is idempotent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code: failing loudly is the point.

use super::*;
use crate::db::entities::appointments::AppointmentStatus;
use crate::db::entities::prescription_request_items::RequestItemStatus;
use crate::db::entities::record_entries::RecordSection;
use crate::db::entities::results::ReviewState;
use crate::validate::NhsNumber;
use chrono::TimeZone;
use sea_orm::{Database, PaginatorTrait};
use std::collections::HashSet;

fn load_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 15, 30).unwrap()
}

fn snapshot(rows: &Rows) -> Snapshot<'_> {
    Snapshot {
        practice: rows.practices.first().unwrap(),
        patients: &rows.patients,
        carers: &rows.carers,
        linkage_keys: &rows.linkage_keys,
        grants: &rows.grants,
    }
}

#[test]
fn five_hundred_patients_with_valid_unique_nhs_numbers() {
    let rows = generate(load_time());
    assert_eq!(rows.patients.len(), 500);
    let mut seen = HashSet::new();
    for patient in &rows.patients {
        let parsed = NhsNumber::parse(&patient.nhs_number).unwrap();
        assert_eq!(parsed.to_string(), patient.nhs_number);
        assert!(patient.nhs_number.starts_with("999"));
        assert!(
            seen.insert(patient.nhs_number.clone()),
            "duplicate {}",
            patient.nhs_number
        );
    }
    let external: HashSet<_> = rows
        .patients
        .iter()
        .map(|p| p.external_id.clone())
        .collect();
    assert_eq!(external.len(), 500);
    let names: HashSet<_> = rows
        .patients
        .iter()
        .map(|p| p.family_name.as_str())
        .collect();
    assert!(names.len() > 80, "only {} family names", names.len());
}

#[test]
fn generation_is_deterministic() {
    assert!(generate(load_time()) == generate(load_time()));
    // Sub-second differences do not matter.
    let later = load_time() + Duration::milliseconds(400);
    assert!(generate(load_time()) == generate(later));
}

#[test]
fn ages_span_newborns_to_the_very_old() {
    let rows = generate(load_time());
    let today = load_time().date_naive();
    let ages: Vec<i32> = rows
        .patients
        .iter()
        .map(|p| age_on(p.date_of_birth, today))
        .collect();
    assert!(ages.iter().all(|age| (0..=95).contains(age)));
    assert!(ages.iter().filter(|a| **a < 16).count() >= 40);
    assert!(ages.iter().filter(|a| (11..=15).contains(*a)).count() >= 10);
    assert!(ages.iter().filter(|a| **a >= 65).count() >= 50);
    assert!(ages.iter().filter(|a| **a >= 85).count() >= 5);
    assert!(ages.contains(&0));
    let competent_children = rows
        .patients
        .iter()
        .filter(|p| p.competent && age_on(p.date_of_birth, today) < 16)
        .count();
    assert!(competent_children >= 2);
    let levels: HashSet<_> = rows.patients.iter().map(|p| p.access_level).collect();
    assert_eq!(levels.len(), 4, "every access level is used");
    assert_eq!(
        rows.patients
            .iter()
            .filter(|p| p.archived_at.is_some())
            .count(),
        2
    );
    assert!(rows.patients.iter().any(|p| p.record_access_from.is_some()));
}

#[test]
fn linkage_keys_hash_to_what_is_stored() {
    let rows = generate(load_time());
    let summary = summarise(&snapshot(&rows), load_time().date_naive());
    let by_code: HashMap<&str, &linkage_keys::Model> = rows
        .linkage_keys
        .iter()
        .map(|k| (k.account_code.as_str(), k))
        .collect();
    assert_eq!(
        by_code.len(),
        rows.linkage_keys.len(),
        "account codes are unique"
    );
    let today = load_time().date_naive();
    let eligible = rows
        .patients
        .iter()
        .filter(|p| {
            p.archived_at.is_none() && (age_on(p.date_of_birth, today) >= 16 || p.competent)
        })
        .count();
    assert_eq!(summary.patients.len(), eligible);
    for login in summary
        .patients
        .iter()
        .map(|p| (&p.account_id, &p.linkage_key))
        .chain(
            summary
                .proxies
                .iter()
                .map(|p| (&p.account_id, &p.linkage_key)),
        )
    {
        let stored = by_code.get(login.0.as_str()).unwrap();
        assert_eq!(people::key_hash(login.1), stored.key_hash);
        assert_eq!(login.0.len(), 10);
        assert!(
            login
                .0
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_eq!(login.1.len(), 17);
        assert!(!login.1.contains(['0', 'O', '1', 'I']));
    }
    for key in &rows.linkage_keys {
        assert_eq!(
            key.expires_at,
            load_time().trunc_subsecs(0) + Duration::days(90)
        );
        assert!(!key.recovery);
        assert_eq!(key.failed_attempts, 0);
        assert!(key.patient_id.is_some() != key.carer_id.is_some());
    }
    // Keys depend on the seed and the patient only, not on the day.
    let later = summarise(
        &snapshot(&generate(load_time() + Duration::days(100))),
        load_time().date_naive(),
    );
    let keys_now: Vec<_> = summary.patients.iter().map(|p| &p.linkage_key).collect();
    let keys_later: Vec<_> = later.patients.iter().map(|p| &p.linkage_key).collect();
    assert_eq!(keys_now.first(), keys_later.first());
}

#[test]
fn proxy_scenarios_are_present() {
    let rows = generate(load_time());
    let summary = summarise(&snapshot(&rows), load_time().date_naive());
    let active: Vec<_> = rows
        .grants
        .iter()
        .filter(|g| g.status == GrantStatus::Active)
        .collect();
    assert_eq!(active.len(), 5);
    assert_eq!(
        rows.grants
            .iter()
            .filter(|g| g.status == GrantStatus::Refused)
            .count(),
        1
    );
    let bases: HashSet<_> = active.iter().map(|g| g.legal_basis).collect();
    assert!(bases.contains(&LegalBasis::ParentalResponsibility));
    assert!(bases.contains(&LegalBasis::LastingPowerOfAttorney));
    assert!(bases.contains(&LegalBasis::PatientConsent));
    for grant in &rows.grants {
        assert_eq!(grant.ends_on.is_none(), grant.no_end_date_exception);
        assert!(grant.decided_by_staff_id.is_some());
        assert!(grant.proxy_patient_id.is_some() != grant.proxy_carer_id.is_some());
    }
    let carer = summary
        .proxies
        .iter()
        .find(|p| p.proxy_kind == "carer")
        .unwrap();
    assert_eq!(carer.acts_for.len(), 1);
    assert!(carer.acts_for[0].age >= 80);
    assert!(carer.nhs_number.is_none());
    let mother = summary
        .proxies
        .iter()
        .find(|p| p.acts_for.len() == 2)
        .unwrap();
    assert_eq!(mother.proxy_kind, "patient");
    assert!(
        mother
            .acts_for
            .iter()
            .all(|c| c.age < 11 && c.scopes.len() == 6)
    );
    assert!(summary.proxies.iter().any(|p| {
        p.acts_for
            .iter()
            .any(|c| (12..=15).contains(&c.age) && c.scopes == ["appointments", "prescriptions"])
    }));
    // Patient proxies log in with their own patient linkage details.
    for proxy in summary.proxies.iter().filter(|p| p.proxy_kind == "patient") {
        let own = summary
            .patients
            .iter()
            .find(|p| Some(&p.nhs_number) == proxy.nhs_number.as_ref())
            .unwrap();
        assert_eq!(own.account_id, proxy.account_id);
    }
}

#[test]
fn clinical_data_looks_like_a_gp_system() {
    let rows = generate(load_time());
    let today = load_time().date_naive();
    let switch_on = NaiveDate::from_ymd_opt(2023, 10, 31).unwrap();
    // Coded entries: every section, on both sides of the switch-on date.
    for section in [
        RecordSection::Problems,
        RecordSection::Medications,
        RecordSection::Allergies,
        RecordSection::Immunisations,
        RecordSection::Consultations,
    ] {
        assert!(
            rows.entries.iter().any(|e| e.section == section),
            "{section:?}"
        );
    }
    assert!(rows.entries.iter().any(|e| e.effective_date < switch_on));
    assert!(rows.entries.iter().any(|e| e.effective_date >= switch_on));
    assert!(rows.entries.iter().all(|e| e.effective_date <= today));
    assert!(rows.entries.iter().filter(|e| e.hidden).count() >= 5);
    assert!(rows.entries.iter().any(|e| e.hidden_from_proxies));
    let adults: HashSet<Uuid> = rows
        .patients
        .iter()
        .filter(|p| age_on(p.date_of_birth, today) >= 18)
        .map(|p| p.id)
        .collect();
    let adult_entries = rows
        .entries
        .iter()
        .filter(|e| adults.contains(&e.patient_id))
        .count();
    let per_adult = adult_entries as f64 / adults.len() as f64;
    assert!(per_adult >= 20.0, "{per_adult} entries per adult");
    // Results: trends, review states, no future dates.
    let states: HashSet<_> = rows.results.iter().map(|r| r.review_state).collect();
    assert_eq!(states.len(), 3);
    assert!(
        rows.results
            .iter()
            .filter(|r| r.review_state == ReviewState::Pending)
            .count()
            >= 10
    );
    assert!(rows.results.iter().any(|r| r.retracted_at.is_some()));
    assert!(rows.results.iter().any(|r| r.hidden));
    for result in &rows.results {
        assert!(result.received_at <= load_time());
        match result.review_state {
            ReviewState::Pending => {
                assert!(result.reviewed_at.is_none() && result.released_at.is_none())
            }
            ReviewState::Released => {
                assert!(result.released_at.is_some() && result.withhold_reason.is_none())
            }
            ReviewState::Withheld => {
                assert!(result.withhold_reason.is_some() && result.released_at.is_none())
            }
        }
    }
    let mut hba1c: HashMap<Uuid, usize> = HashMap::new();
    for result in rows
        .results
        .iter()
        .filter(|r| r.test_code == "1019431000000105")
    {
        *hba1c.entry(result.patient_id).or_default() += 1;
    }
    assert!(hba1c.values().any(|n| *n >= 4), "HbA1c trends");
    // Documents share blobs by hash.
    let hashes: HashSet<_> = rows.blobs.iter().map(|b| b.sha256.as_str()).collect();
    assert!(
        rows.documents
            .iter()
            .all(|d| hashes.contains(d.blob_sha256.as_str()))
    );
    assert!(rows.blobs.len() < rows.documents.len());
    assert!(
        rows.documents
            .iter()
            .any(|d| d.review_state == ReviewState::Pending)
    );
    assert!(
        rows.documents
            .iter()
            .any(|d| d.review_state == ReviewState::Withheld)
    );
    // Courses and requests.
    assert!(
        rows.courses
            .iter()
            .any(|c| c.review_date.is_some_and(|d| d < today))
    );
    let mut pending = HashSet::new();
    for item in &rows.request_items {
        assert_eq!(
            item.pending_course_id.is_some(),
            item.status == RequestItemStatus::Requested
        );
        if let Some(course) = item.pending_course_id {
            assert_eq!(course, item.course_id);
            assert!(pending.insert(course));
        }
    }
    let statuses: HashSet<_> = rows.request_items.iter().map(|i| i.status).collect();
    assert_eq!(statuses.len(), 4);
}

#[test]
fn slots_cover_eight_weeks_and_bookings_are_consistent() {
    let rows = generate(load_time());
    let now = load_time();
    let future: Vec<_> = rows.slots.iter().filter(|s| s.starts_at > now).collect();
    let last = future.iter().map(|s| s.starts_at).max().unwrap();
    assert!(last - now > Duration::days(52), "slots end {last}");
    assert!(last - now < Duration::days(57));
    let clinicians: HashSet<_> = future.iter().map(|s| s.clinician_staff_id).collect();
    assert_eq!(clinicians.len(), 4);
    let channels: HashSet<_> = future.iter().map(|s| s.channel).collect();
    assert_eq!(channels.len(), 3);
    let by_id: HashMap<Uuid, &slots::Model> = rows.slots.iter().map(|s| (s.id, s)).collect();
    let mut active = HashSet::new();
    let mut future_booked: HashMap<Uuid, usize> = HashMap::new();
    for appointment in &rows.appointments {
        let slot = by_id.get(&appointment.slot_id).unwrap();
        if appointment.status == AppointmentStatus::Booked {
            assert_eq!(appointment.active_slot_id, Some(appointment.slot_id));
            assert!(slot.starts_at > now);
            assert!(active.insert(appointment.slot_id));
            *future_booked.entry(appointment.patient_id).or_default() += 1;
        } else {
            assert_eq!(appointment.active_slot_id, None);
        }
        if matches!(
            appointment.status,
            AppointmentStatus::Attended | AppointmentStatus::DidNotAttend
        ) {
            assert!(slot.starts_at < now && slot.starts_at > now - Duration::days(366));
        }
    }
    assert!(active.len() >= 40);
    assert!(future_booked.values().all(|n| *n <= 2));
    assert!(
        rows.appointments
            .iter()
            .any(|a| a.status == AppointmentStatus::Attended)
    );
    // Surgery hours in UK local time: 08:30 GMT in November.
    let earliest = future.iter().map(|s| s.starts_at.time()).min().unwrap();
    assert_eq!(earliest.to_string(), "08:30:00");
    assert!(rows.threads.len() >= 30);
    assert!(rows.messages.iter().all(|m| m.sent_at <= now));
}

/// A fresh database: SQLite in a temporary directory, or PostgreSQL when configured.
struct TestDb {
    db: DatabaseConnection,
    cleanup: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    async fn create() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, cleanup) = match std::env::var("GP_ONLINE_TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => {
                let name = format!("gp_demo_{}", Uuid::new_v4().simple());
                let admin_db = Database::connect(&admin).await.unwrap();
                admin_db
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                admin_db.close().await.unwrap();
                let (base, query) = match admin.split_once('?') {
                    Some((base, query)) => (base, format!("?{query}")),
                    None => (admin.as_str(), String::new()),
                };
                let base = base.rsplit_once('/').map_or(base, |(head, _)| head);
                (format!("{base}/{name}{query}"), Some((admin.clone(), name)))
            }
            _ => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("demo.sqlite").display()
                ),
                None,
            ),
        };
        let db = Database::connect(&url).await.unwrap();
        gp_online_migrations::Migrator::up(&db, None).await.unwrap();
        Self {
            db,
            cleanup,
            _dir: dir,
        }
    }

    async fn drop(self) {
        self.db.close().await.unwrap();
        if let Some((admin, name)) = self.cleanup {
            let admin = Database::connect(&admin).await.unwrap();
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
    }
}

use gp_online_migrations::MigratorTrait;

#[tokio::test]
async fn loads_into_a_database_once() {
    let test = TestDb::create().await;
    let db = &test.db;
    let summary = load(db, load_time()).await.unwrap();

    assert_eq!(patients::Entity::find().count(db).await.unwrap(), 500);
    let pending = results::Entity::find()
        .filter(results::Column::ReviewState.eq(ReviewState::Pending))
        .count(db)
        .await
        .unwrap();
    assert!(pending > 0);
    let withheld = results::Entity::find()
        .filter(results::Column::ReviewState.eq(ReviewState::Withheld))
        .count(db)
        .await
        .unwrap();
    assert!(withheld > 0);
    let hidden = record_entries::Entity::find()
        .filter(record_entries::Column::Hidden.eq(true))
        .count(db)
        .await
        .unwrap();
    assert!(hidden > 0);
    let grants = proxy_grants::Entity::find().count(db).await.unwrap();
    assert_eq!(grants, 6);
    let future_slots = slots::Entity::find()
        .filter(slots::Column::StartsAt.gt(load_time() + Duration::days(52)))
        .count(db)
        .await
        .unwrap();
    assert!(future_slots > 0);
    let audit = crate::db::entities::audit_events::Entity::find()
        .filter(crate::db::entities::audit_events::Column::Action.eq("demo.load"))
        .count(db)
        .await
        .unwrap();
    assert_eq!(audit, 1);
    let entries = record_entries::Entity::find().count(db).await.unwrap();

    // The stored rows match the summary.
    let stored = find_practice(db).await.unwrap().unwrap();
    assert_eq!(stored.created_at, load_time().trunc_subsecs(0));
    let first = summary.patients.first().unwrap();
    let patient = patients::Entity::find()
        .filter(patients::Column::NhsNumber.eq(first.nhs_number.clone()))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patient.date_of_birth, first.date_of_birth);
    let key = linkage_keys::Entity::find()
        .filter(linkage_keys::Column::AccountCode.eq(first.account_id.clone()))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.key_hash, people::key_hash(&first.linkage_key));

    // Loading again writes nothing and prints the same, even on a later day.
    let again = load(db, load_time()).await.unwrap();
    assert_eq!(again, summary);
    let later = load(db, load_time() + Duration::days(40)).await.unwrap();
    assert_eq!(later.patients.len(), summary.patients.len());
    for (a, b) in later.patients.iter().zip(&summary.patients) {
        assert_eq!(
            (
                &a.nhs_number,
                a.date_of_birth,
                &a.account_id,
                &a.linkage_key
            ),
            (
                &b.nhs_number,
                b.date_of_birth,
                &b.account_id,
                &b.linkage_key
            )
        );
    }
    assert_eq!(later.proxies.len(), summary.proxies.len());
    assert_eq!(patients::Entity::find().count(db).await.unwrap(), 500);
    assert_eq!(
        record_entries::Entity::find().count(db).await.unwrap(),
        entries
    );
    test.drop().await;
}

#[test]
fn any_load_date_gives_consistent_data() {
    // Summer time, a Saturday before a bank holiday, a leap day, late evening.
    for now in [
        Utc.with_ymd_and_hms(2027, 8, 28, 18, 40, 0).unwrap(),
        Utc.with_ymd_and_hms(2028, 2, 29, 23, 59, 59).unwrap(),
        Utc.with_ymd_and_hms(2026, 12, 24, 7, 0, 0).unwrap(),
    ] {
        let rows = generate(now);
        let today = now.date_naive();
        assert_eq!(rows.patients.len(), 500);
        assert!(rows.entries.iter().all(|e| e.effective_date <= today));
        assert!(
            rows.results
                .iter()
                .all(|r| r.received_at <= now && r.effective_date < today)
        );
        assert!(rows.documents.iter().all(|d| d.received_at <= now));
        assert!(rows.messages.iter().all(|m| m.sent_at <= now));
        for slot in rows.slots.iter().filter(|s| s.starts_at > now) {
            let date = slot.starts_at.date_naive();
            assert!(calendar::is_working_day(date), "slot on {date}");
            assert!(slot.starts_at < now + Duration::days(57));
        }
        let summary = summarise(&snapshot(&rows), today);
        assert_eq!(summary.proxies.len(), 4);
    }
    // In British Summer Time surgery opens at 07:30 UTC; 30 August 2027 is a bank holiday.
    let now = Utc.with_ymd_and_hms(2027, 8, 28, 18, 40, 0).unwrap();
    let rows = generate(now);
    let first = rows
        .slots
        .iter()
        .map(|s| s.starts_at)
        .filter(|at| *at > now)
        .min()
        .unwrap();
    assert_eq!(first.to_rfc3339(), "2027-08-31T07:30:00+00:00");
}
