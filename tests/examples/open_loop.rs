//! Open-loop load against the real `gp-online serve` binary, as an operator would measure it
//! before going live: the server runs as its own process (started here on a database prepared
//! here: a SQLite file, or a fresh PostgreSQL database when `GP_ONLINE_TEST_DATABASE_URL` is
//! set), and this process plays a practice network's devices and staff.
//!
//! Requests are sent on a schedule at a target rate whatever the answers (open loop), and each
//! latency is measured from the request's scheduled time, so a stalled server is charged for the
//! requests that queued behind it (no coordinated omission). How late this generator itself
//! dispatched is reported beside it. The operations:
//!
//! - **app open**: a device that was in the background re-syncs over `POST /api/v1/sync` (the
//!   protocol's device peer, following the profile, record, appointments, medications and
//!   messages documents) until the server has nothing more to say: one latency per app open;
//! - **book**: `POST …/appointments` of a fresh slot, with an `Idempotency-Key`;
//! - **order**: `POST …/prescription-requests` of a fresh repeat course;
//! - **message**: `POST …/messages`, a new thread;
//! - **release**: a clinician's `POST /api/v1/practice/results/{id}/release` of a pending result;
//! - **me** and **record**: `GET /api/v1/me` and `GET …/record`.
//!
//! Parts:
//!
//! 1. `mix` — the operations mixed as on a Monday morning, the total rate stepped up until an
//!    operation's p99 passes the target (100 ms): per operation, the achieved rate, p50, p99,
//!    p999 and the answers that were not successes.
//! 2. `search` — each operation alone, its rate stepped up the same way: the highest rate at
//!    which its p99 stays under the target.
//! 3. `crash` — the server is killed with SIGKILL at random moments during booking, ordering,
//!    messaging and app-open load and started again; every request not acknowledged is retried
//!    with its `Idempotency-Key`. Afterwards the ledger of acknowledged writes is checked against
//!    the database (each present exactly once and whole) and every device's documents against
//!    the database, and the retries still refused are counted.
//!
//! After every part, everything the server wrote (standard output and error), every error
//! response received and every push notification sent is scanned for each session token, the
//! integration key, the linkage keys issued during the run and the clinical markers planted in
//! record entries, booking reasons, messages and release comments. The push notifications go
//! to a local Web Push service (`gp_online_tests::push`) that a few patients' devices subscribe
//! to at the start; it checks each request as a push service would and decrypts its body as
//! the browser would, and the scan reads the decrypted bodies. Inside quiet hours (22:00–06:00
//! London time) the server holds notices, so the scan says that none could be read.
//!
//! ```sh
//! cargo build --release -p gp-online -p gp-online-tests --bin gp-online --example open_loop
//! target/release/examples/open_loop                       # mix, search and crash, SQLite
//! GP_ONLINE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   target/release/examples/open_loop                     # the same on PostgreSQL
//! target/release/examples/open_loop --parts crash --kills 20
//! target/debug/examples/open_loop --quick                 # CI: small and short
//! ```
//!
//! Timings are reported, never asserted. The run fails on a wrong result: an answer that is
//! neither a success nor an overload (`503`, a client timeout, a refused connection), an
//! acknowledged write missing, doubled or half-written, a device that does not converge with the
//! database, or a secret or marker found by the scan.
#![allow(clippy::print_stdout)] // A load generator prints its report.

use anyhow::{Context as _, anyhow, bail};
use chrono::{Duration as Days, NaiveDate};
use clap::{Parser, ValueEnum};
use gp_online::clock::Clock;
use gp_online::db::entities::courses::CourseType;
use gp_online::db::entities::notification_deliveries::DeliveryState;
use gp_online::db::entities::record_entries::RecordSection;
use gp_online::db::entities::slots::{Channel, SlotStatus};
use gp_online::db::entities::{
    accounts, appointments, courses, devices, message_threads, messages, notification_deliveries,
    notification_outbox, patients, practices, prescription_request_items, prescription_requests,
    record_entries, results, slots, staff,
};
use gp_online::identity::sessions::{self, Subject};
use gp_online::notify::quiet_hours;
use gp_online::settings::PracticeSettings;
use gp_online_tests::TestDatabase;
use gp_online_tests::push::PushService;
use gp_online_tests::server_process::{ServeOptions, ServerProcess, binary_beside_current_exe};
use gp_online_tests::sync::{device_appointments, device_messages};
use hdrhistogram::Histogram;
use reqwest::{Method, StatusCode};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sync_protocol::{DevicePeer, DocumentId, Frame, Section};
use tokio::time::Instant;
use uuid::Uuid;

/// One kind of request of the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
enum Op {
    /// A device re-syncs until quiet.
    AppOpen,
    /// A booking of a fresh slot.
    Book,
    /// An order of a fresh repeat course.
    Order,
    /// A new message thread.
    Message,
    /// A clinician releases a pending result.
    Release,
    /// `GET /api/v1/me`.
    Me,
    /// `GET …/record`.
    Record,
}

impl Op {
    const ALL: [Self; 7] = [
        Self::AppOpen,
        Self::Book,
        Self::Order,
        Self::Message,
        Self::Release,
        Self::Me,
        Self::Record,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::AppOpen => "app open (sync)",
            Self::Book => "book",
            Self::Order => "order",
            Self::Message => "message",
            Self::Release => "release a result",
            Self::Me => "`GET /api/v1/me`",
            Self::Record => "`GET …/record`",
        }
    }
}

/// A Monday morning: mostly app opens and reads, a fifth of them writes.
const MONDAY: [(Op, u32); 7] = [
    (Op::AppOpen, 35),
    (Op::Me, 20),
    (Op::Record, 10),
    (Op::Book, 12),
    (Op::Order, 10),
    (Op::Message, 8),
    (Op::Release, 5),
];

/// The writes of the crash harness.
const WRITES: [(Op, u32); 4] = [
    (Op::Book, 3),
    (Op::Order, 3),
    (Op::Message, 2),
    (Op::AppOpen, 2),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// The Monday mix, its total rate stepped up.
    Mix,
    /// Each operation alone, its rate stepped up.
    Search,
    /// SIGKILLs under write load, then the ledger checked.
    Crash,
}

/// Open-loop load against the `gp-online serve` binary.
#[derive(Debug, Parser)]
#[command(name = "open_loop")]
struct Args {
    /// Small and short (about a minute on a debug build), for CI.
    #[arg(long, env = "GP_ONLINE_LOAD_QUICK")]
    quick: bool,
    /// The parts to run, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    parts: Vec<Part>,
    /// Seconds per rate step.
    #[arg(long)]
    seconds: Option<f64>,
    /// Total rates of the mix's steps, requests per second, comma-separated.
    #[arg(long, value_delimiter = ',')]
    rates: Vec<f64>,
    /// Operations for the search part (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    ops: Vec<Op>,
    /// The p99 latency a step must stay under, in milliseconds.
    #[arg(long, default_value_t = 100.0)]
    p99_ms: f64,
    /// Patients (each with an account, a device and a session).
    #[arg(long)]
    patients: Option<usize>,
    /// SIGKILLs of the crash part.
    #[arg(long)]
    kills: Option<usize>,
    /// Plain HTTP (`serve --http`, as behind a TLS-terminating proxy) instead of HTTPS.
    #[arg(long)]
    http: bool,
    /// Only arrange and serve: write the server's address and one patient's session token to
    /// this file (owner-only), then keep the server up for `--hold-secs`, for an outside load
    /// tool such as wrk.
    #[arg(long)]
    hold: Option<PathBuf>,
    /// Seconds to keep the server up with `--hold`.
    #[arg(long, default_value_t = 600)]
    hold_secs: u64,
    /// The `gp-online` binary (default: the one of this example's build profile).
    #[arg(long, env = "GP_ONLINE_BIN")]
    server_bin: Option<PathBuf>,
}

/// How long a client waits for a whole answer before counting a `client timeout`.
const WAIT: Duration = Duration::from_secs(30);

/// Rows inserted per statement when arranging.
const CHUNK: usize = 100;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = std::time::Instant::now();
    runtime.block_on(run(&args))?;
    println!(
        "\nOpen-loop run finished in {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn run(args: &Args) -> anyhow::Result<()> {
    gp_online::tls::install_crypto_provider();
    let parts = if args.parts.is_empty() {
        if args.quick {
            vec![Part::Mix, Part::Crash]
        } else {
            vec![Part::Mix, Part::Search, Part::Crash]
        }
    } else {
        args.parts.clone()
    };
    let binary = match &args.server_bin {
        Some(path) => path.clone(),
        None => binary_beside_current_exe()?,
    };
    let patients = args
        .patients
        .unwrap_or(if args.quick { 24 } else { 200 })
        .max(2);
    let database = TestDatabase::create().await;
    println!(
        "# Open-loop run: {}, {} cores, {} mode, {}, {patients} patients, load average {}\n",
        database.backend,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if args.quick { "quick" } else { "full" },
        if args.http { "plain HTTP" } else { "HTTPS" },
        load_average()
    );
    let db = database.connect().await;
    gp_online::db::migrate_up(&db).await?;
    let arranged = arrange(&db, patients).await?;
    let mut server = ServerProcess::start(
        &binary,
        &database.url,
        ServeOptions {
            tls: !args.http,
            env: push_settings(),
            ..ServeOptions::default()
        },
    )
    .await?;
    if let Some(path) = &args.hold {
        return hold(&server, &arranged, path, args.hold_secs).await;
    }
    let world = Arc::new(World::new(&server, db, arranged));
    world.issue_linkage().await?;
    let quiet_at_start = quiet_hours::is_quiet(Clock::System.now());
    let push = world.subscribe_devices().await?;

    if parts.contains(&Part::Mix) {
        mix(&world, &server, args).await?;
    }
    if parts.contains(&Part::Search) {
        search(&world, &server, args).await?;
    }
    if parts.contains(&Part::Crash) {
        crash(&world, &mut server, args).await?;
    }
    world.hostile_requests().await;
    let pushed = if quiet_at_start {
        None
    } else {
        world.pushed(&push).await?
    };
    scan(&world, &server, pushed.as_deref())?;
    Ok(())
}

/// Writes the server's address and the first patient's session token (a line each) to
/// `path`, readable by its owner only, and keeps the server up for `seconds`.
async fn hold(
    server: &ServerProcess,
    arranged: &Arranged,
    path: &std::path::Path,
    seconds: u64,
) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (patient, _, token) = arranged.patients.first().context("a patient")?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{}\n{token}\n{patient}", server.base_url())?;
    println!(
        "Serving {} for {seconds} s (pid {}); address, token and patient id in {}.",
        server.base_url(),
        server.pid().unwrap_or_default(),
        path.display()
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok(())
}

/// Web Push to the local service (an `http://127.0.0.1` endpoint), in rounds of 100 ms.
fn push_settings() -> Vec<(String, String)> {
    vec![
        (
            "GP_ONLINE__PUSH__ALLOW_INSECURE_LOOPBACK".to_owned(),
            "true".to_owned(),
        ),
        (
            "GP_ONLINE__PUSH__POLL_INTERVAL_MS".to_owned(),
            "100".to_owned(),
        ),
    ]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            let parts: Vec<&str> = s.split_whitespace().take(3).collect();
            (parts.len() == 3).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Arranging: a practice, its clinician, patients with accounts, devices, sessions and records.

/// What was written to the database before the server started.
struct Arranged {
    practice_id: Uuid,
    clinician: String,
    admin: String,
    integration_key: String,
    /// Each patient, their device and the device's session token.
    patients: Vec<(Uuid, Uuid, String)>,
    marker: String,
}

async fn arrange(db: &DatabaseConnection, count: usize) -> anyhow::Result<Arranged> {
    // The server's clock is the system clock.
    let now = Clock::System.now();
    let marker = format!("ZQXMARK{}", Uuid::new_v4().simple());
    let settings = PracticeSettings {
        max_future_appointments: 1_000_000,
        ..PracticeSettings::default()
    };
    let practice_id = Uuid::new_v4();
    let ods_code = format!("L{:05}", practice_id.as_u128() % 100_000);
    let txn = db.begin().await?;
    practices::Entity::insert(practices::ActiveModel {
        id: Set(practice_id),
        ods_code: Set(ods_code.clone()),
        name: Set("Open Loop Surgery".to_owned()),
        live: Set(true),
        prospective_access_date: Set(NaiveDate::from_ymd_opt(2023, 10, 31)),
        settings: Set(settings.to_json()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec(&txn)
    .await?;
    let rows: Vec<(Uuid, Uuid, Uuid)> = (0..count)
        .map(|_| (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()))
        .collect();
    let born = NaiveDate::from_ymd_opt(1968, 12, 10).context("a date of birth")?;
    for chunk in rows.chunks(CHUNK) {
        patients::Entity::insert_many(chunk.iter().map(|(patient, _, _)| patients::ActiveModel {
            id: Set(*patient),
            practice_id: Set(practice_id),
            external_id: Set(None),
            nhs_number: Set(format!("{:010}", patient.as_u128() % 10_000_000_000)),
            given_name: Set("Ada".to_owned()),
            family_name: Set("Lovelace".to_owned()),
            date_of_birth: Set(born),
            sex: Set(patients::Sex::Female),
            access_level: Set(patients::AccessLevel::Detailed),
            record_access_from: Set(None),
            competent: Set(true),
            nominated_pharmacy_ods: Set(Some("FA123".to_owned())),
            archived_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }))
        .exec(&txn)
        .await?;
        accounts::Entity::insert_many(chunk.iter().map(|(patient, account, _)| {
            accounts::ActiveModel {
                id: Set(*account),
                practice_id: Set(practice_id),
                patient_id: Set(Some(*patient)),
                carer_id: Set(None),
                status: Set(accounts::AccountStatus::Active),
                last_login_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
        }))
        .exec(&txn)
        .await?;
        devices::Entity::insert_many(chunk.iter().map(|(_, account, device)| {
            devices::ActiveModel {
                id: Set(*device),
                account_id: Set(*account),
                name: Set("Phone".to_owned()),
                created_at: Set(now),
                last_seen_at: Set(None),
                revoked_at: Set(None),
            }
        }))
        .exec(&txn)
        .await?;
    }
    // A small record each: twenty coded entries, one of them hidden from the patient, every
    // term carrying the marker the scan looks for.
    let first = NaiveDate::from_ymd_opt(2024, 1, 1).context("a date")?;
    let entries: Vec<record_entries::ActiveModel> = rows
        .iter()
        .flat_map(|(patient, _, _)| {
            let marker = marker.clone();
            (0..20).map(move |i| record_entries::ActiveModel {
                id: Set(Uuid::new_v4()),
                practice_id: Set(practice_id),
                patient_id: Set(*patient),
                external_id: Set(None),
                section: Set(if i % 2 == 0 {
                    RecordSection::Problems
                } else {
                    RecordSection::Consultations
                }),
                snomed_code: Set("38341003".to_owned()),
                term: Set(format!("Essential hypertension {marker} ({i})")),
                effective_date: Set(first + Days::days(i)),
                entered_on: Set(first + Days::days(i)),
                end_date: Set(None),
                detail: Set(None),
                author: Set(Some("Dr Rhea Shah".to_owned())),
                hidden: Set(i == 0),
                hidden_from_proxies: Set(false),
                retracted_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
        })
        .collect();
    for chunk in entries.chunks(CHUNK) {
        record_entries::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    let config = gp_online_tests::fixtures::long_sessions();
    let mut patients = Vec::with_capacity(count);
    for (patient_id, account_id, device_id) in rows {
        let subject = Subject::Account {
            account_id,
            device_id,
        };
        let token = sessions::open(&txn, &config, subject, now)
            .await
            .map_err(|e| anyhow!("opening a session: {e:?}"))?
            .access_token;
        patients.push((patient_id, device_id, token));
    }
    let mut staff_tokens = Vec::new();
    for role in [staff::StaffRole::Clinician, staff::StaffRole::Admin] {
        let id = Uuid::new_v4();
        staff::Entity::insert(staff::ActiveModel {
            id: Set(id),
            practice_id: Set(practice_id),
            display_name: Set(format!("{role:?} One")),
            role: Set(role),
            job_title: Set(None),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec(&txn)
        .await?;
        let token = sessions::open(&txn, &config, Subject::Staff { staff_id: id }, now)
            .await
            .map_err(|e| anyhow!("opening a staff session: {e:?}"))?
            .access_token;
        staff_tokens.push(token);
    }
    txn.commit().await?;
    let integration_key =
        gp_online::identity::integration::create_key(db, &ods_code, "Clinical system", now)
            .await
            .map_err(|e| anyhow!("creating an integration key: {e:?}"))?
            .key;
    let [clinician, admin] =
        <[String; 2]>::try_from(staff_tokens).map_err(|_| anyhow!("two staff sessions"))?;
    Ok(Arranged {
        practice_id,
        clinician,
        admin,
        integration_key,
        patients,
        marker,
    })
}

// ---------------------------------------------------------------------------------------------
// The world the requests act on.

struct Patient {
    id: Uuid,
    device_id: Uuid,
    token: String,
    device: tokio::sync::Mutex<DevicePeer>,
}

/// Fresh slots, courses (with the patient ordering them) and pending results, minted in the
/// database before each step so that every write of the step can succeed.
#[derive(Default)]
struct Pools {
    slots: VecDeque<Uuid>,
    courses: VecDeque<(Uuid, usize)>,
    results: VecDeque<Uuid>,
}

/// An acknowledged write, for the ledger.
#[derive(Debug, Clone, Copy)]
enum Ack {
    Booking {
        appointment: Uuid,
        slot: Uuid,
        patient: usize,
    },
    Order {
        request: Uuid,
        course: Uuid,
    },
    Thread {
        thread: Uuid,
        patient: usize,
    },
    Release {
        result: Uuid,
    },
}

struct World {
    base: String,
    client: reqwest::Client,
    db: DatabaseConnection,
    practice_id: Uuid,
    clinician: String,
    admin: String,
    integration_key: String,
    patients: Vec<Patient>,
    marker: String,
    /// Unique per run: a prefix of idempotency keys.
    run: String,
    pools: Mutex<Pools>,
    /// Slots minted so far (each at its own instant).
    slots_minted: AtomicUsize,
    /// Requests planned so far (each its own idempotency key).
    planned: AtomicUsize,
    /// Every error response body received.
    error_bodies: Mutex<Vec<String>>,
    /// Linkage keys issued during the run.
    linkage_keys: Mutex<Vec<String>>,
    ledger: Mutex<Vec<Ack>>,
}

/// One request ready to be sent, and sent again with the same key after a crash.
#[derive(Debug, Clone)]
struct Call {
    op: Op,
    method: Method,
    path: String,
    token: String,
    key: Option<String>,
    body: Option<Value>,
    success: StatusCode,
    /// What the request is about, for its ledger entry.
    about: About,
}

#[derive(Debug, Clone, Copy)]
enum About {
    Nothing,
    Slot(Uuid, usize),
    Course(Uuid),
    Patient(usize),
    Result(Uuid),
}

/// What to do for one scheduled request.
#[derive(Debug, Clone)]
enum Work {
    Call(Call),
    AppOpen(usize),
}

impl Work {
    fn op(&self) -> Op {
        match self {
            Self::Call(call) => call.op,
            Self::AppOpen(_) => Op::AppOpen,
        }
    }
}

/// The answer to one request: its label (`ok`, a problem's code, `http 500`, `client
/// timeout`, …). An acknowledged write is also written to the ledger.
struct Answer {
    label: String,
}

/// Longer than an `Idempotency-Key` claim's lease with the server's default request timeout
/// (10 s and 30 s).
const STRANDED_LEASE: Duration = Duration::from_secs(41);

/// The label of an app open whose exchanges never fell quiet.
const UNSETTLED: &str = "sync did not settle in 20 exchanges";

/// Labels that are overload, not a wrong result.
fn is_overload(label: &str) -> bool {
    matches!(
        label,
        "service_unavailable" | "client timeout" | "transport error" | "http 503"
    )
}

impl World {
    fn new(server: &ServerProcess, db: DatabaseConnection, arranged: Arranged) -> Self {
        Self {
            base: server.base_url(),
            client: server.client.clone(),
            db,
            practice_id: arranged.practice_id,
            clinician: arranged.clinician,
            admin: arranged.admin,
            integration_key: arranged.integration_key,
            patients: arranged
                .patients
                .into_iter()
                .map(|(id, device_id, token)| {
                    let mut device = DevicePeer::new();
                    for section in [
                        Section::Profile,
                        Section::Record,
                        Section::Appointments,
                        Section::Medications,
                        Section::Messages,
                    ] {
                        device.follow(DocumentId::new(id, section));
                    }
                    Patient {
                        id,
                        device_id,
                        token,
                        device: tokio::sync::Mutex::new(device),
                    }
                })
                .collect(),
            marker: arranged.marker,
            run: Uuid::new_v4().simple().to_string(),
            pools: Mutex::new(Pools::default()),
            slots_minted: AtomicUsize::new(0),
            planned: AtomicUsize::new(0),
            error_bodies: Mutex::new(Vec::new()),
            linkage_keys: Mutex::new(Vec::new()),
            ledger: Mutex::new(Vec::new()),
        }
    }

    /// Linkage details for a few patients, issued by the admin through the API, so the scan
    /// has linkage keys to look for.
    async fn issue_linkage(&self) -> anyhow::Result<()> {
        for patient in self.patients.iter().take(5) {
            let response = self
                .client
                .post(format!(
                    "{}/api/v1/practice/patients/{}/linkage",
                    self.base, patient.id
                ))
                .bearer_auth(&self.admin)
                .json(&json!({}))
                .send()
                .await?;
            if response.status() != StatusCode::CREATED {
                bail!("issuing linkage details answered {}", response.status());
            }
            let body: Value = response.json().await?;
            let key = body["linkage_key"]
                .as_str()
                .context("a linkage key")?
                .to_owned();
            self.linkage_keys
                .lock()
                .map_err(|_| anyhow!("poisoned"))?
                .push(key);
        }
        Ok(())
    }

    /// Mints what `counts` writes need: a slot per booking, a course per order, a pending
    /// result per release (with a margin).
    async fn stock(&self, counts: &BTreeMap<Op, usize>) -> anyhow::Result<()> {
        let now = Clock::System.now();
        let today = now.date_naive();
        let margin = |op: Op| {
            let n = counts.get(&op).copied().unwrap_or(0);
            if n == 0 { 0 } else { n + n / 5 + 5 }
        };
        let (books, orders, releases) = (margin(Op::Book), margin(Op::Order), margin(Op::Release));
        let slot_ids: Vec<Uuid> = (0..books).map(|_| Uuid::new_v4()).collect();
        let first_slot = self.slots_minted.fetch_add(books, Ordering::Relaxed);
        let courses: Vec<(Uuid, usize)> = (0..orders)
            .map(|i| (Uuid::new_v4(), (first_slot + i) % self.patients.len()))
            .collect();
        let result_ids: Vec<(Uuid, usize)> = (0..releases)
            .map(|i| (Uuid::new_v4(), (first_slot + i) % self.patients.len()))
            .collect();
        let txn = self.db.begin().await?;
        for (index, chunk) in slot_ids.chunks(CHUNK).enumerate() {
            slots::Entity::insert_many(chunk.iter().enumerate().map(|(i, id)| {
                // Each slot at its own minute, from tomorrow on (inside the booking window).
                let number = first_slot + index * CHUNK + i;
                let starts = now + Days::days(1) + Days::seconds(30 * number as i64);
                slots::ActiveModel {
                    id: Set(*id),
                    practice_id: Set(self.practice_id),
                    external_id: Set(None),
                    clinician_staff_id: Set(None),
                    clinician_name: Set("Dr A Patel".to_owned()),
                    slot_type: Set("GP appointment".to_owned()),
                    session_name: Set("Monday session".to_owned()),
                    location: Set("Main surgery".to_owned()),
                    channel: Set(Channel::InPerson),
                    starts_at: Set(starts),
                    ends_at: Set(starts + Days::minutes(10)),
                    status: Set(SlotStatus::Open),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
            }))
            .exec(&txn)
            .await?;
        }
        for chunk in courses.chunks(CHUNK) {
            courses::Entity::insert_many(chunk.iter().map(|(id, patient)| courses::ActiveModel {
                id: Set(*id),
                practice_id: Set(self.practice_id),
                patient_id: Set(self.patients[*patient].id),
                external_id: Set(None),
                snomed_code: Set("322236009".to_owned()),
                medication: Set("Amlodipine 5mg tablets".to_owned()),
                dosage: Set("One a day".to_owned()),
                quantity: Set("28 tablets".to_owned()),
                course_type: Set(CourseType::Repeat),
                can_be_requested: Set(true),
                last_issue_date: Set(Some(today - Days::days(60))),
                next_issue_date: Set(Some(today - Days::days(32))),
                review_date: Set(Some(today + Days::days(200))),
                hidden: Set(false),
                hidden_from_proxies: Set(false),
                ended_on: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }))
            .exec(&txn)
            .await?;
        }
        for chunk in result_ids.chunks(CHUNK) {
            results::Entity::insert_many(chunk.iter().map(|(id, patient)| results::ActiveModel {
                id: Set(*id),
                practice_id: Set(self.practice_id),
                patient_id: Set(self.patients[*patient].id),
                external_id: Set(None),
                test_code: Set("1022441000000100".to_owned()),
                test_name: Set(format!("Serum ferritin {}", self.marker)),
                value: Set("40".to_owned()),
                numeric_value: Set(Some(40.0)),
                unit: Set(Some("ug/L".to_owned())),
                range_low: Set(Some(30.0)),
                range_high: Set(Some(400.0)),
                range_text: Set(None),
                abnormal_flag: Set(results::AbnormalFlag::Normal),
                requester: Set(None),
                effective_date: Set(today),
                entered_on: Set(today),
                received_at: Set(now),
                review_state: Set(results::ReviewState::Pending),
                reviewed_at: Set(None),
                reviewed_by_staff_id: Set(None),
                clinician_comment: Set(None),
                withhold_reason: Set(None),
                released_at: Set(None),
                retracted_at: Set(None),
                retraction_reason: Set(None),
                hidden: Set(false),
                hidden_from_proxies: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
            }))
            .exec(&txn)
            .await?;
        }
        txn.commit().await?;
        let mut pools = self.pools.lock().map_err(|_| anyhow!("poisoned"))?;
        pools.slots.extend(slot_ids);
        pools.courses.extend(courses);
        pools
            .results
            .extend(result_ids.into_iter().map(|(id, _)| id));
        Ok(())
    }

    /// The request for one scheduled `op`, taking what it needs from the pools.
    fn plan(&self, op: Op) -> anyhow::Result<Work> {
        let n = self.planned.fetch_add(1, Ordering::Relaxed);
        let who = n % self.patients.len();
        let patient = &self.patients[who];
        let key = Some(format!("{}-{n}", self.run));
        let mut pools = self.pools.lock().map_err(|_| anyhow!("poisoned"))?;
        let call = match op {
            Op::AppOpen => return Ok(Work::AppOpen(who)),
            Op::Me => Call {
                op,
                method: Method::GET,
                path: "/api/v1/me".to_owned(),
                token: patient.token.clone(),
                key: None,
                body: None,
                success: StatusCode::OK,
                about: About::Nothing,
            },
            Op::Record => Call {
                op,
                method: Method::GET,
                path: format!("/api/v1/patients/{}/record", patient.id),
                token: patient.token.clone(),
                key: None,
                body: None,
                success: StatusCode::OK,
                about: About::Nothing,
            },
            Op::Book => {
                let slot = pools.slots.pop_front().context("the slot pool ran out")?;
                Call {
                    op,
                    method: Method::POST,
                    path: format!("/api/v1/patients/{}/appointments", patient.id),
                    token: patient.token.clone(),
                    key,
                    body: Some(json!({
                        "slot_id": slot,
                        "reason": format!("Chest pain {}", self.marker),
                    })),
                    success: StatusCode::CREATED,
                    about: About::Slot(slot, who),
                }
            }
            Op::Order => {
                let (course, owner) = pools
                    .courses
                    .pop_front()
                    .context("the course pool ran out")?;
                Call {
                    op,
                    method: Method::POST,
                    path: format!(
                        "/api/v1/patients/{}/prescription-requests",
                        self.patients[owner].id
                    ),
                    token: self.patients[owner].token.clone(),
                    key,
                    body: Some(json!({
                        "course_ids": [course],
                        "note": format!("Going away {}", self.marker),
                    })),
                    success: StatusCode::CREATED,
                    about: About::Course(course),
                }
            }
            Op::Message => Call {
                op,
                method: Method::POST,
                path: format!("/api/v1/patients/{}/messages", patient.id),
                token: patient.token.clone(),
                key,
                body: Some(json!({
                    "subject": "Test results",
                    "body": format!("My lump is bigger {}", self.marker),
                })),
                success: StatusCode::CREATED,
                about: About::Patient(who),
            },
            Op::Release => {
                let result = pools
                    .results
                    .pop_front()
                    .context("the result pool ran out")?;
                Call {
                    op,
                    method: Method::POST,
                    path: format!("/api/v1/practice/results/{result}/release"),
                    token: self.clinician.clone(),
                    key,
                    body: Some(json!({ "comment": format!("Normal {}", self.marker) })),
                    success: StatusCode::OK,
                    about: About::Result(result),
                }
            }
        };
        Ok(Work::Call(call))
    }

    async fn perform(&self, work: &Work) -> Answer {
        match work {
            Work::Call(call) => self.send(call).await,
            Work::AppOpen(who) => self.app_open(*who).await,
        }
    }

    /// Sends one call and reads its whole answer within [`WAIT`].
    async fn send(&self, call: &Call) -> Answer {
        let exchange = async {
            let mut request = self
                .client
                .request(call.method.clone(), format!("{}{}", self.base, call.path))
                .bearer_auth(&call.token);
            if let Some(key) = &call.key {
                request = request.header("idempotency-key", key);
            }
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(_) => return ("transport error".to_owned(), None),
            };
            let status = response.status();
            let Ok(bytes) = response.bytes().await else {
                return ("transport error".to_owned(), None);
            };
            if status == call.success {
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                return ("ok".to_owned(), Some(body));
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if let Ok(mut bodies) = self.error_bodies.lock() {
                bodies.push(text);
            }
            let label = body["code"]
                .as_str()
                .map_or_else(|| format!("http {}", status.as_u16()), str::to_owned);
            (label, None)
        };
        let (label, body) = tokio::time::timeout(WAIT, exchange)
            .await
            .unwrap_or_else(|_| ("client timeout".to_owned(), None));
        let ack = body.and_then(|body| ack_of(call, &body));
        if label == "ok" && ack.is_none() && !matches!(call.about, About::Nothing) {
            return Answer {
                label: "acknowledged without an id".to_owned(),
            };
        }
        if let Some(ack) = ack
            && let Ok(mut ledger) = self.ledger.lock()
        {
            ledger.push(ack);
        }
        Answer { label }
    }

    /// An app open: the device reconnects and exchanges frames until quiet.
    async fn app_open(&self, who: usize) -> Answer {
        let patient = &self.patients[who];
        let mut device = patient.device.lock().await;
        device.reconnect();
        let mut last = String::new();
        for _ in 0..20 {
            let request = device.outgoing();
            let exchange = async {
                let response = self
                    .client
                    .post(format!("{}/api/v1/sync", self.base))
                    .bearer_auth(&patient.token)
                    .header("content-type", "application/cbor")
                    .body(request.encode())
                    .send()
                    .await
                    .map_err(|_| "transport error".to_owned())?;
                let status = response.status();
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|_| "transport error".to_owned())?;
                if status != StatusCode::OK {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    if let Ok(mut bodies) = self.error_bodies.lock() {
                        bodies.push(text);
                    }
                    return Err(body["code"]
                        .as_str()
                        .map_or_else(|| format!("http {}", status.as_u16()), str::to_owned));
                }
                Frame::decode(&bytes).map_err(|e| format!("undecodable frame: {e:?}"))
            };
            let reply = match tokio::time::timeout(WAIT, exchange).await {
                Ok(Ok(reply)) => reply,
                Ok(Err(label)) => return Answer { label },
                Err(_) => {
                    return Answer {
                        label: "client timeout".to_owned(),
                    };
                }
            };
            if let Err(error) = device.receive(&reply) {
                return Answer {
                    label: format!("device refused the reply: {error:?}"),
                };
            }
            last = format!("sent {}; received {}", describe(&request), describe(&reply));
            if reply.documents.is_empty()
                && reply.outcomes.is_empty()
                && request.documents.is_empty()
            {
                return Answer {
                    label: "ok".to_owned(),
                };
            }
        }
        Answer {
            label: format!("{UNSETTLED} (last: {last})"),
        }
    }

    /// Starts the local Web Push service (trusting the server's VAPID key) and subscribes every
    /// patient's device to it, so each released result reaches it as a push notification.
    async fn subscribe_devices(&self) -> anyhow::Result<PushService> {
        let key: Value = self
            .client
            .get(format!("{}/api/v1/push/vapid-public-key", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let key = key["public_key"].as_str().context("the VAPID public key")?;
        let service = PushService::start(key).await;
        for patient in &self.patients {
            let subscriber = service.subscriber();
            let response = self
                .client
                .put(format!(
                    "{}/api/v1/me/devices/{}/push-subscription",
                    self.base, patient.device_id
                ))
                .bearer_auth(&patient.token)
                .json(&subscriber.subscription())
                .send()
                .await?;
            if response.status() != StatusCode::OK {
                bail!("subscribing a device to push: {}", response.status());
            }
        }
        Ok(service)
    }

    /// Every push notification the local service received, decrypted, with its `Topic`, once
    /// no notice is left waiting (at most 30 s); `None` when quiet hours began meanwhile (the
    /// server holds notices until 06:00). A request that failed the service's checks fails the
    /// run.
    async fn pushed(&self, service: &PushService) -> anyhow::Result<Option<Vec<String>>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = Clock::System.now();
            if quiet_hours::is_quiet(now) {
                return Ok(None);
            }
            let fanned_out = notification_outbox::Entity::find()
                .filter(notification_outbox::Column::DeliveredAt.is_null())
                .filter(notification_outbox::Column::ExpiresAt.gt(now))
                .count(&self.db)
                .await?;
            let sending = notification_deliveries::Entity::find()
                .filter(notification_deliveries::Column::State.eq(DeliveryState::Pending))
                .count(&self.db)
                .await?;
            if fanned_out + sending == 0 {
                break;
            }
            if Instant::now() > deadline {
                println!(
                    "{} push notices were still waiting after 30 s: the scan reads those sent.\n",
                    fanned_out + sending
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let refused = service.errors();
        if !refused.is_empty() {
            bail!("push requests refused by the push service: {refused:?}");
        }
        Ok(Some(
            service
                .delivered()
                .into_iter()
                .map(|d| format!("{} {}", d.topic.unwrap_or_default(), d.text))
                .collect(),
        ))
    }

    /// Requests a hostile or careless client sends, whose error answers the scan reads: a token
    /// with a character changed, a marker in a malformed body, an unknown patient.
    async fn hostile_requests(&self) {
        let patient = &self.patients[0];
        let mut wrong = patient.token.clone();
        wrong.pop();
        wrong.push('x');
        let calls = [
            Call {
                op: Op::Me,
                method: Method::GET,
                path: "/api/v1/me".to_owned(),
                token: wrong,
                key: None,
                body: None,
                success: StatusCode::OK,
                about: About::Nothing,
            },
            Call {
                op: Op::Message,
                method: Method::POST,
                path: format!("/api/v1/patients/{}/messages", patient.id),
                token: patient.token.clone(),
                key: Some(format!("{}-hostile", self.run)),
                body: Some(json!({ "body": 7, "subject": self.marker, "extra": self.marker })),
                success: StatusCode::CREATED,
                about: About::Nothing,
            },
            Call {
                op: Op::Record,
                method: Method::GET,
                path: format!("/api/v1/patients/{}/record", Uuid::new_v4()),
                token: patient.token.clone(),
                key: None,
                body: None,
                success: StatusCode::OK,
                about: About::Nothing,
            },
            Call {
                op: Op::Release,
                method: Method::POST,
                path: format!("/api/v1/practice/results/{}/release", Uuid::new_v4()),
                token: self.integration_key.clone(),
                key: None,
                body: Some(json!({ "comment": self.marker })),
                success: StatusCode::OK,
                about: About::Nothing,
            },
        ];
        for call in &calls {
            self.send(call).await;
        }
    }
}

/// A frame's documents in short, for a report: section, generation, kind and size.
fn describe(frame: &Frame) -> String {
    let documents: Vec<String> = frame
        .documents
        .iter()
        .map(|d| {
            let body = match &d.body {
                sync_protocol::DocumentBody::Sync(bytes) => format!("sync {} B", bytes.len()),
                other => format!("{other:?}"),
            };
            format!("{:?} g{} {body}", d.document.section, d.generation)
        })
        .collect();
    format!(
        "[{}] and {} outcomes",
        documents.join(", "),
        frame.outcomes.len()
    )
}

/// The ledger entry of an acknowledged write, from its answer.
fn ack_of(call: &Call, body: &Value) -> Option<Ack> {
    let id = |field: &str| body[field].as_str().and_then(|s| Uuid::parse_str(s).ok());
    match call.about {
        About::Nothing => None,
        About::Slot(slot, patient) => Some(Ack::Booking {
            appointment: id("id")?,
            slot,
            patient,
        }),
        About::Course(course) => Some(Ack::Order {
            request: id("request_id")?,
            course,
        }),
        About::Patient(patient) => Some(Ack::Thread {
            thread: id("id")?,
            patient,
        }),
        About::Result(result) => Some(Ack::Release { result }),
    }
}

// ---------------------------------------------------------------------------------------------
// The open-loop driver.

/// Smooth weighted round robin: the operation of each request of a step, spread evenly.
fn schedule(mix: &[(Op, u32)], count: usize) -> Vec<Op> {
    let total: i64 = mix.iter().map(|(_, w)| i64::from(*w)).sum();
    let mut current = vec![0i64; mix.len()];
    (0..count)
        .map(|_| {
            let mut best = 0;
            for (i, (_, weight)) in mix.iter().enumerate() {
                current[i] += i64::from(*weight);
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            mix[best].0
        })
        .collect()
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 10 minutes, 3 significant digits.
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

/// What one operation did in one step.
struct OpStats {
    latency: Histogram<u64>,
    answers: BTreeMap<String, u64>,
}

impl OpStats {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency: histogram()?,
            answers: BTreeMap::new(),
        })
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn count(&self) -> u64 {
        self.latency.len()
    }

    fn ok(&self) -> u64 {
        self.answers.get("ok").copied().unwrap_or(0)
    }

    fn errors(&self) -> String {
        let others: Vec<String> = self
            .answers
            .iter()
            .filter(|(answer, _)| answer.as_str() != "ok")
            .map(|(answer, n)| format!("{answer}: {n}"))
            .collect();
        if others.is_empty() {
            "none".to_owned()
        } else {
            others.join(", ")
        }
    }

    fn wrong(&self) -> Vec<String> {
        self.answers
            .iter()
            .filter(|(answer, _)| answer.as_str() != "ok" && !is_overload(answer))
            .map(|(answer, n)| format!("{answer}: {n}"))
            .collect()
    }
}

/// One step of a rate ladder.
struct Step {
    rate: f64,
    elapsed: Duration,
    ops: BTreeMap<Op, OpStats>,
    /// How late the generator dispatched requests after their scheduled time.
    lag: Histogram<u64>,
    server_cpu: f64,
    load: String,
}

impl Step {
    /// Whether every operation's p99 stayed under `p99_ms` with no more than 1% errors.
    fn passes(&self, p99_ms: f64) -> bool {
        self.ops.values().all(|stats| {
            stats.ms(0.99) < p99_ms && (stats.count() - stats.ok()) * 100 <= stats.count()
        })
    }
}

/// Sends `rate` requests a second for `seconds`, operations in `mix`'s proportions, each on
/// its schedule whatever the answers, and waits for every answer.
async fn open_loop(
    world: &Arc<World>,
    server: &ServerProcess,
    mix: &[(Op, u32)],
    rate: f64,
    seconds: f64,
) -> anyhow::Result<Step> {
    let count = (rate * seconds).round().max(1.0) as usize;
    let ops = schedule(mix, count);
    let mut counts: BTreeMap<Op, usize> = BTreeMap::new();
    for op in &ops {
        *counts.entry(*op).or_default() += 1;
    }
    world.stock(&counts).await?;
    let mut work = Vec::with_capacity(count);
    for op in ops {
        work.push(world.plan(op)?);
    }
    let cpu_before = server.cpu_time().map_or(0.0, |t| t.as_secs_f64());
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, work) in work.into_iter().enumerate() {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(at).await;
        let world = world.clone();
        tasks.spawn(async move {
            let lag = at.elapsed();
            let answer = world.perform(&work).await;
            (work.op(), at.elapsed(), lag, answer.label)
        });
    }
    let mut step = Step {
        rate,
        elapsed: Duration::ZERO,
        ops: BTreeMap::new(),
        lag: histogram()?,
        server_cpu: 0.0,
        load: String::new(),
    };
    while let Some(done) = tasks.join_next().await {
        let (op, latency, lag, label) = done?;
        let stats = match step.ops.entry(op) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(OpStats::new()?),
        };
        stats.latency.saturating_record(
            u64::try_from(latency.as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
        );
        *stats.answers.entry(label).or_default() += 1;
        step.lag
            .saturating_record(u64::try_from(lag.as_micros()).unwrap_or(u64::MAX).max(1));
    }
    step.elapsed = start.elapsed();
    step.server_cpu = (server.cpu_time().map_or(0.0, |t| t.as_secs_f64()) - cpu_before)
        / step.elapsed.as_secs_f64();
    step.load = load_average();
    Ok(step)
}

fn print_step(step: &Step, p99_ms: f64) {
    println!(
        "Target {:.0} /s for {:.1} s: server CPU {:.2} cores, generator dispatch lag p99 {:.2} ms, \
         load average {}; p99 under {p99_ms:.0} ms: {}.\n",
        step.rate,
        step.elapsed.as_secs_f64(),
        step.server_cpu,
        step.lag.value_at_quantile(0.99) as f64 / 1000.0,
        step.load,
        if step.passes(p99_ms) { "yes" } else { "NO" }
    );
    println!("| operation | sent | achieved /s | p50 ms | p99 ms | p999 ms | other answers |");
    println!("|---|---|---|---|---|---|---|");
    for (op, stats) in &step.ops {
        println!(
            "| {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
            op.name(),
            stats.count(),
            stats.ok() as f64 / step.elapsed.as_secs_f64(),
            stats.ms(0.5),
            stats.ms(0.99),
            stats.ms(0.999),
            stats.errors()
        );
    }
    println!();
}

/// Fails on answers that are neither successes nor overload.
fn check_answers(step: &Step) -> anyhow::Result<()> {
    let wrong: Vec<String> = step
        .ops
        .iter()
        .flat_map(|(op, stats)| {
            stats
                .wrong()
                .into_iter()
                .map(move |w| format!("{}: {w}", op.name()))
        })
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        bail!("wrong answers: {}", wrong.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The Monday mix.

async fn mix(world: &Arc<World>, server: &ServerProcess, args: &Args) -> anyhow::Result<()> {
    let seconds = args.seconds.unwrap_or(if args.quick { 3.0 } else { 10.0 });
    let rates = if !args.rates.is_empty() {
        args.rates.clone()
    } else if args.quick {
        vec![10.0, 20.0]
    } else {
        vec![25.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 600.0]
    };
    println!(
        "## 1. A Monday morning's mix, open loop ({}; {seconds} s per step)\n",
        MONDAY
            .iter()
            .map(|(op, w)| format!("{} {w}%", op.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Every device synced once first (its first sync is not an app open).
    for who in 0..world.patients.len() {
        let answer = world.app_open(who).await;
        if answer.label != "ok" {
            bail!("the first sync of a device answered {}", answer.label);
        }
    }
    let mut best = None;
    for rate in rates {
        let step = open_loop(world, server, &MONDAY, rate, seconds).await?;
        print_step(&step, args.p99_ms);
        check_answers(&step)?;
        let passes = step.passes(args.p99_ms);
        if passes {
            best = Some(rate);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !passes {
            break;
        }
    }
    println!(
        "Highest total rate of the mix with every operation's p99 under {:.0} ms: {}.\n",
        args.p99_ms,
        best.map_or("none of the steps".to_owned(), |r| format!("{r:.0} /s"))
    );
    verify(world, false).await
}

// ---------------------------------------------------------------------------------------------
// 2. Each operation alone.

async fn search(world: &Arc<World>, server: &ServerProcess, args: &Args) -> anyhow::Result<()> {
    let seconds = args.seconds.unwrap_or(if args.quick { 2.0 } else { 5.0 });
    let ladder = [
        25.0, 50.0, 100.0, 200.0, 300.0, 400.0, 600.0, 800.0, 1200.0, 1600.0, 2400.0, 3200.0,
    ];
    let ops = if args.ops.is_empty() {
        Op::ALL.to_vec()
    } else {
        args.ops.clone()
    };
    println!(
        "## 2. Each operation alone, open loop: the highest rate with p99 under {:.0} ms \
         ({seconds} s per step; a step fails on p99, on more than 1% errors, or when fewer than \
         90% of its requests are answered within the step)\n",
        args.p99_ms
    );
    let mut summary = Vec::new();
    for op in ops {
        let mut best: Option<(f64, f64, f64, f64)> = None;
        let mut stopped = String::new();
        for rate in ladder {
            let step = open_loop(world, server, &[(op, 1)], rate, seconds).await?;
            check_answers(&step)?;
            let stats = step.ops.get(&op).context("the operation's figures")?;
            let achieved = stats.ok() as f64 / step.elapsed.as_secs_f64();
            let passes = step.passes(args.p99_ms) && achieved >= 0.9 * rate;
            println!(
                "- {} at {rate:.0} /s: achieved {achieved:.1} /s, p50 {:.2} ms, p99 {:.2} ms, \
                 p999 {:.2} ms, server CPU {:.2} cores, dispatch lag p99 {:.2} ms, other \
                 answers: {}",
                op.name(),
                stats.ms(0.5),
                stats.ms(0.99),
                stats.ms(0.999),
                step.server_cpu,
                step.lag.value_at_quantile(0.99) as f64 / 1000.0,
                stats.errors()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !passes {
                stopped = format!(
                    "{rate:.0} /s: p99 {:.1} ms, achieved {achieved:.0} /s",
                    stats.ms(0.99)
                );
                break;
            }
            best = Some((rate, stats.ms(0.5), stats.ms(0.99), stats.ms(0.999)));
        }
        summary.push((op, best, stopped));
    }
    println!(
        "\n| operation | highest rate with p99 < {:.0} ms | p50 / p99 / p999 there | first step over |",
        args.p99_ms
    );
    println!("|---|---|---|---|");
    for (op, best, stopped) in summary {
        match best {
            Some((rate, p50, p99, p999)) => println!(
                "| {} | {rate:.0} /s | {p50:.2} / {p99:.2} / {p999:.2} ms | {stopped} |",
                op.name()
            ),
            None => println!("| {} | below the first step | | {stopped} |", op.name()),
        }
    }
    println!();
    verify(world, false).await
}

// ---------------------------------------------------------------------------------------------
// 3. Crashes.

async fn crash(world: &Arc<World>, server: &mut ServerProcess, args: &Args) -> anyhow::Result<()> {
    let kills = args.kills.unwrap_or(if args.quick { 3 } else { 20 });
    let rate = if args.quick { 20.0 } else { 60.0 };
    println!(
        "## 3. Crashes: {kills} SIGKILLs during writes and app opens ({rate:.0} requests/s, \
         open loop; every request not acknowledged retried with its Idempotency-Key after the \
         restart)\n"
    );
    // Each round: start sending, kill the server at a random moment of the round, restart it,
    // and retry what was not acknowledged until it is, or until it has been refused the same
    // way for `retry_for`.
    let mut rng_state = u64::from_le_bytes(
        world.run.as_bytes()[..8]
            .try_into()
            .map_err(|_| anyhow!("a seed"))?,
    );
    let mut random = move || {
        // xorshift64*
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        rng_state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let retry_for = Duration::from_secs(if args.quick { 5 } else { 20 });
    let mut stranded_work = Vec::new();
    let mut first_answers: BTreeMap<String, u64> = BTreeMap::new();
    let mut final_answers: BTreeMap<String, u64> = BTreeMap::new();
    let mut restarts = Vec::new();
    let mut sent = 0usize;
    for _ in 0..kills {
        let round = 40usize;
        let ops = schedule(&WRITES, round);
        let mut counts: BTreeMap<Op, usize> = BTreeMap::new();
        for op in &ops {
            *counts.entry(*op).or_default() += 1;
        }
        world.stock(&counts).await?;
        let mut work = Vec::new();
        for op in ops {
            work.push(world.plan(op)?);
        }
        sent += work.len();
        let kill_after = Duration::from_millis(200 + random() % 1_500);
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let spacing = Duration::from_secs_f64(1.0 / rate);
        for (i, w) in work.iter().cloned().enumerate() {
            let world = world.clone();
            let at = start + spacing * u32::try_from(i).unwrap_or(u32::MAX);
            tasks.spawn(async move {
                tokio::time::sleep_until(at).await;
                let answer = world.perform(&w).await;
                (i, answer.label)
            });
        }
        tokio::time::sleep_until(start + kill_after).await;
        server.kill().await?;
        let mut labels = vec![String::new(); work.len()];
        while let Some(done) = tasks.join_next().await {
            let (i, label) = done?;
            labels[i] = label;
        }
        let down = Instant::now();
        server.restart().await?;
        restarts.push(down.elapsed());
        for label in &labels {
            *first_answers.entry(label.clone()).or_default() += 1;
        }
        // Retry every request not acknowledged, by its key, until it answers something other
        // than overload (or `idempotency_request_in_flight`) or `retry_for` has passed.
        let retries = work
            .iter()
            .zip(labels)
            .filter(|(_, label)| label != "ok")
            .map(|(w, _)| {
                let world = world.clone();
                let w = w.clone();
                async move {
                    let deadline = Instant::now() + retry_for;
                    loop {
                        let label = world.perform(&w).await.label;
                        let settled = label == "ok"
                            || (!is_overload(&label) && label != "idempotency_request_in_flight");
                        if settled || Instant::now() > deadline {
                            return (w, label);
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            });
        for (w, label) in futures_util::future::join_all(retries).await {
            if label == "idempotency_request_in_flight" {
                stranded_work.push(w);
            }
            *final_answers.entry(label).or_default() += 1;
        }
    }
    // A key a killed request still holds is free once its claim's lease passes (the request
    // timeout and 30 s; on SQLite the restarted server frees it at once): retried then, each is
    // answered, with the stored response or by running the call.
    let mut after_lease: BTreeMap<String, u64> = BTreeMap::new();
    if !stranded_work.is_empty() && !args.quick {
        tokio::time::sleep(STRANDED_LEASE).await;
        let retried = stranded_work.iter().map(|w| world.perform(w));
        for answer in futures_util::future::join_all(retried).await {
            *after_lease.entry(answer.label).or_default() += 1;
        }
    }
    let restarts_ms: Vec<f64> = restarts.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    let fmt = |answers: &BTreeMap<String, u64>| {
        if answers.is_empty() {
            "none".to_owned()
        } else {
            answers
                .iter()
                .map(|(a, n)| format!("{a}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    println!("| | |\n|---|---|");
    println!("| kills | {kills} |");
    println!("| requests sent | {sent} |");
    println!(
        "| first answers (before retrying) | {} |",
        fmt(&first_answers)
    );
    println!(
        "| retried requests' last answers | {} |",
        fmt(&final_answers)
    );
    println!(
        "| restart to ready, min / max | {:.0} / {:.0} ms |",
        restarts_ms.iter().copied().fold(f64::INFINITY, f64::min),
        restarts_ms.iter().copied().fold(0.0, f64::max)
    );
    let stranded = final_answers
        .get("idempotency_request_in_flight")
        .copied()
        .unwrap_or(0);
    println!(
        "| still `idempotency_request_in_flight` after {} s of retries | {stranded} |",
        retry_for.as_secs()
    );
    if !after_lease.is_empty() {
        println!(
            "| those retried {} s after the last round, once their lease had passed | {} |",
            STRANDED_LEASE.as_secs(),
            fmt(&after_lease)
        );
    }
    println!();
    verify(world, true).await?;
    let wrong: Vec<String> = final_answers
        .iter()
        .filter(|(a, _)| {
            a.as_str() != "ok"
                && !is_overload(a)
                && a.as_str() != "idempotency_request_in_flight"
                && !a.starts_with(UNSETTLED)
        })
        .chain(after_lease.iter().filter(|(a, _)| a.as_str() != "ok"))
        .map(|(a, n)| format!("{a}: {n}"))
        .collect();
    if !wrong.is_empty() {
        bail!("wrong answers after retrying: {}", wrong.join(", "));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The ledger and the devices against the database.

/// Every acknowledged write is in the database exactly once and whole; with `crashed`, also
/// nothing was written that was not acknowledged, apart from the requests whose retries never
/// settled (reported). Then every device, synced until quiet, holds every acknowledged booking
/// and thread of its patient and nothing the database does not have.
async fn verify(world: &World, crashed: bool) -> anyhow::Result<()> {
    let ledger: Vec<Ack> = world
        .ledger
        .lock()
        .map_err(|_| anyhow!("poisoned"))?
        .clone();
    let mut problems = Vec::new();
    let mut bookings = 0;
    let mut orders = 0;
    let mut threads = 0;
    let mut releases = 0;
    let mut acknowledged_appointments = HashSet::new();
    let mut acknowledged_threads = HashSet::new();
    for ack in &ledger {
        match *ack {
            Ack::Booking {
                appointment,
                slot,
                patient,
            } => {
                bookings += 1;
                if !acknowledged_appointments.insert(appointment) {
                    // A retry replayed the same answer: fine, same appointment.
                    continue;
                }
                let stored = appointments::Entity::find()
                    .filter(appointments::Column::SlotId.eq(slot))
                    .all(&world.db)
                    .await?;
                let whole = stored.len() == 1
                    && stored[0].id == appointment
                    && stored[0].active_slot_id == Some(slot)
                    && stored[0].patient_id == world.patients[patient].id;
                if !whole {
                    problems.push(format!(
                        "booking {appointment}: {} appointments for its slot",
                        stored.len()
                    ));
                }
            }
            Ack::Order { request, course } => {
                orders += 1;
                let stored = prescription_requests::Entity::find_by_id(request)
                    .one(&world.db)
                    .await?;
                let items = prescription_request_items::Entity::find()
                    .filter(prescription_request_items::Column::CourseId.eq(course))
                    .all(&world.db)
                    .await?;
                let whole = stored.is_some()
                    && items.len() == 1
                    && items[0].request_id == request
                    && items[0].pending_course_id == Some(course);
                if !whole {
                    problems.push(format!(
                        "order {request}: {} items for its course",
                        items.len()
                    ));
                }
            }
            Ack::Thread { thread, patient } => {
                threads += 1;
                if !acknowledged_threads.insert(thread) {
                    continue;
                }
                let stored = message_threads::Entity::find_by_id(thread)
                    .one(&world.db)
                    .await?;
                let sent = messages::Entity::find()
                    .filter(messages::Column::ThreadId.eq(thread))
                    .count(&world.db)
                    .await?;
                let whole =
                    stored.is_some_and(|t| t.patient_id == world.patients[patient].id) && sent == 1;
                if !whole {
                    problems.push(format!("thread {thread}: {sent} messages"));
                }
            }
            Ack::Release { result } => {
                releases += 1;
                let stored = results::Entity::find_by_id(result).one(&world.db).await?;
                if stored.is_none_or(|r| r.review_state != results::ReviewState::Released) {
                    problems.push(format!("result {result} not released"));
                }
            }
        }
    }
    // Nothing stored twice for one request: one thread per acknowledged thread request of a
    // patient is checked through the devices below; appointments per slot above.
    let stored_threads = message_threads::Entity::find().count(&world.db).await?;
    let stored_appointments = appointments::Entity::find().count(&world.db).await?;
    println!(
        "Ledger: {bookings} bookings, {orders} orders, {threads} threads, {releases} releases \
         acknowledged; the database holds {stored_appointments} appointments and \
         {stored_threads} threads{}.",
        if crashed {
            " (more than acknowledged only where a request was never acknowledged)"
        } else {
            ""
        }
    );
    if stored_threads < acknowledged_threads.len() as u64
        || stored_appointments < acknowledged_appointments.len() as u64
    {
        problems.push("fewer rows stored than acknowledged".to_owned());
    }
    if !crashed
        && (stored_threads != acknowledged_threads.len() as u64
            || stored_appointments != acknowledged_appointments.len() as u64)
    {
        // Without crashes every request was answered, so nothing unacknowledged was stored
        // unless a request timed out on the client.
        println!(
            "Note: {} appointments and {} threads stored that were not acknowledged (requests \
             that timed out on the client).",
            stored_appointments.saturating_sub(acknowledged_appointments.len() as u64),
            stored_threads.saturating_sub(acknowledged_threads.len() as u64)
        );
    }

    // Devices converge: each, synced until quiet, holds what the database holds.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut converged = 0;
    let mut unsettled = Vec::new();
    for (who, patient) in world.patients.iter().enumerate() {
        let stored_appointments: HashSet<String> = appointments::Entity::find()
            .filter(appointments::Column::PatientId.eq(patient.id))
            .all(&world.db)
            .await?
            .into_iter()
            .map(|a| a.id.to_string())
            .collect();
        let stored_threads: HashSet<String> = message_threads::Entity::find()
            .filter(message_threads::Column::PatientId.eq(patient.id))
            .all(&world.db)
            .await?
            .into_iter()
            .map(|t| t.id.to_string())
            .collect();
        loop {
            let answer = world.app_open(who).await;
            let (held_appointments, held_threads) = {
                let device = patient.device.lock().await;
                (
                    device_appointments(&device, patient.id)
                        .into_keys()
                        .collect::<HashSet<_>>(),
                    device_messages(&device, patient.id, false)
                        .into_keys()
                        .collect::<HashSet<_>>(),
                )
            };
            // The messages document lists a patient's newest threads only, up to the service's
            // limit, as the REST list does.
            let threads_match = held_threads.is_subset(&stored_threads)
                && held_threads.len() as u64
                    == (stored_threads.len() as u64).min(gp_online::messages::MAX_LISTED_THREADS);
            // A device whose exchanges never fall quiet but whose documents hold what the
            // database holds has converged; it is counted apart (a defect of the exchange, not
            // of the data).
            let answered = answer.label == "ok" || answer.label.starts_with(UNSETTLED);
            if answered && held_appointments == stored_appointments && threads_match {
                converged += 1;
                if answer.label != "ok" {
                    unsettled.push(answer.label);
                }
                break;
            }
            if Instant::now() > deadline {
                problems.push(format!(
                    "device of patient {who} did not converge ({}): holds {} of {} \
                     appointments and {} of {} threads",
                    answer.label,
                    held_appointments.intersection(&stored_appointments).count(),
                    stored_appointments.len(),
                    held_threads.intersection(&stored_threads).count(),
                    stored_threads.len()
                ));
                break;
            }
            // The relay projects on its own schedule; look again shortly.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    println!(
        "Devices: {converged} of {} converged with the database (appointments and threads); \
         {} of them still answered a sync message on every exchange (never quiet){}\n",
        world.patients.len(),
        unsettled.len(),
        unsettled
            .first()
            .map_or(".".to_owned(), |label| format!(", e.g. {label}."))
    );
    if problems.is_empty() {
        Ok(())
    } else {
        for problem in problems.iter().take(20) {
            println!("- INCONSISTENT: {problem}");
        }
        bail!(
            "{} inconsistencies between the ledger, the devices and the database",
            problems.len()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The scan.

/// Every secret and marker of the run, searched for in everything the server wrote, every
/// error response received and every push notification's decrypted body (`None`: quiet hours,
/// none sent).
fn scan(world: &World, server: &ServerProcess, pushed: Option<&[String]>) -> anyhow::Result<()> {
    let output = server.output()?;
    let bodies = world
        .error_bodies
        .lock()
        .map_err(|_| anyhow!("poisoned"))?
        .join("\n");
    let mut needles: Vec<(String, &str)> = world
        .patients
        .iter()
        .map(|p| (p.token.clone(), "a patient's access token"))
        .collect();
    needles.push((world.clinician.clone(), "a clinician's access token"));
    needles.push((world.admin.clone(), "an admin's access token"));
    needles.push((world.integration_key.clone(), "the integration key"));
    for key in world
        .linkage_keys
        .lock()
        .map_err(|_| anyhow!("poisoned"))?
        .iter()
    {
        needles.push((key.clone(), "a linkage key"));
        needles.push((key.replace(['-', ' '], ""), "a linkage key"));
    }
    needles.push((world.marker.clone(), "a planted clinical marker"));
    let found_in = |haystack: &str| -> Vec<&str> {
        let mut found: Vec<&str> = needles
            .iter()
            .filter(|(needle, _)| haystack.contains(needle.as_str()))
            .map(|(_, what)| *what)
            .collect();
        found.dedup();
        found
    };
    let in_output = found_in(&output);
    let in_bodies = found_in(&bodies);
    let in_pushes = found_in(&pushed.unwrap_or_default().join("\n"));
    let lines = output.lines().count();
    let errors = bodies.lines().count();
    let pushes = match pushed {
        Some(pushed) => format!("{} push notifications (decrypted)", pushed.len()),
        None => "no push notification (quiet hours: the server holds them until 06:00)".to_owned(),
    };
    println!(
        "## Scan\n\n{} needles (every session token, the integration key, {} linkage keys, the \
         clinical marker) searched in {lines} lines the server wrote ({:.1} KB), {errors} \
         lines of error responses and {pushes}: {}.\n",
        needles.len(),
        world.linkage_keys.lock().map_or(0, |k| k.len()),
        output.len() as f64 / 1000.0,
        if in_output.is_empty() && in_bodies.is_empty() && in_pushes.is_empty() {
            "nothing found".to_owned()
        } else {
            format!(
                "FOUND in the log: {in_output:?}; in error responses: {in_bodies:?}; in push \
                 notifications: {in_pushes:?}"
            )
        }
    );
    if !in_output.is_empty() || !in_bodies.is_empty() || !in_pushes.is_empty() {
        bail!("a secret or marker left the server");
    }
    if lines == 0 {
        bail!("the server wrote nothing: the scan would prove nothing");
    }
    let released = world
        .ledger
        .lock()
        .map_err(|_| anyhow!("poisoned"))?
        .iter()
        .any(|ack| matches!(ack, Ack::Release { .. }));
    if released && pushed.is_some_and(<[String]>::is_empty) {
        bail!(
            "results were released but no push notification arrived: the scan would prove nothing"
        );
    }
    Ok(())
}
