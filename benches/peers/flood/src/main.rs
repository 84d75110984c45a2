//! `flood ADDR HTTP_CLIENTS WS_CLIENTS BODY_BYTES HOLD_MS`: the memory-budget flood of the
//! benchmark. Each HTTP client sends `POST /api/echo` with a body of `BODY_BYTES` but its last
//! byte, each WebSocket client (`/ws/echo`) a binary frame of that size but its last byte; all
//! wait until `HOLD_MS` after the start, send the last byte and read the whole answer. Meanwhile
//! a probe sends a small `GET /api/echo?probe=1` every 50 ms on its own keep-alive connection.
//! Prints one JSON line: clients served (a whole answer), HTTP 503s, other failures, and the
//! probe's worst and median latency in milliseconds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// What one client got.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Served,
    Unavailable,
    Failed,
}

fn connect(addr: &str) -> Option<TcpStream> {
    let s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(120))).ok()?;
    Some(s)
}

/// Reads a response head; returns (status, content-length).
fn read_head(r: &mut BufReader<TcpStream>) -> Option<(u16, Option<usize>)> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = None;
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            return Some((status, length));
        }
        if let Some((name, value)) = l.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok();
            }
        }
    }
}

fn http_client(addr: &str, body: &[u8], release: Instant) -> Outcome {
    let Some(mut s) = connect(addr) else {
        return Outcome::Failed;
    };
    let head = format!(
        "POST /api/echo HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if s.write_all(head.as_bytes()).is_err() || s.write_all(&body[..body.len() - 1]).is_err() {
        return Outcome::Failed;
    }
    thread::sleep(release.saturating_duration_since(Instant::now()));
    if s.write_all(&body[body.len() - 1..]).is_err() {
        return Outcome::Failed;
    }
    let mut r = BufReader::new(s);
    match read_head(&mut r) {
        Some((200, Some(n))) => {
            let mut rest = Vec::with_capacity(n);
            match r.take(n as u64).read_to_end(&mut rest) {
                Ok(got) if got == n && n > body.len() => Outcome::Served,
                _ => Outcome::Failed,
            }
        }
        Some((503, _)) => Outcome::Unavailable,
        _ => Outcome::Failed,
    }
}

fn ws_client(addr: &str, payload: &[u8], release: Instant) -> Outcome {
    let Some(mut s) = connect(addr) else {
        return Outcome::Failed;
    };
    let upgrade = "GET /ws/echo HTTP/1.1\r\nHost: bench\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    if s.write_all(upgrade.as_bytes()).is_err() {
        return Outcome::Failed;
    }
    let mut r = BufReader::new(match s.try_clone() {
        Ok(c) => c,
        Err(_) => return Outcome::Failed,
    });
    if read_head(&mut r).map(|h| h.0) != Some(101) {
        return Outcome::Failed;
    }
    // A masked binary frame; mask key zero, so the payload goes as it is.
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    if s.write_all(&frame[..frame.len() - 1]).is_err() {
        return Outcome::Failed;
    }
    thread::sleep(release.saturating_duration_since(Instant::now()));
    if s.write_all(&frame[frame.len() - 1..]).is_err() {
        return Outcome::Failed;
    }
    let mut hdr = [0u8; 2];
    if r.read_exact(&mut hdr).is_err() || hdr[0] != 0x82 {
        return Outcome::Failed;
    }
    let len = match hdr[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            if r.read_exact(&mut b).is_err() {
                return Outcome::Failed;
            }
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            if r.read_exact(&mut b).is_err() {
                return Outcome::Failed;
            }
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut got = Vec::new();
    match r.take(len).read_to_end(&mut got) {
        Ok(n) if n == payload.len() && got == payload => Outcome::Served,
        _ => Outcome::Failed,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, http, ws, bytes, hold] = args.as_slice() else {
        eprintln!("usage: flood ADDR HTTP_CLIENTS WS_CLIENTS BODY_BYTES HOLD_MS");
        std::process::exit(2);
    };
    let (http, ws, bytes, hold): (usize, usize, usize, u64) = match (
        http.parse(),
        ws.parse(),
        bytes.parse(),
        hold.parse(),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) if c > 0 => (a, b, c, d),
        _ => {
            eprintln!("flood: HTTP_CLIENTS, WS_CLIENTS, BODY_BYTES (> 0) and HOLD_MS are numbers");
            std::process::exit(2);
        }
    };
    let addr: Arc<str> = Arc::from(addr.as_str());
    let body: Arc<Vec<u8>> = Arc::new((0..bytes).map(|i| b'a' + (i % 26) as u8).collect());
    let release = Instant::now() + Duration::from_millis(hold);
    let mut clients = Vec::new();
    for i in 0..http + ws {
        let (addr, body) = (addr.clone(), body.clone());
        let spawned = thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || match i < http {
                true => http_client(&addr, &body, release),
                false => ws_client(&addr, &body, release),
            });
        match spawned {
            Ok(t) => clients.push(t),
            Err(e) => {
                eprintln!("flood: cannot start a client thread: {e}");
                std::process::exit(1);
            }
        }
    }
    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let (addr, done) = (addr.clone(), done.clone());
        thread::spawn(move || {
            let mut times = Vec::new();
            let Some(s) = connect(&addr) else {
                return times;
            };
            let mut w = match s.try_clone() {
                Ok(w) => w,
                Err(_) => return times,
            };
            let mut r = BufReader::new(s);
            while !done.load(Ordering::SeqCst) {
                let started = Instant::now();
                if w.write_all(b"GET /api/echo?probe=1 HTTP/1.1\r\nHost: bench\r\n\r\n").is_err() {
                    break;
                }
                let Some((200, Some(n))) = read_head(&mut r) else {
                    break;
                };
                let mut sink = vec![0u8; n];
                if r.read_exact(&mut sink).is_err() {
                    break;
                }
                times.push(started.elapsed().as_secs_f64() * 1000.0);
                thread::sleep(Duration::from_millis(50));
            }
            times
        })
    };
    let outcomes: Vec<Outcome> = clients
        .into_iter()
        .map(|t| t.join().unwrap_or(Outcome::Failed))
        .collect();
    done.store(true, Ordering::SeqCst);
    let mut times = probe.join().unwrap_or_default();
    times.sort_by(f64::total_cmp);
    let count = |o: Outcome| outcomes.iter().filter(|&&x| x == o).count();
    let ms = |t: Option<&f64>| t.map_or_else(|| "null".to_owned(), |t| format!("{t:.1}"));
    let worst = ms(times.last());
    let median = ms(times.get(times.len() / 2));
    println!(
        "{{\"clients\":{},\"served\":{},\"unavailable\":{},\"failed\":{},\"probes\":{},\"probe_worst_ms\":{worst},\"probe_median_ms\":{median}}}",
        outcomes.len(),
        count(Outcome::Served),
        count(Outcome::Unavailable),
        count(Outcome::Failed),
        times.len()
    );
}
