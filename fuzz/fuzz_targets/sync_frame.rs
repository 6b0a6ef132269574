//! libFuzzer target `sync_frame`: the body is `gp_online_tests::hostile::sync_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gp_online_tests::hostile::sync_frame(data));
