//! `gp-patient`, the command-line patient app, run as a process against the `gp-online serve`
//! binary on a database holding the demo practice: register, sync and show the record; book
//! with the server down (queued, shown by `pending`), sync after a restart (applied once,
//! nothing left pending); a booking the practice's rules refuse has its code printed.
//! Exit codes: 0 on success, 1 on a runtime failure or a refused intent, 2 on a usage error.

use gp_online::clock::Clock;
use gp_online::demo::DemoPatientLogin;
use gp_online_tests::TestDatabase;
use gp_online_tests::server_process::{ServeOptions, ServerProcess, binary_beside_current_exe};
use std::path::PathBuf;

/// What one run of `gp-patient` did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A "phone": the `gp-patient` binary with its store folder, pointed at the server.
struct Phone {
    binary: PathBuf,
    server: String,
    ca_cert: PathBuf,
    store: PathBuf,
}

impl Phone {
    async fn run(&self, args: &[&str]) -> Run {
        let output = tokio::process::Command::new(&self.binary)
            .arg("--server")
            .arg(&self.server)
            .arg("--ca-cert")
            .arg(&self.ca_cert)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .await
            .unwrap();
        Run {
            code: output.status.code().expect("gp-patient exited by a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed; its standard output.
    async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert_eq!(
            run.code, 0,
            "gp-patient {args:?}: {}{}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    /// `--json` output of a command.
    async fn json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(&args).await).unwrap()
    }
}

/// The `gp-patient` binary of this build, beside `gp-online`.
fn gp_patient_binary() -> PathBuf {
    let binary = binary_beside_current_exe()
        .unwrap()
        .with_file_name("gp-patient");
    assert!(
        binary.exists(),
        "{} does not exist: build it first (`cargo build -p gp-online -p gp-online-sdk`)",
        binary.display()
    );
    binary
}

fn register_args(patient: &DemoPatientLogin) -> Vec<String> {
    vec![
        "register".to_owned(),
        "--account-id".to_owned(),
        patient.account_id.clone(),
        "--linkage-key".to_owned(),
        patient.linkage_key.clone(),
        "--ods".to_owned(),
        patient.ods_code.clone(),
        "--surname".to_owned(),
        patient.family_name.clone(),
        "--dob".to_owned(),
        patient.date_of_birth.to_string(),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The key `book` printed (`queued KEY; …`).
fn queued_key(stdout: &str) -> String {
    stdout
        .strip_prefix("queued ")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no key in {stdout:?}"))
        .to_owned()
}

fn pending_keys(pending: &[serde_json::Value]) -> Vec<&str> {
    pending.iter().map(|p| p["key"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn gp_patient_registers_syncs_and_books_offline_exactly_once() {
    gp_online::tls::install_crypto_provider();
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    gp_online::db::migrate_up(&db).await.unwrap();
    let demo = gp_online::demo::load(&db, Clock::System.now())
        .await
        .unwrap();
    db.close().await.unwrap();
    let mut server = ServerProcess::start(
        &binary_beside_current_exe().unwrap(),
        &database.url,
        ServeOptions {
            log_filter: "warn".to_owned(),
            ..ServeOptions::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_cert = dir.path().join("ca.pem");
    std::fs::write(&ca_cert, &server.pem).unwrap();
    let phone = Phone {
        binary: gp_patient_binary(),
        server: server.base_url().replace("127.0.0.1", "localhost"),
        ca_cert,
        store: dir.path().join("phone"),
    };

    // Usage errors exit 2, before anything is done.
    assert_eq!(phone.run(&["book"]).await.code, 2, "a missing slot id");
    let unknown = phone.run(&["show", "horoscope"]).await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("unknown section"),
        "{}",
        unknown.stderr
    );

    let patient = &demo.patients[0];
    let registered = phone.ok(&strs(&register_args(patient))).await;
    assert!(registered.starts_with("registered"), "{registered}");
    let synced = phone.ok(&["sync"]).await;
    assert!(synced.contains("document(s) changed"), "{synced}");
    let profile = phone.json(&["show", "profile"]).await;
    assert_eq!(profile.len(), 1, "{profile:?}");
    assert_eq!(profile[0]["family_name"], patient.family_name.as_str());
    let appointments_before = phone.json(&["show", "appointments"]).await.len();
    let slots = phone.json(&["slots"]).await;
    let slot = slots[0]["id"].as_str().unwrap().to_owned();

    // The server goes down: reads come from the store, a booking is queued, a sync fails (1).
    server.kill().await.unwrap();
    assert_eq!(phone.json(&["show", "profile"]).await, profile);
    let key = queued_key(
        &phone
            .ok(&["book", &slot, "--reason", "Cough for three weeks"])
            .await,
    );
    let offline = phone.run(&["sync"]).await;
    assert_eq!(offline.code, 1, "{}{}", offline.stdout, offline.stderr);
    assert!(offline.stderr.contains("network"), "{}", offline.stderr);
    assert_eq!(
        pending_keys(&phone.json(&["pending"]).await),
        [key.as_str()]
    );

    // The server is back: the booking is applied, once.
    server.restart().await.unwrap();
    let synced = phone.ok(&["sync"]).await;
    assert!(
        synced.contains(&format!("intent {key} accepted")),
        "{synced}"
    );
    assert!(phone.json(&["pending"]).await.is_empty());
    phone.ok(&["sync"]).await;
    let appointments = phone.json(&["show", "appointments"]).await;
    assert_eq!(appointments.len(), appointments_before + 1);
    let booked: Vec<_> = appointments
        .iter()
        .filter(|a| a["slot_id"] == slot.as_str())
        .collect();
    assert_eq!(booked.len(), 1, "{appointments:?}");
    assert_eq!(booked[0]["status"], "booked", "{:?}", booked[0]);

    // Another slot without a reason, which the demo practice requires: refused by the
    // server, its code printed, exit 1; nothing is left pending and nothing was booked.
    let other = slots[1]["id"].as_str().unwrap();
    let refused_key = queued_key(&phone.ok(&["book", other]).await);
    let refused = phone.run(&["sync"]).await;
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused
            .stdout
            .contains(&format!("intent {refused_key} refused: validation_failed")),
        "{}",
        refused.stdout
    );
    assert!(phone.json(&["pending"]).await.is_empty());
    assert_eq!(
        phone.json(&["show", "appointments"]).await.len(),
        appointments_before + 1
    );
}
