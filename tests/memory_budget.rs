//! The memory budget over real sockets: request bodies and WebSocket messages larger than a slot
//! are paid from the server's budget before they are read; when it is short, reading stops and
//! the connections are served in turn; a body that can never fit gets 413 unread; a wait longer
//! than `memory_wait_timeout` ends in 503 (HTTP) or close 1013 (WebSocket), never in a timeout
//! of the client's; and the budget is back to zero afterwards.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "support/http_client.rs"]
mod http_client;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use http_client::{RawClient, wait_until};
use microweb::{Method, WebServer, WebSockets};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

/// The budget of these tests: room for two 100 kB bodies at once, not three.
const BUDGET: usize = 256 * 1024;
const BODY: usize = 100_000;
/// A response body far larger than the socket buffers take at once.
const BIG_RESPONSE: usize = 32 << 20;

/// A server with a small budget, a `/sum` route answering the body's length and byte sum, and
/// the WebSockets module echoing binary messages.
fn start(memory_wait: Duration, requests_timeout: Duration) -> (WebServer, SocketAddr) {
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    let config = server.config_mut();
    config.memory_budget = BUDGET;
    config.memory_wait_timeout = memory_wait;
    config.requests_timeout = requests_timeout;
    config.max_request_content_length = 4 << 20;
    // Bodies in memory: spooling to disk is tested in tests/body_spool.rs.
    config.spool = None;
    server
        .route(Method::POST, "/sum", |req, _resp| {
            let body = req.content();
            let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
            format!("{} {sum}", body.len())
        })
        .unwrap();
    server
        .route(Method::POST, "/panic", |req, _resp| -> String {
            panic!(
                "a handler that fails on a {}-byte body",
                req.content().len()
            )
        })
        .unwrap();
    server
        .route(Method::GET, "/big", |_req, _resp| vec![b'x'; BIG_RESPONSE])
        .unwrap();
    let ws = server
        .load_module("WebSockets")
        .unwrap()
        .downcast::<WebSockets>()
        .unwrap();
    ws.on_websocket_accepted(|socket| {
        socket.on_binary_message(|s, b| {
            let _ = s.send_binary_message(b);
        });
    });
    server.start_managed(2, None).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

fn body(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

fn expected_answer(body: &[u8]) -> String {
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    format!("{} {sum}", body.len())
}

fn head(len: usize) -> String {
    format!("POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n")
}

fn budget_is_free(server: &WebServer) -> bool {
    wait_until(Duration::from_secs(10), || {
        let stats = server.memory_budget().unwrap();
        stats.in_use == 0 && stats.waiting == 0
    })
}

#[test]
fn bodies_beyond_the_budget_wait_their_turn_and_every_one_is_answered() {
    let (server, addr) = start(Duration::from_secs(30), Duration::from_secs(30));
    let bodies: Vec<Vec<u8>> = (0..8).map(|i| body(i, BODY)).collect();
    let mut clients: Vec<RawClient> = bodies
        .iter()
        .map(|b| {
            let mut c = RawClient::connect(addr);
            c.send(head(b.len()).as_bytes()).send(&b[..b.len() - 1]);
            c
        })
        .collect();
    // Two bodies fit; the other six stop being read and queue for the budget.
    assert!(
        wait_until(Duration::from_secs(10), || {
            let stats = server.memory_budget().unwrap();
            stats.waiting == 6 && stats.in_use == 2 * BODY
        }),
        "{:?}",
        server.memory_budget()
    );
    for (client, b) in clients.iter_mut().zip(&bodies) {
        client.send(&b[b.len() - 1..]);
    }
    for (client, b) in clients.iter_mut().zip(&bodies) {
        let resp = client
            .read_response_within(Duration::from_secs(20))
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), expected_answer(b));
    }
    let stats = server.memory_budget().unwrap();
    assert!(stats.high_water <= BUDGET, "{stats:?}");
    assert!(stats.high_water >= 2 * BODY, "{stats:?}");
    assert!(budget_is_free(&server), "{:?}", server.memory_budget());
}

#[test]
fn a_body_declared_larger_than_the_whole_budget_gets_413_before_it_is_sent() {
    let (server, addr) = start(Duration::from_secs(30), Duration::from_secs(30));
    let mut client = RawClient::connect(addr);
    client.send(head(BUDGET + 1).as_bytes());
    let resp = client.read_response_within(Duration::from_secs(5)).unwrap();
    assert_eq!(resp.status, 413);
    assert!(client.closed_within(Duration::from_secs(5)));
    // A body that fits is still taken.
    let mut client = RawClient::connect(addr);
    let b = body(1, BUDGET - 1000);
    client.send(head(b.len()).as_bytes()).send(&b);
    let resp = client
        .read_response_within(Duration::from_secs(10))
        .unwrap();
    assert_eq!((resp.status, resp.text()), (200, expected_answer(&b)));
    assert!(budget_is_free(&server));
}

#[test]
fn a_wait_longer_than_memory_wait_timeout_gets_503_with_retry_after_never_408() {
    // The client timeout (1 s of silence) is shorter than the budget wait (2 s): a waiting
    // connection must not be blamed for the server's wait.
    let (server, addr) = start(Duration::from_secs(2), Duration::from_secs(1));
    let big = body(3, 200_000);
    let mut holder = RawClient::connect(addr);
    holder
        .send(head(big.len()).as_bytes())
        .send(&big[..150_000]);
    assert!(wait_until(Duration::from_secs(5), || {
        server.memory_budget().unwrap().in_use == 200_000
    }));
    let waiter_body = body(4, 200_000);
    let mut waiter = RawClient::connect(addr);
    waiter
        .send(head(waiter_body.len()).as_bytes())
        .send(&waiter_body[..10_000]);
    // The holder keeps sending (slowly, within its own timeout) while the waiter waits.
    let mut sent = 150_000;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let answer = loop {
        if let Some(resp) = waiter.read_response_within(Duration::from_millis(300)) {
            break resp;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answer to the waiter"
        );
        let next = (sent + 1000).min(big.len() - 1);
        holder.send(&big[sent..next]);
        sent = next;
    };
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert!(waiter.closed_within(Duration::from_secs(5)));
    holder.send(&big[sent..]);
    let resp = holder
        .read_response_within(Duration::from_secs(10))
        .unwrap();
    assert_eq!((resp.status, resp.text()), (200, expected_answer(&big)));
    assert!(budget_is_free(&server), "{:?}", server.memory_budget());
}

/// A WebSocket client after its handshake, over a plain `TcpStream`.
fn ws_connect(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    tungstenite::client(format!("ws://{addr}/ws").as_str(), stream)
        .unwrap()
        .0
}

/// A masked binary frame (mask key zero, so the payload goes as it is).
fn binary_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn websocket_messages_beyond_the_budget_wait_their_turn_and_are_all_delivered() {
    let (server, addr) = start(Duration::from_secs(30), Duration::from_secs(30));
    let messages: Vec<Vec<u8>> = (0..6).map(|i| body(i, BODY)).collect();
    let mut clients: Vec<_> = messages
        .iter()
        .map(|m| {
            let mut c = ws_connect(addr);
            let frame = binary_frame(m);
            c.get_mut().write_all(&frame[..frame.len() - 1]).unwrap();
            (c, frame)
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let stats = server.memory_budget().unwrap();
            stats.waiting == 4 && stats.in_use >= 2 * BODY
        }),
        "{:?}",
        server.memory_budget()
    );
    for (c, frame) in &mut clients {
        c.get_mut().write_all(&frame[frame.len() - 1..]).unwrap();
    }
    for ((c, _), m) in clients.iter_mut().zip(&messages) {
        assert_eq!(c.read().unwrap(), Message::binary(m.clone()));
    }
    // What is read stays within the budget; the echoes of the two messages read at once are
    // charged on top while they are sent (they exist: the handler made them).
    let high_water = server.memory_budget().unwrap().high_water;
    assert!(high_water <= BUDGET + 2 * BODY, "{high_water}");
    assert!(budget_is_free(&server), "{:?}", server.memory_budget());
}

#[test]
fn a_websocket_message_that_waits_too_long_is_closed_with_1013() {
    let (server, addr) = start(Duration::from_secs(1), Duration::from_secs(30));
    let big = body(5, 200_000);
    let mut holder = ws_connect(addr);
    let holder_frame = binary_frame(&big);
    holder
        .get_mut()
        .write_all(&holder_frame[..150_000])
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        server.memory_budget().unwrap().in_use >= 200_000
    }));
    let mut waiter = ws_connect(addr);
    let waiter_frame = binary_frame(&body(6, 200_000));
    waiter.get_mut().write_all(&waiter_frame[..10_000]).unwrap();
    match waiter.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Again),
        other => panic!("expected close 1013, got {other:?}"),
    }
    // The holder is unaffected: its message goes through once it is whole.
    holder
        .get_mut()
        .write_all(&holder_frame[150_000..])
        .unwrap();
    assert_eq!(holder.read().unwrap(), Message::binary(big));
    drop((holder, waiter));
    assert!(budget_is_free(&server), "{:?}", server.memory_budget());
}

#[test]
fn a_client_that_resets_while_it_waits_leaves_nothing_behind() {
    let (server, addr) = start(Duration::from_secs(30), Duration::from_secs(30));
    let first = body(7, BODY);
    let mut holders: Vec<RawClient> = (0..2)
        .map(|_| {
            let mut c = RawClient::connect(addr);
            c.send(head(BODY).as_bytes()).send(&first[..BODY / 2]);
            c
        })
        .collect();
    let mut waiter = TcpStream::connect(addr).unwrap();
    waiter.write_all(head(BODY).as_bytes()).unwrap();
    waiter.write_all(&first[..1000]).unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        server.memory_budget().unwrap().waiting == 1
    }));
    drop(waiter);
    // The holders quit halfway too.
    holders.clear();
    assert!(budget_is_free(&server), "{:?}", server.memory_budget());
    // And the server serves as before.
    let mut client = RawClient::connect(addr);
    client.send(head(BODY).as_bytes()).send(&first);
    let resp = client
        .read_response_within(Duration::from_secs(10))
        .unwrap();
    assert_eq!(resp.text(), expected_answer(&first));
}

#[test]
fn a_large_response_held_for_a_slow_reader_counts_and_holds_new_bodies_back() {
    let (server, addr) = start(Duration::from_secs(30), Duration::from_secs(30));
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || {
            server.memory_budget().unwrap().in_use >= BIG_RESPONSE
        }),
        "{:?}",
        server.memory_budget()
    );
    let b = body(8, BODY);
    let mut poster = RawClient::connect(addr);
    poster.send(head(b.len()).as_bytes()).send(&b);
    assert!(wait_until(Duration::from_secs(10), || {
        server.memory_budget().unwrap().waiting == 1
    }));
    // The slow reader reads its answer at last: its bytes are given back, the body goes in.
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    while got < BIG_RESPONSE {
        match std::io::Read::read(&mut slow, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(
        got > BIG_RESPONSE,
        "the head and {BIG_RESPONSE} bytes, got {got}"
    );
    let resp = poster
        .read_response_within(Duration::from_secs(10))
        .unwrap();
    assert_eq!((resp.status, resp.text()), (200, expected_answer(&b)));
    drop(slow);
    assert!(budget_is_free(&server), "{:?}", server.memory_budget());
}

#[test]
fn pipelined_requests_are_all_answered_and_leave_the_budget_free() {
    let (server, addr) = start(Duration::from_secs(30), Duration::from_secs(30));
    let mut client = RawClient::connect(addr);
    let one = b"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
    let many: Vec<u8> = one.iter().copied().cycle().take(one.len() * 16).collect();
    client.send(&many);
    for _ in 0..16 {
        let resp = client
            .read_response_within(Duration::from_secs(10))
            .unwrap();
        assert_eq!(resp.text(), expected_answer(b"abc"));
    }
    drop(client);
    assert!(budget_is_free(&server), "{:?}", server.memory_budget());
}

#[test]
fn a_stalled_body_times_out_with_408_and_a_panicking_handler_answers_500_both_leaving_nothing() {
    let (server, addr) = start(Duration::from_secs(30), Duration::from_secs(1));
    let b = body(11, BODY);
    let mut stalled = RawClient::connect(addr);
    stalled.send(head(BODY).as_bytes()).send(&b[..BODY / 2]);
    assert!(wait_until(Duration::from_secs(5), || {
        server.memory_budget().unwrap().in_use == BODY
    }));
    let resp = stalled
        .read_response_within(Duration::from_secs(10))
        .unwrap();
    assert_eq!(resp.status, 408);
    assert!(budget_is_free(&server), "{:?}", server.memory_budget());

    let mut failing = RawClient::connect(addr);
    failing
        .send(
            format!("POST /panic HTTP/1.1\r\nHost: t\r\nContent-Length: {BODY}\r\n\r\n").as_bytes(),
        )
        .send(&b);
    let resp = failing
        .read_response_within(Duration::from_secs(10))
        .unwrap();
    assert_eq!(resp.status, 500);
    assert!(budget_is_free(&server), "{:?}", server.memory_budget());
}
