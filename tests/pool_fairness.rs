//! Fairness of an event loop under load: when the ready connections take more than a loop's
//! turn, what waits keeps its place and gets its turn, however much new readiness keeps coming
//! (the loop alternates between the two). 64 clients on one loop keep
//! pipelining 16 requests at a time to a handler that takes 50 µs (a turn holds about three of
//! them); every client keeps being answered, none waits for seconds while others go round.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use microweb::{Method, WebServer};

const CLIENTS: usize = 64;
const PIPELINED: usize = 16;

/// Sends batches of pipelined requests until `stop`; returns (batches answered, worst wait).
fn client(addr: SocketAddr, stop: Arc<AtomicBool>) -> (usize, Duration) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let batch = "GET /work HTTP/1.1\r\nHost: t\r\n\r\n".repeat(PIPELINED);
    let (mut batches, mut worst) = (0, Duration::ZERO);
    let mut buf = vec![0u8; 64 << 10];
    while !stop.load(Ordering::SeqCst) {
        let sent = Instant::now();
        s.write_all(batch.as_bytes()).unwrap();
        let mut answered = 0;
        let mut text = Vec::new();
        while answered < PIPELINED {
            let n = s.read(&mut buf).expect("an answer within 20 s");
            assert!(n > 0, "the server closed the connection");
            text.extend_from_slice(&buf[..n]);
            answered = text.windows(6).filter(|w| w == b"\r\n\r\nok").count();
        }
        worst = worst.max(sent.elapsed());
        batches += 1;
    }
    (batches, worst)
}

#[test]
fn every_connection_keeps_its_turn_when_the_loop_is_saturated() {
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    // Clients that get many turns must not be sent away for having had them.
    server.config_mut().max_requests_per_connection = 0;
    server
        .route(Method::GET, "/work", |_req, _resp| {
            let until = Instant::now() + Duration::from_micros(50);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            "ok"
        })
        .unwrap();
    server.start_managed(1, None).unwrap();
    let addr = server.local_addrs()[0];

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || client(addr, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3)); // the load's length, not a wait for a condition
    stop.store(true, Ordering::SeqCst);
    let results: Vec<(usize, Duration)> = clients.into_iter().map(|c| c.join().unwrap()).collect();

    // A fair loop serves every client about once per 64 × 16 × 50 µs ≈ 50 ms (twice that when
    // half of each turn goes to new readiness), so each gets a dozen batches or more in 3 s; a
    // loop that lets new readiness go first serves the same few clients round after round while
    // the others wait for the load to end.
    let fewest = results.iter().map(|r| r.0).min().unwrap();
    let worst = results.iter().map(|r| r.1).max().unwrap();
    println!("fewest batches answered {fewest}, worst wait {worst:?}");
    assert!(
        fewest >= 3,
        "a client got {fewest} batches answered in 3 s (worst wait {worst:?})"
    );
    assert!(
        worst < Duration::from_millis(1500),
        "a batch waited {worst:?}"
    );
}
