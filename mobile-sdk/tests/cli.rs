//! `gp-patient` without a server: usage errors exit 2, a write before registering exits 1 and
//! queues nothing, and a new store reads as empty. Its runs against the real server are in the
//! workspace's end-to-end suite (`tests/tests/it/gp_patient.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code.

use std::path::Path;
use std::process::{Command, Output};

fn gp_patient(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gp-patient"))
        // Nothing listens here: any call that reached the network would fail.
        .args(["--server", "https://127.0.0.1:9", "--store"])
        .arg(store)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["book"][..],
        &["show"],
        &["order"],
        &["no-such-command"],
        &["show", "horoscope"],
        &["--ca-cert", "/nonexistent/ca.pem", "pending"],
    ] {
        let out = gp_patient(dir.path(), args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let missing_server = Command::new(env!("CARGO_BIN_EXE_gp-patient"))
        .args(["--store"])
        .arg(dir.path())
        .arg("pending")
        .output()
        .unwrap();
    assert_eq!(missing_server.status.code(), Some(2));
}

#[test]
fn a_new_store_is_empty_and_refuses_writes_before_registering() {
    let dir = tempfile::tempdir().unwrap();
    let pending = gp_patient(dir.path(), &["pending", "--json"]);
    assert_eq!(pending.status.code(), Some(0), "{}", text(&pending.stderr));
    assert_eq!(text(&pending.stdout).trim(), "[]");

    let slot = "4f6b1c2e-9a1d-4c3b-8e2f-1a2b3c4d5e6f";
    let patient = "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a";
    let book = gp_patient(dir.path(), &["book", slot, "--patient", patient]);
    assert_eq!(book.status.code(), Some(1), "{}", text(&book.stderr));
    assert!(
        text(&book.stderr).contains("unauthorised"),
        "{}",
        text(&book.stderr)
    );
    let pending = gp_patient(dir.path(), &["pending", "--json"]);
    assert_eq!(text(&pending.stdout).trim(), "[]", "nothing was queued");

    // The host key is made on first use and kept owner-only.
    let key = dir.path().join("host.key");
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
