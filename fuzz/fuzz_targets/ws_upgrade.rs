//! Fuzz target: see `microweb::fuzzing::ws_upgrade` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microweb::fuzzing::ws_upgrade(data));
