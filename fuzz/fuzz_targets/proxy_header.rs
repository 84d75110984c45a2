//! Fuzz target: see `microweb::fuzzing::proxy_header` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microweb::fuzzing::proxy_header(data));
