//! Credentials for a schemathesis run against a server holding the demo practice
//! (`tests/schemathesis/run.sh`): a session for a demo patient, for a demo proxy (a patient of the
//! practice acting for another), for a clinician and an admin of the practice, and a
//! clinical-system integration key, written straight to the server's database (no passkey
//! ceremony: the run tests the API behind sign-in, not sign-in). Printed as shell assignments,
//! one a line: `<ROLE>_TOKEN`, and `<ROLE>_PATIENT_ID` / `<ROLE>_DEVICE_ID` for the ids its routes
//! take.
//!
//! ```sh
//! cargo run -p gp-online-tests --example schemathesis-credentials -- --database-url URL
//! ```
#![allow(clippy::print_stdout)] // A command-line example prints its results.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A failure here ends the run.

use anyhow::Context as _;
use clap::Parser;
use gp_online::db::entities::{devices, patients, staff};
use gp_online_tests::fixtures::{account_on, staff_session_on};
use sea_orm::{ColumnTrait, Database, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

/// Mints a credential per role on a database holding the demo practice.
#[derive(Debug, Parser)]
#[command(name = "schemathesis-credentials")]
struct Args {
    /// The server's database (`sqlite://…?mode=rwc` or `postgres://…`).
    #[arg(long)]
    database_url: String,
}

async fn patient_by_nhs_number(
    db: &DatabaseConnection,
    nhs_number: &str,
) -> anyhow::Result<patients::Model> {
    patients::Entity::find()
        .filter(patients::Column::NhsNumber.eq(nhs_number))
        .one(db)
        .await?
        .context("a demo patient is missing")
}

async fn device_of(db: &DatabaseConnection, account_id: Uuid) -> anyhow::Result<Uuid> {
    Ok(devices::Entity::find()
        .filter(devices::Column::AccountId.eq(account_id))
        .one(db)
        .await?
        .context("the account's device is missing")?
        .id)
}

fn print_role(role: &str, token: &str, patient_id: Uuid, device_id: Option<Uuid>) {
    println!("{role}_TOKEN={token}");
    println!("{role}_PATIENT_ID={patient_id}");
    if let Some(device_id) = device_id {
        println!("{role}_DEVICE_ID={device_id}");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = Database::connect(&args.database_url).await?;
    let now = gp_online::clock::Clock::System.now();
    let demo = gp_online::demo::load(&db, now).await?;

    // A proxy who is a patient of the practice, and the patient they act for.
    let proxy = demo
        .proxies
        .iter()
        .find(|p| p.proxy_kind == "patient" && !p.acts_for.is_empty())
        .context("the demo practice has no proxy who is a patient")?;
    let proxy_patient =
        patient_by_nhs_number(&db, proxy.nhs_number.as_deref().unwrap_or("")).await?;
    let represented = patient_by_nhs_number(&db, &proxy.acts_for[0].nhs_number).await?;
    // A patient who is neither of those two.
    let login = demo
        .patients
        .iter()
        .find(|p| {
            p.nhs_number != represented.nhs_number && p.nhs_number != proxy_patient.nhs_number
        })
        .context("the demo practice has no patients")?;
    let patient = patient_by_nhs_number(&db, &login.nhs_number).await?;

    let (account, token) = account_on(&db, patient.practice_id, Some(patient.id), None, now).await;
    print_role(
        "PATIENT",
        &token,
        patient.id,
        Some(device_of(&db, account).await?),
    );
    let (account, token) = account_on(
        &db,
        proxy_patient.practice_id,
        Some(proxy_patient.id),
        None,
        now,
    )
    .await;
    print_role(
        "PROXY",
        &token,
        represented.id,
        Some(device_of(&db, account).await?),
    );

    for (role, name) in [
        (staff::StaffRole::Clinician, "CLINICIAN"),
        (staff::StaffRole::Admin, "ADMIN"),
    ] {
        let member = staff::Entity::find()
            .filter(staff::Column::PracticeId.eq(patient.practice_id))
            .filter(staff::Column::Role.eq(role))
            .filter(staff::Column::Active.eq(true))
            .one(&db)
            .await?
            .context("the demo practice has no such member of staff")?;
        let token = staff_session_on(&db, member.id, now).await;
        print_role(name, &token, patient.id, None);
    }

    let key = gp_online::identity::integration::create_key(
        &db,
        &demo.practice.ods_code,
        "schemathesis",
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("integration key: {e}"))?;
    print_role("INTEGRATION", &key.key, patient.id, None);
    Ok(())
}
