//! WebSockets over loopback with tungstenite's client: echo, fragments, limits, ping/pong, the
//! closing handshake both ways, sub-protocols, failures, back-pressure and slots.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; helpers unwrap like tests

mod websocket_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use http_client::{RawClient, wait_until};
use microweb::{mods::websockets::WebSocketError, mods::websockets::WebSocketGroup};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::{Bytes, Error as WsError, Message};
use websocket_support::http_client;
use websocket_support::{connect, echo, slots_all_free, start};

const UPGRADE: &str = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// Reads until a close frame; returns its code.
fn read_close(client: &mut tungstenite::WebSocket<TcpStream>) -> Option<CloseCode> {
    loop {
        match client.read() {
            Ok(Message::Close(frame)) => return frame.map(|f| f.code),
            Ok(_) => {}
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    }
}

/// Reads until the server ends the connection after the closing handshake.
fn read_until_closed(client: &mut tungstenite::WebSocket<TcpStream>) -> bool {
    loop {
        match client.read() {
            Ok(_) => {}
            Err(WsError::ConnectionClosed) => return true,
            Err(WsError::AlreadyClosed) => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn echoes_text_as_text_and_binary_as_binary() {
    let (server, addr, _ws) = start(echo);
    let (mut client, _) = connect(addr, "/ws/echo");
    client.send(Message::text("héllo")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("héllo"));
    client.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    assert_eq!(
        client.read().unwrap(),
        Message::binary(vec![0u8, 1, 2, 255])
    );
    client.send(Message::text("")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text(""));
    drop(client);
    assert!(slots_all_free(&server));
}

#[test]
fn reassembles_a_one_megabyte_message_sent_in_fragments() {
    let (server, addr, _ws) = start(echo);
    let (mut client, _) = connect(addr, "/ws/echo");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<&[u8]> = data.chunks(64 * 1024).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 { Data::Binary } else { Data::Continue };
        let fin = i + 1 == chunks.len();
        let frame = Frame::message(Bytes::copy_from_slice(chunk), OpCode::Data(opcode), fin);
        client.write(Message::Frame(frame)).unwrap();
    }
    client.flush().unwrap();
    match client.read().unwrap() {
        Message::Binary(got) => assert!(got == data, "echo differs"),
        other => panic!("expected binary, got {other:?}"),
    }
    // And a text message of the same size in one frame, back as text.
    let text = "x".repeat(1_000_000);
    client.send(Message::text(text.clone())).unwrap();
    assert_eq!(client.read().unwrap(), Message::text(text));
    client.close(None).unwrap();
    assert!(read_until_closed(&mut client));
    assert!(slots_all_free(&server));
}

#[test]
fn closes_with_1009_when_a_message_is_over_the_limit() {
    let (server, addr, ws) = start(|ws| {
        echo(ws);
        ws.set_max_recv_message_length(64 * 1024);
    });
    assert_eq!(ws.max_recv_message_length(), 64 * 1024);
    // One frame over the limit.
    let (mut client, _) = connect(addr, "/ws/echo");
    client.send(Message::text("small")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("small"));
    client.send(Message::binary(vec![1u8; 200 * 1024])).unwrap();
    assert_eq!(read_close(&mut client), Some(CloseCode::Size));
    assert!(read_until_closed(&mut client));
    // Fragments, each under the limit, adding up to more.
    let (mut client, _) = connect(addr, "/ws/echo");
    for i in 0..4 {
        let opcode = if i == 0 { Data::Text } else { Data::Continue };
        let frame = Frame::message(vec![b'a'; 30 * 1024], OpCode::Data(opcode), i == 3);
        client.write(Message::Frame(frame)).unwrap();
    }
    client.flush().unwrap();
    assert_eq!(read_close(&mut client), Some(CloseCode::Size));
    assert!(read_until_closed(&mut client));
    assert!(slots_all_free(&server));
}

#[test]
fn answers_pings_with_the_same_payload() {
    let (_server, addr, _ws) = start(echo);
    let (mut client, _) = connect(addr, "/ws/echo");
    client
        .send(Message::Ping(Bytes::from_static(b"are you there")))
        .unwrap();
    assert_eq!(
        client.read().unwrap(),
        Message::Pong(Bytes::from_static(b"are you there"))
    );
    // Messages still flow after.
    client.send(Message::text("after")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("after"));
}

#[test]
fn completes_a_close_started_by_the_client() {
    let (tx, rx) = mpsc::channel();
    let (server, addr, _ws) = start(move |ws| {
        let tx = parking_lot::Mutex::new(tx);
        ws.on_websocket_accepted(move |socket| {
            let tx = tx.lock().clone();
            socket.on_closed(move |s| {
                let _ = tx.send((s.is_closed(), s.peer_close_code()));
            });
        });
    });
    let (mut client, _) = connect(addr, "/ws/echo");
    client
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .unwrap();
    // The server answers with a close frame, then ends the TCP connection.
    assert_eq!(read_close(&mut client), Some(CloseCode::Normal));
    assert!(read_until_closed(&mut client));
    let (closed, code) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(closed);
    assert_eq!(code, Some(1000));
    assert!(slots_all_free(&server));
}

#[test]
fn completes_a_close_started_by_the_server() {
    let (server, addr, _ws) = start(|ws| {
        ws.on_websocket_accepted(|socket| {
            socket.on_text_message(|s, t| {
                if t == "close me" {
                    s.close(4000, "done").unwrap();
                    assert!(s.is_closed());
                    assert_eq!(s.send_text_message("late"), Err(WebSocketError::Closed));
                }
            });
        });
    });
    let (mut client, _) = connect(addr, "/ws/echo");
    client.send(Message::text("close me")).unwrap();
    match client.read().unwrap() {
        Message::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), 4000);
            assert_eq!(f.reason.as_str(), "done");
        }
        other => panic!("expected close, got {other:?}"),
    }
    // tungstenite answers the close; the server then ends the connection.
    assert!(read_until_closed(&mut client));
    assert!(slots_all_free(&server));
}

#[test]
fn rejects_invalid_close_codes_and_long_reasons() {
    let (tx, rx) = mpsc::channel();
    let (_server, addr, _ws) = start(move |ws| {
        let tx = parking_lot::Mutex::new(tx);
        ws.on_websocket_accepted(move |socket| {
            let r = (
                socket.close(1005, ""),
                socket.close(999, ""),
                socket.close(1000, &"x".repeat(124)),
            );
            let _ = tx.lock().send(r);
        });
    });
    let (_client, _) = connect(addr, "/ws/echo");
    let (a, b, c) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(a, Err(WebSocketError::InvalidCloseCode(1005)));
    assert_eq!(b, Err(WebSocketError::InvalidCloseCode(999)));
    assert_eq!(c, Err(WebSocketError::CloseReasonTooLong));
}

#[test]
fn chooses_the_sub_protocol_the_callback_picks() {
    let (_server, addr, _ws) = start(|ws| {
        echo(ws);
        ws.on_websocket_protocol(|req, offered| {
            assert!(req.path().starts_with("/ws"));
            offered.iter().find(|p| *p == "chat.v2").cloned()
        });
    });
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = tungstenite::http::Request::builder()
        .uri(format!("ws://{addr}/ws/chat"))
        .header("Host", addr.to_string())
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .header("Sec-WebSocket-Protocol", "chat.v1, chat.v2")
        .body(())
        .unwrap();
    let (mut client, response) = tungstenite::client(request, stream).unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "chat.v2"
    );
    client.send(Message::text("hi")).unwrap();
    assert_eq!(client.read().unwrap(), Message::text("hi"));

    // Nothing acceptable offered: no protocol header (tungstenite's client would refuse one).
    let mut raw = RawClient::connect(addr);
    raw.send(
        UPGRADE
            .replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: other\r\n\r\n")
            .as_bytes(),
    );
    let resp = raw.read_head_only().unwrap();
    assert_eq!(resp.status, 101);
    assert_eq!(
        resp.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(resp.header("sec-websocket-protocol"), None);
}

#[test]
fn refuses_bad_upgrades_with_400_or_426_and_the_reason() {
    let (server, addr, _ws) = start(|ws| {
        echo(ws);
        ws.add_path("/ws");
    });
    let cases: [(String, u16, &str); 5] = [
        (
            UPGRADE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            400,
            "missing sec-websocket-key",
        ),
        (
            UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
            400,
            "invalid sec-websocket-key",
        ),
        (
            UPGRADE.replace("Version: 13", "Version: 8"),
            426,
            "unsupported sec-websocket-version",
        ),
        (
            UPGRADE.replace("Connection: Upgrade", "Connection: keep-alive"),
            400,
            "missing `connection: upgrade`",
        ),
        (
            UPGRADE
                .replace("GET", "POST")
                .replace("\r\n\r\n", "\r\nContent-Length: 0\r\n\r\n"),
            400,
            "must use get",
        ),
    ];
    for (request, status, reason) in &cases {
        let resp = http_client::roundtrip(addr, request.as_bytes()).expect("a response");
        assert_eq!(resp.status, *status, "for {request:?}");
        assert!(
            resp.text().to_lowercase().contains(reason),
            "body {:?} lacks {reason:?}",
            resp.text()
        );
        assert_eq!(
            resp.header("content-type"),
            Some("text/plain; charset=utf-8"),
            "the reason is plain text"
        );
        if *status == 426 {
            assert_eq!(resp.header("sec-websocket-version"), Some("13"));
        }
    }
    // A plain GET to a WebSocket path: 426 naming the protocol.
    let resp = http_client::roundtrip(addr, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(resp.status, 426);
    assert_eq!(resp.header("upgrade"), Some("websocket"));
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // Paths not listed are not the module's: the server answers as usual (404 here).
    let resp = http_client::roundtrip(addr, UPGRADE.replace("/ws ", "/other ").as_bytes()).unwrap();
    assert_eq!(resp.status, 404);
    assert!(slots_all_free(&server));
}

/// Writes one masked client frame.
fn raw_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![first];
    let mask = [9u8, 8, 7, 6];
    out.push(if masked { 0x80 } else { 0 } | payload.len() as u8);
    if masked {
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Opens a raw upgraded connection; returns the stream after the 101.
fn raw_upgrade(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(UPGRADE.replace("/ws ", &format!("{path} ")).as_bytes())
        .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).unwrap(),
            1,
            "connection closed during the handshake"
        );
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Reads one server frame: (first byte, payload).
fn read_raw_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).ok()?;
    let len = match h[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).ok()?;
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).ok()?;
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).ok()?;
    Some((h[0], p))
}

#[test]
fn fails_protocol_errors_with_1002_and_bad_utf8_with_1007() {
    let (server, addr, _ws) = start(echo);
    // An unmasked client frame (RFC 6455 §5.1).
    let mut s = raw_upgrade(addr, "/ws/echo");
    s.write_all(&raw_frame(0x81, b"hi", false)).unwrap();
    let (first, payload) = read_raw_frame(&mut s).expect("a close frame");
    assert_eq!(first, 0x88);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1002);
    // Our close answer ends it.
    s.write_all(&raw_frame(0x88, &1002u16.to_be_bytes(), true))
        .unwrap();
    let mut rest = Vec::new();
    assert!(
        s.read_to_end(&mut rest).is_ok(),
        "the server ends the connection"
    );

    // Invalid UTF-8 in a text frame.
    let mut s = raw_upgrade(addr, "/ws/echo");
    s.write_all(&raw_frame(0x81, &[0xff, 0xfe], true)).unwrap();
    let (first, payload) = read_raw_frame(&mut s).expect("a close frame");
    assert_eq!(first, 0x88);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1007);
    // A peer that never answers is dropped after the closing timeout (bounded here).
    let start = Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(start.elapsed() < Duration::from_secs(8));
    assert!(slots_all_free(&server));
}

#[test]
fn reads_the_bytes_that_came_with_the_upgrade_request() {
    let (_server, addr, _ws) = start(echo);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut bytes = UPGRADE.replace("/ws ", "/ws/echo ").into_bytes();
    bytes.extend(raw_frame(0x81, b"early", true));
    s.write_all(&bytes).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1);
        head.push(b[0]);
    }
    assert_eq!(read_raw_frame(&mut s), Some((0x81, b"early".to_vec())));
}

#[test]
fn server_pings_drop_a_silent_peer_and_keep_a_live_one() {
    let closed = Arc::new(AtomicUsize::new(0));
    let seen = closed.clone();
    let (server, addr, _ws) = start(move |ws| {
        ws.set_ping_interval(Some(Duration::from_millis(200)));
        let seen = seen.clone();
        ws.on_websocket_accepted(move |socket| {
            socket.on_text_message(|s, t| {
                let _ = s.send_text_message(t);
            });
            let seen = seen.clone();
            socket.on_closed(move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
            });
        });
    });
    // A live client (tungstenite answers pings while it reads).
    let (mut live, _) = connect(addr, "/ws/echo");
    live.get_mut()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    // A silent peer: it reads the ping but never answers.
    let mut silent = raw_upgrade(addr, "/ws/echo");
    let (first, _) = read_raw_frame(&mut silent).expect("a ping");
    assert_eq!(first, 0x89);
    let start = Instant::now();
    let mut pings = 0;
    while start.elapsed() < Duration::from_secs(1) {
        match live.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(_) => {}
            Err(WsError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("live client dropped: {e}"),
        }
    }
    assert!(pings >= 2, "pings seen: {pings}");
    // The silent one is gone: end of stream after the ping.
    let mut rest = Vec::new();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(silent.read_to_end(&mut rest).is_ok());
    assert!(wait_until(Duration::from_secs(5), || closed
        .load(Ordering::SeqCst)
        == 1));
    live.send(Message::text("still here")).unwrap();
    live.get_mut()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "no echo");
        match live.read().unwrap() {
            Message::Text(t) => {
                assert_eq!(t.as_str(), "still here");
                break;
            }
            _ => continue,
        }
    }
    drop(live);
    assert!(slots_all_free(&server));
}

#[test]
fn sends_report_back_pressure_to_a_peer_that_does_not_read() {
    let (tx, rx) = mpsc::channel();
    let (server, addr, _ws) = start(move |ws| {
        ws.set_max_send_queue_bytes(256 * 1024);
        let tx = parking_lot::Mutex::new(tx);
        ws.on_websocket_accepted(move |socket| {
            let _ = tx.lock().send(socket.clone());
        });
    });
    let (client, _) = connect(addr, "/ws/echo");
    let socket = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(socket.max_send_queue_bytes(), 256 * 1024);
    // From another thread than the workers; every send returns at once.
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0usize;
    let start = Instant::now();
    let err = loop {
        match socket.send_binary_message(chunk.clone()) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 10_000, "never reported back-pressure");
        assert!(start.elapsed() < Duration::from_secs(10));
    };
    assert_eq!(err, WebSocketError::QueueFull { limit: 256 * 1024 });
    assert!(socket.queued_bytes() <= 256 * 1024);
    // The kernel buffers some; the rest waits in the bounded queue.
    assert!(sent >= 4, "sent {sent}");
    // Once the peer reads, the queue drains and sends work again.
    let mut client = client;
    let mut got = 0;
    while got < sent {
        if let Message::Binary(b) = client.read().unwrap() {
            assert_eq!(b.len(), chunk.len());
            got += 1;
        }
    }
    assert!(wait_until(Duration::from_secs(5), || socket.queued_bytes() == 0));
    socket.send_text_message("after").unwrap();
    assert_eq!(client.read().unwrap(), Message::text("after"));
    drop(client);
    assert!(slots_all_free(&server));
}

#[test]
fn idle_sockets_hold_no_buffer_slot() {
    let (server, addr, _ws) = start(echo);
    let (_, total) = server.slots().unwrap();
    let mut clients: Vec<_> = (0..20).map(|_| connect(addr, "/ws/echo").0).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(Message::text(format!("m{i}"))).unwrap();
        assert_eq!(c.read().unwrap(), Message::text(format!("m{i}")));
    }
    // Twenty open sockets, all idle: every slot is free.
    assert!(slots_all_free(&server));
    assert_eq!(server.slots().unwrap(), (total, total));
    drop(clients);
}

#[test]
fn broadcasts_to_every_open_member_of_a_group() {
    let group = WebSocketGroup::new();
    let g = group.clone();
    let (_server, addr, _ws) = start(move |ws| {
        ws.on_websocket_accepted(move |socket| {
            g.add(socket);
            let g2 = g.clone();
            socket.on_text_message(move |_, t| {
                g2.broadcast_text(t);
            });
            let g3 = g.clone();
            socket.on_closed(move |s| {
                g3.remove(s);
            });
        });
    });
    let mut clients: Vec<_> = (0..3).map(|_| connect(addr, "/ws/chat").0).collect();
    assert!(wait_until(Duration::from_secs(5), || group.len() == 3));
    clients[0].send(Message::text("hello all")).unwrap();
    for c in &mut clients {
        assert_eq!(c.read().unwrap(), Message::text("hello all"));
    }
    let last = clients.pop().unwrap();
    drop(last);
    assert!(wait_until(Duration::from_secs(5), || group.len() == 2));
    let b = group.broadcast_binary(b"\x01\x02");
    assert_eq!(b.sent, 2);
    for c in &mut clients {
        assert_eq!(c.read().unwrap(), Message::binary(vec![1u8, 2]));
    }
}

#[test]
fn stopping_the_server_closes_open_sockets_with_1001_going_away() {
    let (mut server, addr, _ws) = start(echo);
    let (mut first, _) = connect(addr, "/ws/echo");
    let (mut second, _) = connect(addr, "/ws/echo");
    first.send(Message::text("one")).unwrap();
    assert_eq!(first.read().unwrap(), Message::text("one"));
    second.send(Message::text("two")).unwrap();
    assert_eq!(second.read().unwrap(), Message::text("two"));

    let handle = server.handle();
    let stopping = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        handle.stop();
        started.elapsed()
    });
    for client in [&mut first, &mut second] {
        assert_eq!(read_close(client), Some(CloseCode::Away));
        assert!(read_until_closed(client), "the server ends the connection");
    }
    let took = stopping.join().unwrap();
    assert!(
        took < Duration::from_secs(5),
        "stop waited {took:?}: the sockets were told, not waited out"
    );
    server.stop();
}
