//! libFuzzer target `sync_message`: the body is `gp_online_tests::hostile::sync_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gp_online_tests::hostile::sync_message(data));
