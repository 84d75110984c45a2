//! Fuzz target: see `microweb::fuzzing::forms_cookies` for what it feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microweb::fuzzing::forms_cookies(data));
