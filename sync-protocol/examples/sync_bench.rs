//! Benchmark of the sync protocol against the REST baseline it replaces.
//!
//! For a typical record (1,500 [`RecordItem`]s) and a heavy one (15,000), with realistic,
//! deterministic content (~80 characters of term text, dates, a SNOMED code, an author), it
//! measures, each beside the same items as a gzip'd JSON array (what a REST re-download of the
//! slice costs):
//!
//! 1. the initial sync server → device: bytes on the wire (every non-empty frame in both
//!    directions, CBOR envelopes included) and the server's CPU time (`server::answer` plus
//!    envelope decoding and encoding; building the document with `items::reconcile` is reported
//!    separately);
//! 2. an incremental sync after one new item to a connected device (sync states kept);
//! 3. a reconnect with a kept copy (states persisted with `State::encode`) after one new item;
//! 4. how many incremental syncs per second the server half answers, single-threaded;
//! 5. the size of a persisted per-device sync state and of the saved server document;
//! 6. the server's projection path step by step (load the stored document, compare, read,
//!    reconcile, count, save, answer), for one new item and for the acknowledgement after it,
//!    as it was (every item read back, the whole document saved) and with item digests (only
//!    changed items touched, new changes appended to the stored bytes).
//!
//! Times are medians of 5 repetitions, measured with `Instant` on one thread. Run with
//!
//! ```sh
//! cargo run --release -p sync-protocol --example sync_bench            # both records, 5 reps
//! cargo run --release -p sync-protocol --example sync_bench -- --short # 1,500 items, 1 rep (CI)
//! ```
//!
//! It prints a Markdown table. Nothing is asserted: these are measurements, not tests.
#![allow(clippy::print_stdout)] // A benchmark prints its report.

use automerge::AutoCommit;
use automerge::sync;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use std::error::Error;
use std::io::Write;
use std::time::{Duration, Instant};
use sync_protocol::items::{self, Items};
use sync_protocol::schema::RecordItem;
use sync_protocol::{DevicePeer, DocumentId, Frame, Section, server};
use uuid::Uuid;

type Res<T> = Result<T, Box<dyn Error>>;

/// Bounded loops: a sync that has not converged by then is a bug worth reporting.
const MAX_ROUNDS: usize = 50;

// ---------------------------------------------------------------------------------------------
// Deterministic content.

/// splitmix64: a tiny deterministic generator, so every run measures the same record.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const WORDS: &[&str] = &[
    "acute",
    "chronic",
    "left",
    "right",
    "bilateral",
    "lower",
    "upper",
    "respiratory",
    "tract",
    "infection",
    "asthma",
    "eczema",
    "hypertension",
    "essential",
    "type",
    "2",
    "diabetes",
    "mellitus",
    "without",
    "with",
    "complication",
    "review",
    "medication",
    "annual",
    "knee",
    "hip",
    "shoulder",
    "pain",
    "osteoarthritis",
    "of",
    "the",
    "joint",
    "allergy",
    "to",
    "penicillin",
    "amoxicillin",
    "peanut",
    "tablets",
    "500mg",
    "capsules",
    "twice",
    "daily",
    "once",
    "influenza",
    "vaccination",
    "pneumococcal",
    "booster",
    "dose",
    "seasonal",
    "history",
    "suspected",
    "confirmed",
    "referral",
    "clinic",
    "follow-up",
    "telephone",
    "consultation",
    "face-to-face",
    "mild",
    "moderate",
    "severe",
    "episode",
    "recurrent",
    "depression",
    "anxiety",
    "disorder",
    "migraine",
    "headache",
    "sprain",
    "ankle",
];

const SECTIONS: &[&str] = &[
    "allergies",
    "medications",
    "immunisations",
    "problems",
    "consultations",
];

const AUTHORS: &[&str] = &[
    "Dr Rhea Shah",
    "Dr A Patel",
    "Dr Thomas O'Connor",
    "Nurse Mary Okafor",
    "Dr Li Wei",
    "Dr Sarah Johnson",
    "Pharmacist Ian Reid",
    "Dr Fatima Hussain",
    "Nurse John Evans",
    "Dr Emily Clarke",
    "Dr Kwame Mensah",
    "HCA Priya Nair",
];

/// Words drawn from the generator until the text reaches about `target` characters.
fn words(seed: &mut u64, target: usize) -> String {
    let mut text = String::new();
    while text.len() < target {
        *seed = mix(*seed);
        let word = WORDS[(*seed % WORDS.len() as u64) as usize];
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(word);
    }
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn date(value: u64) -> String {
    format!(
        "{}-{:02}-{:02}",
        1995 + value % 30,
        (value / 30) % 12 + 1,
        (value / 360) % 28 + 1
    )
}

/// The id of item `n` (the server keys items by their UUID).
fn item_id(n: usize) -> String {
    Uuid::from_u128(u128::from(mix(n as u64)) << 64 | n as u128).to_string()
}

fn record_item(n: usize) -> RecordItem {
    let mut seed = mix(n as u64 ^ 0x5EED);
    let roll = mix(seed);
    let section = SECTIONS[(roll % SECTIONS.len() as u64) as usize];
    RecordItem {
        section: section.to_owned(),
        snomed_code: (100_000_000 + mix(roll) % 900_000_000).to_string(),
        term: words(&mut seed, 76),
        effective_date: date(mix(seed)),
        end_date: (roll % 10 < 3).then(|| date(mix(roll ^ 1))),
        detail: (section == "consultations").then(|| words(&mut seed, 60)),
        author: Some(AUTHORS[(mix(roll ^ 2) % AUTHORS.len() as u64) as usize].to_owned()),
    }
}

fn items_of(range: std::ops::Range<usize>) -> Res<Items> {
    range
        .map(|n| Ok((item_id(n), items::fields_of(&record_item(n))?)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The REST baseline: the same items as a gzip'd JSON array.

#[derive(Serialize)]
struct RestItem<'a> {
    id: &'a str,
    #[serde(flatten)]
    item: &'a RecordItem,
}

struct Baseline {
    json_bytes: usize,
    gzip_bytes: usize,
    cpu: Duration,
}

fn baseline(count: usize, reps: usize) -> Res<Baseline> {
    let records: Vec<(String, RecordItem)> =
        (0..count).map(|n| (item_id(n), record_item(n))).collect();
    let mut times = Vec::new();
    let mut sizes = (0, 0);
    for _ in 0..reps {
        let start = Instant::now();
        let rest: Vec<RestItem<'_>> = records
            .iter()
            .map(|(id, item)| RestItem { id, item })
            .collect();
        let json = serde_json::to_vec(&rest)?;
        let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
        gzip.write_all(&json)?;
        let gzipped = gzip.finish()?;
        times.push(start.elapsed());
        sizes = (json.len(), gzipped.len());
    }
    Ok(Baseline {
        json_bytes: sizes.0,
        gzip_bytes: sizes.1,
        cpu: median(&times),
    })
}

// ---------------------------------------------------------------------------------------------
// A simulated server holding one document for one device.

struct Served {
    id: DocumentId,
    doc: AutoCommit,
    state: sync::State,
    cpu: Duration,
}

impl Served {
    fn new(id: DocumentId, doc: AutoCommit) -> Self {
        Self {
            id,
            doc,
            state: server::device_state(None, false),
            cpu: Duration::ZERO,
        }
    }

    /// Answers one request frame (as bytes); returns the reply's bytes and whether it is empty.
    fn answer(&mut self, request: &[u8]) -> Res<(Vec<u8>, bool)> {
        let start = Instant::now();
        let request = Frame::decode(request)?;
        let incoming = request.documents.iter().find(|d| d.document == self.id);
        let answer = server::answer(self.id, 0, &mut self.doc, &mut self.state, false, incoming)?;
        let reply = Frame {
            documents: answer.frames,
            ..Frame::new()
        };
        let bytes = reply.encode();
        self.cpu += start.elapsed();
        Ok((bytes, reply.is_empty()))
    }

    /// A new connection: only the persisted state survives.
    fn reconnect(&mut self) {
        self.state = server::device_state(Some(&self.state.encode()), false);
    }
}

#[derive(Default, Clone, Copy)]
struct Traffic {
    up: usize,
    down: usize,
    frames: usize,
    server_cpu: Duration,
    device_cpu: Duration,
}

/// Exchanges frames until both sides are quiet. Empty frames are not counted (a WebSocket
/// sends nothing; an HTTP poll that finds nothing is one empty frame each way, 10 bytes).
fn exchange(device: &mut DevicePeer, served: &mut Served) -> Res<Traffic> {
    let mut traffic = Traffic::default();
    served.cpu = Duration::ZERO;
    for _ in 0..MAX_ROUNDS {
        let start = Instant::now();
        let request = device.outgoing();
        let request_bytes = request.encode();
        traffic.device_cpu += start.elapsed();
        if !request.is_empty() {
            traffic.up += request_bytes.len();
            traffic.frames += 1;
        }
        let (reply_bytes, reply_empty) = served.answer(&request_bytes)?;
        if request.is_empty() && reply_empty {
            traffic.server_cpu = served.cpu;
            return Ok(traffic);
        }
        if !reply_empty {
            traffic.down += reply_bytes.len();
            traffic.frames += 1;
        }
        let start = Instant::now();
        device.receive(&Frame::decode(&reply_bytes)?)?;
        traffic.device_cpu += start.elapsed();
    }
    Err(format!("no convergence within {MAX_ROUNDS} rounds").into())
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn median_traffic(runs: &[Traffic]) -> Traffic {
    let pick = |f: &dyn Fn(&Traffic) -> usize| {
        let mut values: Vec<usize> = runs.iter().map(f).collect();
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or_default()
    };
    Traffic {
        up: pick(&|t| t.up),
        down: pick(&|t| t.down),
        frames: pick(&|t| t.frames),
        server_cpu: median(&runs.iter().map(|t| t.server_cpu).collect::<Vec<_>>()),
        device_cpu: median(&runs.iter().map(|t| t.device_cpu).collect::<Vec<_>>()),
    }
}

// ---------------------------------------------------------------------------------------------
// One record size.

struct Report {
    count: usize,
    term_chars: f64,
    base: Baseline,
    base_next: Baseline,
    build: Duration,
    initial: Traffic,
    incremental: Traffic,
    project_one: Duration,
    read_all: Duration,
    reconnect: Traffic,
    syncs_per_second: f64,
    sync_iterations: u64,
    state_bytes: usize,
    saved_bytes: usize,
    save_time: Duration,
    load_time: Duration,
    path: ServerPath,
}

fn measure(count: usize, reps: usize, loop_for: Duration) -> Res<Report> {
    let id = DocumentId::new(Uuid::from_u128(7), Section::Record);
    let term_chars =
        (0..count).map(|n| record_item(n).term.len()).sum::<usize>() as f64 / count as f64;
    let base = baseline(count, reps)?;
    let base_next = baseline(count + 1, reps)?;

    // 1. Initial sync, from an empty device, repeated from scratch.
    let mut builds = Vec::new();
    let mut initials = Vec::new();
    let mut kept = None;
    for _ in 0..reps {
        let start = Instant::now();
        let wanted = items_of(0..count)?;
        let mut doc = AutoCommit::new();
        items::reconcile(&mut doc, &wanted)?;
        builds.push(start.elapsed());
        let mut served = Served::new(id, doc);
        let mut device = DevicePeer::new();
        device.follow(id);
        initials.push(exchange(&mut device, &mut served)?);
        if device.items(id)?.len() != count {
            return Err("the device did not receive every item".into());
        }
        kept = Some((served, device, wanted));
    }
    let (mut served, mut device, mut wanted) = kept.ok_or("no repetition ran")?;

    let state_bytes = served.state.encode().len();
    let start = Instant::now();
    let saved = served.doc.save();
    let save_time = start.elapsed();
    let start = Instant::now();
    let _loaded = AutoCommit::load(&saved)?;
    let load_time = start.elapsed();

    // 2. One new item to a connected device: states kept, the server pushes.
    let mut reads = Vec::new();
    for _ in 0..reps {
        let start = Instant::now();
        std::hint::black_box(items::read_items(&served.doc)?);
        reads.push(start.elapsed());
    }
    let mut next = count;
    let mut projections = Vec::new();
    let mut incrementals = Vec::new();
    for _ in 0..reps {
        wanted.insert(item_id(next), items::fields_of(&record_item(next))?);
        next += 1;
        let start = Instant::now();
        items::reconcile(&mut served.doc, &wanted)?;
        projections.push(start.elapsed());
        incrementals.push(exchange(&mut device, &mut served)?);
    }

    // 3. Reconnect with a kept copy: the item arrives while the device is away.
    let mut reconnects = Vec::new();
    for _ in 0..reps {
        wanted.insert(item_id(next), items::fields_of(&record_item(next))?);
        next += 1;
        items::reconcile(&mut served.doc, &wanted)?;
        device.reconnect();
        served.reconnect();
        reconnects.push(exchange(&mut device, &mut served)?);
    }
    if device.items(id)?.len() != wanted.len() {
        return Err("the device missed an item".into());
    }

    // 4. Incremental syncs per second: the server half (push, then the device's
    //    acknowledgement) replayed from the same state, single-threaded.
    wanted.insert(item_id(next), items::fields_of(&record_item(next))?);
    items::reconcile(&mut served.doc, &wanted)?;
    let before = served.state.clone();
    let empty = Frame::new().encode();
    let (push, _) = served.answer(&empty)?;
    device.receive(&Frame::decode(&push)?)?;
    let ack = device.outgoing().encode();
    let mut iterations = 0u64;
    let start = Instant::now();
    while start.elapsed() < loop_for {
        served.state = before.clone();
        let (push, _) = served.answer(&empty)?;
        let (reply, _) = served.answer(&ack)?;
        std::hint::black_box((push, reply));
        iterations += 1;
    }
    let elapsed = start.elapsed();

    // 6. The server's whole projection path for one document, as the server runs it.
    exchange(&mut device, &mut served)?;
    let path = server_path(id, &served, &mut device, &wanted, next + 1, reps)?;

    Ok(Report {
        count,
        term_chars,
        base,
        base_next,
        build: median(&builds),
        initial: median_traffic(&initials),
        incremental: median_traffic(&incrementals),
        project_one: median(&projections),
        read_all: median(&reads),
        reconnect: median_traffic(&reconnects),
        syncs_per_second: iterations as f64 / elapsed.as_secs_f64(),
        sync_iterations: iterations,
        state_bytes,
        saved_bytes: saved.len(),
        save_time,
        load_time,
        path,
    })
}

// ---------------------------------------------------------------------------------------------
// 6. The server's projection path: what one exchange costs the server between reading the
//    stored row and writing it back, step by step, for one released item (a push) and for the
//    device's acknowledgement that follows it (nothing changed). Each repetition starts from the
//    same stored row and the same persisted device state.

/// The stored row, as the server reads it: the saved document, its item digests and the
/// device's persisted sync state.
struct Row {
    document: Vec<u8>,
    digests: Vec<u8>,
    state: Vec<u8>,
}

/// Step times of one projection path (medians).
#[derive(Default, Clone, Copy)]
struct Steps {
    digest: Duration,
    load: Duration,
    read: Duration,
    reconcile: Duration,
    count: Duration,
    save: Duration,
    answer: Duration,
    bytes_written: usize,
    reply_bytes: usize,
}

impl Steps {
    fn total(&self) -> Duration {
        self.digest + self.load + self.read + self.reconcile + self.count + self.save + self.answer
    }
}

#[derive(Default)]
struct ServerPath {
    /// Before: load, read every item, reconcile (which reads them again), count every change,
    /// save the whole document.
    before_change: Steps,
    before_same: Steps,
    /// After: digests decide; only changed items are read and written; the new changes are
    /// appended to the stored document; an unchanged projection does no automerge work.
    after_change: Steps,
    after_same: Steps,
    /// Loading the stored document with 1, 10 and 100 appended changes.
    load_appended: Vec<(usize, Duration)>,
}

fn median_steps(runs: &[Steps]) -> Steps {
    let pick = |f: &dyn Fn(&Steps) -> Duration| median(&runs.iter().map(f).collect::<Vec<_>>());
    Steps {
        digest: pick(&|s| s.digest),
        load: pick(&|s| s.load),
        read: pick(&|s| s.read),
        reconcile: pick(&|s| s.reconcile),
        count: pick(&|s| s.count),
        save: pick(&|s| s.save),
        answer: pick(&|s| s.answer),
        bytes_written: runs.first().map_or(0, |s| s.bytes_written),
        reply_bytes: runs.first().map_or(0, |s| s.reply_bytes),
    }
}

/// The server's answer from a persisted state: (reply frame bytes, time).
fn timed_answer(
    id: DocumentId,
    doc: &mut AutoCommit,
    persisted: &[u8],
    incoming: Option<&Frame>,
) -> Res<(Vec<u8>, Duration)> {
    let start = Instant::now();
    let mut state = server::device_state(Some(persisted), false);
    let frame = incoming.and_then(|f| f.documents.iter().find(|d| d.document == id));
    let answer = server::answer(id, 0, doc, &mut state, false, frame)?;
    let reply = Frame {
        documents: answer.frames,
        ..Frame::new()
    };
    let bytes = reply.encode();
    std::hint::black_box(state.encode());
    Ok((bytes, start.elapsed()))
}

/// The projection as it was: every item read back, twice, and the whole document saved.
fn before_path(id: DocumentId, row: &Row, wanted: &Items, incoming: Option<&Frame>) -> Res<Steps> {
    let mut steps = Steps::default();
    let start = Instant::now();
    let mut doc = AutoCommit::load(&row.document)?;
    steps.load = start.elapsed();
    let start = Instant::now();
    let current = items::read_items(&doc)?;
    if current.keys().any(|id| !wanted.contains_key(id)) {
        return Err("an item would be removed".into());
    }
    steps.read = start.elapsed();
    let start = Instant::now();
    let changed = items::reconcile(&mut doc, wanted)?;
    steps.reconcile = start.elapsed();
    if changed > 0 {
        let start = Instant::now();
        let mut copy = doc.clone();
        std::hint::black_box(copy.get_changes(&[]).len());
        steps.count = start.elapsed();
        let start = Instant::now();
        steps.bytes_written = copy.save().len();
        steps.save = start.elapsed();
    }
    let (reply, time) = timed_answer(id, &mut doc, &row.state, incoming)?;
    steps.answer = time;
    steps.reply_bytes = reply.len();
    Ok(steps)
}

/// The projection with item digests: nothing is read unless its digest changed, and only the
/// new changes are written (appended to the stored document).
fn after_path(id: DocumentId, row: &Row, wanted: &Items, incoming: Option<&Frame>) -> Res<Steps> {
    let mut steps = Steps::default();
    let start = Instant::now();
    let stored = items::decode_digests(&row.digests).ok_or("bad digests")?;
    let wanted_digests = items::digests(wanted);
    if stored.keys().any(|id| !wanted.contains_key(id)) {
        return Err("an item would be removed".into());
    }
    let same = stored == wanted_digests;
    steps.digest = start.elapsed();
    let start = Instant::now();
    let mut doc = AutoCommit::load(&row.document)?;
    steps.load = start.elapsed();
    if !same {
        let start = Instant::now();
        let before = doc.get_heads();
        items::reconcile_known(&mut doc, wanted, &wanted_digests, &stored)?;
        steps.reconcile = start.elapsed();
        let start = Instant::now();
        let changes = doc.get_changes(&before);
        let mut appended = row.document.clone();
        for change in &changes {
            appended.extend_from_slice(change.raw_bytes());
        }
        let digests = items::encode_digests(&wanted_digests);
        steps.bytes_written = appended.len() - row.document.len() + digests.len();
        std::hint::black_box((changes.len(), appended, digests));
        steps.save = start.elapsed();
    }
    let (reply, time) = timed_answer(id, &mut doc, &row.state, incoming)?;
    steps.answer = time;
    steps.reply_bytes = reply.len();
    Ok(steps)
}

fn server_path(
    id: DocumentId,
    served: &Served,
    device: &mut DevicePeer,
    wanted: &Items,
    next: usize,
    reps: usize,
) -> Res<ServerPath> {
    let mut doc = served.doc.clone();
    let row = Row {
        document: doc.save(),
        digests: items::encode_digests(&items::digests(wanted)),
        state: served.state.encode(),
    };
    let mut changed = wanted.clone();
    changed.insert(item_id(next), items::fields_of(&record_item(next))?);

    // The device's acknowledgement of the push, answered when nothing has changed since.
    let mut pushed = AutoCommit::load(&row.document)?;
    items::reconcile(&mut pushed, &changed)?;
    let (push, _) = timed_answer(id, &mut pushed, &row.state, None)?;
    device.receive(&Frame::decode(&push)?)?;
    let ack = device.outgoing();
    let mut acked_doc = pushed.clone();
    let acked = Row {
        document: acked_doc.save(),
        digests: items::encode_digests(&items::digests(&changed)),
        state: row.state.clone(),
    };

    let mut path = ServerPath::default();
    let (mut bc, mut bs, mut ac, mut as_) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        bc.push(before_path(id, &row, &changed, None)?);
        bs.push(before_path(id, &acked, &changed, Some(&ack))?);
        ac.push(after_path(id, &row, &changed, None)?);
        as_.push(after_path(id, &acked, &changed, Some(&ack))?);
    }
    path.before_change = median_steps(&bc);
    path.before_same = median_steps(&bs);
    path.after_change = median_steps(&ac);
    path.after_same = median_steps(&as_);

    for appended in [1, 10, 100] {
        let mut log = AutoCommit::load(&row.document)?;
        let before = log.get_heads();
        let mut more = wanted.clone();
        for n in 0..appended {
            more.insert(
                item_id(next + 1 + n),
                items::fields_of(&record_item(next + 1 + n))?,
            );
        }
        items::reconcile(&mut log, &more)?;
        let mut bytes = row.document.clone();
        for change in log.get_changes(&before) {
            bytes.extend_from_slice(change.raw_bytes());
        }
        if AutoCommit::load(&bytes)?.get_heads() != log.get_heads() {
            return Err("appended changes did not load".into());
        }
        let mut times = Vec::new();
        for _ in 0..reps {
            let start = Instant::now();
            std::hint::black_box(AutoCommit::load(&bytes)?);
            times.push(start.elapsed());
        }
        path.load_appended.push((appended, median(&times)));
    }
    Ok(path)
}

// ---------------------------------------------------------------------------------------------
// Output.

fn bytes(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{:.2} MB", n as f64 / 1e6)
    } else if n >= 10_000 {
        format!("{:.1} KB", n as f64 / 1e3)
    } else {
        format!("{n} B")
    }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{:.0} µs", ms * 1e3)
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.3}×", a / b)
    } else {
        "n/a".to_owned()
    }
}

fn main() -> Res<()> {
    let short = std::env::args().any(|a| a == "--short");
    let (sizes, reps, loop_for): (&[usize], usize, Duration) = if short {
        (&[1_500], 1, Duration::from_millis(300))
    } else {
        (&[1_500, 15_000], 5, Duration::from_secs(2))
    };
    let reports = sizes
        .iter()
        .map(|&count| measure(count, reps, loop_for))
        .collect::<Res<Vec<_>>>()?;

    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |name: &str, f: &dyn Fn(&Report) -> String| {
        rows.push((name.to_owned(), reports.iter().map(f).collect()));
    };
    row("mean term length", &|r| {
        format!("{:.0} chars", r.term_chars)
    });
    row("**baseline**: JSON array / gzip'd", &|r| {
        format!(
            "{} / {}",
            bytes(r.base.json_bytes),
            bytes(r.base.gzip_bytes)
        )
    });
    row("**baseline**: serialise + gzip CPU", &|r| ms(r.base.cpu));
    row("projection: build the document (`reconcile`)", &|r| {
        ms(r.build)
    });
    row("**1. initial sync**: bytes down + up (frames)", &|r| {
        format!(
            "{} + {} ({})",
            bytes(r.initial.down),
            bytes(r.initial.up),
            r.initial.frames
        )
    });
    row("initial: total bytes / gzip JSON", &|r| {
        let total = r.initial.down + r.initial.up;
        format!(
            "{} = {}",
            bytes(total),
            ratio(total as f64, r.base.gzip_bytes as f64)
        )
    });
    row("initial: server sync CPU / baseline CPU", &|r| {
        format!(
            "{} = {}",
            ms(r.initial.server_cpu),
            ratio(r.initial.server_cpu.as_secs_f64(), r.base.cpu.as_secs_f64())
        )
    });
    row("initial: device apply CPU", &|r| ms(r.initial.device_cpu));
    row("**2. one new item, connected**: bytes down + up", &|r| {
        format!(
            "{} + {} = {} ({} frames)",
            r.incremental.down,
            r.incremental.up,
            bytes(r.incremental.down + r.incremental.up),
            r.incremental.frames
        )
    });
    row("incremental: bytes / gzip JSON re-download", &|r| {
        let total = r.incremental.down + r.incremental.up;
        format!(
            "{} / {} = {}",
            bytes(total),
            bytes(r.base_next.gzip_bytes),
            ratio(total as f64, r.base_next.gzip_bytes as f64)
        )
    });
    row("incremental: server sync CPU / re-download CPU", &|r| {
        format!(
            "{} / {} = {}",
            ms(r.incremental.server_cpu),
            ms(r.base_next.cpu),
            ratio(
                r.incremental.server_cpu.as_secs_f64(),
                r.base_next.cpu.as_secs_f64()
            )
        )
    });
    row(
        "incremental: projection of the new item (`reconcile`)",
        &|r| ms(r.project_one),
    );
    row("of which: read every item (`read_items`)", &|r| {
        ms(r.read_all)
    });
    row("**3. reconnect with a kept copy, one new item**", &|r| {
        format!(
            "{} + {} = {} ({} frames), server {}",
            r.reconnect.down,
            r.reconnect.up,
            bytes(r.reconnect.down + r.reconnect.up),
            r.reconnect.frames,
            ms(r.reconnect.server_cpu)
        )
    });
    row("**4. incremental syncs/s, server half, 1 thread**", &|r| {
        format!(
            "{:.0} /s ({} in the loop)",
            r.syncs_per_second, r.sync_iterations
        )
    });
    row("**5. persisted per-device sync state**", &|r| {
        format!("{} B", r.state_bytes)
    });
    row("saved server document (`save`)", &|r| {
        format!(
            "{} ({:.1} B/item)",
            bytes(r.saved_bytes),
            r.saved_bytes as f64 / r.count as f64
        )
    });
    row("save / load the document", &|r| {
        format!("{} / {}", ms(r.save_time), ms(r.load_time))
    });

    let steps = |s: &Steps| {
        format!(
            "**{}**: digests {} · load {} · read {} · reconcile {} · count {} · save {} · answer {}; writes {}, replies {}",
            ms(s.total()),
            ms(s.digest),
            ms(s.load),
            ms(s.read),
            ms(s.reconcile),
            ms(s.count),
            ms(s.save),
            ms(s.answer),
            bytes(s.bytes_written),
            bytes(s.reply_bytes)
        )
    };
    row("**6. server projection, one new item** (before)", &|r| {
        steps(&r.path.before_change)
    });
    row("server projection, one new item (after)", &|r| {
        steps(&r.path.after_change)
    });
    row("**server projection, nothing changed** (before)", &|r| {
        steps(&r.path.before_same)
    });
    row("server projection, nothing changed (after)", &|r| {
        steps(&r.path.after_same)
    });
    row("load with 1 / 10 / 100 appended changes", &|r| {
        r.path
            .load_appended
            .iter()
            .map(|(_, t)| ms(*t))
            .collect::<Vec<_>>()
            .join(" / ")
    });

    println!(
        "sync_bench: {} repetition(s), medians; times on one thread",
        reps
    );
    println!();
    let header: Vec<String> = reports.iter().map(|r| format!("N = {}", r.count)).collect();
    println!("| | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(reports.len()));
    for (name, cells) in rows {
        println!("| {name} | {} |", cells.join(" | "));
    }
    Ok(())
}
