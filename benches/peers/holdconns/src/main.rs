//! Opens N keep-alive connections to a server, sends one `GET` on each and reads the whole
//! response, then holds them all idle so that the server's memory per idle connection can be read
//! from `/proc/PID/status`.
//!
//! In scope: plain HTTP/1.1 over loopback, responses framed by `Content-Length` or chunked.
//! Out of scope: load generation (that is wrk's job), TLS.
//!
//! Run: `holdconns 127.0.0.1:PORT N [PATH] [HOLD_SECS]` (PATH defaults to `/plaintext`,
//! HOLD_SECS to 120). Prints one line `ready held=H closed=C failed=F` once every connection has
//! had its answer (H = still open, C = closed by the server, F = never answered), then holds them
//! for HOLD_SECS and exits. Needs `ulimit -n` above N.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

/// Reads one HTTP/1.1 response off `stream`; returns whether the server said `Connection: close`.
fn read_response(stream: &mut TcpStream) -> io::Result<bool> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "response head too large",
            ));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    let close = header("connection").is_some_and(|v| v.contains("close"));
    if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::new(ErrorKind::InvalidData, "bad content-length"))?;
        let mut have = buf.len() - head_end;
        while have < len {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            have += n;
        }
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while !buf.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(close)
}

/// Opens one connection and completes one request on it, retrying the connect a few times.
fn open_one(addr: &str, request: &[u8]) -> io::Result<TcpStream> {
    let mut last = None;
    for attempt in 0..5 {
        match TcpStream::connect(addr) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                s.set_nodelay(true)?;
                s.write_all(request)?;
                read_response(&mut s)?;
                return Ok(s);
            }
            Err(e) => {
                last = Some(e);
                thread::sleep(Duration::from_millis(20 << attempt));
            }
        }
    }
    Err(last.unwrap_or_else(|| ErrorKind::Other.into()))
}

/// Tells whether the server has closed `s` (a nonblocking read sees end of stream).
fn is_closed(s: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    match s.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: holdconns ADDR N [PATH] [HOLD_SECS]");
        return ExitCode::from(2);
    };
    let path = args.get(2).map_or("/plaintext", String::as_str);
    let hold = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(120u64);
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: keep-alive\r\n\r\n");

    let mut conns = Vec::with_capacity(n);
    let mut failed = 0usize;
    let mut first_error = None;
    for _ in 0..n {
        match open_one(addr, request.as_bytes()) {
            Ok(s) => conns.push(s),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let closed = conns.iter().filter(|s| is_closed(s)).count();
    if let Some(e) = first_error {
        eprintln!("holdconns: {failed} connections failed, first error: {e}");
    }
    println!(
        "ready held={} closed={closed} failed={failed}",
        conns.len() - closed
    );
    let _ = io::stdout().flush();
    thread::sleep(Duration::from_secs(hold));
    drop(conns);
    ExitCode::SUCCESS
}
