//! The binary's stop: a signal tells WebSockets (close 1001) and event streams (their last
//! chunk) at once and exits promptly; a second signal exits without waiting.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::unwrap_used
)] // test IO edge

mod cli_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cli_support::Demo;
use rustix::process::Signal;
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

/// Reads from `stream` until `needle` has arrived (within 10 s); returns it all.
fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} within 10 s");
        let n = stream.read(&mut buf).expect("data before the read timeout");
        assert!(
            n > 0,
            "closed before {needle:?}: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Waits (up to 20 s) for a stderr line of the child containing `text`.
fn wait_for_log(demo: &Demo, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(line) = demo.stderr.recv_timeout(Duration::from_millis(100)) {
            if line.contains(text) {
                return;
            }
        }
    }
    panic!("no log line with {text:?}");
}

#[test]
fn a_signal_closes_websockets_with_1001_ends_event_streams_and_exits_promptly() {
    let mut demo = Demo::start(&[]);
    let addr = demo.http_addr();

    let mut events = TcpStream::connect(addr).unwrap();
    events
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    events
        .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let head = read_until(&mut events, "data: connected");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");

    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws/echo"), tcp).unwrap();
    ws.send(Message::text("before the stop")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("before the stop"));

    let signalled = Instant::now();
    demo.signal(Signal::INT);

    let close = match ws.read().expect("a close frame, not a dropped connection") {
        Message::Close(frame) => frame.expect("a close frame with a code"),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(close.code, CloseCode::Away, "{close:?}");
    // Answer the close; the server then closes the TCP connection.
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("after the close handshake: {e}"),
        }
    }

    let mut rest = Vec::new();
    events.read_to_end(&mut rest).expect("the stream ends");
    assert!(
        rest.ends_with(b"0\r\n\r\n"),
        "the stream ends with its last chunk: {:?}",
        String::from_utf8_lossy(&rest)
    );

    let status = demo
        .exited_within(Duration::from_secs(5))
        .expect("the server exits promptly");
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        signalled.elapsed()
    );
}

#[test]
fn a_second_signal_exits_without_waiting_for_a_request_in_flight() {
    let mut demo = Demo::start(&[]);
    let addr = demo.http_addr();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // One whole request first, so the connection is surely accepted; then half of a second one,
    // which the server waits for while it stops (up to its 10 s grace).
    slow.write_all(b"GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    read_until(&mut slow, "\"user_address\"");
    slow.write_all(b"GET /api/echo HTTP/1.1\r\nHost: x\r\n")
        .unwrap();

    demo.signal(Signal::INT);
    wait_for_log(&demo, "stopping");
    assert!(
        demo.child.try_wait().unwrap().is_none(),
        "the first signal waits for the request in flight"
    );
    demo.signal(Signal::INT);
    let status = demo
        .exited_within(Duration::from_secs(3))
        .expect("the second signal exits at once");
    assert_eq!(status.code(), Some(130), "{status:?}");
}

#[test]
fn sigterm_stops_an_idle_server_with_status_zero() {
    let mut demo = Demo::start(&[]);
    let addr = demo.http_addr();
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    idle.write_all(b"GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    read_until(&mut idle, "\"user_address\"");
    demo.signal(Signal::TERM);
    let status = demo
        .exited_within(Duration::from_secs(5))
        .expect("an idle keep-alive connection does not hold the stop");
    assert!(status.success(), "{status:?}");
    let mut rest = Vec::new();
    assert_eq!(
        idle.read_to_end(&mut rest).unwrap_or(0),
        0,
        "closed, nothing sent"
    );
}
