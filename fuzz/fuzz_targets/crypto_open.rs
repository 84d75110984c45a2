//! Fuzz target: see `microweb::fuzzing::crypto_open` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microweb::fuzzing::crypto_open(data));
