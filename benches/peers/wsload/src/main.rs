//! The WebSocket side of the load benchmark, on tokio-tungstenite's client.
//!
//! In scope: the echo round-trip load (N connections, each sending a 32-byte text message and
//! waiting for its echo, in a loop, for D seconds) and holding N idle WebSocket connections so
//! that a server's memory per idle socket can be read from `/proc/PID/status`.
//! Out of scope: HTTP load (wrk's job), TLS, checking more of the protocol than the echo.
//!
//! Run:
//! - `wsload load ADDR CONNS SECS [THREADS]`: prints one JSON line
//!   `{"conns":..,"secs":..,"round_trips":..,"rps":..,"p50_us":..,"p99_us":..,"errors":..,"mismatches":..}`
//!   (`rps` = echo round trips per second over all connections; THREADS defaults to 2, as wrk's
//!   `-t2`).
//! - `wsload hold ADDR N [HOLD_SECS]`: opens N connections one after another, completes one echo
//!   on each, prints `ready held=H closed=C failed=F` (H = still open, C = closed by the server,
//!   F = never echoed), holds them for HOLD_SECS (default 120) and exits. Needs `ulimit -n`
//!   above N.
//!
//! Both use `ws://ADDR/ws/echo`.

#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The 32-byte text message every round trip sends.
const PAYLOAD: &str = "microweb-wsload-echo-0123456789!";

/// What one connection of the load did.
#[derive(Default)]
struct ConnResult {
    latencies_us: Vec<u32>,
    errors: usize,
    mismatches: usize,
}

/// Connects to `ws://addr/ws/echo` with TCP_NODELAY, retrying the TCP connect a few times.
async fn connect(addr: &str) -> Result<Ws, String> {
    let mut last = String::new();
    for attempt in 0..5u32 {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                let url = format!("ws://{addr}/ws/echo");
                return match client_async(url, MaybeTlsStream::Plain(tcp)).await {
                    Ok((ws, _)) => Ok(ws),
                    Err(e) => Err(format!("handshake: {e}")),
                };
            }
            Err(e) => {
                last = format!("connect: {e}");
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
        }
    }
    Err(last)
}

/// Sends `PAYLOAD` and waits for the next data message; returns whether it was the same text.
async fn echo_once(ws: &mut Ws) -> Result<bool, String> {
    ws.send(Message::text(PAYLOAD))
        .await
        .map_err(|e| format!("send: {e}"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str() == PAYLOAD),
            Some(Ok(Message::Binary(_))) => return Ok(false),
            Some(Ok(Message::Close(_))) | None => return Err("closed by the server".to_owned()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("receive: {e}")),
        }
    }
}

/// One connection of the load: round trips until `deadline`.
async fn load_conn(addr: Arc<str>, deadline: Instant) -> ConnResult {
    let mut out = ConnResult::default();
    let mut ws = match connect(&addr).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("wsload: {e}");
            out.errors += 1;
            return out;
        }
    };
    while Instant::now() < deadline {
        let start = Instant::now();
        match echo_once(&mut ws).await {
            Ok(same) => {
                let us = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
                out.latencies_us.push(us);
                if !same {
                    out.mismatches += 1;
                }
            }
            Err(e) => {
                eprintln!("wsload: {e}");
                out.errors += 1;
                return out;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    out
}

/// The `p`-th percentile (0..=100) of sorted `v`, 0 when empty.
fn percentile(v: &[u32], p: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i.min(v.len() - 1)]
}

fn load(addr: &str, conns: usize, secs: u64, threads: usize) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wsload: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr: Arc<str> = Arc::from(addr);
    let (results, elapsed) = rt.block_on(async {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..conns)
            .map(|_| tokio::spawn(load_conn(addr.clone(), deadline)))
            .collect();
        let mut results = Vec::with_capacity(conns);
        for t in tasks {
            results.push(t.await.unwrap_or_else(|_| ConnResult {
                errors: 1,
                ..ConnResult::default()
            }));
        }
        (results, start.elapsed())
    });
    let mut all: Vec<u32> = results
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    all.sort_unstable();
    let errors: usize = results.iter().map(|r| r.errors).sum();
    let mismatches: usize = results.iter().map(|r| r.mismatches).sum();
    let rps = all.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{{\"conns\":{conns},\"secs\":{:.3},\"round_trips\":{},\"rps\":{rps:.2},\"p50_us\":{},\"p99_us\":{},\"errors\":{errors},\"mismatches\":{mismatches}}}",
        elapsed.as_secs_f64(),
        all.len(),
        percentile(&all, 50.0),
        percentile(&all, 99.0),
    );
    if all.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn hold(addr: &str, n: usize, hold_secs: u64) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wsload: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let closed = Arc::new(AtomicUsize::new(0));
        let mut held = 0usize;
        let mut failed = 0usize;
        let mut first_error = None;
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let opened = match connect(addr).await {
                Ok(mut ws) => {
                    match tokio::time::timeout(Duration::from_secs(10), echo_once(&mut ws)).await {
                        Ok(Ok(true)) => Ok(ws),
                        Ok(Ok(false)) => Err("the echo differed".to_owned()),
                        Ok(Err(e)) => Err(e),
                        Err(_) => Err("no echo within 10 s".to_owned()),
                    }
                }
                Err(e) => Err(e),
            };
            match opened {
                Ok(mut ws) => {
                    held += 1;
                    let closed = closed.clone();
                    // Watches the idle socket: anything but a ping ends it as closed.
                    tasks.push(tokio::spawn(async move {
                        while let Some(Ok(msg)) = ws.next().await {
                            if matches!(
                                msg,
                                Message::Text(_) | Message::Binary(_) | Message::Close(_)
                            ) {
                                break;
                            }
                        }
                        closed.fetch_add(1, Ordering::Relaxed);
                    }));
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            eprintln!("wsload: {failed} connections failed, first error: {e}");
        }
        // Lets the watchers see a close the server sent while the others were opening.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let c = closed.load(Ordering::Relaxed);
        println!("ready held={} closed={c} failed={failed}", held - c);
        tokio::time::sleep(Duration::from_secs(hold_secs)).await;
        for t in tasks {
            t.abort();
        }
    });
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|s| s.parse::<u64>().ok());
    let usage = || {
        eprintln!("usage: wsload load ADDR CONNS SECS [THREADS] | wsload hold ADDR N [HOLD_SECS]");
        ExitCode::from(2)
    };
    match (args.first().map(String::as_str), args.get(1)) {
        (Some("load"), Some(addr)) => match (num(2), num(3)) {
            (Some(conns), Some(secs)) => {
                let threads = num(4).unwrap_or(2);
                load(addr, conns as usize, secs, threads as usize)
            }
            _ => usage(),
        },
        (Some("hold"), Some(addr)) => match num(2) {
            Some(n) => hold(addr, n as usize, num(3).unwrap_or(120)),
            None => usage(),
        },
        _ => usage(),
    }
}
