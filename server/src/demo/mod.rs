//! The deterministic demo practice: Riverside Medical Practice (ODS A81001) with staff, 500
//! patients and realistic GP records, results, letters, appointment slots, repeat courses,
//! prescription requests, messages, proxy grants and linkage details.
//!
//! Everything is drawn from a fixed seed (ChaCha8, one stream per area and per patient) and
//! dated relative to the load time, so the same load time always gives the same rows. Linkage
//! details depend on the seed and the patient's position alone; only their SHA-256 hash is
//! stored. Loading is idempotent: when the practice exists, nothing is written and the summary
//! is read back from the database (with the printed keys recomputed from the seed and checked
//! against the stored hashes), so `gp-online demo --json` prints what is stored on any day.
//!
//! Layout: [`catalogue`] (reference data), [`people`] (practice, staff, patients, linkage,
//! access codes, proxies), [`record`] (coded entries, results, letters, courses), [`services`]
//! (slots, appointments, prescription requests, messages), [`calendar`] (UK time, bank holidays).

mod calendar;
mod catalogue;
mod people;
mod record;
mod services;

use crate::audit::AuditEvent;
use crate::db::entities::audit_events::{ActorKind, Outcome};
use crate::db::entities::patients::{AccessLevel, Sex};
use crate::db::entities::proxy_grants::{GrantStatus, LegalBasis};
use crate::db::entities::{
    access_codes, appointments, blobs, carers, courses, documents, linkage_keys, message_threads,
    messages, patients, practices, prescription_request_items, prescription_requests, proxy_grants,
    record_entries, results, slots, staff,
};
use crate::validate::age_on;
use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    Iterable, QueryFilter, TransactionTrait,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// What `gp-online demo` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoSummary {
    /// The practice.
    pub practice: DemoPracticeInfo,
    /// Every demo patient with linkage details.
    pub patients: Vec<DemoPatientLogin>,
    /// Every demo proxy with linkage details and whom they act for.
    pub proxies: Vec<DemoProxyLogin>,
}

/// The demo practice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoPracticeInfo {
    /// ODS code.
    pub ods_code: String,
    /// Name.
    pub name: String,
}

/// Registration details of a demo patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoPatientLogin {
    /// NHS number.
    pub nhs_number: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Date of birth.
    pub date_of_birth: chrono::NaiveDate,
    /// Account ID.
    pub account_id: String,
    /// Linkage key, exactly as it is to be typed (its SHA-256 is what is stored).
    pub linkage_key: String,
    /// Practice ODS code.
    pub ods_code: String,
    /// Age today.
    pub age: i32,
    /// Recorded sex.
    pub sex: Sex,
    /// How much of their record the patient may see online.
    pub access_level: AccessLevel,
    /// An under-16 judged competent to use online services.
    pub competent: bool,
    /// When the linkage details stop working.
    pub linkage_key_expires_at: DateTime<Utc>,
}

/// Registration details of a demo proxy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoProxyLogin {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Date of birth.
    pub date_of_birth: chrono::NaiveDate,
    /// Account ID.
    pub account_id: String,
    /// Linkage key, exactly as it is to be typed.
    pub linkage_key: String,
    /// Practice ODS code.
    pub ods_code: String,
    /// `patient` (a patient of the practice, using their own linkage details) or `carer`.
    pub proxy_kind: String,
    /// The proxy's NHS number when they are a patient of the practice.
    pub nhs_number: Option<String>,
    /// Age today.
    pub age: i32,
    /// Whom they act for.
    pub acts_for: Vec<DemoActsFor>,
}

/// One person a demo proxy acts for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoActsFor {
    /// NHS number.
    pub nhs_number: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// The proxy's relationship to the patient (e.g. `Mother`).
    pub relationship: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// Age today.
    pub age: i32,
    /// The legal basis of the grant.
    pub legal_basis: LegalBasis,
    /// The scopes granted (`appointments`, `prescriptions`, `messages`, `record_summary`,
    /// `record_detailed`, `documents`).
    pub scopes: Vec<String>,
    /// The last day of the grant (`None`: an open-ended exception).
    pub ends_on: Option<NaiveDate>,
}

/// The seed of every demo stream ("GPONLINE").
const SEED: u64 = 0x4750_4F4E_4C49_4E45;

/// The random stream `id` of the demo seed.
fn stream(id: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    rng.set_stream(id);
    rng
}

/// A random stream seeded by a value drawn from another stream.
fn stream_from(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A random (version 4) UUID drawn from `rng`.
fn new_id(rng: &mut impl Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// One item of a non-empty slice.
fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A date from `from` to `to` inclusive (`from` when the range is empty).
fn date_between(rng: &mut impl Rng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let days = (to - from).num_days();
    if days <= 0 {
        return from;
    }
    from + Duration::days(rng.random_range(0..=days))
}

/// An approximately standard normal number (Irwin–Hall with 12 uniforms).
fn normal(rng: &mut impl Rng) -> f64 {
    (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0
}

/// What every generator reads: the load time and who works at the practice.
struct Ctx {
    now: DateTime<Utc>,
    today: NaiveDate,
    practice_id: Uuid,
    staff: people::StaffDirectory,
}

impl Ctx {
    /// `at`, or a moment ago if `at` would be in the future.
    fn not_after_now(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.min(self.now - Duration::minutes(5))
    }
}

/// Every row of the demo, by table, in insertion order.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rows {
    practices: Vec<practices::Model>,
    staff: Vec<staff::Model>,
    carers: Vec<carers::Model>,
    patients: Vec<patients::Model>,
    access_codes: Vec<access_codes::Model>,
    linkage_keys: Vec<linkage_keys::Model>,
    blobs: Vec<blobs::Model>,
    entries: Vec<record_entries::Model>,
    results: Vec<results::Model>,
    documents: Vec<documents::Model>,
    slots: Vec<slots::Model>,
    appointments: Vec<appointments::Model>,
    courses: Vec<courses::Model>,
    requests: Vec<prescription_requests::Model>,
    request_items: Vec<prescription_request_items::Model>,
    threads: Vec<message_threads::Model>,
    messages: Vec<messages::Model>,
    grants: Vec<proxy_grants::Model>,
}

/// Load times are kept to whole seconds so they survive a round trip through any backend.
fn normalise(now: DateTime<Utc>) -> DateTime<Utc> {
    now.trunc_subsecs(0)
}

/// Generates the whole demo in memory for a load at `now`.
fn generate(now: DateTime<Utc>) -> Rows {
    let now = normalise(now);
    let (practice, staff, directory) = people::practice_and_staff(now);
    let ctx = Ctx {
        now,
        today: now.date_naive(),
        practice_id: practice.id,
        staff: directory,
    };
    let mut rows = Rows {
        practices: vec![practice],
        staff,
        ..Rows::default()
    };
    let people = people::patients(&ctx);
    people::add_people(&ctx, &people, &mut rows);
    let mut blobs = BTreeMap::new();
    for person in &people {
        record::generate(&ctx, person, &mut rows, &mut blobs);
    }
    record::retract_some(&ctx, &mut rows);
    rows.blobs = blobs.into_values().collect();
    services::slots_and_appointments(&ctx, &people, &mut rows);
    services::prescription_requests(&ctx, &people, &mut rows);
    services::messages(&ctx, &people, &mut rows);
    rows
}

/// The rows a summary is made from, whether just generated or read back.
struct Snapshot<'a> {
    practice: &'a practices::Model,
    patients: &'a [patients::Model],
    carers: &'a [carers::Model],
    linkage_keys: &'a [linkage_keys::Model],
    grants: &'a [proxy_grants::Model],
}

/// The summary of a snapshot: every unrevoked linkage key whose printed form the seed still
/// produces (checked against the stored hash), and every active proxy grant.
fn summarise(snapshot: &Snapshot<'_>, today: NaiveDate) -> DemoSummary {
    let known = people::known_keys();
    let ods_code = snapshot.practice.ods_code.clone();
    let patients: HashMap<Uuid, &patients::Model> =
        snapshot.patients.iter().map(|p| (p.id, p)).collect();
    let printable = |row: &linkage_keys::Model| {
        known
            .get(&row.account_code)
            .filter(|key| row.revoked_at.is_none() && people::key_hash(key) == row.key_hash)
            .cloned()
    };
    let mut keys: Vec<&linkage_keys::Model> = snapshot.linkage_keys.iter().collect();
    keys.sort_by_key(|row| {
        let patient = row.patient_id.and_then(|id| patients.get(&id));
        (
            patient.and_then(|p| p.external_id.clone()),
            row.account_code.clone(),
        )
    });
    let mut logins = Vec::new();
    let mut patient_keys: HashMap<Uuid, (&linkage_keys::Model, String)> = HashMap::new();
    let mut carer_keys: HashMap<Uuid, (&linkage_keys::Model, String)> = HashMap::new();
    for row in keys {
        let Some(key) = printable(row) else { continue };
        if let Some(carer_id) = row.carer_id {
            carer_keys.insert(carer_id, (row, key));
            continue;
        }
        let Some(patient) = row.patient_id.and_then(|id| patients.get(&id)) else {
            continue;
        };
        patient_keys.insert(patient.id, (row, key.clone()));
        logins.push(DemoPatientLogin {
            nhs_number: patient.nhs_number.clone(),
            given_name: patient.given_name.clone(),
            family_name: patient.family_name.clone(),
            date_of_birth: patient.date_of_birth,
            account_id: row.account_code.clone(),
            linkage_key: key,
            ods_code: ods_code.clone(),
            age: age_on(patient.date_of_birth, today),
            sex: patient.sex,
            access_level: patient.access_level,
            competent: patient.competent,
            linkage_key_expires_at: row.expires_at,
        });
    }
    // Group the active grants by proxy.
    let mut proxies: BTreeMap<(String, String, NaiveDate, String), DemoProxyLogin> =
        BTreeMap::new();
    let carers: HashMap<Uuid, &carers::Model> = snapshot.carers.iter().map(|c| (c.id, c)).collect();
    for grant in snapshot
        .grants
        .iter()
        .filter(|g| g.status == GrantStatus::Active)
    {
        let Some(patient) = patients.get(&grant.patient_id) else {
            continue;
        };
        let proxy = if let Some(id) = grant.proxy_patient_id {
            patients
                .get(&id)
                .zip(patient_keys.get(&id))
                .map(|(p, (row, key))| {
                    (
                        p.given_name.clone(),
                        p.family_name.clone(),
                        p.date_of_birth,
                        Some(p.nhs_number.clone()),
                        "patient",
                        row.account_code.clone(),
                        key.clone(),
                    )
                })
        } else if let Some(id) = grant.proxy_carer_id {
            carers
                .get(&id)
                .zip(carer_keys.get(&id))
                .map(|(c, (row, key))| {
                    (
                        c.given_name.clone(),
                        c.family_name.clone(),
                        c.date_of_birth,
                        None,
                        "carer",
                        row.account_code.clone(),
                        key.clone(),
                    )
                })
        } else {
            None
        };
        let Some((given, family, dob, nhs, kind, account, key)) = proxy else {
            continue;
        };
        let login = proxies
            .entry((family.clone(), given.clone(), dob, account.clone()))
            .or_insert_with(|| DemoProxyLogin {
                given_name: given,
                family_name: family,
                date_of_birth: dob,
                account_id: account,
                linkage_key: key,
                ods_code: ods_code.clone(),
                proxy_kind: kind.to_owned(),
                nhs_number: nhs,
                age: age_on(dob, today),
                acts_for: Vec::new(),
            });
        login.acts_for.push(DemoActsFor {
            nhs_number: patient.nhs_number.clone(),
            given_name: patient.given_name.clone(),
            family_name: patient.family_name.clone(),
            relationship: grant.relationship.clone(),
            date_of_birth: patient.date_of_birth,
            age: age_on(patient.date_of_birth, today),
            legal_basis: grant.legal_basis,
            scopes: grant
                .scopes
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            ends_on: grant.ends_on,
        });
    }
    let mut proxies: Vec<DemoProxyLogin> = proxies.into_values().collect();
    for proxy in &mut proxies {
        proxy.acts_for.sort_by(|a, b| {
            (a.date_of_birth, &a.nhs_number).cmp(&(b.date_of_birth, &b.nhs_number))
        });
    }
    DemoSummary {
        practice: DemoPracticeInfo {
            ods_code,
            name: snapshot.practice.name.clone(),
        },
        patients: logins,
        proxies,
    }
}

/// Most bind parameters in one statement (SQLite allows 32766, PostgreSQL 65535).
const MAX_PARAMETERS: usize = 30_000;
/// Most rows in one statement.
const MAX_ROWS: usize = 500;

/// Inserts `rows` in multi-row statements small enough for either backend.
async fn insert_all<E, A, M>(db: &impl ConnectionTrait, rows: &[M]) -> Result<(), DbErr>
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
    M: Clone + IntoActiveModel<A>,
{
    let columns = E::Column::iter().count().max(1);
    let per_statement = (MAX_PARAMETERS / columns).clamp(1, MAX_ROWS);
    for chunk in rows.chunks(per_statement) {
        E::insert_many(
            chunk
                .iter()
                .cloned()
                .map(IntoActiveModel::into_active_model),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Writes every row (parents before children) and the audit event.
async fn insert(db: &impl ConnectionTrait, rows: &Rows, now: DateTime<Utc>) -> Result<(), DbErr> {
    insert_all::<practices::Entity, _, _>(db, &rows.practices).await?;
    insert_all::<staff::Entity, _, _>(db, &rows.staff).await?;
    insert_all::<carers::Entity, _, _>(db, &rows.carers).await?;
    insert_all::<patients::Entity, _, _>(db, &rows.patients).await?;
    insert_all::<access_codes::Entity, _, _>(db, &rows.access_codes).await?;
    insert_all::<linkage_keys::Entity, _, _>(db, &rows.linkage_keys).await?;
    insert_all::<blobs::Entity, _, _>(db, &rows.blobs).await?;
    insert_all::<record_entries::Entity, _, _>(db, &rows.entries).await?;
    insert_all::<results::Entity, _, _>(db, &rows.results).await?;
    insert_all::<documents::Entity, _, _>(db, &rows.documents).await?;
    insert_all::<slots::Entity, _, _>(db, &rows.slots).await?;
    insert_all::<appointments::Entity, _, _>(db, &rows.appointments).await?;
    insert_all::<courses::Entity, _, _>(db, &rows.courses).await?;
    insert_all::<prescription_requests::Entity, _, _>(db, &rows.requests).await?;
    insert_all::<prescription_request_items::Entity, _, _>(db, &rows.request_items).await?;
    insert_all::<message_threads::Entity, _, _>(db, &rows.threads).await?;
    insert_all::<messages::Entity, _, _>(db, &rows.messages).await?;
    insert_all::<proxy_grants::Entity, _, _>(db, &rows.grants).await?;
    if let Some(practice) = rows.practices.first() {
        AuditEvent::new("demo.load", ActorKind::System, Outcome::Success)
            .practice(practice.id)
            .target("practice", practice.id)
            .detail(serde_json::json!({
                "patients": rows.patients.len(),
                "record_entries": rows.entries.len(),
                "results": rows.results.len(),
                "documents": rows.documents.len(),
                "slots": rows.slots.len(),
                "appointments": rows.appointments.len(),
                "courses": rows.courses.len(),
                "proxy_grants": rows.grants.len(),
                "linkage_keys": rows.linkage_keys.len(),
            }))
            .record(db, now)
            .await?;
    }
    Ok(())
}

/// The demo practice if it is in the database.
async fn find_practice(db: &impl ConnectionTrait) -> Result<Option<practices::Model>, DbErr> {
    practices::Entity::find()
        .filter(practices::Column::OdsCode.eq(people::ODS_CODE))
        .one(db)
        .await
}

/// The summary of the demo practice as stored.
async fn stored_summary(
    db: &impl ConnectionTrait,
    practice: &practices::Model,
    now: DateTime<Utc>,
) -> Result<DemoSummary, DbErr> {
    if practice.id != people::practice_id() {
        return Err(DbErr::Custom(format!(
            "a practice with ODS code {} exists and is not the demo practice",
            people::ODS_CODE
        )));
    }
    let patients = patients::Entity::find()
        .filter(patients::Column::PracticeId.eq(practice.id))
        .all(db)
        .await?;
    let carers = carers::Entity::find()
        .filter(carers::Column::PracticeId.eq(practice.id))
        .all(db)
        .await?;
    let linkage_keys = linkage_keys::Entity::find()
        .filter(linkage_keys::Column::PracticeId.eq(practice.id))
        .all(db)
        .await?;
    let grants = proxy_grants::Entity::find()
        .filter(proxy_grants::Column::PracticeId.eq(practice.id))
        .all(db)
        .await?;
    let snapshot = Snapshot {
        practice,
        patients: &patients,
        carers: &carers,
        linkage_keys: &linkage_keys,
        grants: &grants,
    };
    Ok(summarise(&snapshot, now.date_naive()))
}

/// Loads the demo practice in one transaction, or, when it is already there, writes nothing
/// and returns the summary of what is stored. A database that holds any other practice is
/// refused: the demo's linkage details derive from a public seed, so it must never share a
/// database with real patients.
pub async fn load(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<DemoSummary, DbErr> {
    if let Some(practice) = find_practice(db).await? {
        return stored_summary(db, &practice, now).await;
    }
    if practices::Entity::find().one(db).await?.is_some() {
        return Err(DbErr::Custom(
            "this database holds other practices: the demo practice is only for development \
             databases"
                .to_owned(),
        ));
    }
    let rows = generate(now);
    let outcome = async {
        let txn = db.begin().await?;
        insert(&txn, &rows, normalise(now)).await?;
        txn.commit().await
    }
    .await;
    if let Err(error) = outcome {
        // Another process may have loaded the demo at the same moment: then use theirs.
        return match find_practice(db).await {
            Ok(Some(practice)) => stored_summary(db, &practice, now).await,
            _ => Err(error),
        };
    }
    let Some(practice) = rows.practices.first() else {
        return Err(DbErr::Custom("the demo generated no practice".to_owned()));
    };
    let snapshot = Snapshot {
        practice,
        patients: &rows.patients,
        carers: &rows.carers,
        linkage_keys: &rows.linkage_keys,
        grants: &rows.grants,
    };
    Ok(summarise(&snapshot, now.date_naive()))
}

#[cfg(test)]
mod tests;
