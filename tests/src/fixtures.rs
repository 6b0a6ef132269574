//! Fixtures shared by the end-to-end tests: a practice with chosen settings, a patient, an
//! account with a long-lived session token, a staff member's token, a proxy grant and an
//! integration key, written straight to the database so each test arranges only what it is
//! about. [`NewPractice`] and [`NewPatient`] build the less usual ones (a practice that is not
//! live, a patient of a chosen age, name, access level or NHS number).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

use crate::TestApp;
use chrono::{DateTime, NaiveDate, Utc};
use gp_online::config::IdentityConfig;
use gp_online::db::entities::{
    accounts, devices, patients, practices, proxy_grants, results, slots, staff,
};
use gp_online::identity::sessions::{self, Subject};
use gp_online::settings::PracticeSettings;
use gp_online::validate::NhsNumber;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

/// A practice to write: live, with the default settings and prospective access from
/// 2023-10-31 unless changed, and a unique ODS code.
#[derive(Debug, Clone)]
pub struct NewPractice {
    settings: PracticeSettings,
    live: bool,
    prospective_access_date: Option<NaiveDate>,
}

impl Default for NewPractice {
    fn default() -> Self {
        Self {
            settings: PracticeSettings::default(),
            live: true,
            prospective_access_date: NaiveDate::from_ymd_opt(2023, 10, 31),
        }
    }
}

impl NewPractice {
    /// With these settings.
    pub fn settings(mut self, settings: PracticeSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Live (taking registrations) or not.
    pub fn live(mut self, live: bool) -> Self {
        self.live = live;
        self
    }

    /// With this prospective access date, or none.
    pub fn prospective_access_date(mut self, date: Option<NaiveDate>) -> Self {
        self.prospective_access_date = date;
        self
    }

    /// Writes the practice.
    pub async fn insert(self, app: &TestApp) -> practices::Model {
        let now = app.clock.now();
        practices::ActiveModel {
            id: Set(Uuid::new_v4()),
            ods_code: Set(unique_ods_code()),
            name: Set("Test Surgery".to_owned()),
            live: Set(self.live),
            prospective_access_date: Set(self.prospective_access_date),
            settings: Set(self.settings.to_json()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.db)
        .await
        .unwrap()
    }
}

/// A valid ODS code (a letter and five digits), different for each call in this process: the
/// next of the 2.6 million codes after a random start. (Drawn at random, two of a test's
/// practices could share one and fail its unique index.)
fn unique_ods_code() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    const CODES: u64 = 26 * 100_000;
    static NEXT: OnceLock<AtomicU64> = OnceLock::new();
    let next = NEXT.get_or_init(|| AtomicU64::new(Uuid::new_v4().as_u64_pair().0 % CODES));
    let code = next.fetch_add(1, Ordering::Relaxed) % CODES;
    let letter = char::from(b'A' + (code % 26) as u8);
    format!("{letter}{:05}", code / 26)
}

/// A live practice with these settings and a unique ODS code.
pub async fn practice_with(app: &TestApp, settings: PracticeSettings) -> practices::Model {
    NewPractice::default().settings(settings).insert(app).await
}

/// A live practice with the default settings and a unique ODS code.
pub async fn practice(app: &TestApp) -> practices::Model {
    NewPractice::default().insert(app).await
}

/// A valid NHS number in the 999 test range, different for each call.
pub fn unique_nhs_number() -> String {
    loop {
        let seed = Uuid::new_v4().as_u128();
        let mut digits = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
        for (i, digit) in digits.iter_mut().enumerate().skip(3) {
            *digit = ((seed >> (i * 4)) % 10) as u8;
        }
        if let Some(number) = NhsNumber::from_first_nine(digits) {
            return number.to_string();
        }
    }
}

/// A patient to write: by default Grace Hopper, born 1950-12-09, competent, with detailed
/// access, known to the clinical system (an external id) and no nominated pharmacy; each
/// method changes one of these.
#[derive(Debug, Clone)]
pub struct NewPatient {
    practice_id: Uuid,
    given_name: String,
    family_name: String,
    born: NaiveDate,
    sex: patients::Sex,
    access_level: patients::AccessLevel,
    record_access_from: Option<NaiveDate>,
    competent: bool,
    pharmacy: Option<String>,
    nhs_number: Option<String>,
    from_clinical_system: bool,
}

impl NewPatient {
    /// A patient of the practice `practice_id`, with the defaults.
    pub fn at(practice_id: Uuid) -> Self {
        Self {
            practice_id,
            given_name: "Grace".to_owned(),
            family_name: "Hopper".to_owned(),
            born: NaiveDate::from_ymd_opt(1950, 12, 9).unwrap(),
            sex: patients::Sex::Female,
            access_level: patients::AccessLevel::Detailed,
            record_access_from: None,
            competent: true,
            pharmacy: None,
            nhs_number: None,
            from_clinical_system: true,
        }
    }

    /// With this given name and family name.
    pub fn named(mut self, given_name: &str, family_name: &str) -> Self {
        self.given_name = given_name.to_owned();
        self.family_name = family_name.to_owned();
        self
    }

    /// Born on this day.
    pub fn born(mut self, born: NaiveDate) -> Self {
        self.born = born;
        self
    }

    /// Of this recorded sex.
    pub fn sex(mut self, sex: patients::Sex) -> Self {
        self.sex = sex;
        self
    }

    /// With this record access level.
    pub fn access_level(mut self, level: patients::AccessLevel) -> Self {
        self.access_level = level;
        self
    }

    /// With this record access date recorded by the practice, or none.
    pub fn record_access_from(mut self, from: Option<NaiveDate>) -> Self {
        self.record_access_from = from;
        self
    }

    /// Recorded as competent (Gillick) or not.
    pub fn competent(mut self, competent: bool) -> Self {
        self.competent = competent;
        self
    }

    /// With this nominated pharmacy, or none.
    pub fn pharmacy(mut self, pharmacy: Option<&str>) -> Self {
        self.pharmacy = pharmacy.map(str::to_owned);
        self
    }

    /// With this NHS number (otherwise one made from the patient's id).
    pub fn nhs_number(mut self, nhs_number: &str) -> Self {
        self.nhs_number = Some(nhs_number.to_owned());
        self
    }

    /// Registered at the practice's desk: not yet known to the clinical system (no external
    /// id).
    pub fn at_the_desk(mut self) -> Self {
        self.from_clinical_system = false;
        self
    }

    /// Writes the patient.
    pub async fn insert(self, app: &TestApp) -> patients::Model {
        let now = app.clock.now();
        let id = Uuid::new_v4();
        patients::ActiveModel {
            id: Set(id),
            practice_id: Set(self.practice_id),
            external_id: Set(self
                .from_clinical_system
                .then(|| format!("EMIS-{}", id.simple()))),
            nhs_number: Set(self
                .nhs_number
                .unwrap_or_else(|| format!("{:010}", id.as_u128() % 10_000_000_000))),
            given_name: Set(self.given_name),
            family_name: Set(self.family_name),
            date_of_birth: Set(self.born),
            sex: Set(self.sex),
            access_level: Set(self.access_level),
            record_access_from: Set(self.record_access_from),
            competent: Set(self.competent),
            nominated_pharmacy_ods: Set(self.pharmacy),
            archived_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.db)
        .await
        .unwrap()
    }
}

/// An adult patient of the practice, with a nominated pharmacy when given.
pub async fn patient(app: &TestApp, practice_id: Uuid, pharmacy: Option<&str>) -> patients::Model {
    NewPatient::at(practice_id)
        .pharmacy(pharmacy)
        .insert(app)
        .await
}

/// Sessions of test accounts and staff last 90 days, so tests can move the clock and load
/// runs outlast any session limit.
pub fn long_sessions() -> IdentityConfig {
    IdentityConfig {
        access_token_secs: 90 * 24 * 3600,
        session_idle_secs: 90 * 24 * 3600,
        ..IdentityConfig::default()
    }
}

/// An account for a patient, with a device and a long-lived session.
pub async fn account(app: &TestApp, patient: &patients::Model) -> (Uuid, String) {
    account_for(app, patient.practice_id, Some(patient.id), None).await
}

/// An account at the practice for a patient (`patient_id`) or a carer who is not a patient
/// (`carer_id`), with a device and a long-lived session: its id and access token.
pub async fn account_for(
    app: &TestApp,
    practice_id: Uuid,
    patient_id: Option<Uuid>,
    carer_id: Option<Uuid>,
) -> (Uuid, String) {
    account_on(&app.db, practice_id, patient_id, carer_id, app.clock.now()).await
}

/// [`account_for`] on any database (a server's, outside the test harness) at `now`.
pub async fn account_on(
    db: &DatabaseConnection,
    practice_id: Uuid,
    patient_id: Option<Uuid>,
    carer_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> (Uuid, String) {
    let account = accounts::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(practice_id),
        patient_id: Set(patient_id),
        carer_id: Set(carer_id),
        status: Set(accounts::AccountStatus::Active),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();
    let device = devices::ActiveModel {
        id: Set(Uuid::new_v4()),
        account_id: Set(account.id),
        name: Set("Phone".to_owned()),
        created_at: Set(now),
        last_seen_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
    let subject = Subject::Account {
        account_id: account.id,
        device_id: device.id,
    };
    let token = sessions::open(db, &long_sessions(), subject, now)
        .await
        .unwrap()
        .access_token;
    (account.id, token)
}

/// Another device of an account (signed in elsewhere), without a session.
pub async fn device(app: &TestApp, account_id: Uuid, name: &str) -> Uuid {
    let now = app.clock.now();
    devices::ActiveModel {
        id: Set(Uuid::new_v4()),
        account_id: Set(account_id),
        name: Set(name.to_owned()),
        created_at: Set(now),
        last_seen_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

/// Another device of an account with its own long-lived session: the device's access token.
pub async fn device_token(app: &TestApp, account_id: Uuid, name: &str) -> String {
    device_session(app, account_id, name).await.1
}

/// [`device_token`], with the device's id.
pub async fn device_session(app: &TestApp, account_id: Uuid, name: &str) -> (Uuid, String) {
    let device_id = device(app, account_id, name).await;
    let subject = Subject::Account {
        account_id,
        device_id,
    };
    let token = sessions::open(&app.db, &long_sessions(), subject, app.clock.now())
        .await
        .unwrap()
        .access_token;
    (device_id, token)
}

/// The id of the (first) account of the patient `patient_id`.
pub async fn account_of(app: &TestApp, patient_id: Uuid) -> Uuid {
    accounts::Entity::find()
        .filter(accounts::Column::PatientId.eq(patient_id))
        .one(&app.db)
        .await
        .unwrap()
        .expect("the patient has an account")
        .id
}

/// A member of staff with `role` at the practice, and their session's access token.
pub async fn staff_token(app: &TestApp, practice_id: Uuid, role: staff::StaffRole) -> String {
    staff_member(app, practice_id, role).await.1
}

/// A member of staff with `role` at the practice: their id and a session's access token.
pub async fn staff_member(
    app: &TestApp,
    practice_id: Uuid,
    role: staff::StaffRole,
) -> (Uuid, String) {
    let now = app.clock.now();
    let member = staff::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(practice_id),
        display_name: Set(format!("{role:?} One")),
        role: Set(role),
        job_title: Set(None),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let token = staff_session_on(&app.db, member.id, now).await;
    (member.id, token)
}

/// A long-lived session for a member of staff already stored, on any database (a server's,
/// outside the test harness) at `now`: its access token.
pub async fn staff_session_on(
    db: &DatabaseConnection,
    staff_id: Uuid,
    now: DateTime<Utc>,
) -> String {
    let subject = Subject::Staff { staff_id };
    sessions::open(db, &long_sessions(), subject, now)
        .await
        .unwrap()
        .access_token
}

/// An open ten-minute slot of the practice starting `starts_in` from now (a GP appointment in
/// person with Dr Rhea Shah in Room 1, unless `adjust` changes it), written straight to the
/// database: its id.
pub async fn open_slot(
    app: &TestApp,
    practice_id: Uuid,
    starts_in: chrono::Duration,
    adjust: impl FnOnce(&mut slots::Model),
) -> Uuid {
    let now = app.clock.now();
    let starts_at = now + starts_in;
    let mut slot = slots::Model {
        id: Uuid::new_v4(),
        practice_id,
        external_id: None,
        clinician_staff_id: None,
        clinician_name: "Dr Rhea Shah".to_owned(),
        slot_type: "GP appointment".to_owned(),
        session_name: "Morning surgery".to_owned(),
        location: "Room 1".to_owned(),
        channel: slots::Channel::InPerson,
        starts_at,
        ends_at: starts_at + chrono::Duration::minutes(10),
        status: slots::SlotStatus::Open,
        created_at: now,
        updated_at: now,
    };
    adjust(&mut slot);
    slots::ActiveModel::from(slot)
        .insert(&app.db)
        .await
        .unwrap()
        .id
}

/// A proxy grant letting the patient `proxy_patient_id` act for `patient` with `scopes`
/// (comma-separated wire names), active from 2020 to 2030 unless `adjust` changes it (e.g. a
/// past end date or a suspension), written straight to the database.
pub async fn proxy_grant(
    app: &TestApp,
    patient: &patients::Model,
    proxy_patient_id: Uuid,
    scopes: &str,
    adjust: impl FnOnce(&mut proxy_grants::Model),
) -> proxy_grants::Model {
    let now = app.clock.now();
    let mut grant = proxy_grants::Model {
        id: Uuid::new_v4(),
        practice_id: patient.practice_id,
        patient_id: patient.id,
        proxy_patient_id: Some(proxy_patient_id),
        proxy_carer_id: None,
        relationship: "carer".to_owned(),
        status: proxy_grants::GrantStatus::Active,
        scopes: scopes.to_owned(),
        legal_basis: proxy_grants::LegalBasis::PatientConsent,
        decided_by_staff_id: None,
        decided_at: now,
        starts_on: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        ends_on: NaiveDate::from_ymd_opt(2030, 1, 1),
        no_end_date_exception: false,
        young_person_consent_at: None,
        suspended_at: None,
        suspended_reason: None,
        revoked_at: None,
        revoked_by: None,
        refusal_reason: None,
        last_used_at: None,
        record_access_from: None,
        created_at: now,
        updated_at: now,
    };
    adjust(&mut grant);
    proxy_grants::ActiveModel::from(grant)
        .insert(&app.db)
        .await
        .unwrap()
}

/// A proxy: another patient of `patient`'s practice with an account, holding a grant of
/// `scopes` for `patient` as [`proxy_grant`] writes it. The proxy's account id and token.
pub async fn proxy_account(
    app: &TestApp,
    patient: &patients::Model,
    scopes: &str,
) -> (Uuid, String) {
    let proxy = self::patient(app, patient.practice_id, None).await;
    proxy_grant(app, patient, proxy.id, scopes, |_| {}).await;
    account(app, &proxy).await
}

/// A clinical-system integration key for the practice (the bearer secret, shown once).
pub async fn integration_key(app: &TestApp, practice: &practices::Model) -> String {
    gp_online::identity::integration::create_key(
        &app.db,
        &practice.ods_code,
        "Clinical system",
        app.clock.now(),
    )
    .await
    .unwrap()
    .key
}

/// The practice of a patient, for a row a test writes straight to the database (every row of a
/// patient's data carries the patient's practice).
pub async fn practice_of(app: &TestApp, patient_id: Uuid) -> Uuid {
    patients::Entity::find_by_id(patient_id)
        .one(&app.db)
        .await
        .unwrap()
        .expect("the patient exists")
        .practice_id
}

/// A released, normal serum ferritin result of the patient (effective 2026-11-20), changed by
/// `adjust` first (e.g. pending review, hidden from proxies, another name).
pub async fn result(
    app: &TestApp,
    patient_id: Uuid,
    adjust: impl FnOnce(&mut results::Model),
) -> results::Model {
    let now = app.clock.now();
    let mut result = results::Model {
        id: Uuid::new_v4(),
        practice_id: practice_of(app, patient_id).await,
        patient_id,
        external_id: None,
        test_code: "1022441000000100".to_owned(),
        test_name: "Serum ferritin".to_owned(),
        value: "40".to_owned(),
        numeric_value: Some(40.0),
        unit: Some("ug/L".to_owned()),
        range_low: Some(30.0),
        range_high: Some(400.0),
        range_text: None,
        abnormal_flag: results::AbnormalFlag::Normal,
        requester: None,
        effective_date: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        received_at: now,
        entered_on: now.date_naive(),
        review_state: results::ReviewState::Released,
        reviewed_at: Some(now),
        reviewed_by_staff_id: None,
        clinician_comment: None,
        withhold_reason: None,
        released_at: Some(now),
        retracted_at: None,
        retraction_reason: None,
        hidden: false,
        hidden_from_proxies: false,
        created_at: now,
        updated_at: now,
    };
    adjust(&mut result);
    results::ActiveModel::from(result)
        .insert(&app.db)
        .await
        .unwrap()
}
