//! Large files over real sockets: a static file past the small-file cache reaches `curl` whole
//! (and a range of it exactly), over HTTP and HTTPS, several at once; on plain TCP its body goes
//! out with `sendfile` (the scrape's `microweb_http_sendfile_bytes_total` says how much), over
//! TLS it goes through the buffer slots and `sendfile` is not used. A handler's
//! `Response::return_file` takes the same path.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code
#![cfg(target_os = "linux")]

mod cli_support;
#[path = "support/http_client.rs"]
mod http_client;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cli_support::Demo;
use http_client::RawClient;
use microweb::{Method, WebServer};

const BIG: usize = 12 << 20;

/// Bytes that differ from one offset to the next, so a misplaced range shows.
fn content(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// Runs curl with `args` and returns what it wrote to stdout.
fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "60"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    out.stdout
}

/// The server's count of bytes sent with sendfile so far.
fn sendfile_bytes(addr: SocketAddr) -> u64 {
    let text = String::from_utf8(curl(&[&format!("http://{addr}/metrics")])).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("microweb_http_sendfile_bytes_total "))
        .unwrap_or_else(|| panic!("no sendfile counter in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

fn start(root: &Path, certs: &Path) -> (Demo, SocketAddr, SocketAddr) {
    let made = Command::new(cli_support::BIN)
        .args(["cert", "--out"])
        .arg(certs)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let demo = Demo::start(&[
        "--root",
        root.to_str().unwrap(),
        "--metrics-path",
        "/metrics",
        "--https-bind",
        "127.0.0.1:0",
        "--tls-cert",
        certs.join("cert.pem").to_str().unwrap(),
        "--tls-key",
        certs.join("key.pem").to_str().unwrap(),
    ]);
    let listening = demo.listening(2);
    let (http, https) = (listening[0].1, listening[1].1);
    (demo, http, https)
}

#[test]
fn large_files_arrive_whole_and_plain_tcp_sends_them_with_sendfile() {
    let root = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let data = content(BIG);
    std::fs::write(root.path().join("big.bin"), &data).unwrap();
    let (_demo, http, https) = start(root.path(), certs.path());
    let url = format!("http://{http}/big.bin");

    // The whole file over plain TCP: its bytes, nearly all of them by sendfile (the first ones
    // go out in the slot with the head).
    let before = sendfile_bytes(http);
    assert_eq!(curl(&[&url]), data, "the whole file over HTTP");
    let by_sendfile = sendfile_bytes(http) - before;
    assert!(
        by_sendfile > (BIG - (256 << 10)) as u64 && by_sendfile <= BIG as u64,
        "{by_sendfile} of {BIG} bytes by sendfile"
    );

    // A range from the middle: exactly those bytes, also by sendfile.
    let (first, last) = (1_000_003usize, 9_000_001usize);
    let before = sendfile_bytes(http);
    let part = curl(&["-r", &format!("{first}-{last}"), &url]);
    assert_eq!(part.len(), last - first + 1);
    assert!(part == data[first..=last], "the range's bytes");
    assert!(sendfile_bytes(http) - before > (last - first) as u64 / 2);

    // Four at once on two loops: all whole.
    let downloads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || curl(&[&url]))
        })
        .collect();
    for d in downloads {
        assert!(d.join().unwrap() == data, "a concurrent download");
    }

    // HEAD: the length, no body.
    let head = String::from_utf8(curl(&["-I", &url])).unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {BIG}")),
        "{head}"
    );

    // HTTPS: the same bytes, through the slots (TLS records are sealed in user space).
    let before = sendfile_bytes(http);
    let over_tls = curl(&["-k", &format!("https://localhost:{}/big.bin", https.port())]);
    assert!(over_tls == data, "the whole file over HTTPS");
    assert_eq!(sendfile_bytes(http), before, "sendfile used for TLS");
}

#[test]
fn a_handler_returning_a_large_file_sends_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.bin");
    let data = content(3 << 20);
    std::fs::write(&path, &data).unwrap();
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    server
        .route(Method::GET, "/report", move |_req, resp| {
            resp.return_file(&path, Some("report.bin"));
        })
        .unwrap();
    server.start_managed(2, None).unwrap();
    let addr = server.local_addrs()[0];
    let mut c = RawClient::connect(addr);
    // Two on one connection: the second starts where the first ended.
    for _ in 0..2 {
        c.send(b"GET /report HTTP/1.1\r\nHost: t\r\n\r\n");
        let resp = c.read_response_within(Duration::from_secs(20)).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.header("content-disposition"),
            Some("attachment; filename=\"report.bin\"")
        );
        assert!(resp.body == data, "{} bytes", resp.body.len());
    }
}
