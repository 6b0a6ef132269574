//! The encrypted store's costs on a synced record of 1,500 coded entries (`--short`: 300), each
//! figure beside a baseline measured in the same run: the same items as gzip'd JSON in one
//! file (what an app caching REST answers would keep).
//!
//! - cold open: opening the store and reading every item, against reading and parsing the
//!   gzip'd JSON;
//! - one incremental change: applying a frame with one new item (and saving the document),
//!   against rewriting the gzip'd JSON file with fsync;
//! - size on disk: every store file against the gzip'd JSON;
//! - memory: resident memory added by the open store against that added by the parsed JSON.
//!
//! `cargo run --release -p gp-online-sdk --example store_bench` (figures in
//! docs/PERFORMANCE.md). It fails only on a wrong result, never on a time.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)] // A benchmark.

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use gp_online_sdk::engine::Local;
use gp_online_sdk::store::Store;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};
use sync_protocol::automerge::AutoCommit;
use sync_protocol::items::{self, Items};
use sync_protocol::schema::RecordItem;
use sync_protocol::{DocumentId, Frame, Section, server};
use uuid::Uuid;

const KEY: [u8; 32] = [7; 32];

fn entry(i: usize) -> RecordItem {
    let sections = [
        "allergies",
        "medications",
        "immunisations",
        "problems",
        "consultations",
    ];
    RecordItem {
        section: sections[i % 5].to_owned(),
        snomed_code: format!("{}", 100_000 + i * 7),
        term: format!("Coded entry number {i} with a realistic clinical term"),
        effective_date: format!("20{:02}-{:02}-{:02}", 10 + i % 15, 1 + i % 12, 1 + i % 28),
        end_date: i.is_multiple_of(3).then(|| "2024-01-01".to_owned()),
        detail: i
            .is_multiple_of(4)
            .then(|| format!("Free-text detail of entry {i}, as a clinician wrote it")),
        author: Some("Dr Rhea Shah".to_owned()),
    }
}

/// Syncs `local` with the server's document until quiet.
fn exchange(
    local: &mut Local,
    id: DocumentId,
    doc: &mut AutoCommit,
    state: &mut sync_protocol::automerge::sync::State,
) {
    for _ in 0..20 {
        let request = local.outgoing();
        let incoming = request.documents.iter().find(|d| d.document == id);
        let mut reply = Frame::new();
        reply.documents = server::answer(id, 0, doc, state, false, incoming)
            .unwrap()
            .frames;
        let quiet = request.documents.is_empty() && reply.documents.is_empty();
        local.apply(&reply).unwrap();
        if quiet {
            return;
        }
    }
    panic!("the exchange did not settle");
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4)
}

fn disk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn best(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let short = std::env::args().any(|a| a == "--short");
    let count = if short { 300 } else { 1500 };
    let runs = if short { 3 } else { 10 };
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let id = DocumentId::new(Uuid::new_v4(), Section::Record);

    let mut wanted = Items::new();
    for i in 0..count {
        wanted.insert(
            Uuid::new_v4().to_string(),
            items::fields_of(&entry(i)).unwrap(),
        );
    }
    let mut doc = AutoCommit::new();
    items::reconcile(&mut doc, &wanted).unwrap();
    let mut state = server::device_state(None, false);
    let mut local = Local::open(Store::open(&store_dir, &KEY).unwrap()).unwrap();
    local.peer.follow(id);
    exchange(&mut local, id, &mut doc, &mut state);
    drop(local);

    // The baseline file: the same items as gzip'd JSON.
    let json: serde_json::Value = wanted
        .iter()
        .map(|(key, fields)| {
            let mut item: serde_json::Value = items::item_from(fields).unwrap();
            item["id"] = key.clone().into();
            item
        })
        .collect();
    let plain = serde_json::to_vec(&json).unwrap();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&plain).unwrap();
    let gzipped = gz.finish().unwrap();
    let json_path = dir.path().join("record.json.gz");
    std::fs::write(&json_path, &gzipped).unwrap();

    // Cold open.
    let open = best(runs, || {
        let local = Local::open(Store::open(&store_dir, &KEY).unwrap()).unwrap();
        assert_eq!(local.peer.items(id).unwrap().len(), count);
    });
    let parse = best(runs, || {
        let mut text = Vec::new();
        GzDecoder::new(std::fs::File::open(&json_path).unwrap())
            .read_to_end(&mut text)
            .unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), count);
    });

    // One incremental change.
    let mut local = Local::open(Store::open(&store_dir, &KEY).unwrap()).unwrap();
    local.peer.reconnect();
    let mut change = Duration::ZERO;
    for i in 0..runs {
        wanted.insert(
            Uuid::new_v4().to_string(),
            items::fields_of(&entry(count + i)).unwrap(),
        );
        items::reconcile(&mut doc, &wanted).unwrap();
        let start = Instant::now();
        exchange(&mut local, id, &mut doc, &mut state);
        let took = start.elapsed();
        change = if i == 0 { took } else { change.min(took) };
    }
    assert_eq!(local.peer.items(id).unwrap().len(), count + runs);
    let rewrite = best(runs, || {
        let mut file = std::fs::File::create(&json_path).unwrap();
        file.write_all(&gzipped).unwrap();
        file.sync_all().unwrap();
    });
    drop(local);

    // Size on disk.
    let store_size = disk_bytes(&store_dir);

    // Memory: resident growth of an open store, then of the parsed JSON.
    let before = resident_kib();
    let local = Local::open(Store::open(&store_dir, &KEY).unwrap()).unwrap();
    let read = local.peer.items(id).unwrap();
    let with_store = resident_kib();
    let mut text = Vec::new();
    GzDecoder::new(std::fs::File::open(&json_path).unwrap())
        .read_to_end(&mut text)
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let with_json = resident_kib();
    assert_eq!(read.len(), count + runs);
    assert_eq!(parsed.as_array().unwrap().len(), count);

    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    println!("store benchmark: {count} coded entries, best of {runs}");
    println!(
        "cold open + read all:  {:>8.2} ms  | gzip'd JSON read + parse {:>7.2} ms | ratio {:.2}",
        open.as_secs_f64() * 1e3,
        parse.as_secs_f64() * 1e3,
        ratio(open.as_secs_f64(), parse.as_secs_f64())
    );
    println!(
        "one new item applied:  {:>8.2} ms  | gzip'd JSON rewritten     {:>7.2} ms | ratio {:.2}",
        change.as_secs_f64() * 1e3,
        rewrite.as_secs_f64() * 1e3,
        ratio(change.as_secs_f64(), rewrite.as_secs_f64())
    );
    println!(
        "size on disk:          {:>8} B   | gzip'd JSON               {:>7} B  | ratio {:.2}",
        store_size,
        gzipped.len(),
        ratio(store_size as f64, gzipped.len() as f64)
    );
    println!(
        "resident memory added: {:>8} KiB | parsed JSON added         {:>7} KiB | ratio {:.2}",
        with_store.saturating_sub(before),
        with_json.saturating_sub(with_store),
        ratio(
            with_store.saturating_sub(before) as f64,
            with_json.saturating_sub(with_store) as f64
        )
    );
    drop(local);
}
