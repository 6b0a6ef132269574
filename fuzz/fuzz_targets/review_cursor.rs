//! libFuzzer target `review_cursor`: the body is `gp_online_tests::hostile::review_cursor`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gp_online_tests::hostile::review_cursor(data));
