//! Bytes that arrive while a connection is busy are never forgotten: connections are registered
//! edge-triggered, so a request that comes while the connection waits for a deferred answer, or
//! while it is blocked writing a large response, raises its edge then; the pool must remember it
//! and serve that request once the connection is free, without any further byte from the client.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used
)]

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/server.rs"]
mod server_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use http_client::{RawClient, all_sent_acknowledged, tcp_queues, wait_until};
use microweb::Method;
use parking_lot::Mutex;
use server_support::{all_slots_free, start};

const BIG: usize = 8 * 1024 * 1024;

#[test]
fn a_request_sent_while_the_answer_is_deferred_is_served_after_it() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let (deferred_tx, deferred_rx) = mpsc::channel::<()>();
    let (server, addr) = start(|s| {
        s.route(Method::GET, "/deferred", move |_req, resp| {
            let deferred = resp.defer();
            let _ = deferred_tx.send(());
            let rx = Arc::clone(&release_rx);
            std::thread::spawn(move || {
                let _ = rx.lock().recv_timeout(Duration::from_secs(10));
                deferred.send(|r| r.return_ok("first"));
            });
        })
        .unwrap();
        s.route(Method::GET, "/second", |_req, resp| {
            resp.return_ok("second")
        })
        .unwrap();
    });
    let mut c = RawClient::connect(addr);
    c.send(b"GET /deferred HTTP/1.1\r\nHost: t\r\n\r\n");
    // The handler holds the answer until released; the second request comes meanwhile (the
    // connection is idle on its deferred answer when its bytes arrive).
    deferred_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the first request reaches its handler");
    c.send(b"GET /second HTTP/1.1\r\nHost: t\r\n\r\n");
    // Once the server's kernel has acknowledged them, the bytes have raised the connection's
    // edge, before the answer is released: the pool sees that edge while the answer is still
    // deferred, and must remember it.
    assert!(
        wait_until(Duration::from_secs(5), || all_sent_acknowledged(c.stream())),
        "the second request reaches the server"
    );
    release_tx.send(()).unwrap();
    let first = c.read_response_within(Duration::from_secs(5)).unwrap();
    assert_eq!(first.text(), "first");
    let second = c
        .read_response_within(Duration::from_secs(5))
        .expect("the request that came while the answer was deferred is answered");
    assert_eq!(second.text(), "second");
    drop(c);
    assert!(all_slots_free(&server));
}

#[test]
fn a_request_sent_while_a_large_response_is_blocked_is_served_after_it() {
    let (server, addr) = start(|s| {
        s.route(Method::GET, "/big", |_req, resp| {
            resp.return_ok(vec![b'x'; BIG])
        })
        .unwrap();
        s.route(Method::GET, "/small", |_req, resp| resp.return_ok("small"))
            .unwrap();
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Nothing is read yet: the 8 MB answer fills the socket buffers and the server waits to
    // write. The next request arrives during that wait: once the answer has begun (so the
    // first request was read on its own), and before the client reads any of it.
    stream.peek(&mut [0u8; 1]).expect("the first answer begins");
    stream
        .write_all(b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || all_sent_acknowledged(&stream)),
        "the second request reaches the server"
    );
    // What the server has written so far is in the two kernels' queues (the client has read
    // nothing): less than the answer, so it was still writing when the second request came.
    let client = stream.local_addr().unwrap();
    let (server_unacknowledged, _) = tcp_queues(addr, client).unwrap();
    let (_, client_unread) = tcp_queues(client, addr).unwrap();
    assert!(
        server_unacknowledged + client_unread < BIG as u64,
        "the socket buffers took the whole answer ({server_unacknowledged} + {client_unread} \
         bytes): the second request did not come while the server waited to write"
    );
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let small_answer = b"\r\n\r\nsmall";
    while !all.ends_with(small_answer) {
        let n = stream.read(&mut buf).expect("both answers arrive");
        assert!(n > 0, "closed before the second answer");
        all.extend_from_slice(&buf[..n]);
        assert!(all.len() < BIG + 4096, "more bytes than the two answers");
    }
    // The first answer: its head, then exactly BIG bytes of body; then the second answer.
    let body_start = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(all.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(all[body_start..body_start + BIG].iter().all(|&b| b == b'x'));
    assert!(all[body_start + BIG..].starts_with(b"HTTP/1.1 200 OK\r\n"));
    drop(stream);
    assert!(all_slots_free(&server));
}

#[test]
fn a_handler_that_blocks_its_loop_stops_neither_accepting_nor_the_other_loop() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (blocking_tx, blocking_rx) = mpsc::channel::<()>();
    let (server, addr) = start(|s| {
        // Blocks its loop on purpose (what a handler should not do) until released, 10 s at most.
        s.route(Method::GET, "/block", move |_req, resp| {
            let _ = blocking_tx.send(());
            let _ = release_rx.lock().recv_timeout(Duration::from_secs(10));
            resp.return_ok("unblocked");
        })
        .unwrap();
        s.route(Method::GET, "/hello", |_req, resp| resp.return_ok("hello"))
            .unwrap();
    });
    let mut blocked = RawClient::connect(addr);
    blocked.send(b"GET /block HTTP/1.1\r\nHost: t\r\n\r\n");
    blocking_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the blocking handler runs");
    // The next connection is accepted (by loop 0) and dealt to the other connection loop.
    let mut other = RawClient::connect(addr);
    other.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = other
        .read_response_within(Duration::from_secs(3))
        .expect("answered while the other loop is blocked");
    assert_eq!(r.text(), "hello");
    release_tx.send(()).unwrap();
    let r = blocked
        .read_response_within(Duration::from_secs(5))
        .unwrap();
    assert_eq!(r.text(), "unblocked");
    drop((blocked, other));
    assert!(all_slots_free(&server));
}
