//! Load generator against the real server over HTTPS, each figure printed beside a baseline
//! measured in the same run (as a ratio):
//!
//! 1. **booking** — many patients (each with an account and a session) and many slots; C
//!    concurrent clients book through `POST /api/v1/patients/{id}/appointments` with an
//!    `Idempotency-Key`, and a fraction of the bookings race in groups of four for the same
//!    slot. Throughput, p50/p99 latency and the `slot_taken` answers, beside the same clients
//!    reading `GET /api/v1/me`; then the database is checked (no slot booked twice, one
//!    appointment per success).
//! 2. **ordering** — repeat prescription orders (`POST …/prescription-requests`) the same way,
//!    racing groups ordering the same course, decided by the `pending_course_id` index.
//! 3. **sync** — devices already up to date re-syncing over `POST /api/v1/sync`: sync requests
//!    per second beside `GET /api/v1/me` and the REST re-download `GET …/record`.
//! 4. **memory** — the `gp-online serve` binary as its own process: resident memory growth per
//!    idle live WebSocket (`GET /api/v1/sync/ws`) following the seven documents its device has
//!    synced, beside idle TLS keep-alive connections that completed one request; each kind
//!    measured in a fresh server process.
//!
//! Parts 1–3 start the server inside this process with the test harness (port 0, a fresh
//! database), so the load generator and the server share the machine's cores. The backend is
//! chosen as the tests choose it: SQLite, or PostgreSQL when `GP_ONLINE_TEST_DATABASE_URL` is
//! set. Latency percentiles come from an HdrHistogram (microseconds, 3 significant digits).
//!
//! ```sh
//! # the binary part 4 runs, built with the example so they share one build of the dependencies
//! cargo build --release -p gp-online -p gp-online-tests --bin gp-online --example load
//! cargo run --release -p gp-online-tests --example load    # every part, full size
//! cargo run -p gp-online-tests --example load -- --quick   # small sizes, for CI
//! cargo run --release -p gp-online-tests --example load -- --parts booking,ordering --clients 16
//! ```
//!
//! It prints Markdown tables. Timings are reported, never asserted; the run fails only when the
//! database is left inconsistent (a slot booked twice, a count that does not match) or the
//! server cannot be started. Nothing waits forever: a request of parts 1–3 that has no whole
//! answer within 30 s counts as `client timeout`, and each step of opening or checking a
//! connection in part 4 (TCP connect, TLS handshake, request, upgrade, ping) gives up after
//! 10 s; connections that could not be opened are reported by step instead of stopping the run.
#![allow(clippy::print_stdout)] // A load generator prints its report.

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use clap::{Parser, ValueEnum};
use futures_util::{SinkExt as _, StreamExt as _};
use gp_online::clock::Clock;
use gp_online::config::Config;
use gp_online::db::entities::courses::CourseType;
use gp_online::db::entities::record_entries::RecordSection;
use gp_online::db::entities::slots::{Channel, SlotStatus};
use gp_online::db::entities::{
    accounts, appointments, courses, devices, patients, practices, prescription_request_items,
    prescription_requests, record_entries, slots,
};
use gp_online::identity::sessions::{self, Subject};
use gp_online::settings::PracticeSettings;
use gp_online_tests::{TestApp, TestDatabase, spawn_app_with};
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use sync_protocol::{DevicePeer, DocumentId, Frame, Section};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use uuid::Uuid;

/// Which part of the benchmark to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Booking appointments under contention.
    Booking,
    /// Ordering repeat prescriptions under contention.
    Ordering,
    /// Re-syncs of up-to-date devices over HTTP.
    Sync,
    /// Server memory per idle live WebSocket (a separate server process).
    Memory,
}

/// Load benchmarks of the gp-online server.
#[derive(Debug, Parser)]
#[command(name = "load")]
struct Args {
    /// Small sizes and short phases (well under a minute in all), for CI.
    #[arg(long, env = "GP_ONLINE_LOAD_QUICK")]
    quick: bool,
    /// The parts to run, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    parts: Vec<Part>,
    /// Concurrent clients for parts 1–3.
    #[arg(long)]
    clients: Option<usize>,
    /// Share of booking and ordering requests that race in groups of four for one slot or
    /// course.
    #[arg(long, default_value_t = 0.25)]
    contention: f64,
    /// Idle connections opened in part 4.
    #[arg(long)]
    sockets: Option<usize>,
    /// The `gp-online` binary for part 4 (default: `gp-online` beside this example's folder,
    /// i.e. the same build profile's binary).
    #[arg(long, env = "GP_ONLINE_BIN")]
    server_bin: Option<PathBuf>,
}

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    clients: usize,
    patients: usize,
    bookings: usize,
    orders: usize,
    contention: f64,
    sync_seconds: u64,
    record_items: usize,
    sockets: usize,
}

impl Sizes {
    fn of(args: &Args) -> Self {
        let base = if args.quick {
            Self {
                clients: 8,
                patients: 40,
                bookings: 240,
                orders: 240,
                contention: args.contention,
                sync_seconds: 2,
                record_items: 20,
                sockets: 100,
            }
        } else {
            Self {
                clients: 32,
                patients: 500,
                bookings: 4_000,
                orders: 4_000,
                contention: args.contention,
                sync_seconds: 10,
                record_items: 200,
                sockets: 1_000,
            }
        };
        Self {
            clients: args.clients.unwrap_or(base.clients).max(1),
            sockets: args.sockets.unwrap_or(base.sockets).max(1),
            ..base
        }
    }
}

/// Rows inserted per statement when arranging (well under SQLite's bound-variable limit).
const CHUNK: usize = 100;

/// The reason every booking gives (the practice's default rule requires one).
const REASON: &str = "Persistent cough";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let parts = if args.parts.is_empty() {
        vec![Part::Booking, Part::Ordering, Part::Sync, Part::Memory]
    } else {
        args.parts.clone()
    };
    let sizes = Sizes::of(&args);
    // Two worker threads: the machine this is measured on has two cores, and the server runs
    // in this process for parts 1–3.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()?;
    let started = Instant::now();
    runtime.block_on(run(&args, &parts, sizes))?;
    println!(
        "\nLoad run finished in {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn run(args: &Args, parts: &[Part], sizes: Sizes) -> anyhow::Result<()> {
    gp_online::tls::install_crypto_provider();
    let backend = backend_from_env();
    println!(
        "# Load run: {backend}, {} cores, {} mode, {} clients\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if args.quick { "quick" } else { "full" },
        sizes.clients
    );
    if parts
        .iter()
        .any(|p| matches!(p, Part::Booking | Part::Ordering | Part::Sync))
    {
        let app = spawn_app_with(|config| {
            // The server's own pool size, not the tests' smaller one.
            config.database.max_connections = Config::default().database.max_connections;
        })
        .await;
        let practice = practice(&app.db, app.clock.now()).await?;
        let people = people(&app.db, practice, sizes.patients, app.clock.now()).await?;
        if parts.contains(&Part::Booking) {
            booking(&app, &people, sizes).await?;
        }
        if parts.contains(&Part::Ordering) {
            ordering(&app, &people, sizes).await?;
        }
        if parts.contains(&Part::Sync) {
            sync(&app, practice, sizes).await?;
        }
    }
    if parts.contains(&Part::Memory) {
        memory(args, sizes).await?;
    }
    Ok(())
}

/// The backend the test harness will choose, without creating a database.
fn backend_from_env() -> &'static str {
    match std::env::var(gp_online_tests::TEST_DATABASE_ENV) {
        Ok(url) if !url.is_empty() => "postgres",
        _ => "sqlite",
    }
}

// ---------------------------------------------------------------------------------------------
// Arranging: one practice, many patients with accounts and sessions, written in bulk.

/// A patient with an account and a long-lived access token.
#[derive(Debug, Clone)]
struct Person {
    practice_id: Uuid,
    patient_id: Uuid,
    token: String,
}

/// A live practice whose patients may hold as many future appointments as the run books.
async fn practice(db: &DatabaseConnection, now: DateTime<Utc>) -> anyhow::Result<Uuid> {
    let settings = PracticeSettings {
        max_future_appointments: 100_000,
        ..PracticeSettings::default()
    };
    let id = Uuid::new_v4();
    practices::Entity::insert(practices::ActiveModel {
        id: Set(id),
        ods_code: Set(format!("L{:05}", id.as_u128() % 100_000)),
        name: Set("Load Test Surgery".to_owned()),
        live: Set(true),
        prospective_access_date: Set(NaiveDate::from_ymd_opt(2023, 10, 31)),
        settings: Set(settings.to_json()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec(db)
    .await?;
    Ok(id)
}

/// `count` adult patients of the practice, each with an account, a device and a session.
async fn people(
    db: &DatabaseConnection,
    practice_id: Uuid,
    count: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Person>> {
    let mut rows = Vec::with_capacity(count);
    for _ in 0..count {
        rows.push((Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()));
    }
    let born = NaiveDate::from_ymd_opt(1968, 12, 10).context("a date of birth")?;
    let txn = db.begin().await?;
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
    let config = gp_online_tests::fixtures::long_sessions();
    let mut people = Vec::with_capacity(count);
    for (patient_id, account_id, device_id) in rows {
        let subject = Subject::Account {
            account_id,
            device_id,
        };
        let token = sessions::open(&txn, &config, subject, now)
            .await
            .map_err(|e| anyhow!("opening a session: {e:?}"))?
            .access_token;
        people.push(Person {
            practice_id,
            patient_id,
            token,
        });
    }
    txn.commit().await?;
    Ok(people)
}

// ---------------------------------------------------------------------------------------------
// Driving load and summarising it.

/// When a phase ends.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// After this many requests in all.
    Requests(usize),
    /// After this long.
    After(Duration),
}

/// What a phase measured.
struct Phase {
    elapsed: Duration,
    latency: Histogram<u64>,
    answers: BTreeMap<String, u64>,
}

impl Phase {
    fn requests(&self) -> u64 {
        self.latency.len()
    }

    fn per_second(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }

    fn count(&self, answer: &str) -> u64 {
        self.answers.get(answer).copied().unwrap_or(0)
    }

    /// Latency at `quantile`, in milliseconds.
    fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// Answers other than the expected ones, for the report.
    fn unexpected(&self, expected: &[&str]) -> String {
        let others: Vec<String> = self
            .answers
            .iter()
            .filter(|(answer, _)| !expected.contains(&answer.as_str()))
            .map(|(answer, n)| format!("{answer}: {n}"))
            .collect();
        if others.is_empty() {
            "none".to_owned()
        } else {
            others.join(", ")
        }
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 10 minutes, 3 significant digits.
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

/// Runs `job(client, request_number)` from `clients` concurrent tasks until `stop`; each call is
/// one timed request answering a label (`booked`, `slot_taken`, `http 500`, …).
async fn drive<F, Fut>(clients: usize, stop: Stop, job: F) -> anyhow::Result<Phase>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = String> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let job = job.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram()?;
            let mut answers: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed);
                let more = match stop {
                    Stop::Requests(total) => number < total,
                    Stop::After(limit) => started.elapsed() < limit,
                };
                if !more {
                    break;
                }
                let sent = Instant::now();
                let answer = job(client, number).await;
                let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                latency.saturating_record(micros.max(1));
                *answers.entry(answer).or_default() += 1;
            }
            anyhow::Ok((latency, answers))
        }));
    }
    let mut phase = Phase {
        elapsed: Duration::ZERO,
        latency: histogram()?,
        answers: BTreeMap::new(),
    };
    for task in tasks {
        let (latency, answers) = task.await??;
        phase.latency.add(latency)?;
        for (answer, n) in answers {
            *phase.answers.entry(answer).or_default() += n;
        }
    }
    phase.elapsed = started.elapsed();
    Ok(phase)
}

/// How long a client waits for a connection, a TLS handshake, or a request's whole answer before
/// counting it as failed, so that no part of the run can wait forever.
const WAIT: Duration = Duration::from_secs(30);

/// The label of an answer: `ok` for `success`, the problem's code for a 4xx, else the status;
/// `client timeout` when the answer (body included) took longer than [`WAIT`].
async fn label(
    request: impl Future<Output = Result<reqwest::Response, reqwest::Error>>,
    success: StatusCode,
) -> String {
    tokio::time::timeout(WAIT, label_of(request, success))
        .await
        .unwrap_or_else(|_| "client timeout".to_owned())
}

async fn label_of(
    request: impl Future<Output = Result<reqwest::Response, reqwest::Error>>,
    success: StatusCode,
) -> String {
    let response = match request.await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => return "client timeout".to_owned(),
        Err(_) => return "transport error".to_owned(),
    };
    let status = response.status();
    if status == success {
        // Read the body so the connection goes back to the pool.
        let _ = response.bytes().await;
        return "ok".to_owned();
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["code"].as_str().unwrap_or("");
    if code == "nothing_ordered" {
        let refused = body["unsuccessful"][0]["code"].as_str().unwrap_or("?");
        return format!("nothing_ordered: {refused}");
    }
    if code.is_empty() {
        format!("http {}", status.as_u16())
    } else {
        code.to_owned()
    }
}

/// The baseline every part stands beside: the same clients reading `GET /api/v1/me`.
async fn me_reads(
    app: &TestApp,
    people: &[Person],
    clients: usize,
    stop: Stop,
) -> anyhow::Result<Phase> {
    let client = app.client.clone();
    let url = app.url("/api/v1/me");
    let tokens: Arc<Vec<String>> = Arc::new(people.iter().map(|p| p.token.clone()).collect());
    drive(clients, stop, move |_, n| {
        let request = client
            .get(&url)
            .bearer_auth(&tokens[n % tokens.len()])
            .send();
        async move { label(request, StatusCode::OK).await }
    })
    .await
}

fn ratio(value: f64, baseline: f64) -> String {
    if baseline > 0.0 {
        format!("{:.3}×", value / baseline)
    } else {
        "–".to_owned()
    }
}

/// A Markdown table of a contended write beside its read baseline.
fn print_contended(what: &str, write: &Phase, read: &Phase, refusal: &str) {
    println!("| | {what} | baseline: `GET /api/v1/me` | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| requests | {} | {} | |",
        write.requests(),
        read.requests()
    );
    println!(
        "| throughput | {:.0} /s | {:.0} /s | {} |",
        write.per_second(),
        read.per_second(),
        ratio(write.per_second(), read.per_second())
    );
    println!(
        "| p50 latency | {:.2} ms | {:.2} ms | {} |",
        write.ms(0.5),
        read.ms(0.5),
        ratio(write.ms(0.5), read.ms(0.5))
    );
    println!(
        "| p99 latency | {:.2} ms | {:.2} ms | {} |",
        write.ms(0.99),
        read.ms(0.99),
        ratio(write.ms(0.99), read.ms(0.99))
    );
    println!(
        "| successes / `{refusal}` | {} / {} | | |",
        write.count("ok"),
        write.count(refusal)
    );
    println!(
        "| other answers | {} | {} | |",
        write.unexpected(&["ok", refusal]),
        read.unexpected(&["ok"])
    );
}

/// Units of work with a share of them contended: `racers` consecutive requests for the same
/// unit, spread evenly among single requests. Returns, per request, the unit it targets.
fn contended_plan(requests: usize, share: f64, racers: usize) -> Vec<usize> {
    let share = share.clamp(0.0, 1.0);
    let groups = ((requests as f64 * share) / racers as f64).round() as usize;
    let singles = requests.saturating_sub(groups * racers);
    let units = groups + singles;
    let mut plan = Vec::with_capacity(requests);
    let mut placed_groups = 0;
    for unit in 0..units {
        // Unit `unit` is a racing group when it is the next of `groups` evenly spaced ones.
        let due = groups > 0 && placed_groups < groups && unit * groups >= placed_groups * units;
        if due {
            placed_groups += 1;
            plan.extend(std::iter::repeat_n(unit, racers));
        } else {
            plan.push(unit);
        }
    }
    plan
}

/// Requests racing for one slot or course.
const RACERS: usize = 4;

// ---------------------------------------------------------------------------------------------
// 1. Booking under contention.

async fn booking(app: &TestApp, people: &[Person], sizes: Sizes) -> anyhow::Result<()> {
    let now = app.clock.now();
    let plan = contended_plan(sizes.bookings, sizes.contention, RACERS);
    let units = plan.last().map_or(0, |u| u + 1);
    let practice_id = patients::Entity::find_by_id(people[0].patient_id)
        .one(&app.db)
        .await?
        .context("the first patient")?
        .practice_id;
    // One open 10-minute slot per unit, back to back from tomorrow (inside the 8-week window).
    let slot_ids: Vec<Uuid> = (0..units).map(|_| Uuid::new_v4()).collect();
    let txn = app.db.begin().await?;
    for (index, chunk) in slot_ids.chunks(CHUNK).enumerate() {
        slots::Entity::insert_many(chunk.iter().enumerate().map(|(i, id)| {
            let starts = now + Days::days(1) + Days::minutes(10 * (index * CHUNK + i) as i64);
            slots::ActiveModel {
                id: Set(*id),
                practice_id: Set(practice_id),
                external_id: Set(None),
                clinician_staff_id: Set(None),
                clinician_name: Set("Dr A Patel".to_owned()),
                slot_type: Set("GP appointment".to_owned()),
                session_name: Set("Load session".to_owned()),
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
    txn.commit().await?;
    println!(
        "## 1. Booking under contention ({} patients, {} slots, {} bookings by {} clients, {:.0}% \
         racing in groups of {RACERS})\n",
        people.len(),
        units,
        plan.len(),
        sizes.clients,
        100.0 * (plan.len() - distinct_singles(&plan)) as f64 / plan.len() as f64,
    );

    let read = me_reads(app, people, sizes.clients, Stop::Requests(plan.len())).await?;

    let client = app.client.clone();
    let address = app.address.clone();
    let people_arc: Arc<Vec<Person>> = Arc::new(people.to_vec());
    let plan_arc = Arc::new(plan.clone());
    let slots_arc = Arc::new(slot_ids.clone());
    let run = Uuid::new_v4().simple().to_string();
    let write = drive(sizes.clients, Stop::Requests(plan.len()), move |_, n| {
        // Consecutive requests come from consecutive patients, so racers are distinct patients.
        let person = &people_arc[n % people_arc.len()];
        let slot = slots_arc[plan_arc[n]];
        let request = client
            .post(format!(
                "{address}/api/v1/patients/{}/appointments",
                person.patient_id
            ))
            .bearer_auth(&person.token)
            .header("idempotency-key", format!("load-{run}-book-{n}"))
            .json(&json!({ "slot_id": slot, "reason": REASON }))
            .send();
        async move { label(request, StatusCode::CREATED).await }
    })
    .await?;
    print_contended("booking", &write, &read, "slot_taken");

    // Correctness: every slot booked once, one appointment per success.
    let booked = appointments::Entity::find()
        .filter(appointments::Column::SlotId.is_in(slot_ids.iter().copied()))
        .filter(appointments::Column::ActiveSlotId.is_not_null())
        .all(&app.db)
        .await?;
    let distinct: HashSet<Uuid> = booked.iter().map(|a| a.slot_id).collect();
    let mut problems = Vec::new();
    if distinct.len() != booked.len() {
        problems.push(format!(
            "{} appointments for {} slots",
            booked.len(),
            distinct.len()
        ));
    }
    if booked.len() as u64 != write.count("ok") {
        problems.push(format!(
            "{} appointments stored, {} bookings answered 201",
            booked.len(),
            write.count("ok")
        ));
    }
    if write.count("ok") + write.count("slot_taken") == plan.len() as u64 && distinct.len() != units
    {
        problems.push(format!("{} of {units} slots booked", distinct.len()));
    }
    report_correctness(
        &problems,
        &format!(
            "{} appointments, {} distinct slots, {} successes",
            booked.len(),
            distinct.len(),
            write.count("ok")
        ),
    )
}

/// How many requests of a plan are alone on their unit.
fn distinct_singles(plan: &[usize]) -> usize {
    let mut per_unit: HashMap<usize, usize> = HashMap::new();
    for unit in plan {
        *per_unit.entry(*unit).or_default() += 1;
    }
    per_unit.values().filter(|n| **n == 1).count()
}

fn report_correctness(problems: &[String], summary: &str) -> anyhow::Result<()> {
    if problems.is_empty() {
        println!("\nCorrectness: consistent ({summary}).\n");
        Ok(())
    } else {
        println!("\nCorrectness: INCONSISTENT: {}.\n", problems.join("; "));
        bail!(
            "the database is inconsistent after the load: {}",
            problems.join("; ")
        )
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Ordering repeat prescriptions under contention.

async fn ordering(app: &TestApp, people: &[Person], sizes: Sizes) -> anyhow::Result<()> {
    let now = app.clock.now();
    let today = now.date_naive();
    let plan = contended_plan(sizes.orders, sizes.contention, RACERS);
    let units = plan.last().map_or(0, |u| u + 1);
    // Unit u is course number u / patients of patient u % patients: racers of one unit are the
    // same patient's devices ordering the same course at once.
    let course_ids: Vec<Uuid> = (0..units).map(|_| Uuid::new_v4()).collect();
    let txn = app.db.begin().await?;
    for (index, chunk) in course_ids.chunks(CHUNK).enumerate() {
        courses::Entity::insert_many(chunk.iter().enumerate().map(|(i, id)| {
            let unit = index * CHUNK + i;
            courses::ActiveModel {
                id: Set(*id),
                practice_id: Set(people[unit % people.len()].practice_id),
                patient_id: Set(people[unit % people.len()].patient_id),
                external_id: Set(None),
                snomed_code: Set("322236009".to_owned()),
                medication: Set(format!("Amlodipine 5mg tablets ({unit})")),
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
            }
        }))
        .exec(&txn)
        .await?;
    }
    txn.commit().await?;
    let requests_before = prescription_requests::Entity::find().count(&app.db).await?;
    println!(
        "## 2. Ordering repeat prescriptions under contention ({} patients, {} courses, {} orders \
         by {} clients, {:.0}% racing in groups of {RACERS})\n",
        people.len(),
        units,
        plan.len(),
        sizes.clients,
        100.0 * (plan.len() - distinct_singles(&plan)) as f64 / plan.len() as f64,
    );

    let read = me_reads(app, people, sizes.clients, Stop::Requests(plan.len())).await?;

    let client = app.client.clone();
    let address = app.address.clone();
    let people_arc: Arc<Vec<Person>> = Arc::new(people.to_vec());
    let plan_arc = Arc::new(plan.clone());
    let courses_arc = Arc::new(course_ids.clone());
    let run = Uuid::new_v4().simple().to_string();
    let write = drive(sizes.clients, Stop::Requests(plan.len()), move |_, n| {
        let unit = plan_arc[n];
        let person = &people_arc[unit % people_arc.len()];
        let request = client
            .post(format!(
                "{address}/api/v1/patients/{}/prescription-requests",
                person.patient_id
            ))
            .bearer_auth(&person.token)
            .header("idempotency-key", format!("load-{run}-order-{n}"))
            .json(&json!({ "course_ids": [courses_arc[unit]] }))
            .send();
        async move { label(request, StatusCode::CREATED).await }
    })
    .await?;
    print_contended(
        "ordering",
        &write,
        &read,
        "nothing_ordered: already_pending",
    );

    // Correctness: at most one pending request per course, one request per success.
    let pending = prescription_request_items::Entity::find()
        .filter(prescription_request_items::Column::CourseId.is_in(course_ids.iter().copied()))
        .filter(prescription_request_items::Column::PendingCourseId.is_not_null())
        .all(&app.db)
        .await?;
    let distinct: HashSet<Uuid> = pending.iter().map(|i| i.course_id).collect();
    let requests = prescription_requests::Entity::find().count(&app.db).await? - requests_before;
    let ok = write.count("ok");
    let mut problems = Vec::new();
    if distinct.len() != pending.len() {
        problems.push(format!(
            "{} pending items for {} courses",
            pending.len(),
            distinct.len()
        ));
    }
    if pending.len() as u64 != ok || requests != ok {
        problems.push(format!(
            "{} pending items and {requests} requests stored, {ok} orders answered 201",
            pending.len()
        ));
    }
    if ok + write.count("nothing_ordered: already_pending") == plan.len() as u64
        && distinct.len() != units
    {
        problems.push(format!("{} of {units} courses pending", distinct.len()));
    }
    report_correctness(
        &problems,
        &format!(
            "{} pending items, {} distinct courses, {requests} requests, {ok} successes",
            pending.len(),
            distinct.len()
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// 3. Sync requests per second.

const FOLLOWED: [Section; 4] = [
    Section::Profile,
    Section::Record,
    Section::Results,
    Section::Documents,
];

/// One device's exchange over `POST /api/v1/sync`.
async fn post_frame(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    frame: &Frame,
) -> anyhow::Result<Frame> {
    let exchange = async {
        let response = client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/cbor")
            .body(frame.encode())
            .send()
            .await?;
        if response.status() != StatusCode::OK {
            bail!("sync answered {}", response.status());
        }
        Ok(Frame::decode(&response.bytes().await?)?)
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .unwrap_or_else(|_| Err(anyhow!("client timeout")))
}

/// A device and whether its last exchange left anything to say.
struct Device {
    peer: DevicePeer,
    settled: bool,
}

async fn sync(app: &TestApp, practice_id: Uuid, sizes: Sizes) -> anyhow::Result<()> {
    let now = app.clock.now();
    // One patient per client, each with a record of `record_items` entries.
    let people = people(&app.db, practice_id, sizes.clients, now).await?;
    let terms = [
        "Essential hypertension",
        "Type 2 diabetes mellitus without complication",
        "Allergy to penicillin",
        "Annual asthma review, face-to-face consultation",
        "Osteoarthritis of the left knee",
    ];
    let sections = [
        RecordSection::Problems,
        RecordSection::Consultations,
        RecordSection::Allergies,
        RecordSection::Consultations,
        RecordSection::Problems,
    ];
    let first_entry = NaiveDate::from_ymd_opt(2024, 1, 1).context("a date")?;
    let txn = app.db.begin().await?;
    for person in &people {
        let rows: Vec<record_entries::ActiveModel> = (0..sizes.record_items)
            .map(|i| record_entries::ActiveModel {
                id: Set(Uuid::new_v4()),
                practice_id: Set(person.practice_id),
                patient_id: Set(person.patient_id),
                external_id: Set(None),
                section: Set(sections[i % sections.len()]),
                snomed_code: Set("38341003".to_owned()),
                term: Set(format!("{} ({i})", terms[i % terms.len()])),
                effective_date: Set(first_entry + Days::days((i % 600) as i64)),
                entered_on: Set(first_entry + Days::days((i % 600) as i64)),
                end_date: Set(None),
                detail: Set(None),
                author: Set(Some("Dr Rhea Shah".to_owned())),
                hidden: Set(false),
                hidden_from_proxies: Set(false),
                retracted_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .collect();
        for chunk in rows.chunks(CHUNK) {
            record_entries::Entity::insert_many(chunk.to_vec())
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;

    // Bring every device up to date first (not measured).
    let url = app.url("/api/v1/sync");
    let mut devices = Vec::with_capacity(people.len());
    let initial = Instant::now();
    let mut initial_bytes = 0usize;
    for person in &people {
        let mut peer = DevicePeer::new();
        for section in FOLLOWED {
            peer.follow(DocumentId::new(person.patient_id, section));
        }
        let mut settled = false;
        for _ in 0..20 {
            let request = peer.outgoing();
            let reply = post_frame(&app.client, &url, &person.token, &request).await?;
            initial_bytes += reply.encode().len();
            let quiet = reply.documents.is_empty() && reply.outcomes.is_empty();
            peer.receive(&reply)
                .map_err(|e| anyhow!("device receive: {e:?}"))?;
            if quiet {
                settled = true;
                break;
            }
        }
        if !settled {
            bail!("an initial sync did not settle");
        }
        devices.push(tokio::sync::Mutex::new(Device {
            peer,
            settled: true,
        }));
    }
    println!(
        "## 3. Sync requests per second ({} devices, one per client, each following 4 documents \
         of a record of {} entries; {} s per phase)\n",
        people.len(),
        sizes.record_items,
        sizes.sync_seconds
    );
    println!(
        "Initial syncs (not measured below): {} devices in {:.2} s, {:.1} KB down per device.\n",
        people.len(),
        initial.elapsed().as_secs_f64(),
        initial_bytes as f64 / people.len() as f64 / 1000.0
    );

    let stop = Stop::After(Duration::from_secs(sizes.sync_seconds));
    let me = me_reads(app, &people, sizes.clients, stop).await?;

    let client = app.client.clone();
    let address = app.address.clone();
    let people_arc: Arc<Vec<Person>> = Arc::new(people.clone());
    let record = drive(sizes.clients, stop, move |c, _| {
        let person = &people_arc[c];
        let request = client
            .get(format!(
                "{address}/api/v1/patients/{}/record",
                person.patient_id
            ))
            .bearer_auth(&person.token)
            .send();
        async move { label(request, StatusCode::OK).await }
    })
    .await?;

    // A re-sync: the device reconnects (as after the app was in the background) and exchanges
    // frames until the server has nothing more to say; every POST is one timed request.
    let client = app.client.clone();
    let people_arc: Arc<Vec<Person>> = Arc::new(people.clone());
    let devices = Arc::new(devices);
    let sync_phase = drive(sizes.clients, stop, move |c, _| {
        let client = client.clone();
        let url = url.clone();
        let people = people_arc.clone();
        let devices = devices.clone();
        async move {
            let mut device = devices[c].lock().await;
            if device.settled {
                device.peer.reconnect();
            }
            let request = device.peer.outgoing();
            match post_frame(&client, &url, &people[c].token, &request).await {
                Ok(reply) => {
                    let quiet = reply.documents.is_empty() && reply.outcomes.is_empty();
                    if device.peer.receive(&reply).is_err() {
                        return "device rejected the reply".to_owned();
                    }
                    device.settled = quiet;
                    if quiet { "ok" } else { "ok, more" }.to_owned()
                }
                Err(error) => format!("error: {error}"),
            }
        }
    })
    .await?;
    let resyncs = sync_phase.count("ok");
    let posts = sync_phase.requests();

    println!(
        "| | sync: `POST /api/v1/sync` | baseline: `GET /api/v1/me` | ratio | baseline: `GET …/record` | ratio |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| requests per second | {:.0} /s | {:.0} /s | {} | {:.0} /s | {} |",
        sync_phase.per_second(),
        me.per_second(),
        ratio(sync_phase.per_second(), me.per_second()),
        record.per_second(),
        ratio(sync_phase.per_second(), record.per_second())
    );
    println!(
        "| p50 latency | {:.2} ms | {:.2} ms | {} | {:.2} ms | {} |",
        sync_phase.ms(0.5),
        me.ms(0.5),
        ratio(sync_phase.ms(0.5), me.ms(0.5)),
        record.ms(0.5),
        ratio(sync_phase.ms(0.5), record.ms(0.5))
    );
    println!(
        "| p99 latency | {:.2} ms | {:.2} ms | {} | {:.2} ms | {} |",
        sync_phase.ms(0.99),
        me.ms(0.99),
        ratio(sync_phase.ms(0.99), me.ms(0.99)),
        record.ms(0.99),
        ratio(sync_phase.ms(0.99), record.ms(0.99))
    );
    println!(
        "| complete re-syncs per second | {:.0} /s ({:.2} POSTs each) | | | | |",
        resyncs as f64 / sync_phase.elapsed.as_secs_f64(),
        posts as f64 / resyncs.max(1) as f64
    );
    println!(
        "| other answers | {} | {} | | {} | |",
        sync_phase.unexpected(&["ok", "ok, more"]),
        me.unexpected(&["ok"]),
        record.unexpected(&["ok"])
    );
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. Memory per idle live connection, in a separate server process.

/// A `gp-online serve` process on a port of its own, killed when dropped.
struct ServerProcess {
    child: tokio::process::Child,
    address: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    client: reqwest::Client,
    _data: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts the binary over HTTPS, or over plain HTTP (`serve --http`, as behind a
    /// TLS-terminating proxy) when `tls` is false.
    async fn start(
        binary: &std::path::Path,
        database_url: &str,
        tls: bool,
    ) -> anyhow::Result<Self> {
        use rustls::pki_types::pem::PemObject;
        let data = tempfile::tempdir()?;
        // The development certificate is made here first; the server then reuses it.
        let (cert_path, _) = gp_online::tls::ensure_dev_certificate(data.path())?;
        let pem = std::fs::read(cert_path)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let address = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(data.path().join("server.log"))?;
        let mut command = tokio::process::Command::new(binary);
        command.arg("serve");
        if !tls {
            command.arg("--http");
        }
        let child = command
            .arg("--listen")
            .arg(&address)
            .arg("--data-dir")
            .arg(data.path())
            .env("GP_ONLINE__DATABASE__URL", database_url)
            .env("GP_ONLINE__LOG__FILTER", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(rustls::pki_types::CertificateDer::from_pem_slice(&pem)?)?;
        let tls = tls.then(|| {
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        });
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem)?])
            .timeout(Duration::from_secs(5))
            .build()?;
        let mut server = Self {
            child,
            address,
            tls,
            client,
            _data: data,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait()? {
                let log = std::fs::read_to_string(server._data.path().join("server.log"))
                    .unwrap_or_default();
                bail!("the server exited ({status}): {log}");
            }
            let ready = server
                .client
                .get(format!(
                    "{}://{}/readyz",
                    server.scheme("http"),
                    server.address
                ))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("the server did not become ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's resident memory (`VmRSS`), in bytes.
    fn resident(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("the server has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .context("no VmRSS line")?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .context("VmRSS without a value")?
            .parse()?;
        Ok(kb * 1024)
    }

    /// `base` or its secure variant (`https`, `wss`).
    fn scheme(&self, base: &str) -> String {
        if self.tls.is_some() {
            format!("{base}s")
        } else {
            base.to_owned()
        }
    }

    /// A connection to the server: TLS, or plain TCP for a plain HTTP server. Each step gives
    /// up after [`STEP_WAIT`], naming the step.
    async fn connect(&self) -> Result<Box<dyn Io>, Failure> {
        let tcp = within("TCP connect", tokio::net::TcpStream::connect(&self.address)).await?;
        let Some(tls) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let name = rustls::pki_types::ServerName::from(std::net::IpAddr::from([127, 0, 0, 1]));
        let stream = within(
            "TLS handshake",
            tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp),
        )
        .await?;
        Ok(Box::new(stream))
    }

    /// A connection that has completed one keep-alive `GET /healthz`.
    async fn keep_alive(&self) -> Result<KeepAlive, Failure> {
        let mut stream = self.connect().await?;
        within("GET /healthz", health_request(&mut stream)).await?;
        Ok(KeepAlive { stream })
    }

    /// A live sync WebSocket offering compressed frames, idle after the upgrade.
    async fn live(&self, token: &str) -> Result<LiveSocket, Failure> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let stream = self.connect().await?;
        let mut request = format!("{}://{}/api/v1/sync/ws", self.scheme("ws"), self.address)
            .into_client_request()
            .map_err(|e| Failure::new("WebSocket upgrade", e))?;
        let bearer = format!("Bearer {token}")
            .parse()
            .map_err(|e| Failure::new("WebSocket upgrade", e))?;
        request.headers_mut().insert("authorization", bearer);
        // Compressed frames offered, as the SDK offers them.
        request.headers_mut().insert(
            "sec-websocket-protocol",
            sync_protocol::compressed::CODING
                .parse()
                .map_err(|e| Failure::new("WebSocket upgrade", e))?,
        );
        let (socket, _) = within(
            "WebSocket upgrade",
            tokio_tungstenite::client_async(request, stream),
        )
        .await?;
        Ok(socket)
    }
}

impl ServerProcess {
    /// A live sync WebSocket whose first frame asks "anything new?", so it follows every
    /// document its device has synced; returns once the server has handled the frame (the
    /// pong of a ping sent after it).
    async fn live_following(&self, token: &str) -> Result<LiveSocket, Failure> {
        use tokio_tungstenite::tungstenite::Message;
        let mut socket = self.live(token).await?;
        let mut coding = sync_protocol::compressed::Coding::for_protocol(Some(
            sync_protocol::compressed::CODING.as_bytes(),
        ));
        let anything_new = Message::Binary(coding.encode(&Frame::new()).into());
        within("anything new?", socket.send(anything_new)).await?;
        if !ping(&mut socket).await {
            return Err(Failure::new("anything new?", "no pong"));
        }
        Ok(socket)
    }
}

/// Why a connection of part 4 could not be opened or checked: the step and what went wrong
/// (`timed out` after [`STEP_WAIT`], or the error).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Failure(String);

impl Failure {
    fn new(step: &str, error: impl std::fmt::Display) -> Self {
        Self(format!("{step}: {error}"))
    }
}

/// How long one step of opening or checking an idle connection (TCP connect, TLS handshake,
/// request, upgrade, ping) may take in part 4; on an idle server each takes milliseconds.
const STEP_WAIT: Duration = Duration::from_secs(10);

/// `step` run to its end within [`STEP_WAIT`], or the failure naming it.
async fn within<T, E: std::fmt::Display>(
    step: &str,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(STEP_WAIT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Failure::new(step, error)),
        Err(_) => Err(Failure::new(
            step,
            format!("timed out after {} s", STEP_WAIT.as_secs()),
        )),
    }
}

/// A client connection, TLS or plain.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

type LiveSocket = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

struct KeepAlive {
    stream: Box<dyn Io>,
}

/// Sends `GET /healthz` on a kept-alive connection and reads the whole answer.
async fn health_request(stream: &mut Box<dyn Io>) -> anyhow::Result<()> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await?;
    // A TLS stream may keep the written record in its buffer when the socket is not ready:
    // without the flush the request may never leave, and the read below waits forever.
    stream.flush().await?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            bail!("the server closed the connection");
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                bail!("unexpected answer: {}", head.lines().next().unwrap_or(""));
            }
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse())
                .transpose()?
                .context("no content-length")?;
            if buffer.len() >= end + 4 + length {
                return Ok(());
            }
        }
    }
}

/// Tries to open `count` connections with `open`, 50 at a time: those opened, and how many
/// failed at which step (each step of an attempt ends within [`STEP_WAIT`]).
async fn open_many<T, F, Fut>(count: usize, open: F) -> (Vec<T>, BTreeMap<Failure, usize>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut all = Vec::with_capacity(count);
    let mut failed: BTreeMap<Failure, usize> = BTreeMap::new();
    let mut tried = 0;
    while tried < count {
        let batch = (count - tried).min(50);
        tried += batch;
        let opened = futures_util::future::join_all((0..batch).map(|_| open())).await;
        for connection in opened {
            match connection {
                Ok(connection) => all.push(connection),
                Err(failure) => *failed.entry(failure).or_default() += 1,
            }
        }
    }
    (all, failed)
}

/// Memory growth of one server process for the idle connections that opened.
struct Growth {
    before: u64,
    after: u64,
    /// Connections tried.
    count: usize,
    /// Connections open (and idle) when `after` was read.
    opened: usize,
    /// Of those, still answering at the end.
    alive: usize,
    /// Attempts that failed, by step and error.
    failed: BTreeMap<Failure, usize>,
}

impl Growth {
    fn per_connection(&self) -> f64 {
        self.after.saturating_sub(self.before) as f64 / self.opened.max(1) as f64
    }

    fn failures(&self) -> String {
        if self.failed.is_empty() {
            return "none".to_owned();
        }
        self.failed
            .iter()
            .map(|(failure, n)| format!("{n} × {}", failure.0))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Waits for the server to settle, then reads its resident memory.
async fn settled_resident(server: &ServerProcess) -> anyhow::Result<u64> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.resident()
}

async fn memory(args: &Args, sizes: Sizes) -> anyhow::Result<()> {
    let binary = match &args.server_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .and_then(|examples| examples.parent())
            .map(|profile| profile.join("gp-online"))
            .context("locating the gp-online binary")?,
    };
    if !binary.exists() {
        bail!(
            "{} does not exist: build it first (`cargo build -p gp-online`, with --release for a \
             release run) or pass --server-bin",
            binary.display()
        );
    }
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    gp_online::db::migrate_up(&db).await?;
    // The server's clock is the system clock, so the session is opened at the real now.
    let now = Clock::System.now();
    let practice_id = practice(&db, now).await?;
    let person = people(&db, practice_id, 1, now)
        .await?
        .pop()
        .context("a patient")?;
    db.close().await?;
    let count = sizes.sockets;
    println!(
        "## 4. Memory per idle live connection ({count} connections of each kind, each kind in a \
         fresh `gp-online serve` process, {} build)\n",
        binary
            .parent()
            .and_then(|profile| profile.file_name())
            .map_or("unknown".into(), |name| name.to_string_lossy())
    );

    // Over TLS, as the server is normally run; in a full run also over plain HTTP (as behind a
    // TLS-terminating proxy), to show how much of the cost is TLS.
    let transports: &[bool] = if args.quick { &[true] } else { &[true, false] };
    for &tls in transports {
        let name = if tls {
            "TLS"
        } else {
            "plain HTTP (`serve --http`)"
        };
        // Baseline: connections that completed one request and stay open (keep-alive).
        let plain = {
            let server = ServerProcess::start(&binary, &database.url, tls).await?;
            let (warm, _) = open_many(20, || server.keep_alive()).await;
            drop(warm);
            let before = settled_resident(&server).await?;
            let (mut connections, failed) = open_many(count, || server.keep_alive()).await;
            let after = settled_resident(&server).await?;
            let checks = futures_util::future::join_all(
                connections
                    .iter_mut()
                    .map(|c| within("second GET /healthz", health_request(&mut c.stream))),
            )
            .await;
            Growth {
                before,
                after,
                count,
                opened: connections.len(),
                alive: checks.iter().filter(|c| c.is_ok()).count(),
                failed,
            }
        };
        // Live sync WebSockets, each following the seven documents its device has synced (its
        // first frame asks "anything new?", as the SDK's does on app open), then idle.
        let live = {
            let server = ServerProcess::start(&binary, &database.url, tls).await?;
            synced_everything(&server, &person).await?;
            let (warm, _) = open_many(20, || server.live_following(&person.token)).await;
            drop(warm);
            let before = settled_resident(&server).await?;
            let (mut sockets, failed) =
                open_many(count, || server.live_following(&person.token)).await;
            let after = settled_resident(&server).await?;
            let checks = futures_util::future::join_all(sockets.iter_mut().map(ping)).await;
            Growth {
                before,
                after,
                count,
                opened: sockets.len(),
                alive: checks.iter().filter(|alive| **alive).count(),
                failed,
            }
        };
        print_memory(name, &live, &plain);
    }
    Ok(())
}

fn print_memory(transport: &str, live: &Growth, plain: &Growth) {
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let kib = |bytes: f64| bytes / 1024.0;
    println!("Over {transport}:\n");
    println!(
        "| | live WebSocket (`/api/v1/sync/ws`), following 7 documents | baseline: idle keep-alive connection | ratio |"
    );
    println!("|---|---|---|---|");
    println!(
        "| server RSS before → after | {:.1} → {:.1} MiB | {:.1} → {:.1} MiB | |",
        mib(live.before),
        mib(live.after),
        mib(plain.before),
        mib(plain.after)
    );
    println!(
        "| growth per idle connection | {:.1} KiB | {:.1} KiB | {} |",
        kib(live.per_connection()),
        kib(plain.per_connection()),
        ratio(live.per_connection(), plain.per_connection())
    );
    println!(
        "| opened / failed to open | {} of {} / {} | {} of {} / {} | |",
        live.opened,
        live.count,
        live.failures(),
        plain.opened,
        plain.count,
        plain.failures()
    );
    println!(
        "| still open at the end (answered a ping / a request) | {} of {} | {} of {} | |",
        live.alive, live.opened, plain.alive, plain.opened
    );
    println!(
        "\nAim: under 16 KiB per idle live connection: {}.\n",
        if live.per_connection() < 16.0 * 1024.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}

/// Brings `person`'s device up to date on all seven documents over `POST /api/v1/sync`, so
/// its sync states are persisted and its "anything new?" frame follows every one.
async fn synced_everything(server: &ServerProcess, person: &Person) -> anyhow::Result<()> {
    let url = format!("{}://{}/api/v1/sync", server.scheme("http"), server.address);
    let mut peer = DevicePeer::new();
    for section in Section::ALL {
        if section != Section::Personal {
            peer.follow(DocumentId::new(person.patient_id, section));
        }
    }
    for _ in 0..20 {
        let request = peer.outgoing();
        let reply = post_frame(&server.client, &url, &person.token, &request).await?;
        peer.receive(&reply)
            .map_err(|e| anyhow!("device receive: {e:?}"))?;
        if request.documents.is_empty() && reply.is_empty() {
            return Ok(());
        }
    }
    bail!("the device's first sync did not settle")
}

/// Sends a ping on an idle socket and waits up to [`STEP_WAIT`] for the pong.
async fn ping(socket: &mut LiveSocket) -> bool {
    use tokio_tungstenite::tungstenite::Message;
    let answer = tokio::time::timeout(STEP_WAIT, async {
        if socket.send(Message::Ping(vec![7].into())).await.is_err() {
            return false;
        }
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Pong(_)) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
        false
    })
    .await;
    answer.unwrap_or(false)
}
