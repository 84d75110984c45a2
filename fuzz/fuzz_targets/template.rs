//! Fuzz target: see `microweb::fuzzing::template` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microweb::fuzzing::template(data));
