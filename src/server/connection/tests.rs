//! The state machine against a scripted peer, at the points where input splits: a request
//! arriving a byte at a time, pipelined requests in one read or split across reads, a body
//! across reads, a socket that takes a few bytes per write.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, ErrorKind, IoSlice};
use std::sync::Arc;
use std::time::Instant;

use ::http::Method;

use super::HttpConnection;
use super::socket::Socket;
use crate::pool::{
    BufferSlots, CloseReason, ConnEvent, ConnHandler, ConnInfo, Endpoint, Next, Pool, PoolConfig,
    SlotGuard, SourceKey, Waker,
};
use crate::server::web_server::ServerShared;
use crate::server::{Request, Response, WebServer};

const SLOT_SIZE: usize = 1024;

/// A peer that hands the connection its input in the pieces a test chose, and keeps what the
/// connection writes.
struct ScriptedPeer {
    /// What each read returns, in order (at most the buffer's length of the front piece).
    pieces: VecDeque<Vec<u8>>,
    /// After the pieces: the end of the stream instead of `WouldBlock`.
    hung_up: bool,
    /// The most bytes one write takes (a full socket after that, until the next turn).
    write_limit: usize,
    /// Bytes the socket takes before the next turn.
    write_room: usize,
    written: Vec<u8>,
    /// Writes that took bytes.
    writes: usize,
    slots: BufferSlots,
    deadline: Option<Instant>,
}

impl ScriptedPeer {
    fn new(slots: usize) -> ScriptedPeer {
        ScriptedPeer {
            pieces: VecDeque::new(),
            hung_up: false,
            write_limit: usize::MAX,
            write_room: usize::MAX,
            written: Vec::new(),
            writes: 0,
            slots: BufferSlots::new(slots, SLOT_SIZE, false),
            deadline: None,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.pieces.push_back(bytes.to_vec());
    }

    fn send_bytewise(&mut self, bytes: &[u8]) {
        self.pieces.extend(bytes.iter().map(|&b| vec![b]));
    }

    fn take_written(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.written)).unwrap()
    }
}

impl Socket for ScriptedPeer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(piece) = self.pieces.front_mut() else {
            return if self.hung_up {
                Ok(0)
            } else {
                Err(ErrorKind::WouldBlock.into())
            };
        };
        let n = piece.len().min(buf.len());
        buf[..n].copy_from_slice(&piece[..n]);
        piece.drain(..n);
        if piece.is_empty() {
            self.pieces.pop_front();
        }
        Ok(n)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.write_limit).min(self.write_room);
        if n == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.write_room -= n;
        self.writes += 1;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        self.write(&joined)
    }

    fn send_file(&mut self, _: &File, _: &mut u64, _: usize) -> io::Result<usize> {
        Err(ErrorKind::Unsupported.into())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn is_tls(&self) -> bool {
        false
    }

    fn waker(&self) -> Waker {
        Waker::detached()
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    fn try_borrow_slot(&self) -> Option<SlotGuard> {
        self.slots.try_borrow()
    }

    fn hand_over(&mut self, _: &mut dyn ConnHandler, _: ConnEvent) -> Next {
        Next::Close(CloseReason::ByHost)
    }
}

/// A server with `GET /hello` ("hi") and `POST /length` (the body's length), as a connection
/// sees it.
fn shared() -> Arc<ServerShared> {
    let mut server = WebServer::new();
    server
        .route(
            Method::GET,
            "/hello",
            |_: &Request<'_>, r: &mut Response| {
                r.return_ok("hi");
            },
        )
        .unwrap();
    server
        .route(
            Method::POST,
            "/length",
            |q: &Request<'_>, r: &mut Response| {
                r.return_ok(q.content().len().to_string());
            },
        )
        .unwrap();
    server
        .route(
            Method::GET,
            "/stream",
            |_: &Request<'_>, r: &mut Response| {
                // Three slots of body read through the slot, chunked.
                let body: Vec<u8> = (0..3 * SLOT_SIZE).map(|i| b'a' + (i % 26) as u8).collect();
                r.return_stream(::http::StatusCode::OK, io::Cursor::new(body), None);
            },
        )
        .unwrap();
    server
        .route(
            Method::GET,
            "/big-head",
            |_: &Request<'_>, r: &mut Response| {
                // A head that fits the slot, but not after a quarter of it.
                r.set_header("X-Filler", "f".repeat(SLOT_SIZE * 4 / 5))
                    .unwrap();
                r.return_ok("big");
            },
        )
        .unwrap();
    let pool = Pool::new(PoolConfig::default().with_slot_size(SLOT_SIZE)).unwrap();
    server.shared(
        &pool,
        #[cfg(all(feature = "tls", feature = "metrics"))]
        None,
    )
}

fn connection(shared: Arc<ServerShared>) -> HttpConnection {
    let info = ConnInfo {
        key: SourceKey(1),
        listener: SourceKey(0),
        peer_addr: Endpoint::Ip("127.0.0.1:40000".parse().unwrap()),
        proxied_source: None,
        local_addr: Endpoint::Ip("127.0.0.1:8080".parse().unwrap()),
    };
    HttpConnection::new(shared, &info)
}

/// Opens the connection, then delivers a readable event until the peer's input is used up and
/// the connection waits (at most `turns`); returns what it waits for last.
fn run(conn: &mut HttpConnection, peer: &mut ScriptedPeer, turns: usize) -> Next {
    let mut next = conn.on_socket_event(peer, ConnEvent::Opened);
    for _ in 0..turns {
        if matches!(next, Next::Close(_)) || (peer.pieces.is_empty() && peer.write_room > 0) {
            break;
        }
        peer.write_room = usize::MAX;
        next = conn.on_socket_event(peer, ConnEvent::Readable);
    }
    next
}

/// The bodies of the answers in `text`, in order (each answer is small and `Content-Length`
/// framed).
fn bodies(text: &str) -> Vec<&str> {
    text.split("HTTP/1.1 ")
        .filter(|a| !a.is_empty())
        .map(|answer| {
            let (head, body) = answer.split_once("\r\n\r\n").expect("a complete head");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .expect("a Content-Length")
                .parse()
                .unwrap();
            assert_eq!(
                body.len(),
                len,
                "the body and its length agree in {answer:?}"
            );
            body
        })
        .collect()
}

#[test]
fn a_request_fed_one_byte_at_a_time_is_answered_once_whole() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    let request = b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
    // One byte per turn: every turn but the last finds a partial head and waits for more.
    peer.send(&request[..1]);
    let next = conn.on_socket_event(&mut peer, ConnEvent::Opened);
    assert!(matches!(next, Next::Read), "{next:?}");
    for &byte in &request[1..] {
        assert_eq!(
            peer.written, b"",
            "nothing is answered before the head is whole"
        );
        peer.send(&[byte]);
        let next = conn.on_socket_event(&mut peer, ConnEvent::Readable);
        assert!(matches!(next, Next::Read), "{next:?}");
    }
    let text = peer.take_written();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert_eq!(bodies(&text), ["hi"]);
    assert_eq!(peer.slots.free(), 2, "an idle connection holds no slot");
}

#[test]
fn a_partial_head_waits_out_of_the_slot_with_a_deadline_set_by_its_first_byte() {
    let mut peer = ScriptedPeer::new(1);
    let mut conn = connection(shared());
    peer.send(b"GET /hel");
    run(&mut conn, &mut peer, 4);
    assert_eq!(peer.slots.free(), 1, "the parked head gave its slot back");
    let first_deadline = peer.deadline.expect("a head deadline");
    peer.send(b"lo HTTP/1.1\r\n");
    run(&mut conn, &mut peer, 4);
    assert_eq!(
        peer.deadline,
        Some(first_deadline),
        "later bytes do not move it"
    );
    peer.send(b"Host: a\r\n\r\n");
    run(&mut conn, &mut peer, 4);
    assert_eq!(bodies(&peer.take_written()), ["hi"]);
}

#[test]
fn pipelined_requests_in_one_read_are_answered_in_order_in_one_write() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    peer.send(
        b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /length HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde\
          GET /missing HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /length HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    );
    let next = run(&mut conn, &mut peer, 8);
    assert!(matches!(next, Next::Read), "{next:?}");
    assert_eq!(peer.writes, 1, "the gathered answers leave together");
    let text = peer.take_written();
    let answers = bodies(&text);
    assert_eq!(answers.len(), 4, "{text}");
    assert_eq!((answers[0], answers[1], answers[3]), ("hi", "5", "0"));
    assert!(text.contains("HTTP/1.1 404 "), "{text}");
}

#[test]
fn a_pipelined_request_split_across_reads_is_completed_by_the_next_read() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    peer.send(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nPOST /length HTTP/1.1\r\nHost: a\r\nCont");
    run(&mut conn, &mut peer, 4);
    assert_eq!(
        bodies(&peer.take_written()),
        ["hi"],
        "the first is answered at once"
    );
    peer.send(b"ent-Length: 3\r\n\r\nab");
    run(&mut conn, &mut peer, 4);
    assert_eq!(peer.written, b"", "the body is not complete yet");
    peer.send(b"c");
    run(&mut conn, &mut peer, 4);
    assert_eq!(bodies(&peer.take_written()), ["3"]);
}

#[test]
fn a_body_larger_than_the_slot_arrives_across_reads() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    let body = vec![b'x'; 5 * SLOT_SIZE + 17];
    peer.send(
        format!(
            "POST /length HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    for piece in body.chunks(300) {
        peer.send(piece);
    }
    peer.send(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    run(&mut conn, &mut peer, 64);
    let text = peer.take_written();
    assert_eq!(bodies(&text), [body.len().to_string().as_str(), "hi"]);
}

#[test]
fn a_chunked_body_split_inside_its_framing_is_decoded() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    peer.send(b"POST /length HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    // Split inside a size line, between a chunk and its CRLF, and inside the last chunk.
    peer.send_bytewise(b"4\r\nabcd\r\n1");
    peer.send(b"0\r\n0123456789abcdef\r");
    peer.send(b"\n0\r");
    peer.send(b"\n\r\n");
    run(&mut conn, &mut peer, 64);
    assert_eq!(bodies(&peer.take_written()), ["20"]);
}

#[test]
fn an_answer_goes_out_whole_through_a_socket_that_takes_a_few_bytes_at_a_time() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    peer.write_limit = 7;
    peer.send(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    run(&mut conn, &mut peer, 8);
    assert_eq!(bodies(&peer.take_written()), ["hi", "hi"]);
}

#[test]
fn a_full_socket_makes_the_connection_wait_to_write_then_it_goes_on() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    peer.write_room = 10;
    peer.send(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    let next = conn.on_socket_event(&mut peer, ConnEvent::Opened);
    assert!(matches!(next, Next::Write), "{next:?}");
    assert_eq!(peer.written.len(), 10);
    peer.write_room = usize::MAX;
    let next = conn.on_socket_event(&mut peer, ConnEvent::Writable);
    assert!(matches!(next, Next::Read), "{next:?}");
    assert_eq!(bodies(&peer.take_written()), ["hi"]);
}

#[test]
fn a_malformed_request_after_a_good_one_gets_400_and_the_close() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    peer.send(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nBad Header\r\n\r\n");
    let mut next = run(&mut conn, &mut peer, 8);
    // The close lingers until the peer hangs up.
    peer.hung_up = true;
    if !matches!(next, Next::Close(_)) {
        next = conn.on_socket_event(&mut peer, ConnEvent::Readable);
    }
    assert!(matches!(next, Next::Close(_)), "{next:?}");
    let text = peer.take_written();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
    conn.on_closed(CloseReason::ByHost);
    assert_eq!(peer.slots.free(), 2, "no slot is kept after the close");
}

#[test]
fn the_peer_hanging_up_between_requests_closes_without_an_answer() {
    let mut peer = ScriptedPeer::new(1);
    let mut conn = connection(shared());
    peer.send(b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    run(&mut conn, &mut peer, 4);
    assert_eq!(bodies(&peer.take_written()), ["hi"]);
    peer.hung_up = true;
    let next = conn.on_socket_event(&mut peer, ConnEvent::Readable);
    assert!(matches!(next, Next::Close(CloseReason::ByPeer)), "{next:?}");
    assert_eq!(peer.written, b"");
}

/// Decodes a chunked body (`text` starts at its first chunk); returns it and what follows it.
fn dechunk(mut text: &str) -> (String, &str) {
    let mut body = String::new();
    loop {
        let (size, rest) = text.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size, 16).unwrap();
        let (data, rest) = rest.split_at(size);
        body.push_str(data);
        text = rest.strip_prefix("\r\n").expect("the chunk's CRLF");
        if size == 0 {
            return (body, text);
        }
    }
}

#[test]
fn a_pipelined_request_behind_an_answer_that_needs_the_whole_slot_is_kept() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    // The streamed answer reuses the whole slot piece by piece; the request behind it, which
    // arrived in the same read, must come through untouched.
    peer.send(
        b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let next = run(&mut conn, &mut peer, 8);
    assert!(matches!(next, Next::Read), "{next:?}");
    let text = peer.take_written();
    let (head, rest) = text.split_once("\r\n\r\n").expect("the stream's head");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    let (body, after) = dechunk(rest);
    let expected: String = (0..3 * SLOT_SIZE)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    assert_eq!(body, expected);
    assert_eq!(bodies(after), ["hi"], "the second answer follows: {after}");
    assert_eq!(peer.slots.free(), 2, "no slot kept once idle");
}

#[test]
fn a_pipelined_answer_too_large_to_follow_the_next_request_in_the_slot_still_goes_out() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    // The next request (a fifth of the slot) stays in front of the answer, whose head then
    // does not fit after it: the request is set aside and the answer takes the whole slot.
    let filler = "q".repeat(SLOT_SIZE / 5 - 40);
    let second = format!("GET /hello?{filler} HTTP/1.1\r\nHost: a\r\n\r\n");
    let input = format!("GET /big-head HTTP/1.1\r\nHost: a\r\n\r\n{second}");
    peer.send(input.as_bytes());
    let next = run(&mut conn, &mut peer, 8);
    assert!(matches!(next, Next::Read), "{next:?}");
    let text = peer.take_written();
    assert!(text.contains(&"f".repeat(SLOT_SIZE * 4 / 5)), "{text}");
    assert_eq!(bodies(&text), ["big", "hi"]);
    assert_eq!(peer.slots.free(), 2);
}

#[test]
fn a_pipelined_request_larger_than_a_quarter_of_the_slot_is_set_aside_and_answered() {
    let mut peer = ScriptedPeer::new(2);
    let mut conn = connection(shared());
    let filler = "q".repeat(SLOT_SIZE / 2);
    let big = format!("GET /hello?{filler} HTTP/1.1\r\nHost: a\r\n\r\n");
    let input = format!(
        "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n{big}GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
    );
    peer.send(input.as_bytes());
    let next = run(&mut conn, &mut peer, 8);
    assert!(matches!(next, Next::Read), "{next:?}");
    assert_eq!(bodies(&peer.take_written()), ["hi", "hi", "hi"]);
    assert_eq!(peer.slots.free(), 2);
}
