//! A flood of large unfinished bodies and WebSocket messages against the `microweb` binary, per
//! preset: its peak RSS (VmHWM) stays within slots + memory budget + 16 MiB, at least 90 % of the
//! clients get their whole answer (the rest 503), a small GET on its own connection keeps
//! answering within a second, and the budget is back to zero afterwards (`/api/stats`).
//!
//! The server is the release build of the binary (built here when it is missing or stale), as
//! deployed: a debug build spends ten times longer per echo in unchecked-arithmetic assertions,
//! which would measure the compiler's checks rather than the server's fairness.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code
#![cfg(target_os = "linux")]

mod cli_support;
#[path = "support/http_client.rs"]
mod http_client;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cli_support::Demo;
use http_client::{RawClient, wait_until};
use tungstenite::Message;

const MIB: u64 = 1 << 20;

/// One preset's flood: how many clients of each kind, and how large their bodies are.
struct Flood {
    preset: &'static str,
    /// Buffer slots × slot size of the preset.
    slot_bytes: u64,
    memory_budget: u64,
    http_clients: usize,
    ws_clients: usize,
    body: usize,
}

/// The peak resident memory of a process, from `/proc/PID/status`.
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}

/// Sends all of a request but its last byte, waits for `release`, sends the byte and reads the
/// answer; returns its status (0 when none came).
fn http_client(addr: SocketAddr, body: Arc<Vec<u8>>, release: Instant) -> u16 {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return 0;
    };
    stream.set_write_timeout(Some(Duration::from_secs(90))).ok();
    let head = format!(
        "POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if stream.write_all(head.as_bytes()).is_err()
        || stream.write_all(&body[..body.len() - 1]).is_err()
    {
        return 0;
    }
    std::thread::sleep(release.saturating_duration_since(Instant::now()));
    if stream.write_all(&body[body.len() - 1..]).is_err() {
        return 0;
    }
    let mut client = RawClient::from_stream(stream);
    match client.read_response_within(Duration::from_secs(90)) {
        // A whole answer: the echo carries the whole body back.
        Some(r) if r.status == 200 && r.body.len() > body.len() => 200,
        Some(r) if r.status == 200 => 1,
        Some(r) => r.status,
        None => 0,
    }
}

/// The same for a WebSocket binary message; true when the whole echo came back.
fn ws_client(addr: SocketAddr, payload: Arc<Vec<u8>>, release: Instant) -> bool {
    let Ok(stream) = TcpStream::connect(addr) else {
        return false;
    };
    stream.set_read_timeout(Some(Duration::from_secs(90))).ok();
    stream.set_write_timeout(Some(Duration::from_secs(90))).ok();
    let Ok((mut ws, _)) = tungstenite::client(format!("ws://{addr}/ws/echo").as_str(), stream)
    else {
        return false;
    };
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(&payload);
    if ws.get_mut().write_all(&frame[..frame.len() - 1]).is_err() {
        return false;
    }
    std::thread::sleep(release.saturating_duration_since(Instant::now()));
    if ws.get_mut().write_all(&frame[frame.len() - 1..]).is_err() {
        return false;
    }
    matches!(ws.read(), Ok(Message::Binary(b)) if b.len() == payload.len())
}

/// Lowers the calling flood thread's CPU priority (on Linux a nice value is per thread), so the
/// hundreds of client threads sharing the machine with the server do not starve it or the probe:
/// the probe's latency then measures the server's fairness, not the load generator's scheduling.
fn yield_to_server() {
    // Best effort: an unprivileged thread may always raise its own nice value. Relative to
    // the test's own, which the server inherits (a test run under `nice` keeps the gap).
    let now = rustix::process::getpriority_process(None).unwrap_or(0);
    let _ = rustix::process::setpriority_process(None, (now + 10).min(19));
}

/// One flood at a time: they would measure each other otherwise.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn flood(f: &Flood) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let demo = Demo::start_binary(&cli_support::release_binary(), &["--preset", f.preset]);
    let addr = demo.http_addr();
    let pid = demo.child.id();
    let body = Arc::new(
        (0..f.body)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    );
    let release = Instant::now() + Duration::from_secs(2);
    let http: Vec<_> = (0..f.http_clients)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || {
                yield_to_server();
                http_client(addr, body, release)
            })
        })
        .collect();
    let ws: Vec<_> = (0..f.ws_clients)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || {
                yield_to_server();
                ws_client(addr, body, release)
            })
        })
        .collect();

    // A small GET on its own connection keeps answering while the flood goes on.
    let done = Arc::new(AtomicBool::new(false));
    let prober = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut answered = 0;
            let mut probe = RawClient::connect(addr);
            while !done.load(Ordering::SeqCst) {
                let started = Instant::now();
                probe.send(b"GET /api/echo?probe=1 HTTP/1.1\r\nHost: t\r\n\r\n");
                let resp = probe.read_response_within(Duration::from_secs(5));
                assert_eq!(resp.map(|r| r.status), Some(200), "the probe got no answer");
                worst = worst.max(started.elapsed());
                answered += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            (worst, answered)
        })
    };

    let statuses: Vec<u16> = http.into_iter().map(|t| t.join().unwrap()).collect();
    let echoed = ws
        .into_iter()
        .filter_map(|t| t.join().ok())
        .filter(|&ok| ok)
        .count();
    done.store(true, Ordering::SeqCst);
    let (worst, answered) = prober.join().unwrap();

    let served = statuses.iter().filter(|&&s| s == 200).count() + echoed;
    let total = f.http_clients + f.ws_clients;
    let unserved_http: Vec<u16> = statuses.iter().copied().filter(|&s| s != 200).collect();
    assert!(
        served * 10 >= total * 9,
        "{}: {served} of {total} served; other HTTP answers {unserved_http:?}",
        f.preset
    );
    assert!(
        unserved_http.iter().all(|&s| s == 503),
        "{}: answers other than 200 and 503: {unserved_http:?}",
        f.preset
    );
    assert!(answered > 0);
    assert!(
        worst < Duration::from_secs(1),
        "{}: a small GET took {worst:?} during the flood",
        f.preset
    );
    let peak = vm_hwm(pid);
    let bound = f.slot_bytes + f.memory_budget + 16 * MIB;
    assert!(
        peak <= bound,
        "{}: peak RSS {} KiB over the bound {} KiB",
        f.preset,
        peak / 1024,
        bound / 1024
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            let s = cli_support::stats(addr);
            s["memory_budget"]["in_use"] == 0 && s["memory_budget"]["waiting"] == 0
        }),
        "{}: {}",
        f.preset,
        cli_support::stats(addr)
    );
    let high_water = cli_support::stats(addr)["memory_budget"]["high_water"]
        .as_u64()
        .unwrap();
    eprintln!(
        "{}: {served}/{total} served, peak RSS {} KiB (bound {} KiB), budget high-water {} KiB, worst small GET {worst:?}",
        f.preset,
        peak / 1024,
        bound / 1024,
        high_water / 1024
    );
}

#[test]
fn embedded_flood_stays_within_its_bound() {
    flood(&Flood {
        preset: "embedded",
        slot_bytes: 16 * 1024,
        memory_budget: 64 * 1024,
        http_clients: 4,
        ws_clients: 2,
        body: 15 * 1024,
    });
}

#[test]
fn light_flood_stays_within_its_bound() {
    flood(&Flood {
        preset: "light",
        slot_bytes: 128 * 1024,
        memory_budget: 2 * MIB,
        http_clients: 32,
        ws_clients: 12,
        body: 500 * 1024,
    });
}

#[test]
fn normal_flood_stays_within_its_bound() {
    flood(&Flood {
        preset: "normal",
        slot_bytes: 2 * MIB,
        memory_budget: 32 * MIB,
        http_clients: 300,
        ws_clients: 200,
        body: 1_900_000,
    });
}

#[test]
fn large_flood_stays_within_its_bound() {
    flood(&Flood {
        preset: "large",
        slot_bytes: 32 * MIB,
        memory_budget: 256 * MIB,
        http_clients: 300,
        ws_clients: 60,
        body: 1_000_000,
    });
}
