//! libFuzzer target `import_batch`: the body is `gp_online_tests::hostile::import_batch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gp_online_tests::hostile::import_batch(data));
