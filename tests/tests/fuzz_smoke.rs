//! The fuzz targets, briefly, on every `cargo test`: each target's body
//! (`gp_online_tests::hostile`) over its seed corpus (`fuzz/seeds/<target>/`) and then over
//! mutations of those seeds drawn from a fixed seed, so a run is the same every time. Longer
//! runs are libFuzzer's (`fuzz/`, `docs/RELIABILITY.md`).
//!
//! `GP_ONLINE_FUZZ_SMOKE_INPUTS` sets the mutated inputs per target (2,000 by default). An input
//! that makes a target panic is written to `target/fuzz-smoke/<target>-<n>` (to replay with
//! `cargo fuzz run <target> <file>`) and fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

use gp_online_tests::hostile::{TARGETS, Target};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

fn seeds_of(target: &Target) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target.name);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// Bytes that often sit on a decoder's boundaries.
const INTERESTING: [u8; 10] = [0, 1, 0x7f, 0x80, 0xff, b'"', b'{', b'0', 0x9b, 0xbf];

/// One input: a seed changed by one to four mutations (bytes flipped, set, inserted, removed,
/// repeated, cut, or a piece of another seed spliced in).
fn mutate(seeds: &[Vec<u8>], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut input = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=4) {
        let len = input.len();
        let at = if len == 0 {
            0
        } else {
            rng.random_range(0..len)
        };
        match rng.random_range(0..8) {
            0 if len > 0 => input[at] ^= 1 << rng.random_range(0..8),
            1 if len > 0 => input[at] = INTERESTING[rng.random_range(0..INTERESTING.len())],
            2 if len > 0 => input[at] = rng.random(),
            3 => {
                let bytes: Vec<u8> = (0..rng.random_range(1..8)).map(|_| rng.random()).collect();
                input = [&input[..at], &bytes, &input[at..]].concat();
            }
            4 if len > 0 => {
                let end = (at + rng.random_range(1..16)).min(len);
                input.drain(at..end);
            }
            5 if len > 0 => {
                let end = (at + rng.random_range(1..32)).min(len);
                input = [&input[..end], &input[at..]].concat();
            }
            6 => input.truncate(at),
            _ => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    let end = (from + rng.random_range(1..64)).min(other.len());
                    input = [&input[..at], &other[from..end], &input[at..]].concat();
                }
            }
        }
    }
    input
}

/// Runs `target` on `input`; a panic keeps the input and names it.
fn run(target: &Target, input: &[u8], n: usize) {
    let outcome = std::panic::catch_unwind(|| (target.run)(input));
    if outcome.is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-smoke");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}-{n}", target.name));
        std::fs::write(&path, input).unwrap();
        panic!(
            "fuzz target {} panicked on input {n}, kept in {}",
            target.name,
            path.display()
        );
    }
}

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    let inputs: usize = std::env::var("GP_ONLINE_FUZZ_SMOKE_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    for target in &TARGETS {
        let seeds = seeds_of(target);
        assert!(!seeds.is_empty(), "{} has no seeds", target.name);
        for (n, seed) in seeds.iter().enumerate() {
            run(target, seed, n);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(18);
        for n in 0..inputs {
            run(target, &mutate(&seeds, &mut rng), seeds.len() + n);
        }
    }
}

#[test]
fn every_fuzz_target_has_its_file_and_seeds() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    for target in &TARGETS {
        let file = fuzz
            .join("fuzz_targets")
            .join(format!("{}.rs", target.name));
        let source =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            source.contains(&format!("hostile::{}", target.name)),
            "{} does not run its target's body",
            file.display()
        );
        assert!(!seeds_of(target).is_empty());
    }
}
