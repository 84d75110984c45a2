//! A bounded wait on an observable condition, shared by the test crates through `#[path]`.
#![allow(clippy::disallowed_methods, dead_code, unreachable_pub)] // reads the clock: the deadline

use std::time::{Duration, Instant};

/// Polls `cond` every few milliseconds until it holds or `limit` has passed; returns whether it
/// held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
