//! The `gp-online` binary as an operator meets it: exit codes and messages for bad
//! configuration and an unreachable database, `migrate`, `demo --json`, and `serve --demo`
//! answering `/healthz` over HTTPS then shutting down gracefully on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn gp_online(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gp-online"));
    // A clean environment: no configuration leaks in from the machine running the tests.
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .current_dir(data_dir);
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_configuration_value_exits_2_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = gp_online(dir.path())
        .env("GP_ONLINE__SERVER__LISTEN", "not-an-address")
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("server.listen"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unknown_key_in_the_configuration_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gp-online.toml");
    std::fs::write(&file, "[database]\nmax_conections = 4\n").unwrap();
    let output = gp_online(dir.path())
        .arg("--config")
        .arg(&file)
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("max_conections"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let output = gp_online(dir.path())
        // Port 1 on loopback: nothing listens there.
        .env("DATABASE_URL", "postgres://gp:s3cret-pw@127.0.0.1:1/gp")
        .env("GP_ONLINE__DATABASE__CONNECT_TIMEOUT_SECS", "2")
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("cannot reach the postgres database"),
        "{message}"
    );
    assert!(!message.contains("s3cret-pw"), "{message}");
}

#[test]
fn migrate_up_status_and_down_report_each_migration() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = gp_online(dir.path()).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        String::from_utf8(output.stdout).unwrap()
    };
    use gp_online_migrations::MigratorTrait;
    let migrations = gp_online_migrations::Migrator::migrations().len();
    assert!(migrations >= 7, "{migrations}");
    run(&["migrate", "up"]);
    let status = run(&["migrate", "status"]);
    assert_eq!(
        status.lines().filter(|l| l.starts_with("Applied")).count(),
        migrations,
        "{status}"
    );
    run(&["migrate", "down", "--all"]);
    let status = run(&["migrate", "status"]);
    assert_eq!(
        status.lines().filter(|l| l.starts_with("Pending")).count(),
        migrations,
        "{status}"
    );
    assert!(dir.path().join("data/gp-online.sqlite").exists());
}

#[test]
fn demo_json_prints_linkage_details_for_patients_and_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let output = gp_online(dir.path())
        .args(["demo", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let demo: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let patient = &demo["patients"][0];
    for field in [
        "nhs_number",
        "given_name",
        "family_name",
        "date_of_birth",
        "account_id",
        "linkage_key",
        "ods_code",
    ] {
        assert!(
            patient[field].is_string(),
            "patient lacks {field}: {patient}"
        );
    }
    let proxy = &demo["proxies"][0];
    assert!(proxy["linkage_key"].is_string(), "{proxy}");
    assert!(proxy["acts_for"][0]["nhs_number"].is_string(), "{proxy}");

    // Running it again prints the same details (nothing is loaded twice).
    let again = gp_online(dir.path())
        .args(["demo", "--json"])
        .output()
        .unwrap();
    assert_eq!(again.stdout, output.stdout);
}

#[tokio::test]
async fn serve_with_demo_answers_healthz_over_https_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::from(gp_online(dir.path()))
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // Wait for the "serving" log line rather than polling the port.
    use tokio::io::AsyncBufReadExt;
    let mut log = tokio::io::BufReader::new(server.stderr.take().unwrap()).lines();
    let serving = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = log.next_line().await {
            if line.contains("gp-online is serving") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        serving.ok(),
        Some(true),
        "the server did not report that it is serving"
    );

    gp_online::tls::install_crypto_provider();
    let pem = std::fs::read(dir.path().join("data").join(gp_online::tls::DEV_CERT_FILE)).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/healthz");
    let answered = client.get(&url).send().await.ok().map(|r| r.status());
    assert_eq!(answered, Some(reqwest::StatusCode::OK));

    let pid = server.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
    let mut out = String::new();
    use tokio::io::AsyncReadExt;
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    assert!(
        out.contains("A81001"),
        "the demo practice is announced: {out}"
    );
}

#[test]
fn staff_invite_and_integration_keys_are_printed_once_for_the_practice() {
    let dir = tempfile::tempdir().unwrap();
    let demo = gp_online(dir.path())
        .args(["demo", "--json"])
        .output()
        .unwrap();
    assert!(demo.status.success(), "{}", stderr(&demo));
    let invite = gp_online(dir.path())
        .args([
            "staff",
            "invite",
            "--practice",
            "A81001",
            "--role",
            "clinician",
            "--name",
            "Dr Rhea Shah",
        ])
        .output()
        .unwrap();
    assert!(invite.status.success(), "{}", stderr(&invite));
    let printed = String::from_utf8(invite.stdout).unwrap();
    assert!(
        printed.contains("Enrolment code for Dr Rhea Shah"),
        "{printed}"
    );

    let key = gp_online(dir.path())
        .args(["integration", "create-key", "--practice", "a81001"])
        .output()
        .unwrap();
    assert!(key.status.success(), "{}", stderr(&key));
    let printed = String::from_utf8(key.stdout).unwrap();
    assert!(
        printed.lines().any(|line| line.starts_with("gpk_")),
        "{printed}"
    );

    let unknown = gp_online(dir.path())
        .args([
            "staff",
            "invite",
            "--practice",
            "Z99999",
            "--role",
            "admin",
            "--name",
            "X",
        ])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("not_found"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn housekeeping_commands_print_what_they_did_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let demo = gp_online(dir.path())
        .args(["demo", "--json"])
        .output()
        .unwrap();
    assert!(demo.status.success(), "{}", stderr(&demo));
    let run = |args: &[&str]| {
        let output = gp_online(dir.path()).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    let sweep = run(&["proxy", "sweep"]);
    for key in [
        "suspended_age_review",
        "suspended_age_16",
        "expired",
        "revoked_unused",
        "warned",
    ] {
        assert!(sweep[key].is_u64(), "{key} in {sweep}");
    }
    // A second run the same day has nothing left to do.
    let again = run(&["proxy", "sweep"]);
    assert!(
        again.as_object().unwrap().values().all(|v| v == 0),
        "{again}"
    );
    // Nothing has synced yet, so there is nothing to rebuild.
    let rebuild = run(&["sync", "rebuild"]);
    assert_eq!(rebuild["rebuilt"], 0, "{rebuild}");
    assert_eq!(rebuild["removed"], 0, "{rebuild}");
}
