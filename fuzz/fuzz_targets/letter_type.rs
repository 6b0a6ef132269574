//! libFuzzer target `letter_type`: the body is `gp_online_tests::hostile::letter_type`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gp_online_tests::hostile::letter_type(data));
