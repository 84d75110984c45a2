//! Fuzz target: see `microweb::fuzzing::request_head` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microweb::fuzzing::request_head(data));
