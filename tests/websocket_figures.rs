//! Measurements, not checks of timing: the heap an idle WebSocket costs the server (asserted
//! against a generous bound), and an echo round-trip rate (ignored; run it by hand in release):
//!
//! `cargo test --release --test websocket_figures -- --ignored --nocapture`
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; helpers unwrap like tests

mod websocket_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::Message;
use websocket_support::{connect, echo, slots_all_free, start, wait_until};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

// Counts the bytes live on the heap of this process.
#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

const UPGRADE: &str = "GET /ws/echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// A client that costs no heap once connected: a raw socket after a hand-made handshake, and
/// one masked "hi" exchanged so the server's socket has been used.
fn raw_socket(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(UPGRADE.as_bytes()).unwrap();
    let mut head = [0u8; 512];
    let mut n = 0;
    while !head[..n].ends_with(b"\r\n\r\n") {
        n += s.read(&mut head[n..n + 1]).unwrap();
    }
    // A masked text frame "hi" (mask 0), and its echo.
    s.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']).unwrap();
    let mut echo = [0u8; 4];
    s.read_exact(&mut echo).unwrap();
    assert_eq!(echo, [0x81, 2, b'h', b'i']);
    s
}

#[test]
fn idle_socket_heap_cost() {
    const N: usize = 500;
    let (server, addr, _ws) = start(echo);
    let mut clients = Vec::with_capacity(N);
    clients.push(raw_socket(addr)); // warm up lazily allocated server state
    assert!(slots_all_free(&server));
    let before = counting_alloc::live_bytes();
    for _ in 1..=N {
        clients.push(raw_socket(addr));
    }
    // Measured once the server holds nothing in transit: every slot back, and nothing reserved
    // from the memory budget (a message being received or queued to send). What is left on the
    // heap is what the idle sockets cost.
    assert!(slots_all_free(&server));
    assert!(
        wait_until(Duration::from_secs(5), || server
            .memory_budget()
            .is_some_and(|b| b.in_use == 0)),
        "the memory budget still holds {:?}",
        server.memory_budget()
    );
    let after = counting_alloc::live_bytes();
    let per_socket = (after - before) / N as isize;
    println!("heap per idle WebSocket (server side): {per_socket} bytes");
    assert!(
        per_socket < 8 * 1024,
        "an idle socket costs {per_socket} bytes of heap"
    );
    drop(clients);
}

#[test]
#[ignore = "a measurement: run by hand in release"]
fn echo_round_trips_per_second() {
    let (_server, addr, _ws) = start(echo);
    for clients in [1usize, 8] {
        let stop = Instant::now() + Duration::from_secs(3);
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                std::thread::spawn(move || {
                    let (mut c, _) = connect(addr, "/ws/echo");
                    let msg = "x".repeat(32);
                    let mut n = 0u64;
                    while Instant::now() < stop {
                        c.send(Message::text(msg.clone())).unwrap();
                        let _ = c.read().unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        println!(
            "echo, 32-byte text, {clients} client(s) in lock-step: {:.0} round trips/s",
            total as f64 / 3.0
        );
    }
}
