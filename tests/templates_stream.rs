//! A template page much larger than a buffer slot streams through the slot: it arrives whole
//! and chunked while the server holds no copy of it (no large allocation, RSS growth far below
//! the page size). Alone in its test binary: it counts allocations process-wide, and a server
//! started by a concurrent test would allocate its slots during the measurement.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

#[path = "support/http_client.rs"]
mod http_client;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_client::{RawClient, wait_until};
use microweb::{Preset, TemplatesModule, WebServer};
use serde_json::json;
use tempfile::TempDir;

/// A running server with the Templates module over a tempdir of templates.
struct Fixture {
    server: WebServer,
    module: Arc<TemplatesModule>,
    addr: SocketAddr,
    _dirs: (TempDir, TempDir),
}

impl Fixture {
    fn start(
        files: &[(&str, &str)],
        setup: impl FnOnce(&mut WebServer, &TemplatesModule),
    ) -> Fixture {
        let templates = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(templates.path().join(name), text).unwrap();
        }
        let root = tempfile::tempdir().unwrap();
        let mut server = WebServer::new();
        server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
        server.set_root_path(root.path());
        server.set_templates_path(templates.path());
        let handle = server.load_module("Templates").unwrap();
        let module = handle.downcast::<TemplatesModule>().unwrap();
        setup(&mut server, &module);
        server.start_managed(2, None).unwrap();
        let addr = server.local_addrs()[0];
        Fixture {
            server,
            module,
            addr,
            _dirs: (templates, root),
        }
    }

    /// Asserts that every buffer slot is free again.
    fn assert_slots_free(&self) {
        let all_free = wait_until(
            Duration::from_secs(5),
            || matches!(self.server.slots(), Some((free, total)) if free == total),
        );
        assert!(all_free, "slots still held: {:?}", self.server.slots());
    }
}

// Allocations of 64 KiB or more, process-wide, are counted: a server that held a 200 KB page
// in memory would need at least one (its buffer grows past 64 KiB), a streaming one needs none
// (it holds one slot of 4 KiB and the render state).
#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

/// Returns this process's resident set size in KiB (the server runs in the test process).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// What [`read_chunked_checking`] saw.
struct Streamed {
    head: String,
    chunks: usize,
    matched: usize,
    complete: bool,
    peak_rss_kib: u64,
}

/// Reads a chunked response through fixed buffers, comparing the body with `expected` as it
/// arrives, so the reading side holds no copy of the page.
fn read_chunked_checking(stream: &mut std::net::TcpStream, expected: &[u8]) -> Streamed {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut window: Vec<u8> = Vec::with_capacity(32 * 1024);
    let mut buf = [0u8; 8192];
    let mut out = Streamed {
        head: String::new(),
        chunks: 0,
        matched: 0,
        complete: false,
        peak_rss_kib: rss_kib(),
    };
    // Reads until `window` holds `n` bytes; false at EOF.
    let mut need = |window: &mut Vec<u8>, n: usize, peak: &mut u64| -> bool {
        while window.len() < n {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(k) => window.extend_from_slice(&buf[..k]),
            }
            *peak = (*peak).max(rss_kib());
        }
        true
    };
    let find = |w: &[u8], pat: &[u8]| w.windows(pat.len()).position(|x| x == pat);
    loop {
        if let Some(i) = find(&window, b"\r\n\r\n") {
            out.head = String::from_utf8_lossy(&window[..i]).into_owned();
            window.drain(..i + 4);
            break;
        }
        let n = window.len() + 1;
        if !need(&mut window, n, &mut out.peak_rss_kib) {
            return out;
        }
    }
    loop {
        let line_end = loop {
            if let Some(i) = find(&window, b"\r\n") {
                break i;
            }
            let n = window.len() + 1;
            if !need(&mut window, n, &mut out.peak_rss_kib) {
                return out;
            }
        };
        let size = std::str::from_utf8(&window[..line_end])
            .ok()
            .and_then(|l| usize::from_str_radix(l.trim(), 16).ok())
            .expect("a chunk size line");
        window.drain(..line_end + 2);
        if !need(&mut window, size + 2, &mut out.peak_rss_kib) {
            return out;
        }
        if size == 0 {
            out.complete = &window[..2] == b"\r\n";
            return out;
        }
        let data = &window[..size];
        if expected.get(out.matched..out.matched + size) == Some(data) {
            out.matched += size;
        }
        assert_eq!(&window[size..size + 2], b"\r\n", "a chunk ends with CRLF");
        window.drain(..size + 2);
        out.chunks += 1;
    }
}

#[test]
fn a_1_mb_page_arrives_whole_and_chunked_without_the_server_holding_it() {
    // Light preset: 128 slots of 1 KiB. Every slot may become resident while the page streams
    // (the budget is allocated up front, pages are touched as slots are used), so the page is
    // made much larger than the budget: holding it would show, the budget would not.
    let rows = 20_000;
    let f = Fixture::start(
        &[(
            "table.html",
            "<< set s = \"<b>fish & chips</b>\" >><ul>\n\
             << for i in range(0, 20000) >><li><< i >>: << s >></li>\n<< end >></ul>\n\
             << after >>streamed += 1<< end >>",
        )],
        |server, m| {
            server.set_light_config();
            m.set_max_page_bytes(4 << 20);
            m.set_global_var("streamed", json!(0));
        },
    );
    // A first page warms the server up (threads, slots, the template cache).
    let mut c = RawClient::connect(f.addr);
    c.send(b"GET /table.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert!(c.read_response().is_some_and(|r| r.body.len() > 200_000));
    drop(c);
    assert!(wait_until(Duration::from_secs(5), || {
        f.module.get_global_var("streamed") == Some(json!(1))
    }));
    let mut expected = b"<ul>\n".to_vec();
    for i in 0..rows {
        expected.extend_from_slice(
            format!("<li>{i}: &lt;b&gt;fish &amp; chips&lt;/b&gt;</li>\n").as_bytes(),
        );
    }
    expected.extend_from_slice(b"</ul>\n");
    assert!(expected.len() > 1_000_000, "{}", expected.len());

    let mut stream = std::net::TcpStream::connect(f.addr).unwrap();
    let rss_before = rss_kib();
    let large_before = counting_alloc::large_allocations();
    std::io::Write::write_all(
        &mut stream,
        b"GET /table.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let got = read_chunked_checking(&mut stream, &expected);
    let large = counting_alloc::large_allocations() - large_before;
    eprintln!(
        "page {} bytes in {} chunks; VmRSS {} KiB before, peak {} KiB during (+{} KiB); \
         allocations >= 64 KiB during the transfer: {large}",
        expected.len(),
        got.chunks,
        rss_before,
        got.peak_rss_kib,
        got.peak_rss_kib.saturating_sub(rss_before),
    );
    assert!(got.head.starts_with("HTTP/1.1 200"), "{}", got.head);
    assert!(
        got.head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{}",
        got.head
    );
    assert!(got.complete, "the last chunk arrives");
    assert_eq!(got.matched, expected.len(), "the page arrives whole");
    assert!(got.chunks >= expected.len() / 1024, "{} chunks", got.chunks);
    assert_eq!(large, 0, "the server held a large buffer while streaming");
    let growth = got.peak_rss_kib.saturating_sub(rss_before);
    let allowance_kib = (Preset::Light.slot_budget() / 1024) as u64 + 256;
    assert!(
        growth <= allowance_kib && growth * 1024 < expected.len() as u64 / 2,
        "RSS grew by {growth} KiB for a page of {} bytes (allowance {allowance_kib} KiB)",
        expected.len()
    );
    // The after block runs once the streamed page has been sent.
    assert!(
        wait_until(Duration::from_secs(5), || {
            f.module.get_global_var("streamed") == Some(json!(2))
        }),
        "{:?}",
        f.module.get_global_var("streamed")
    );
    drop(stream);
    f.assert_slots_free();
}
