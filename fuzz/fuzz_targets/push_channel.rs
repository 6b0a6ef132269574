//! libFuzzer target `push_channel`: the body is `gp_online_tests::hostile::push_channel`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gp_online_tests::hostile::push_channel(data));
