//! Sync on the wire: the protocol's device peer against the real server (the test harness:
//! HTTPS on port 0, a fresh database, SQLite or PostgreSQL as the tests choose), one patient
//! with a record of N coded entries (default 1,500). Every figure is printed beside a baseline
//! measured in the same run: the REST re-download of the same record
//! (`GET /api/v1/patients/{id}/record`, its JSON gzip'd at the default level, as a client
//! accepting gzip would receive it) and its latency. Server document loads are read from
//! `/metrics` (`sync_document_loads_total`) before and after each step.
//!
//! ```sh
//! cargo run --release -p gp-online-tests --example sync_wire            # 1,500 entries
//! cargo run --release -p gp-online-tests --example sync_wire -- 140     # a demo-sized record
//! ```
#![allow(clippy::print_stdout)] // A benchmark prints its report.

use anyhow::{Context, anyhow, bail};
use chrono::{Days, NaiveDate};
use gp_online::db::entities::patients;
use gp_online::db::entities::record_entries::{self, RecordSection};
use gp_online_tests::{TestApp, fixtures, spawn_app};
use sea_orm::{EntityTrait, Set, TransactionTrait};
use std::io::Write;
use std::time::{Duration, Instant};
use sync_protocol::{DevicePeer, DocumentId, Frame, Section};
use uuid::Uuid;

const RECORD: [Section; 4] = [
    Section::Profile,
    Section::Record,
    Section::Results,
    Section::Documents,
];
const ALL: [Section; 7] = [
    Section::Profile,
    Section::Record,
    Section::Results,
    Section::Documents,
    Section::Appointments,
    Section::Medications,
    Section::Messages,
];

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
}

fn main() -> anyhow::Result<()> {
    let items: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_500);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(items))
}

fn entry(
    practice: Uuid,
    patient: Uuid,
    i: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> record_entries::ActiveModel {
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
    let first = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    record_entries::ActiveModel {
        id: Set(Uuid::new_v4()),
        practice_id: Set(practice),
        patient_id: Set(patient),
        external_id: Set(None),
        section: Set(sections[i % sections.len()]),
        snomed_code: Set("38341003".to_owned()),
        term: Set(format!("{} ({i})", terms[i % terms.len()])),
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

/// A new entry, written as a domain write is: the row and its outbox row in one transaction.
async fn add_entry(app: &TestApp, patient: &patients::Model, i: usize) -> anyhow::Result<Instant> {
    let now = app.clock.now();
    let txn = app.db.begin().await?;
    record_entries::Entity::insert(entry(patient.practice_id, patient.id, i, now))
        .exec(&txn)
        .await?;
    let (practice, patient) = (patient.practice_id, patient.id);
    gp_online::outbox::mark_dirty(&txn, practice, patient, Section::Record, "entry.added", now)
        .await?;
    txn.commit().await?;
    Ok(Instant::now())
}

async fn post(app: &TestApp, token: &str, frame: &Frame) -> anyhow::Result<(Frame, usize)> {
    let response = app
        .client
        .post(app.url("/api/v1/sync"))
        .bearer_auth(token)
        .header("content-type", "application/cbor")
        .body(frame.encode())
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("sync: {}", response.status());
    }
    let bytes = response.bytes().await?;
    Ok((Frame::decode(&bytes)?, bytes.len()))
}

/// Exchanges frames until quiet, counting non-empty frames and every byte.
async fn settle(app: &TestApp, token: &str, device: &mut DevicePeer) -> anyhow::Result<Traffic> {
    let mut traffic = Traffic::default();
    for _ in 0..20 {
        let request = device.outgoing();
        let (reply, down) = post(app, token, &request).await?;
        traffic.up += request.encode().len();
        traffic.down += down;
        traffic.frames += usize::from(!request.is_empty()) + usize::from(!reply.is_empty());
        device.receive(&reply).map_err(|e| anyhow!("device: {e}"))?;
        if request.documents.is_empty() && reply.is_empty() {
            return Ok(traffic);
        }
    }
    bail!("no quiet after 20 frames")
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

async fn loads(app: &TestApp) -> anyhow::Result<u64> {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .find(|line| line.starts_with("sync_document_loads_total"))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

/// The REST re-download: gzip'd bytes and latency.
async fn rest_record(
    app: &TestApp,
    token: &str,
    patient: Uuid,
) -> anyhow::Result<(usize, Duration)> {
    let started = Instant::now();
    let body = app
        .client
        .get(app.url(&format!("/api/v1/patients/{patient}/record")))
        .bearer_auth(token)
        .send()
        .await?
        .bytes()
        .await?;
    let took = started.elapsed();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body)?;
    Ok((gz.finish()?.len(), took))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn run(items: usize) -> anyhow::Result<()> {
    let app = spawn_app().await;
    let practice = fixtures::practice(&app).await;
    let patient = fixtures::patient(&app, practice.id, None).await;
    let (_, token) = fixtures::account(&app, &patient).await;
    let now = app.clock.now();
    let txn = app.db.begin().await?;
    let rows: Vec<_> = (0..items)
        .map(|i| entry(patient.practice_id, patient.id, i, now))
        .collect();
    for chunk in rows.chunks(100) {
        record_entries::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    let (rest_bytes, _) = rest_record(&app, &token, patient.id).await?;
    let mut rest_times = Vec::new();
    for _ in 0..9 {
        rest_times.push(rest_record(&app, &token, patient.id).await?.1.as_secs_f64() * 1e3);
    }
    let rest_ms = median(rest_times);
    println!(
        "# Sync on the wire: one patient, {items} record entries, backend {}\n",
        if std::env::var_os("GP_ONLINE_TEST_DATABASE_URL").is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!("Baseline: `GET …/record` = {rest_bytes} B gzip'd JSON, median {rest_ms:.1} ms.\n");
    println!("| | sync | baseline | ratio |\n|---|---|---|---|");

    // 1. Initial sync of the record documents (a new device).
    let mut device = DevicePeer::new();
    for section in RECORD {
        device.follow(DocumentId::new(patient.id, section));
    }
    let initial = settle(&app, &token, &mut device).await?;
    let held = device
        .items(DocumentId::new(patient.id, Section::Record))?
        .len();
    if held != items {
        bail!("the device holds {held} entries of {items}");
    }
    println!(
        "| initial sync, 4 record documents ({} frames) | {} B | {rest_bytes} B | {:.3}× |",
        initial.frames,
        initial.total(),
        initial.total() as f64 / rest_bytes as f64
    );

    // 2. App open with nothing new, seven documents.
    for section in ALL {
        device.follow(DocumentId::new(patient.id, section));
    }
    settle(&app, &token, &mut device).await?;
    let followed = device.documents().count();
    let before = loads(&app).await?;
    device.reconnect();
    let request = named(&device);
    let (reply, down) = post(&app, &token, &request).await?;
    device.receive(&reply).map_err(|e| anyhow!("{e}"))?;
    let named_bytes = request.encode().len() + down;
    let after_named = loads(&app).await?;
    let poll = Frame::new();
    let (reply, down) = post(&app, &token, &poll).await?;
    if !reply.is_empty() {
        bail!("anything new? answered {reply:?}");
    }
    let polled = poll.encode().len() + down;
    let after_poll = loads(&app).await?;
    println!(
        "| app open, nothing new, {followed} documents named by their heads (an automerge peer's default) | {named_bytes} B, {} document loads | {rest_bytes} B | {:.3}× |",
        after_named - before,
        named_bytes as f64 / rest_bytes as f64
    );
    println!(
        "| app open, nothing new: \"anything new?\" (the device peer) | {polled} B, {} document loads | {rest_bytes} B | {:.4}× |",
        after_poll - after_named,
        polled as f64 / rest_bytes as f64
    );

    // 3. Reconnect with a kept copy after one new item: naming every document's heads, or
    // asking "anything new?" and acknowledging the answer.
    let mut next = items;
    for asking in [false, true] {
        add_entry(&app, &patient, next).await?;
        next += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        device.reconnect();
        let mut traffic = Traffic::default();
        if !asking {
            let request = named(&device);
            let (reply, down) = post(&app, &token, &request).await?;
            traffic.up += request.encode().len();
            traffic.down += down;
            traffic.frames += 1 + usize::from(!reply.is_empty());
            device.receive(&reply).map_err(|e| anyhow!("{e}"))?;
        } else {
            let (reply, down) = post(&app, &token, &poll).await?;
            traffic.up += poll.encode().len();
            traffic.down += down;
            traffic.frames += 2;
            device.receive(&reply).map_err(|e| anyhow!("{e}"))?;
        }
        let rest = settle(&app, &token, &mut device).await?;
        traffic.up += rest.up;
        traffic.down += rest.down;
        traffic.frames += rest.frames;
        println!(
            "| reconnect with a kept copy, one new item, {} ({} frames) | {} B | {rest_bytes} B | {:.3}× |",
            if asking {
                "\"anything new?\""
            } else {
                "every document named by its heads"
            },
            traffic.frames,
            traffic.total(),
            traffic.total() as f64 / rest_bytes as f64
        );
    }

    // 4. One new item to a live device, following one document, then all seven.
    for (label, sections) in [
        ("the record document", &RECORD[1..2]),
        ("all seven documents", &ALL[..]),
    ] {
        let mut live_device = DevicePeer::new();
        for section in sections {
            live_device.follow(DocumentId::new(patient.id, *section));
        }
        let mut socket = live::Live::connect(&app, &token).await?;
        socket.settle(&mut live_device).await?;
        let (mut latencies, mut totals, mut frames) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..15 {
            let committed = add_entry(&app, &patient, next).await?;
            next += 1;
            let (pushed, down) = socket
                .next(Duration::from_secs(10))
                .await?
                .context("no push")?;
            latencies.push(committed.elapsed().as_secs_f64() * 1e3);
            live_device.receive(&pushed).map_err(|e| anyhow!("{e}"))?;
            let acknowledgement = live_device.outgoing();
            socket.send(&acknowledgement).await?;
            let mut count = 2;
            let mut bytes = down + acknowledgement.encode().len();
            while let Some((more, down)) = socket.next(Duration::from_millis(300)).await? {
                count += 1;
                bytes += down;
                live_device.receive(&more).map_err(|e| anyhow!("{e}"))?;
                let reply = live_device.outgoing();
                if !reply.is_empty() {
                    count += 1;
                    bytes += reply.encode().len();
                    socket.send(&reply).await?;
                }
            }
            totals.push(bytes as f64);
            frames.push(count as f64);
        }
        println!(
            "| one new item to a live device following {label}: frames, bytes (median of 15) | {} frames, {} B | {rest_bytes} B | {:.3}× |",
            median(frames),
            median(totals.clone()),
            median(totals) / rest_bytes as f64
        );
        println!(
            "| the same: seen after the commit (median of 15) | {:.1} ms | {rest_ms:.1} ms (one REST read) | {:.3}× |",
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
        let request = named(&device);
        let (reply, _) = post(&app, &token, &request).await?;
        device.receive(&reply).map_err(|e| anyhow!("{e}"))?;
        resyncs += 1;
    }
    let resync_rate = f64::from(resyncs) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut polls = 0u32;
    while started.elapsed() < window {
        post(&app, &token, &Frame::new()).await?;
        polls += 1;
    }
    let poll_rate = f64::from(polls) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut downloads = 0u32;
    while started.elapsed() < window {
        rest_record(&app, &token, patient.id).await?;
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
    Ok(())
}

mod live {
    //! A live sync connection over TLS to the test server.
    use anyhow::Context;
    use futures_util::{SinkExt, StreamExt};
    use gp_online_tests::TestApp;
    use std::time::Duration;
    use sync_protocol::{DevicePeer, Frame};
    use tokio_tungstenite::tungstenite::Message;

    pub struct Live {
        socket: tokio_tungstenite::WebSocketStream<
            tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
        >,
    }

    impl Live {
        pub async fn connect(app: &TestApp, token: &str) -> anyhow::Result<Self> {
            use rustls::pki_types::pem::PemObject;
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let mut roots = rustls::RootCertStore::empty();
            roots.add(rustls::pki_types::CertificateDer::from_pem_slice(
                &app.certificate_pem,
            )?)?;
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let address = app.address.trim_start_matches("https://").to_owned();
            let tcp = tokio::net::TcpStream::connect(&address).await?;
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
            let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
                .connect(name, tcp)
                .await?;
            let mut request = format!("wss://{address}/api/v1/sync/ws").into_client_request()?;
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
            let (socket, _) = tokio_tungstenite::client_async(request, tls).await?;
            Ok(Self { socket })
        }

        pub async fn send(&mut self, frame: &Frame) -> anyhow::Result<()> {
            self.socket
                .send(Message::Binary(frame.encode().into()))
                .await?;
            Ok(())
        }

        /// The next frame and its size, or `None` after `wait` without one.
        pub async fn next(&mut self, wait: Duration) -> anyhow::Result<Option<(Frame, usize)>> {
            loop {
                let Ok(message) = tokio::time::timeout(wait, self.socket.next()).await else {
                    return Ok(None);
                };
                if let Message::Binary(bytes) = message.context("socket closed")?? {
                    return Ok(Some((Frame::decode(&bytes)?, bytes.len())));
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
                        device.receive(&reply).map_err(|e| anyhow::anyhow!("{e}"))?;
                    }
                    None => return Ok(()),
                }
            }
            Ok(())
        }
    }
}
