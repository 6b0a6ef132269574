//! libFuzzer target `personal_document`: the body is `gp_online_tests::hostile::personal_document`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gp_online_tests::hostile::personal_document(data));
