//! Raising the open-files limit for tests that hold many sockets, shared through `#[path]`.
#![allow(dead_code, unreachable_pub)]

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises this process's `RLIMIT_NOFILE` soft limit to at least `wanted` (never lowers it;
/// children inherit it). Panics when the hard limit is below `wanted`: the test would otherwise
/// fail later, on an `EMFILE` that says less.
pub fn raise_fd_limit(wanted: u64) {
    let limit = getrlimit(Resource::Nofile);
    let max = limit.maximum.unwrap_or(u64::MAX);
    assert!(
        wanted <= max,
        "RLIMIT_NOFILE hard limit {max} is below the {wanted} descriptors this test needs"
    );
    if limit.current.is_some_and(|current| current < wanted) {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(wanted),
                maximum: limit.maximum,
            },
        )
        .expect("raise RLIMIT_NOFILE");
    }
}
