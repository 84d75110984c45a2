//! `PoolConfig::pin_threads` pins each connection loop to a CPU of its own (loop 0, which
//! accepts and keeps time, stays free); without it the loops may run anywhere. (One test in this file: thread names are the same for every pool, so no other
//! pool may run in this process meanwhile.)
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge

#[path = "support/pool.rs"]
mod support;

use std::fs;

use microweb::{Preset, pool::Pool, pool::PoolConfig};
use support::{WAIT, echo_server, wait_until};

/// The CPUs each thread of this process named `name` may run on (`Cpus_allowed_list`).
fn allowed_cpus(name: &str) -> Vec<String> {
    let mut found = Vec::new();
    for task in fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
        if let Some(list) = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        {
            found.push(list.trim().to_owned());
        }
    }
    found
}

fn is_single_cpu(list: &str) -> bool {
    !list.is_empty() && list.chars().all(|c| c.is_ascii_digit())
}

#[test]
fn pinned_loops_run_on_one_cpu_each_and_unpinned_ones_anywhere() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());

    let pool = Pool::new(PoolConfig::from_preset(Preset::Light).with_pin_threads(true)).unwrap();
    let _server = echo_server(&pool);
    pool.start(2, None).unwrap();
    assert!(wait_until(WAIT, || {
        allowed_cpus("microweb-loop-1").len() == 1 && allowed_cpus("microweb-loop-2").len() == 1
    }));
    // A loop pins itself as it starts: wait for both to have done so.
    assert!(wait_until(WAIT, || {
        is_single_cpu(&allowed_cpus("microweb-loop-1")[0])
            && is_single_cpu(&allowed_cpus("microweb-loop-2")[0])
    }));
    let (first, second) = (
        allowed_cpus("microweb-loop-1").remove(0),
        allowed_cpus("microweb-loop-2").remove(0),
    );
    if cpus > 1 {
        assert_ne!(first, second, "two connection loops, two CPUs");
        let control = allowed_cpus("microweb-pool").remove(0);
        assert!(!is_single_cpu(&control), "loop 0 stays free: {control}");
    }
    pool.stop();
    assert!(allowed_cpus("microweb-loop-1").is_empty());

    let pool = Pool::new(PoolConfig::from_preset(Preset::Light)).unwrap();
    let _server = echo_server(&pool);
    pool.start(2, None).unwrap();
    assert!(wait_until(WAIT, || allowed_cpus("microweb-loop-1").len() == 1));
    if cpus > 1 {
        let list = allowed_cpus("microweb-loop-1").remove(0);
        assert!(!is_single_cpu(&list), "not pinned: {list}");
    }
    pool.stop();
}
