//! Fixtures shared by the service tests: a practice with chosen settings, a patient, an
//! account with a long-lived session token, and a staff member's token, written straight to
//! the database so each test arranges only what it is about.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

use crate::TestApp;
use chrono::NaiveDate;
use gp_online::config::IdentityConfig;
use gp_online::db::entities::{accounts, devices, patients, practices, proxy_grants, staff};
use gp_online::identity::sessions::{self, Subject};
use gp_online::settings::PracticeSettings;
use sea_orm::{ActiveModelTrait, Set};
use uuid::Uuid;

/// A live practice with these settings and a unique ODS code.
pub async fn practice_with(app: &TestApp, settings: PracticeSettings) -> practices::Model {
    let now = app.clock.now();
    practices::ActiveModel {
        id: Set(Uuid::new_v4()),
        ods_code: Set(format!("P{:05}", Uuid::new_v4().as_u128() % 100_000)),
        name: Set("Test Surgery".to_owned()),
        live: Set(true),
        prospective_access_date: Set(NaiveDate::from_ymd_opt(2023, 10, 31)),
        settings: Set(settings.to_json()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
}

/// An adult patient of the practice, with a nominated pharmacy when given.
pub async fn patient(app: &TestApp, practice_id: Uuid, pharmacy: Option<&str>) -> patients::Model {
    let now = app.clock.now();
    let id = Uuid::new_v4();
    patients::ActiveModel {
        id: Set(id),
        practice_id: Set(practice_id),
        external_id: Set(Some(format!("EMIS-{}", id.simple()))),
        nhs_number: Set(format!("{:010}", id.as_u128() % 10_000_000_000)),
        given_name: Set("Grace".to_owned()),
        family_name: Set("Hopper".to_owned()),
        date_of_birth: Set(NaiveDate::from_ymd_opt(1950, 12, 9).unwrap()),
        sex: Set(patients::Sex::Female),
        access_level: Set(patients::AccessLevel::Detailed),
        record_access_from: Set(None),
        competent: Set(true),
        nominated_pharmacy_ods: Set(pharmacy.map(str::to_owned)),
        archived_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
}

/// An account for a patient, with a device and a long-lived session.
pub async fn account(app: &TestApp, patient: &patients::Model) -> (Uuid, String) {
    let now = app.clock.now();
    let account = accounts::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(patient.practice_id),
        patient_id: Set(Some(patient.id)),
        carer_id: Set(None),
        status: Set(accounts::AccountStatus::Active),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
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
    .insert(&app.db)
    .await
    .unwrap();
    let subject = Subject::Account {
        account_id: account.id,
        device_id: device.id,
    };
    let config = IdentityConfig {
        access_token_secs: 90 * 24 * 3600,
        session_idle_secs: 90 * 24 * 3600,
        ..IdentityConfig::default()
    };
    let token = sessions::open(&app.db, &config, subject, now)
        .await
        .unwrap()
        .access_token;
    (account.id, token)
}

/// A member of staff with `role` at the practice, and their session's access token.
pub async fn staff_token(app: &TestApp, practice_id: Uuid, role: staff::StaffRole) -> String {
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
    let subject = Subject::Staff {
        staff_id: member.id,
    };
    let config = IdentityConfig {
        access_token_secs: 90 * 24 * 3600,
        session_idle_secs: 90 * 24 * 3600,
        ..IdentityConfig::default()
    };
    sessions::open(&app.db, &config, subject, now)
        .await
        .unwrap()
        .access_token
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
        created_at: now,
        updated_at: now,
    };
    adjust(&mut grant);
    proxy_grants::ActiveModel::from(grant)
        .insert(&app.db)
        .await
        .unwrap()
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
