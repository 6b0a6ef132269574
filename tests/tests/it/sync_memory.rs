//! Memory stays bounded whatever a device sends: the real `gp-online` binary, as its own
//! process on a database this test arranged, is sent every hostile sync message of
//! `sync_hostile` (and the worst shapes of the generators in `sync-protocol/tests/hostile.rs`),
//! several at once, while another patient writes; its peak resident memory (`VmHWM`) grows by
//! less than 64 MB per concurrent sync request, and every write succeeds.
//!
//! The binary is the one the test build made beside this test binary (`cargo test --workspace`
//! builds it; `cargo build -p gp-online` otherwise), or `GP_ONLINE_BIN`.

use crate::sync_hostile::{
    deflate_bomb, frame_with, hostile_message, huge_probes_bloom, zero_bits_bloom,
};
use gp_online::clock::Clock;
use gp_online::settings::PracticeSettings;
use gp_online_tests::{TestDatabase, fixtures, spawn_app_on};
use reqwest::StatusCode;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use sync_protocol::{DocumentId, Frame, Section};

/// Concurrent hostile requests of each kind.
const CONCURRENT: usize = 4;
/// The bound per concurrent request.
const PER_REQUEST: u64 = 64 * 1024 * 1024;

/// The server binary of this build.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("GP_ONLINE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-… → target/<profile>/gp-online
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("gp-online");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p gp-online` (or set GP_ONLINE_BIN)",
        path.display()
    );
    path
}

/// The server process, killed when dropped.
struct Server {
    child: tokio::process::Child,
    base: String,
    client: reqwest::Client,
    _data: tempfile::TempDir,
}

impl Server {
    async fn start(database_url: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        let (cert_path, _) = gp_online::tls::ensure_dev_certificate(data.path()).unwrap();
        let pem = std::fs::read(cert_path).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let child = tokio::process::Command::new(binary())
            .arg("serve")
            .arg("--listen")
            .arg(&address)
            .arg("--data-dir")
            .arg(data.path())
            .env("GP_ONLINE__DATABASE__URL", database_url)
            .env("GP_ONLINE__LOG__FILTER", "error")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut server = Self {
            child,
            base: format!("https://{address}"),
            client,
            _data: data,
        };
        for _ in 0..600 {
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "the server exited"
            );
            let ready = server
                .client
                .get(format!("{}/readyz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not become ready");
    }

    /// A line of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
    fn memory(&self, key: &str) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key}"));
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }

    async fn sync(&self, token: &str, body: Vec<u8>) -> StatusCode {
        self.client
            .post(format!("{}/api/v1/sync", self.base))
            .bearer_auth(token)
            .header("content-type", "application/cbor")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn write(&self, token: &str, patient: uuid::Uuid, n: usize) -> StatusCode {
        self.client
            .post(format!("{}/api/v1/patients/{patient}/messages", self.base))
            .bearer_auth(token)
            .json(&json!({"subject": format!("Question {n}"), "body": "Could I have a fit note?"}))
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test]
async fn memory_stays_bounded_under_every_hostile_message_while_others_write() {
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    // The in-process server arranges the data (and migrates); the binary serves the attack.
    let app = spawn_app_on(database, |_| {}).await;
    // Sessions must be valid on the binary's own clock, the system's.
    let real = Clock::System.now();
    if real > app.clock.now() {
        app.clock.advance(real - app.clock.now());
    }
    let practice = fixtures::practice_with(&app, PracticeSettings::default()).await;
    let attacker = fixtures::patient(&app, practice.id, None).await;
    let (_, attacker_token) = fixtures::account(&app, &attacker).await;
    let writer = fixtures::patient(&app, practice.id, None).await;
    let (_, writer_token) = fixtures::account(&app, &writer).await;
    let server = Server::start(&url).await;

    let profile = DocumentId::new(attacker.id, Section::Profile);
    let personal = DocumentId::new(attacker.id, Section::Personal);
    // Warm up: an honest exchange and a write, so the baseline holds the server's own pools.
    let mut warm = sync_protocol::DevicePeer::new();
    warm.follow(profile);
    assert_eq!(
        server.sync(&attacker_token, warm.outgoing().encode()).await,
        StatusCode::OK
    );
    assert_eq!(
        server.write(&writer_token, writer.id, 0).await,
        StatusCode::CREATED
    );

    let whole_document = {
        let mut doc = sync_protocol::automerge::AutoCommit::new();
        for i in 0..200 {
            sync_protocol::personal::set_note(&mut doc, &format!("n{i}"), &"x".repeat(200))
                .unwrap();
        }
        hostile_message(None, &[doc.save()])
    };
    let many_haves = hostile_message(Some((1_000, 64, 32, 8_000)), &[]);
    let kinds: Vec<(&str, Frame, StatusCode)> = vec![
        (
            "zero bits per entry",
            frame_with(profile, zero_bits_bloom()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "2^25 probes",
            frame_with(profile, huge_probes_bloom()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a 64 MiB deflate bomb",
            frame_with(personal, deflate_bomb(64 * 1024 * 1024)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a whole document",
            frame_with(personal, whole_document),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "the largest bloom the guard lets through",
            frame_with(profile, many_haves),
            StatusCode::OK,
        ),
    ];
    let before = server.memory("VmRSS:");
    let mut written = 1;
    for (name, frame, expected) in &kinds {
        let body = frame.encode();
        let attacks = (0..CONCURRENT).map(|_| server.sync(&attacker_token, body.clone()));
        let writes = (0..2).map(|i| server.write(&writer_token, writer.id, written + i));
        let (answers, writes) = tokio::join!(
            futures_util::future::join_all(attacks),
            futures_util::future::join_all(writes)
        );
        written += 2;
        for answer in answers {
            assert_eq!(answer, *expected, "{name}");
        }
        for status in writes {
            assert_eq!(
                status,
                StatusCode::CREATED,
                "another patient's write during {name}"
            );
        }
    }
    let peak = server.memory("VmHWM:");
    let growth = peak.saturating_sub(before);
    eprintln!(
        "resident memory: {} MB before, peak {} MB, growth {} MB for {CONCURRENT} concurrent requests",
        before / 1_000_000,
        peak / 1_000_000,
        growth / 1_000_000
    );
    assert!(
        growth < PER_REQUEST * CONCURRENT as u64,
        "the server grew by {growth} bytes"
    );
}
