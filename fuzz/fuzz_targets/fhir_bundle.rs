//! libFuzzer target `fhir_bundle`: the body is `gp_online_tests::hostile::fhir_bundle`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gp_online_tests::hostile::fhir_bundle(data));
