//! Slowloris against the `microweb` binary (Normal preset, release build): 1,500 connections
//! trickle a request head one byte a second. A normal client keeps being answered promptly (p99
//! under 100 ms: the trickling heads do not hold the buffer slots, they are parked in a few bytes
//! of the memory budget), and each trickler is cut with 408 when its head has taken the request
//! timeout (5 s) in all — the bytes it keeps sending do not extend that deadline. Afterwards every
//! slot is free and the budget is back to zero.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code
#![cfg(target_os = "linux")]

mod cli_support;
#[path = "support/http_client.rs"]
mod http_client;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cli_support::Demo;
use http_client::{RawClient, wait_until};

const TRICKLERS: usize = 1_500;
/// The server's request timeout (the binary's default).
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// What a trickling connection has seen of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Nothing yet: the server still waits for the head.
    Open,
    /// A 408 answer (then the close).
    Answered408,
    /// The connection closed without an answer.
    ClosedSilently,
}

/// Reads what the server sent a trickler, without waiting.
fn seen(stream: &mut TcpStream, got: &mut Vec<u8>) -> Seen {
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Seen::Open,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break, // reset: closed
        }
    }
    if got.starts_with(b"HTTP/1.1 408") {
        Seen::Answered408
    } else {
        Seen::ClosedSilently
    }
}

#[test]
fn tricklers_neither_delay_a_normal_client_nor_outlive_the_head_timeout() {
    cli_support::raise_fd_limit(TRICKLERS as u64 * 2 + 512);
    let binary = cli_support::release_binary();
    let demo = Demo::start_binary(&binary, &["--preset", "normal"]);
    let addr = demo.http_addr();
    let before = cli_support::stats(addr);

    // Every trickler sends its first byte, then one more each second.
    const HEAD: &[u8] = b"GET /api/echo HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    let started = Instant::now();
    // Each with the time its first byte left: its head's deadline counts from then.
    let (mut tricklers, first_byte): (Vec<TcpStream>, Vec<Instant>) = (0..TRICKLERS)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&HEAD[..1]).unwrap();
            let at = Instant::now();
            s.set_nonblocking(true).unwrap();
            (s, at)
        })
        .unzip();

    // A normal client, one request per connection, while the tricklers trickle.
    let done = Arc::new(AtomicBool::new(false));
    let normal = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut latencies = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let t = Instant::now();
                let mut c = RawClient::connect(addr);
                c.send(b"GET /api/echo?normal=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                let resp = c.read_response_within(Duration::from_secs(10));
                assert_eq!(
                    resp.map(|r| r.status),
                    Some(200),
                    "the normal client got no answer"
                );
                latencies.push(t.elapsed());
                std::thread::sleep(Duration::from_millis(20));
            }
            latencies
        })
    };

    let mut got: Vec<Vec<u8>> = vec![Vec::new(); TRICKLERS];
    let mut state = vec![Seen::Open; TRICKLERS];
    let mut sent = 1usize;
    let mut early_cuts = 0usize;
    // The last trickler's head times out 5 s after its first byte; 4 s more for the cut.
    let cut_by = first_byte[TRICKLERS - 1] + HEAD_TIMEOUT + Duration::from_secs(4);
    while Instant::now() < cut_by && state.contains(&Seen::Open) {
        std::thread::sleep(Duration::from_secs(1));
        let byte = if sent < HEAD.len() { HEAD[sent] } else { b'a' };
        sent += 1;
        for (i, stream) in tricklers.iter_mut().enumerate() {
            if state[i] != Seen::Open {
                continue;
            }
            let _ = stream.write(&[byte]); // may fail once the server has cut it
            state[i] = seen(stream, &mut got[i]);
            let early = first_byte[i].elapsed() < HEAD_TIMEOUT - Duration::from_millis(1500);
            if early && state[i] != Seen::Open {
                early_cuts += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let mut latencies = normal.join().unwrap();

    assert_eq!(early_cuts, 0, "tricklers cut well before the head timeout");
    let still_open = state.iter().filter(|&&s| s == Seen::Open).count();
    assert_eq!(
        still_open, 0,
        "{still_open} tricklers still open {elapsed:?} after their first byte (sent {sent} bytes)"
    );
    let answered = state.iter().filter(|&&s| s == Seen::Answered408).count();
    assert_eq!(
        answered, TRICKLERS,
        "every trickler is told 408 before the close"
    );

    latencies.sort();
    assert!(
        latencies.len() >= 50,
        "only {} normal requests",
        latencies.len()
    );
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!(
        "{} normal requests during the slowloris: p50 {:?}, p99 {p99:?}, worst {:?}; all {TRICKLERS} tricklers cut within {elapsed:?}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(
        p99 < Duration::from_millis(100),
        "normal client p99 {p99:?}"
    );

    drop(tricklers);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let s = cli_support::stats(addr);
            s["memory_budget"]["in_use"] == 0 && s["slots"]["free"] == before["slots"]["free"]
        }),
        "slots or budget not back: {} (before {before})",
        cli_support::stats(addr)
    );
}

#[test]
fn a_head_sent_in_pieces_with_pauses_is_served_whole() {
    let binary = cli_support::release_binary();
    let demo = Demo::start_binary(&binary, &["--preset", "embedded"]);
    let addr = demo.http_addr();
    // Between the pieces the partial head is parked out of its slot; it must come back intact.
    let pieces: [&[u8]; 4] = [
        b"GET /api/echo?pie",
        b"ces=4 HTTP/1.1\r\nHo",
        b"st: t\r\nX-Part: whole\r\nConnection: cl",
        b"ose\r\n\r\n",
    ];
    let mut c = RawClient::connect(addr);
    for piece in pieces {
        c.send(piece);
        std::thread::sleep(Duration::from_millis(300));
    }
    let resp = c.read_response_within(Duration::from_secs(10)).unwrap();
    assert_eq!(resp.status, 200);
    let text = resp.text();
    assert!(text.contains("pieces"), "{text}");
    assert!(text.contains("whole"), "{text}");
    assert!(
        wait_until(
            Duration::from_secs(5),
            || cli_support::stats(addr)["memory_budget"]["in_use"] == 0
        ),
        "{}",
        cli_support::stats(addr)
    );
}
