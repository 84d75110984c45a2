//! A raw HTTP/1.1 client for black-box tests: sends exact bytes, reads one response at a time,
//! and tells whether the server closed the connection.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    dead_code,
    unreachable_pub
)] // IO edge; shared by many test crates

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

#[path = "wait.rs"]
mod wait;
#[allow(unused_imports)] // not every crate sharing this module waits
pub use wait::wait_until;

/// One response as it came over the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body bytes (de-chunked when the response was chunked).
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
}

impl RawResponse {
    /// Returns the first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Returns the body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection that reads responses with a deadline.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl RawClient {
    /// Wraps a stream that is already connected.
    pub fn from_stream(stream: TcpStream) -> RawClient {
        RawClient {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Connects to `addr` (with a 5 s bound).
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        stream.set_nodelay(true).ok();
        RawClient {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Sends raw bytes (a write error means the server closed: ignored, reads will tell).
    pub fn send(&mut self, bytes: &[u8]) -> &mut Self {
        let _ = self.stream.write_all(bytes);
        self
    }

    /// Half-closes the writing side.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads more bytes, waiting until `deadline`; false on EOF or timeout.
    fn fill(&mut self, deadline: Instant) -> bool {
        if self.eof {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        self.stream
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .ok();
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => {
                self.eof = true;
                false
            }
        }
    }

    /// Reads one full response (10 s bound); `None` when the connection closed or stalled first.
    pub fn read_response(&mut self) -> Option<RawResponse> {
        self.read_response_within(Duration::from_secs(10))
    }

    /// Reads one full response within `limit`.
    pub fn read_response_within(&mut self, limit: Duration) -> Option<RawResponse> {
        let deadline = Instant::now() + limit;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&self.buf) {
                Ok(httparse::Status::Complete(head_len)) => {
                    let status = parsed.code.unwrap_or(0);
                    let reason = parsed.reason.unwrap_or("").to_owned();
                    let hdrs: Vec<(String, String)> = parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    let get = |n: &str| {
                        hdrs.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(n))
                            .map(|(_, v)| v.clone())
                    };
                    let chunked = get("transfer-encoding")
                        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
                    let body = if no_body {
                        self.buf.drain(..head_len);
                        Vec::new()
                    } else if chunked {
                        self.read_chunked(head_len, deadline)?
                    } else if let Some(len) = get("content-length") {
                        let len: usize = len.trim().parse().ok()?;
                        while self.buf.len() < head_len + len {
                            if !self.fill(deadline) {
                                return None;
                            }
                        }
                        let body = self.buf[head_len..head_len + len].to_vec();
                        self.buf.drain(..head_len + len);
                        body
                    } else {
                        while self.fill(deadline) {}
                        let body = self.buf[head_len..].to_vec();
                        self.buf.clear();
                        body
                    };
                    return Some(RawResponse {
                        status,
                        reason,
                        headers: hdrs,
                        body,
                        chunked,
                    });
                }
                Ok(httparse::Status::Partial) => {
                    if !self.fill(deadline) {
                        return None;
                    }
                }
                Err(e) => panic!(
                    "server sent a malformed response head: {e}: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Reads a HEAD response: the head only, whatever its Content-Length says.
    pub fn read_head_only(&mut self) -> Option<RawResponse> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&self.buf) {
                let r = RawResponse {
                    status: parsed.code.unwrap_or(0),
                    reason: parsed.reason.unwrap_or("").to_owned(),
                    headers: parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    body: Vec::new(),
                    chunked: false,
                };
                self.buf.drain(..head_len);
                return Some(r);
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    fn read_chunked(&mut self, head_len: usize, deadline: Instant) -> Option<Vec<u8>> {
        let mut pos = head_len;
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = self.buf[pos..].windows(2).position(|w| w == b"\r\n") {
                    break pos + i;
                }
                if !self.fill(deadline) {
                    return None;
                }
            };
            let line = std::str::from_utf8(&self.buf[pos..line_end]).ok()?;
            let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
            pos = line_end + 2;
            if size == 0 {
                // Trailer section: lines until an empty one.
                loop {
                    let end = loop {
                        if let Some(i) = self.buf[pos..].windows(2).position(|w| w == b"\r\n") {
                            break pos + i;
                        }
                        if !self.fill(deadline) {
                            return None;
                        }
                    };
                    let empty = end == pos;
                    pos = end + 2;
                    if empty {
                        self.buf.drain(..pos);
                        return Some(body);
                    }
                }
            }
            while self.buf.len() < pos + size + 2 {
                if !self.fill(deadline) {
                    return None;
                }
            }
            body.extend_from_slice(&self.buf[pos..pos + size]);
            pos += size + 2;
        }
    }

    /// Returns true when the server closes the connection within `limit` with nothing more sent.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.fill(deadline) {}
        self.eof
    }

    /// Returns true when the connection is still open after `probe` of silence.
    pub fn is_open_after(&mut self, probe: Duration) -> bool {
        let deadline = Instant::now() + probe;
        while self.fill(deadline) {}
        !self.eof
    }

    /// Returns the connection's socket (for its addresses and kernel queues).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Returns the bytes received but not yet consumed as a response.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// Sends `request` on a new connection and reads one response.
pub fn roundtrip(addr: SocketAddr, request: &[u8]) -> Option<RawResponse> {
    let mut c = RawClient::connect(addr);
    c.send(request);
    c.read_response()
}

/// Returns the kernel's queues of the TCP connection from `local` to `peer`, as
/// `(unacknowledged, unread)`: bytes written on that socket that its peer has not acknowledged
/// yet, and bytes received on it that its owner has not read yet. Linux and IPv4 only (the
/// connection's line in `/proc/net/tcp`); `None` when there is no such connection.
pub fn tcp_queues(local: SocketAddr, peer: SocketAddr) -> Option<(u64, u64)> {
    let entry = |a: SocketAddr| match a {
        // The kernel prints the address as the u32 it keeps in network order, and the port in
        // host order.
        SocketAddr::V4(a) => format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(a.ip().octets()),
            a.port()
        ),
        SocketAddr::V6(_) => panic!("tcp_queues reads IPv4 connections only: {a}"),
    };
    let (local, peer) = (entry(local), entry(peer));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    // sl local_address rem_address st tx_queue:rx_queue ...
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&local.as_str()) || fields.get(2) != Some(&peer.as_str()) {
            return None;
        }
        let (tx, rx) = fields.get(4)?.split_once(':')?;
        Some((
            u64::from_str_radix(tx, 16).ok()?,
            u64::from_str_radix(rx, 16).ok()?,
        ))
    })
}

/// Returns whether the peer of `stream` has acknowledged every byte written on it: its kernel
/// holds them, so the readiness they raise on its side has been signalled.
pub fn all_sent_acknowledged(stream: &TcpStream) -> bool {
    let local = stream.local_addr().expect("a connected socket");
    let peer = stream.peer_addr().expect("a connected socket");
    let (unacknowledged, _) = tcp_queues(local, peer).expect("the connection is in /proc/net/tcp");
    unacknowledged == 0
}
