//! Sync on the wire against the real server binary: `gp-online serve` runs as its own process
//! (HTTPS, on a database prepared here: a SQLite file, or a fresh PostgreSQL database when
//! `GP_ONLINE_TEST_DATABASE_URL` is set) and this process plays the protocol's device peer over
//! `POST /api/v1/sync` and the WebSocket, and the clinical system that files new entries through
//! the integration API. One patient has a record of N coded entries (default 1,500).
//!
//! Every figure is printed beside a baseline measured in the same run: the REST re-download of
//! the same record (`GET /api/v1/patients/{id}/record`) as it crosses the wire to a client that
//! accepts gzip, its latency and its server CPU. Bytes are message bodies as sent: HTTP bodies as
//! encoded on the wire (gzip'd where the server compressed them, for sync and baseline alike)
//! and WebSocket message payloads; HTTP headers and TLS framing are left out of both. Frames are
//! compressed both ways (`gp-sync-deflate`, as the SDK sends them) unless `--plain`. Document
//! loads are read from `/metrics` (`sync_document_loads_total`); server CPU from
//! `/proc/<pid>/stat`, less the server's idle rate over the same wall time. The CPU per connected
//! device is the difference between runs of new entries with one live device and with
//! `--devices` more, divided by their number: the others are disconnected during the runs with
//! one device (connected but unread, they would queue pushes and answer stale ones).
//!
//! ```sh
//! cargo build --release -p gp-online -p gp-online-tests --bin gp-online --example sync_wire
//! target/release/examples/sync_wire                 # 1,500 entries
//! target/release/examples/sync_wire --items 15000   # the server CPU figures at 15,000
//! target/release/examples/sync_wire --demo          # a demo patient's initial sync
//! target/release/examples/sync_wire --plain         # frames as plain CBOR
//! ```
#![allow(clippy::print_stdout)] // A benchmark prints its report.

use anyhow::{Context, anyhow, bail};
use chrono::{Days, NaiveDate};
use clap::Parser;
use gp_online::clock::Clock;
use gp_online::db::entities::record_entries::{self, RecordSection};
use gp_online::db::entities::{accounts, devices, patients, practices};
use gp_online::identity::sessions::{self, Subject};
use gp_online_tests::TestDatabase;
use gp_online_tests::server_process::{ServeOptions, ServerProcess, binary_beside_current_exe};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set,
    TransactionTrait,
};
use serde_json::json;
use std::io::Read;
use std::time::{Duration, Instant};
use sync_protocol::{DevicePeer, DocumentId, Frame, Section};
use uuid::Uuid;

/// The record documents: the same content as the REST record download.
const RECORD: [Section; 3] = [Section::Record, Section::Results, Section::Documents];
const ALL: [Section; 7] = [
    Section::Profile,
    Section::Record,
    Section::Results,
    Section::Documents,
    Section::Appointments,
    Section::Medications,
    Section::Messages,
];

/// Sync on the wire against the server binary.
#[derive(Debug, Parser)]
struct Args {
    /// Coded entries in the patient's record.
    #[arg(long, default_value_t = 1_500)]
    items: usize,
    /// Devices added for the server CPU figure (each a live connection of its own).
    #[arg(long, default_value_t = 16)]
    devices: usize,
    /// Only the initial sync of a demo patient of about 140 items, beside its REST download.
    #[arg(long)]
    demo: bool,
    /// Plain CBOR frames, as a peer that does not offer compressed frames (`PROTOCOL.md`,
    /// "Compressed frames") sends them; by default frames are compressed both ways, as the
    /// SDK sends them.
    #[arg(long)]
    plain: bool,
    /// The server binary (default: `gp-online` beside this example).
    #[arg(long)]
    server_bin: Option<std::path::PathBuf>,
}

/// Bytes and frames of some traffic.
#[derive(Debug, Default, Clone, Copy)]
struct Traffic {
    up: usize,
    down: usize,
    frames: usize,
}

impl Traffic {
    fn total(self) -> usize {
        self.up + self.down
    }

    fn add(&mut self, other: Traffic) {
        self.up += other.up;
        self.down += other.down;
        self.frames += other.frames;
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    gp_online::tls::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

/// The patient's clinical system id, for entries filed through the integration API.
const EXTERNAL_ID: &str = "SYNC-WIRE-1";

fn entry(practice: Uuid, patient: Uuid, i: usize) -> record_entries::ActiveModel {
    let (section, term) = TERMS[i % TERMS.len()];
    let first = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    let now = Clock::System.now();
    record_entries::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(practice),
        patient_id: Set(patient),
        external_id: Set(Some(format!("E{i}"))),
        section: Set(section),
        snomed_code: Set("38341003".to_owned()),
        term: Set(format!("{term} ({i})")),
        effective_date: Set(first + Days::new((i % 600) as u64)),
        entered_on: Set(first + Days::new((i % 600) as u64)),
        end_date: Set(None),
        detail: Set(None),
        author: Set(Some("Dr Rhea Shah".to_owned())),
        hidden: Set(false),
        hidden_from_proxies: Set(false),
        retracted_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

const TERMS: [(RecordSection, &str); 5] = [
    (RecordSection::Problems, "Essential hypertension"),
    (
        RecordSection::Consultations,
        "Type 2 diabetes mellitus without complication",
    ),
    (RecordSection::Allergies, "Allergy to penicillin"),
    (
        RecordSection::Consultations,
        "Annual asthma review, face-to-face consultation",
    ),
    (RecordSection::Problems, "Osteoarthritis of the left knee"),
];

/// What the run acts with: the patient, their account's devices with a session each, and the
/// practice's integration key.
struct Arranged {
    patient: Uuid,
    /// The first is the device of the byte and latency figures; the rest join for the CPU one.
    tokens: Vec<String>,
    integration_key: String,
}

/// A patient (and their account with `devices` devices) in a live practice, with `items`
/// record entries; or, with `demo`, the demo patient whose record is nearest 140 items.
async fn arrange(
    db: &DatabaseConnection,
    items: usize,
    devices: usize,
    demo: bool,
) -> anyhow::Result<Arranged> {
    let now = Clock::System.now();
    let (practice_id, ods_code, patient_id) = if demo {
        gp_online::demo::load(db, now)
            .await
            .map_err(|e| anyhow!("loading the demo: {e}"))?;
        let practice = practices::Entity::find()
            .one(db)
            .await?
            .context("the demo practice")?;
        let mut nearest = None;
        for patient in patients::Entity::find()
            .filter(patients::Column::AccessLevel.eq(patients::AccessLevel::Detailed))
            .filter(patients::Column::ArchivedAt.is_null())
            .all(db)
            .await?
        {
            let count = record_entries::Entity::find()
                .filter(record_entries::Column::PatientId.eq(patient.id))
                .count(db)
                .await?;
            let distance = count.abs_diff(140);
            if nearest.is_none_or(|(best, _)| distance < best) {
                nearest = Some((distance, patient.id));
            }
        }
        let (_, patient) = nearest.context("a demo patient with detailed access")?;
        (practice.id, practice.ods_code, patient)
    } else {
        let practice_id = Uuid::new_v4();
        let ods_code = format!("W{:05}", practice_id.as_u128() % 100_000);
        practices::Entity::insert(practices::ActiveModel {
            id: Set(practice_id),
            ods_code: Set(ods_code.clone()),
            name: Set("Wire Surgery".to_owned()),
            live: Set(true),
            prospective_access_date: Set(NaiveDate::from_ymd_opt(2023, 10, 31)),
            settings: Set(gp_online::settings::PracticeSettings::default().to_json()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec(db)
        .await?;
        let patient_id = Uuid::new_v4();
        patients::Entity::insert(patients::ActiveModel {
            id: Set(patient_id),
            practice_id: Set(practice_id),
            external_id: Set(Some(EXTERNAL_ID.to_owned())),
            nhs_number: Set("9990001118".to_owned()),
            given_name: Set("Ada".to_owned()),
            family_name: Set("Lovelace".to_owned()),
            date_of_birth: Set(NaiveDate::from_ymd_opt(1968, 12, 10).context("a date")?),
            sex: Set(patients::Sex::Female),
            access_level: Set(patients::AccessLevel::Detailed),
            record_access_from: Set(None),
            competent: Set(true),
            nominated_pharmacy_ods: Set(None),
            archived_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec(db)
        .await?;
        let txn = db.begin().await?;
        let rows: Vec<_> = (0..items)
            .map(|i| entry(practice_id, patient_id, i))
            .collect();
        for chunk in rows.chunks(100) {
            record_entries::Entity::insert_many(chunk.to_vec())
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        (practice_id, ods_code, patient_id)
    };
    // An account older than the practice's switch-on date, so prospective access covers every
    // entry (entered from 2024).
    let account_id = Uuid::new_v4();
    let registered = NaiveDate::from_ymd_opt(2023, 1, 2)
        .and_then(|d| d.and_hms_opt(9, 0, 0))
        .context("a date")?
        .and_utc();
    accounts::Entity::insert(accounts::ActiveModel {
        id: Set(account_id),
        practice_id: Set(practice_id),
        patient_id: Set(Some(patient_id)),
        carer_id: Set(None),
        status: Set(accounts::AccountStatus::Active),
        last_login_at: Set(None),
        created_at: Set(registered),
        updated_at: Set(registered),
    })
    .exec(db)
    .await?;
    let mut tokens = Vec::new();
    for n in 0..=devices {
        let device_id = Uuid::new_v4();
        devices::Entity::insert(devices::ActiveModel {
            id: Set(device_id),
            account_id: Set(account_id),
            name: Set(format!("Phone {n}")),
            created_at: Set(now),
            last_seen_at: Set(None),
            revoked_at: Set(None),
        })
        .exec(db)
        .await?;
        let subject = Subject::Account {
            account_id,
            device_id,
        };
        let tokens_of = sessions::open(
            db,
            &gp_online_tests::fixtures::long_sessions(),
            subject,
            now,
        )
        .await
        .map_err(|e| anyhow!("opening a session: {e:?}"))?;
        tokens.push(tokens_of.access_token);
    }
    let integration_key =
        gp_online::identity::integration::create_key(db, &ods_code, "Clinical system", now)
            .await
            .map_err(|e| anyhow!("creating an integration key: {e:?}"))?
            .key;
    Ok(Arranged {
        patient: patient_id,
        tokens,
        integration_key,
    })
}

/// The run's HTTP side: a client that asks for gzip and sees the bytes as they cross the wire.
struct Wire {
    base: String,
    client: reqwest::Client,
    /// Frames compressed both ways (`gp-sync-deflate`).
    compressed: bool,
}

impl Wire {
    fn new(server: &ServerProcess, compressed: bool) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&server.pem)?])
            .no_gzip()
            .build()?;
        Ok(Self {
            base: server.base_url(),
            client,
            compressed,
        })
    }

    /// Sends `request` accepting gzip (and `accept`, if any); the body decoded, and its size on
    /// the wire.
    async fn send_accepting(
        &self,
        request: reqwest::RequestBuilder,
        accept: &str,
    ) -> anyhow::Result<(Vec<u8>, usize)> {
        use sync_protocol::compressed::{CODING, decompress};
        let response = request
            .header("accept-encoding", accept)
            .send()
            .await?
            .error_for_status()?;
        let encoding = response
            .headers()
            .get("content-encoding")
            .map(|v| v.as_bytes().to_vec());
        let wire = response.bytes().await?;
        let size = wire.len();
        let body = match encoding.as_deref() {
            None => wire.to_vec(),
            Some(b"gzip") => {
                let mut body = Vec::new();
                flate2::read::GzDecoder::new(wire.as_ref()).read_to_end(&mut body)?;
                body
            }
            Some(coding) if coding == CODING.as_bytes() => {
                decompress(&wire, None).map_err(|e| anyhow!("{e}"))?
            }
            Some(other) => bail!("unexpected encoding {}", String::from_utf8_lossy(other)),
        };
        Ok((body, size))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(Vec<u8>, usize)> {
        self.send_accepting(request, "gzip").await
    }

    async fn sync(&self, token: &str, frame: &Frame) -> anyhow::Result<(Frame, Traffic)> {
        use sync_protocol::compressed::{CODING, compress};
        let mut request = self
            .client
            .post(format!("{}/api/v1/sync", self.base))
            .bearer_auth(token)
            .header("content-type", "application/cbor");
        let up = if self.compressed {
            request = request.header("content-encoding", CODING);
            compress(&frame.encode(), None)
        } else {
            frame.encode()
        };
        let accept = if self.compressed {
            format!("{CODING}, gzip")
        } else {
            "gzip".to_owned()
        };
        let request = request.body(up.clone());
        let (body, down) = self.send_accepting(request, &accept).await?;
        let reply = Frame::decode(&body)?;
        let frames = usize::from(!frame.is_empty()) + usize::from(!reply.is_empty());
        Ok((
            reply,
            Traffic {
                up: up.len(),
                down,
                frames,
            },
        ))
    }

    /// The REST re-download of the record: its size on the wire and how long it took.
    async fn record(&self, token: &str, patient: Uuid) -> anyhow::Result<(usize, Duration)> {
        let started = Instant::now();
        let request = self
            .client
            .get(format!("{}/api/v1/patients/{patient}/record", self.base))
            .bearer_auth(token);
        let (_, size) = self.send(request).await?;
        Ok((size, started.elapsed()))
    }

    /// Files one new coded entry through the integration API; returns when it is acknowledged.
    async fn file_entry(&self, key: &str, n: usize) -> anyhow::Result<Instant> {
        let batch = json!({"entries": [{
            "external_id": format!("NEW{n}"),
            "patient_external_id": EXTERNAL_ID,
            "section": "problems",
            "snomed_code": "38341003",
            "term": format!("Essential hypertension, reviewed ({n})"),
            "effective_date": "2026-11-30",
            "entered_on": "2026-11-30",
            "hidden": false,
            "hidden_from_proxies": false,
        }]});
        let request = self
            .client
            .post(format!("{}/api/v1/integration/batches", self.base))
            .bearer_auth(key)
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&batch);
        self.send(request).await?;
        Ok(Instant::now())
    }

    async fn document_loads(&self) -> anyhow::Result<u64> {
        let (body, _) = self
            .send(self.client.get(format!("{}/metrics", self.base)))
            .await?;
        Ok(String::from_utf8_lossy(&body)
            .lines()
            .find(|line| line.starts_with("sync_document_loads_total"))
            .and_then(|line| line.split_whitespace().last())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0) as u64)
    }

    /// Exchanges frames until quiet, counting non-empty frames and every byte.
    async fn settle(&self, token: &str, device: &mut DevicePeer) -> anyhow::Result<Traffic> {
        let mut traffic = Traffic::default();
        for _ in 0..20 {
            let request = device.outgoing();
            let (reply, step) = self.sync(token, &request).await?;
            traffic.add(step);
            device.receive(&reply).map_err(|e| anyhow!("device: {e}"))?;
            if request.documents.is_empty() && reply.is_empty() {
                return Ok(traffic);
            }
        }
        bail!("no quiet after 20 frames")
    }
}

/// A frame naming every document's heads, as an automerge peer restarting from its persisted
/// state sends by default (the device peer itself asks "anything new?" instead).
fn named(device: &DevicePeer) -> Frame {
    use sync_protocol::automerge::sync::{State, SyncDoc};
    let mut frame = Frame::new();
    for id in device.documents() {
        let Some(doc) = device.document(id) else {
            continue;
        };
        let mut copy = doc.clone();
        let mut state = State::new();
        state.shared_heads = copy.get_heads();
        if let Some(message) = copy.sync().generate_sync_message(&mut state) {
            frame.documents.push(sync_protocol::DocumentFrame {
                document: id,
                generation: device.generation(id).unwrap_or(0),
                body: sync_protocol::DocumentBody::Sync(message.encode()),
            });
        }
    }
    frame
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Server CPU spent while `work` runs, less what the idle server spends over as long.
async fn cpu_of<F: std::future::Future<Output = anyhow::Result<()>>>(
    server: &ServerProcess,
    idle_per_second: f64,
    work: F,
) -> anyhow::Result<f64> {
    let (before, started) = (server.cpu_time()?, Instant::now());
    work.await?;
    let spent = (server.cpu_time()? - before).as_secs_f64();
    Ok((spent - idle_per_second * started.elapsed().as_secs_f64()).max(0.0))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let binary = match &args.server_bin {
        Some(path) => path.clone(),
        None => binary_beside_current_exe()?,
    };
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    gp_online::db::migrate_up(&db).await?;
    let devices = if args.demo { 0 } else { args.devices };
    let arranged = arrange(&db, args.items, devices, args.demo).await?;
    let server = ServerProcess::start(&binary, &database.url, ServeOptions::default()).await?;
    let wire = Wire::new(&server, !args.plain)?;
    let token = arranged.tokens[0].clone();
    let patient = arranged.patient;

    let (rest_bytes, _) = wire.record(&token, patient).await?;
    let mut rest_times = Vec::new();
    for _ in 0..9 {
        rest_times.push(wire.record(&token, patient).await?.1.as_secs_f64() * 1e3);
    }
    let rest_ms = median(rest_times);
    println!(
        "# Sync on the wire: the server binary, {}, {} frames, {}\n",
        database.backend,
        if args.plain { "plain" } else { "compressed" },
        if args.demo {
            "a demo patient".to_owned()
        } else {
            format!("one patient with {} record entries", args.items)
        }
    );
    println!(
        "Baseline: `GET …/record` = {rest_bytes} B on the wire (gzip'd JSON), median {rest_ms:.1} ms.\n"
    );
    println!("| | sync | baseline | ratio |\n|---|---|---|---|");

    // 1. Initial sync of the record documents (a new device).
    let mut device = DevicePeer::new();
    for section in RECORD {
        device.follow(DocumentId::new(patient, section));
    }
    let initial = wire.settle(&token, &mut device).await?;
    let held = device
        .items(DocumentId::new(patient, Section::Record))?
        .len();
    println!(
        "| initial sync, record + results + documents ({held} entries, {} frames) | {} B | {rest_bytes} B | {:.3}× |",
        initial.frames,
        initial.total(),
        initial.total() as f64 / rest_bytes as f64
    );
    if args.demo {
        return Ok(());
    }
    if held != args.items {
        bail!("the device holds {held} entries of {}", args.items);
    }

    // 2. App open with nothing new, seven documents.
    for section in ALL {
        device.follow(DocumentId::new(patient, section));
    }
    wire.settle(&token, &mut device).await?;
    let followed = device.documents().count();
    let before = wire.document_loads().await?;
    device.reconnect();
    let (reply, named_traffic) = wire.sync(&token, &named(&device)).await?;
    device.receive(&reply).map_err(|e| anyhow!("{e}"))?;
    let after_named = wire.document_loads().await?;
    let (reply, polled) = wire.sync(&token, &Frame::new()).await?;
    if !reply.is_empty() {
        bail!("anything new? answered {reply:?}");
    }
    let after_poll = wire.document_loads().await?;
    println!(
        "| app open, nothing new, {followed} documents named by their heads (an automerge peer's default) | {} B, {} document loads | {rest_bytes} B | {:.3}× |",
        named_traffic.total(),
        after_named - before,
        named_traffic.total() as f64 / rest_bytes as f64
    );
    println!(
        "| app open, nothing new: \"anything new?\" (the device peer) | {} B, {} document loads | {rest_bytes} B | {:.4}× |",
        polled.total(),
        after_poll - after_named,
        polled.total() as f64 / rest_bytes as f64
    );

    // 3. Reconnect with a kept copy after one new item: "anything new?", the answer carrying
    // the change, the acknowledgement.
    let mut next = 0;
    for _ in 0..3 {
        wire.file_entry(&arranged.integration_key, next).await?;
        next += 1;
        device.reconnect();
        let (reply, mut traffic) = wire.sync(&token, &Frame::new()).await?;
        device.receive(&reply).map_err(|e| anyhow!("{e}"))?;
        traffic.add(wire.settle(&token, &mut device).await?);
        println!(
            "| reconnect with a kept copy, one new item, \"anything new?\" ({} frames) | {} B | {rest_bytes} B | {:.3}× |",
            traffic.frames,
            traffic.total(),
            traffic.total() as f64 / rest_bytes as f64
        );
    }

    // 4. One new item to a live device, following one document, then all seven.
    for (label, sections) in [
        ("the record document", &ALL[1..2]),
        ("all seven documents", &ALL[..]),
    ] {
        let mut live_device = DevicePeer::new();
        for section in sections {
            live_device.follow(DocumentId::new(patient, *section));
        }
        let mut socket = live::Live::connect(&server, &token, !args.plain).await?;
        socket.settle(&mut live_device).await?;
        let (mut latencies, mut totals, mut frames) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..15 {
            let committed = wire.file_entry(&arranged.integration_key, next).await?;
            next += 1;
            let (traffic, seen) = socket
                .take_push(&mut live_device, Duration::from_millis(300))
                .await?;
            latencies.push(seen.duration_since(committed).as_secs_f64() * 1e3);
            totals.push(traffic.total() as f64);
            frames.push(traffic.frames as f64);
        }
        println!(
            "| one new item to a live device following {label}: frames, bytes (median of 15) | {} frames, {} B | {rest_bytes} B | {:.3}× |",
            median(frames),
            median(totals.clone()),
            median(totals) / rest_bytes as f64
        );
        println!(
            "| the same: seen after the integration API acknowledged it (median of 15) | {:.1} ms | {rest_ms:.1} ms (one REST read) | {:.3}× |",
            median(latencies.clone()),
            median(latencies) / rest_ms
        );
    }

    // 5. Re-syncs of an up-to-date device per second, one client, beside the REST re-download.
    let window = Duration::from_secs(3);
    let started = Instant::now();
    let mut resyncs = 0u32;
    while started.elapsed() < window {
        device.reconnect();
        let (reply, _) = wire.sync(&token, &named(&device)).await?;
        device.receive(&reply).map_err(|e| anyhow!("{e}"))?;
        resyncs += 1;
    }
    let resync_rate = f64::from(resyncs) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut polls = 0u32;
    while started.elapsed() < window {
        wire.sync(&token, &Frame::new()).await?;
        polls += 1;
    }
    let poll_rate = f64::from(polls) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut downloads = 0u32;
    while started.elapsed() < window {
        wire.record(&token, patient).await?;
        downloads += 1;
    }
    let rest_rate = f64::from(downloads) / started.elapsed().as_secs_f64();
    println!(
        "| re-syncs of an up-to-date device per second, {followed} documents named, one client | {resync_rate:.0} /s | {rest_rate:.0} /s | {:.2}× |",
        resync_rate / rest_rate
    );
    println!(
        "| \"anything new?\" per second, one client | {poll_rate:.0} /s | {rest_rate:.0} /s | {:.2}× |",
        poll_rate / rest_rate
    );

    // 6. Server CPU of one connected device's incremental sync: rounds of one new entry with
    // the first device alone, then with `devices` more live devices; the difference per device
    // and round, beside the CPU of one REST re-download.
    if devices > 0 {
        let idle_started = (server.cpu_time()?, Instant::now());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = (server.cpu_time()? - idle_started.0).as_secs_f64()
            / idle_started.1.elapsed().as_secs_f64();
        // The first device stays connected; the others are connected for the runs "with every
        // device" only, so a run alone pushes to one device and nothing queues for the others.
        let mut connected = Vec::new();
        let mut others = Vec::new();
        for token in &arranged.tokens {
            let mut peer = DevicePeer::new();
            for section in ALL {
                peer.follow(DocumentId::new(patient, section));
            }
            let mut socket = live::Live::connect(&server, token, !args.plain).await?;
            socket.settle(&mut peer).await?;
            if connected.is_empty() {
                connected.push((socket, peer));
            } else {
                others.push((token, peer));
            }
        }
        // Pairs of runs, alone then with every device, each pair giving one estimate: the
        // median of three is reported (one pair's difference is within the noise of the
        // projection's own CPU at 15,000 entries).
        let (mut per_sync, mut per_write) = (Vec::new(), Vec::new());
        for _ in 0..PAIRS {
            let alone = cpu_of(
                &server,
                idle,
                rounds(&wire, &arranged.integration_key, &mut connected[..1], next),
            )
            .await?;
            next += ROUNDS;
            // The others reconnect and catch up, outside the measured run.
            for (token, mut peer) in others.drain(..) {
                let mut socket = live::Live::connect(&server, token, !args.plain).await?;
                socket.rejoin(&mut peer).await?;
                connected.push((socket, peer));
            }
            let with_all = cpu_of(
                &server,
                idle,
                rounds(&wire, &arranged.integration_key, &mut connected, next),
            )
            .await?;
            next += ROUNDS;
            for ((_, peer), token) in connected.drain(1..).zip(&arranged.tokens[1..]) {
                others.push((token, peer));
            }
            per_sync.push((with_all - alone).max(0.0) / (devices * ROUNDS) as f64 * 1e3);
            per_write.push(alone / ROUNDS as f64 * 1e3);
        }
        let (per_sync_ms, per_write_ms) = (median(per_sync), median(per_write));
        let rest_cpu = cpu_of(&server, idle, async {
            for _ in 0..ROUNDS {
                wire.record(&token, patient).await?;
            }
            Ok(())
        })
        .await?
            / ROUNDS as f64
            * 1e3;
        println!(
            "| server CPU per connected device's incremental sync (push and acknowledgement; {devices} more devices, {ROUNDS} new entries, median of {PAIRS}) | {per_sync_ms:.2} ms | {rest_cpu:.2} ms (one REST re-download) | {:.3}× |",
            per_sync_ms / rest_cpu
        );
        println!(
            "| server CPU per new entry with one device: the import, its projection, one push (median of {PAIRS}) | {per_write_ms:.2} ms | {rest_cpu:.2} ms | {:.3}× |",
            per_write_ms / rest_cpu
        );
    }
    Ok(())
}

/// New entries per server CPU run.
const ROUNDS: usize = 20;

/// Pairs of server CPU runs (alone, then with every device).
const PAIRS: usize = 3;

/// Files [`ROUNDS`] new entries (numbered from `first`), each taken and acknowledged by every
/// connected device, then lets the last acknowledgements land.
async fn rounds(
    wire: &Wire,
    key: &str,
    connected: &mut [(live::Live, DevicePeer)],
    first: usize,
) -> anyhow::Result<()> {
    for round in 0..ROUNDS {
        wire.file_entry(key, first + round).await?;
        for (socket, peer) in connected.iter_mut() {
            socket.take_push(peer, Duration::ZERO).await?;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

mod live {
    //! A live sync connection over TLS to the server binary, counting message bytes.
    use super::Traffic;
    use anyhow::{Context, anyhow};
    use futures_util::{SinkExt, StreamExt};
    use gp_online_tests::server_process::ServerProcess;
    use std::time::{Duration, Instant};
    use sync_protocol::compressed::{CODING, Coding};
    use sync_protocol::{DevicePeer, Frame};
    use tokio_tungstenite::tungstenite::Message;

    /// A live connection and how its frames travel.
    pub struct Live {
        socket: tokio_tungstenite::WebSocketStream<
            tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        >,
        coding: Coding,
    }

    impl Live {
        /// Connects as the holder of `token`, offering compressed frames when `compressed`.
        pub async fn connect(
            server: &ServerProcess,
            token: &str,
            compressed: bool,
        ) -> anyhow::Result<Self> {
            use rustls::pki_types::pem::PemObject;
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let mut roots = rustls::RootCertStore::empty();
            roots.add(rustls::pki_types::CertificateDer::from_pem_slice(
                &server.pem,
            )?)?;
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let tcp = tokio::net::TcpStream::connect(&server.address).await?;
            tcp.set_nodelay(true)?;
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
            let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
                .connect(name, tcp)
                .await?;
            let mut request =
                format!("wss://{}/api/v1/sync/ws", server.address).into_client_request()?;
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
            if compressed {
                request
                    .headers_mut()
                    .insert("sec-websocket-protocol", CODING.parse()?);
            }
            let (socket, response) = tokio_tungstenite::client_async(request, tls).await?;
            let coding = Coding::for_protocol(
                response
                    .headers()
                    .get("sec-websocket-protocol")
                    .map(|v| v.as_bytes()),
            );
            if compressed && matches!(coding, Coding::Plain) {
                anyhow::bail!("the server did not select {CODING}");
            }
            Ok(Self { socket, coding })
        }

        async fn send(&mut self, frame: &Frame) -> anyhow::Result<usize> {
            let bytes = self.coding.encode(frame);
            let size = bytes.len();
            self.socket.send(Message::Binary(bytes.into())).await?;
            Ok(size)
        }

        /// The next frame and its size, or `None` after `wait` without one.
        async fn next(&mut self, wait: Duration) -> anyhow::Result<Option<(Frame, usize)>> {
            loop {
                let Ok(message) = tokio::time::timeout(wait, self.socket.next()).await else {
                    return Ok(None);
                };
                if let Message::Binary(bytes) = message.context("socket closed")?? {
                    let frame = self.coding.decode(&bytes)?;
                    return Ok(Some((frame, bytes.len())));
                }
            }
        }

        /// Exchanges frames until the server has nothing more to say.
        pub async fn settle(&mut self, device: &mut DevicePeer) -> anyhow::Result<()> {
            for _ in 0..20 {
                let request = device.outgoing();
                if request.is_empty() {
                    return Ok(());
                }
                self.send(&request).await?;
                match self.next(Duration::from_millis(500)).await? {
                    Some((reply, _)) => {
                        device.receive(&reply).map_err(|e| anyhow!("{e}"))?;
                    }
                    None => return Ok(()),
                }
            }
            Ok(())
        }

        /// Rejoins after a reconnect: "anything new?" (which follows every document the
        /// device has synced), its answer, then settles.
        pub async fn rejoin(&mut self, device: &mut DevicePeer) -> anyhow::Result<()> {
            device.reconnect();
            self.send(&device.outgoing()).await?;
            if let Some((reply, _)) = self.next(Duration::from_secs(2)).await? {
                device.receive(&reply).map_err(|e| anyhow!("{e}"))?;
            }
            self.settle(device).await
        }

        /// Waits (at most 10 s) for a pushed frame, answers it as the device does and takes
        /// whatever follows until the connection is quiet for `quiet` (with none, returns once
        /// the answer is sent); every frame and byte both ways, and when the push arrived.
        pub async fn take_push(
            &mut self,
            device: &mut DevicePeer,
            quiet: Duration,
        ) -> anyhow::Result<(Traffic, Instant)> {
            let (pushed, down) = self
                .next(Duration::from_secs(10))
                .await?
                .context("no push within 10 s")?;
            let seen = Instant::now();
            let mut traffic = Traffic {
                up: 0,
                down,
                frames: 1,
            };
            device.receive(&pushed).map_err(|e| anyhow!("{e}"))?;
            loop {
                let reply = device.outgoing();
                if !reply.is_empty() {
                    traffic.up += self.send(&reply).await?;
                    traffic.frames += 1;
                }
                if quiet.is_zero() {
                    return Ok((traffic, seen));
                }
                match self.next(quiet).await? {
                    Some((more, down)) => {
                        traffic.down += down;
                        traffic.frames += 1;
                        device.receive(&more).map_err(|e| anyhow!("{e}"))?;
                    }
                    None => return Ok((traffic, seen)),
                }
            }
        }
    }
}
