//! Out of file descriptors: the `microweb` binary (release build) runs with `RLIMIT_NOFILE` 256
//! and 600 clients connect. Accepting fails with EMFILE; the server must not spin on it (its CPU
//! time stays low while the clients wait), must keep serving the connection it already has, must
//! warn once rather than per retry, and must accept again — serving every waiting client — once
//! descriptors are free.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code
#![cfg(target_os = "linux")]

mod cli_support;
#[path = "support/http_client.rs"]
mod http_client;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use cli_support::Demo;
use http_client::{RawClient, wait_until};
use rustix::process::{Pid, Resource, Rlimit, prlimit};

const CLIENTS: usize = 600;
const SERVER_FDS: u64 = 256;

/// The CPU time (user + system) a process has used, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses); utime and stime are 14 and 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // The kernel reports in clock ticks: 100 per second on Linux (USER_HZ).
    Duration::from_millis(ticks * 10)
}

#[test]
fn accept_backs_off_on_emfile_keeps_serving_and_resumes() {
    // This process holds the 600 clients.
    cli_support::raise_fd_limit(CLIENTS as u64 + 256);

    let binary = cli_support::release_binary();
    let demo = Demo::start_binary(&binary, &["--preset", "normal"]);
    let addr = demo.http_addr();
    let pid = demo.child.id();
    prlimit(
        Pid::from_raw(i32::try_from(pid).unwrap()),
        Resource::Nofile,
        Rlimit {
            current: Some(SERVER_FDS),
            maximum: Some(SERVER_FDS),
        },
    )
    .expect("lower the server's RLIMIT_NOFILE");

    // A keep-alive client from before the flood.
    let mut old = RawClient::connect(addr);
    old.send(b"GET /api/echo?old=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(old.read_response().map(|r| r.status), Some(200));

    // 600 connections: the kernel completes them (the listen backlog), the server cannot
    // accept them all.
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    // The pool's lines about accepting, in order: a warning when it starts failing, a line
    // when it works again (idle clients are closed after the request timeout, which frees
    // descriptors, so there may be several such episodes).
    let mut log: Vec<String> = Vec::new();
    let read_log = |log: &mut Vec<String>| {
        log.extend(
            demo.stderr
                .try_iter()
                .filter(|l| l.contains("pool: accept")),
        );
    };
    assert!(
        wait_until(Duration::from_secs(10), || {
            read_log(&mut log);
            !log.is_empty()
        }),
        "no warning that accepting failed"
    );

    // While it cannot accept: little CPU (a spinning loop would burn a core), and the old
    // connection is still served.
    let cpu_before = cpu_time(pid);
    let window = Instant::now();
    let mut served = 0;
    while window.elapsed() < Duration::from_secs(2) {
        old.send(b"GET /api/echo?during=1 HTTP/1.1\r\nHost: t\r\n\r\n");
        let resp = old.read_response_within(Duration::from_secs(5));
        assert_eq!(
            resp.map(|r| r.status),
            Some(200),
            "the old connection is not served"
        );
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu = cpu_time(pid) - cpu_before;
    assert!(served >= 10, "{served}");
    assert!(
        cpu < Duration::from_millis(500),
        "the server used {cpu:?} of CPU in 2 s while out of descriptors"
    );

    // Descriptors come back: every waiting client closes, and a new one is served.
    drop(clients);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let mut c = RawClient::connect(addr);
            c.send(b"GET /api/echo?after=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            c.read_response_within(Duration::from_secs(2))
                .is_some_and(|r| r.status == 200)
        }),
        "not accepting again after descriptors were freed"
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            read_log(&mut log);
            log.last().is_some_and(|l| l.contains("again"))
        }),
        "no line saying accepting works again: {log:?}"
    );
    // One warning per episode, not one per retry (a retry is every 50 ms).
    let failing = |l: &String| l.contains("failed");
    assert!(failing(&log[0]), "{log:?}");
    for pair in log.windows(2) {
        assert_ne!(failing(&pair[0]), failing(&pair[1]), "{log:?}");
    }
}
