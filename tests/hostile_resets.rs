//! Broken clients and files against the `microweb` binary (release build, HTTP and HTTPS): a
//! client resetting in the middle of a 20 MB download, a file truncated or deleted while it is
//! sent, a TLS handshake cut halfway, a WebSocket frame cut halfway. After each the server still
//! answers, and its open descriptors (`/proc/PID/fd`) and free buffer slots are back to what they
//! were before (or better), its memory budget to zero.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code
#![cfg(target_os = "linux")]

mod cli_support;
#[path = "support/http_client.rs"]
mod http_client;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cli_support::Demo;
use http_client::{RawClient, wait_until};

const BIG: usize = 20 << 20;

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// What "back to baseline" compares.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    open_fds: usize,
    free_slots: u64,
    budget_in_use: u64,
}

fn footprint(addr: SocketAddr, pid: u32) -> Footprint {
    let s = cli_support::stats(addr);
    Footprint {
        open_fds: open_fds(pid),
        free_slots: s["slots"]["free"].as_u64().unwrap(),
        budget_in_use: s["memory_budget"]["in_use"].as_u64().unwrap(),
    }
}

fn assert_back_to(case: &str, addr: SocketAddr, pid: u32, baseline: Footprint) {
    // Nothing left behind: no more descriptors, no fewer free slots than at the baseline (which
    // may still have counted the first download's connection while it lingered), no budget.
    let mut last = None;
    let back = wait_until(Duration::from_secs(15), || {
        let now = footprint(addr, pid);
        last = Some(now);
        now.open_fds <= baseline.open_fds
            && now.free_slots >= baseline.free_slots
            && now.budget_in_use == 0
    });
    assert!(back, "{case}: {last:?} instead of at most {baseline:?}");
    // And it still serves.
    let mut c = RawClient::connect(addr);
    c.send(b"GET /api/echo?after=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let resp = c.read_response_within(Duration::from_secs(10));
    assert_eq!(resp.map(|r| r.status), Some(200), "{case}: not serving");
}

/// Sends a GET for `path` and reads its head and `n` bytes of body.
fn start_download(addr: SocketAddr, path: &str, n: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    assert!(
        buf.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..64])
    );
    s
}

/// Reads the rest of a response until the server closes; returns how many bytes came.
fn read_to_close(mut s: TcpStream) -> usize {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server stalled")
            }
            Err(_) => return total, // reset: the server gave up on it
        }
    }
}

fn write_file(path: &Path, len: usize) {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    std::fs::write(path, data).unwrap();
}

#[test]
fn broken_clients_and_files_leave_nothing_behind() {
    let root = tempfile::tempdir().unwrap();
    for name in ["big.bin", "truncated.bin", "deleted.bin"] {
        write_file(&root.path().join(name), BIG);
    }
    let certs = tempfile::tempdir().unwrap();
    let binary = cli_support::release_binary();
    let made = Command::new(&binary)
        .args(["cert", "--out"])
        .arg(certs.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let demo = Demo::start_binary(
        &binary,
        &[
            "--preset",
            "normal",
            "--root",
            root.path().to_str().unwrap(),
            "--https-bind",
            "127.0.0.1:0",
            "--tls-cert",
            certs.path().join("cert.pem").to_str().unwrap(),
            "--tls-key",
            certs.path().join("key.pem").to_str().unwrap(),
        ],
    );
    let listening = demo.listening(2);
    let (addr, https) = (listening[0].1, listening[1].1);
    let pid = demo.child.id();
    // One whole download first, so that whatever the server keeps for good is in the baseline.
    let whole = read_to_close(start_download(addr, "/big.bin", 1024));
    assert!(whole + 1024 > BIG, "{whole}");
    let baseline = footprint(addr, pid);

    // 1. A reset in the middle of the download: closing with unread data sends RST.
    let s = start_download(addr, "/big.bin", 1 << 20);
    drop(s);
    assert_back_to("reset mid-download", addr, pid, baseline);

    // 2. The file shrinks to 2 MB while it is sent: the answer ends (short of its
    // Content-Length, so the client knows) instead of hanging or sending other bytes.
    let s = start_download(addr, "/truncated.bin", 1 << 20);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(root.path().join("truncated.bin"))
        .unwrap();
    f.set_len(2 << 20).unwrap();
    let rest = read_to_close(s);
    assert!(
        (1 << 20) + rest < BIG,
        "a truncated file sent {rest} more bytes"
    );
    assert_back_to("file truncated while sent", addr, pid, baseline);

    // 3. The file is deleted while it is sent: the open file is still whole, so is the answer.
    let s = start_download(addr, "/deleted.bin", 1 << 20);
    std::fs::remove_file(root.path().join("deleted.bin")).unwrap();
    let rest = read_to_close(s);
    assert!(
        (1 << 20) + rest > BIG,
        "only {rest} more bytes of a deleted file"
    );
    assert_back_to("file deleted while sent", addr, pid, baseline);

    // 4. A TLS handshake cut halfway: the start of a ClientHello, then a reset.
    let mut s = TcpStream::connect(https).unwrap();
    s.write_all(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ])
    .unwrap();
    s.write_all(&[0x42; 100]).unwrap();
    std::thread::sleep(Duration::from_millis(100)); // let the server read the fragment
    drop(s);
    assert_back_to("TLS handshake cut halfway", addr, pid, baseline);

    // 5. A WebSocket frame cut halfway: 100 KB announced, 1 KB sent, then a reset.
    let stream = TcpStream::connect(addr).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws/echo").as_str(), stream).unwrap();
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&100_000u64.to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(&[0x55; 1024]);
    ws.get_mut().write_all(&frame).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(ws);
    assert_back_to("WebSocket frame cut halfway", addr, pid, baseline);
}
