//! Helpers for the socket-pool tests: a line-echo server, raw loopback clients, bounded waits,
//! and counts of open file descriptors and threads.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    dead_code
)] // IO edge

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use microweb::{pool::Pool, pool::TcpClient, pool::TcpServer};

#[path = "fd_limit.rs"]
mod fd_limit;
#[path = "wait.rs"]
mod wait;
#[allow(unused_imports)] // not every crate sharing this module needs it
pub(crate) use fd_limit::raise_fd_limit;
pub(crate) use wait::wait_until;

/// How long any single wait in these tests may take.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Echoes lines on `client` until it closes.
pub(crate) fn echo_lines(client: &TcpClient, timeout: Option<Duration>) {
    let _ = client.recv_line(timeout, move |c, line| {
        let _ = c.send(line);
        let _ = c.send(b"\n");
        echo_lines(c, timeout);
    });
}

/// Starts a line-echo server on 127.0.0.1:0 in `pool`.
pub(crate) fn echo_server(pool: &Pool) -> TcpServer {
    TcpServer::bind(pool, "127.0.0.1:0".parse().unwrap(), |client| {
        echo_lines(&client, None)
    })
    .unwrap()
}

/// Connects a blocking client with read and write timeouts.
pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// Sends `line` plus `\n` and returns the line that comes back (without `\n`).
pub(crate) fn round_trip(stream: &TcpStream, line: &str) -> String {
    let mut w = stream;
    w.write_all(format!("{line}\n").as_bytes()).unwrap();
    read_line(stream)
}

/// Reads one line (without `\n`), byte by byte so nothing after it is lost; what was read
/// so far at EOF.
pub(crate) fn read_line(stream: &TcpStream) -> String {
    let mut r = stream;
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while r.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        out.push(byte[0]);
    }
    String::from_utf8(out).unwrap()
}

/// Reads until EOF (or the read timeout, which fails the test); returns what came.
pub(crate) fn read_to_eof(stream: &TcpStream) -> Vec<u8> {
    let mut r = stream;
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    out
}

/// Counts this process's open file descriptors.
pub(crate) fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Counts this process's threads.
pub(crate) fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Returns whether the server closed `stream`: end of stream, or a reset (the kernel sends one
/// when the server closes with unread bytes).
pub(crate) fn closed_by_server(stream: &TcpStream) -> bool {
    let mut r = stream;
    let mut buf = [0u8; 256];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// Sends `line` plus `\n` and reads the answer line; `None` if the connection fails or closes.
pub(crate) fn try_round_trip(stream: &TcpStream, line: &str) -> Option<String> {
    let mut w = stream;
    w.write_all(format!("{line}\n").as_bytes()).ok()?;
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match w.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => return String::from_utf8(out).ok(),
            Ok(1) => out.push(byte[0]),
            _ => return None,
        }
    }
}
