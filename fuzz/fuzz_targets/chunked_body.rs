//! Fuzz target: see `microweb::fuzzing::chunked_body` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microweb::fuzzing::chunked_body(data));
