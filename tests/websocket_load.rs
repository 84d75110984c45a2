//! 2,000 concurrent WebSockets on one server, each exchanging messages; every slot is free after.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; helpers unwrap like tests

#[path = "support/fd_limit.rs"]
mod fd_limit;
mod websocket_support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use fd_limit::raise_fd_limit;
use tungstenite::Message;
use websocket_support::{connect, echo, slots_all_free, start};

const SOCKETS: usize = 2_000;
const THREADS: usize = 8;
const ROUNDS: usize = 3;

#[test]
fn two_thousand_concurrent_sockets_exchange_messages() {
    // Each socket costs two descriptors here (client and server live in this process).
    raise_fd_limit((SOCKETS as u64) * 2 + 256);
    let (server, addr, _ws) = start(echo);
    let (_, total) = server.slots().unwrap();
    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut clients: Vec<_> = (0..SOCKETS / THREADS)
                    .map(|_| connect(addr, "/ws/echo").0)
                    .collect();
                // Every socket of every thread is open at once from here.
                barrier.wait();
                for round in 0..ROUNDS {
                    for (i, c) in clients.iter_mut().enumerate() {
                        c.send(Message::text(format!("{t}/{i}/{round}"))).unwrap();
                    }
                    for (i, c) in clients.iter_mut().enumerate() {
                        assert_eq!(c.read().unwrap(), Message::text(format!("{t}/{i}/{round}")));
                    }
                }
                barrier.wait(); // the exchange is done
                barrier.wait(); // the server's slots were checked
                for c in &mut clients {
                    c.close(None).unwrap();
                }
                for c in &mut clients {
                    while c.read().is_ok() {}
                }
                clients.len()
            })
        })
        .collect();
    barrier.wait();
    // After the exchange all 2,000 are still open, and idle: they hold no slot.
    barrier.wait();
    assert!(
        slots_all_free(&server),
        "slots held by idle sockets: {:?}",
        server.slots()
    );
    barrier.wait();
    let done: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(done, SOCKETS);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");
    assert!(slots_all_free(&server));
    assert_eq!(server.slots().unwrap(), (total, total));
}
