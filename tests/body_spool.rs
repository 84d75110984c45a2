//! Spooling over real sockets: request bodies past the threshold go to unlinked files in the spool
//! folder while they arrive (holding no memory budget), come back whole to the handler —
//! `content()`, JSON and forms alike — and leave nothing behind; a spool folder that cannot be
//! written answers 500 without hurting the next request.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "support/http_client.rs"]
mod http_client;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use http_client::{RawClient, wait_until};
use microweb::{Method, Preset, ServerConfig, WebServer, server::SpoolConfig};

const BUDGET: usize = 256 * 1024;

fn start(spool_dir: &Path) -> (WebServer, SocketAddr) {
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    let config = server.config_mut();
    config.memory_budget = BUDGET;
    config.max_request_content_length = 4 << 20;
    config.spool = Some(SpoolConfig::new(64 * 1024, spool_dir));
    server
        .route(Method::POST, "/sum", |req, _resp| {
            let body = req.content();
            let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
            format!("{} {sum}", body.len())
        })
        .unwrap();
    server
        .route(Method::POST, "/json", |req, _resp| {
            let value: serde_json::Value = req.get_posted_json_object().unwrap_or_default();
            let items = value["items"].as_array().map_or(0, Vec::len);
            format!("{items} items")
        })
        .unwrap();
    server
        .route(Method::POST, "/form", |req, _resp| {
            let form = req.get_posted_url_encoded_form().unwrap_or_default();
            let text = form
                .iter()
                .find(|(name, _)| name == "text")
                .map_or(0, |(_, value)| value.len());
            format!("text of {text} bytes")
        })
        .unwrap();
    server.start_managed(2, None).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

fn body(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ seed)
        .collect()
}

fn expected(body: &[u8]) -> String {
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    format!("{} {sum}", body.len())
}

/// Open files of this process that were in `dir` and are unlinked now.
fn unlinked_files_open_in(dir: &Path) -> usize {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| {
            target.starts_with(&dir) && target.to_string_lossy().ends_with(" (deleted)")
        })
        .count()
}

#[test]
fn bodies_past_the_threshold_wait_on_disk_not_in_the_budget() {
    let spool = tempfile::tempdir().unwrap();
    let (server, addr) = start(spool.path());
    let bodies: Vec<Vec<u8>> = (0..8).map(|i| body(i, 150_000)).collect();
    let mut clients: Vec<RawClient> = bodies
        .iter()
        .map(|b| {
            let mut c = RawClient::connect(addr);
            let head = format!(
                "POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                b.len()
            );
            c.send(head.as_bytes()).send(&b[..b.len() - 1]);
            c
        })
        .collect();
    // 8 × 150 kB would need 1.2 MB of a 256 KiB budget: all of it waits in files instead.
    assert!(
        wait_until(Duration::from_secs(10), || {
            let stats = server.memory_budget().unwrap();
            unlinked_files_open_in(spool.path()) == 8 && (stats.in_use, stats.waiting) == (0, 0)
        }),
        "{} spool files open, {:?}",
        unlinked_files_open_in(spool.path()),
        server.memory_budget().unwrap()
    );
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "the files are unlinked"
    );
    for (c, b) in clients.iter_mut().zip(&bodies) {
        c.send(&b[b.len() - 1..]);
    }
    for (c, b) in clients.iter_mut().zip(&bodies) {
        let resp = c.read_response_within(Duration::from_secs(20)).unwrap();
        assert_eq!((resp.status, resp.text()), (200, expected(b)));
    }
    assert!(wait_until(Duration::from_secs(10), || {
        unlinked_files_open_in(spool.path()) == 0 && server.memory_budget().unwrap().in_use == 0
    }));
    assert!(server.memory_budget().unwrap().high_water <= BUDGET);
}

fn send_chunked(c: &mut RawClient, b: &[u8]) {
    c.send(b"POST /sum HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for chunk in b.chunks(10_000) {
        c.send(format!("{:x}\r\n", chunk.len()).as_bytes())
            .send(chunk)
            .send(b"\r\n");
    }
}

#[test]
fn a_chunked_body_moves_to_disk_when_it_passes_the_threshold() {
    let spool = tempfile::tempdir().unwrap();
    let (server, addr) = start(spool.path());
    let b = body(9, 200_000);
    let mut c = RawClient::connect(addr);
    send_chunked(&mut c, &b);
    // The bytes gathered in memory so far are written to the file before their reservation is
    // returned, so the two are seen one after the other.
    assert!(
        wait_until(Duration::from_secs(10), || {
            unlinked_files_open_in(spool.path()) == 1 && server.memory_budget().unwrap().in_use == 0
        }),
        "{} spool files open, {:?}",
        unlinked_files_open_in(spool.path()),
        server.memory_budget().unwrap()
    );
    c.send(b"0\r\n\r\n");
    let resp = c.read_response_within(Duration::from_secs(10)).unwrap();
    assert_eq!((resp.status, resp.text()), (200, expected(&b)));

    // One that ends up larger than the whole budget cannot be handed over in memory: 413.
    let too_big = body(10, BUDGET + 10_000);
    let mut c = RawClient::connect(addr);
    send_chunked(&mut c, &too_big);
    let resp = c.read_response_within(Duration::from_secs(10)).unwrap();
    assert_eq!(resp.status, 413);
    assert!(c.closed_within(Duration::from_secs(5)));
    assert!(wait_until(Duration::from_secs(10), || {
        unlinked_files_open_in(spool.path()) == 0 && server.memory_budget().unwrap().in_use == 0
    }));
}

#[test]
fn json_and_forms_read_a_spooled_body_as_any_other() {
    let spool = tempfile::tempdir().unwrap();
    let (_server, addr) = start(spool.path());
    let items: Vec<u32> = (0..40_000).collect();
    let json = serde_json::to_vec(&serde_json::json!({ "items": items })).unwrap();
    assert!(json.len() > 64 * 1024);
    let mut c = RawClient::connect(addr);
    c.send(
        format!(
            "POST /json HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            json.len()
        )
        .as_bytes(),
    )
    .send(&json);
    let resp = c.read_response_within(Duration::from_secs(10)).unwrap();
    assert_eq!(resp.text(), "40000 items");

    let form = format!("text={}&other=1", "x".repeat(100_000));
    c.send(
        format!(
            "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            form.len()
        )
        .as_bytes(),
    )
    .send(form.as_bytes());
    let resp = c.read_response_within(Duration::from_secs(10)).unwrap();
    assert_eq!(resp.text(), "text of 100000 bytes");
}

#[test]
fn a_spool_folder_that_is_gone_answers_500_and_the_server_goes_on() {
    let spool = tempfile::tempdir().unwrap();
    let dir = spool.path().join("bodies");
    std::fs::create_dir(&dir).unwrap();
    let (server, addr) = start(&dir);
    std::fs::remove_dir(&dir).unwrap();
    let b = body(1, 100_000);
    let mut c = RawClient::connect(addr);
    c.send(
        format!(
            "POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            b.len()
        )
        .as_bytes(),
    )
    .send(&b);
    let resp = c.read_response_within(Duration::from_secs(10)).unwrap();
    assert_eq!(resp.status, 500);
    assert!(c.closed_within(Duration::from_secs(5)));
    // A small body never touches the folder.
    let mut c = RawClient::connect(addr);
    c.send(b"POST /sum HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    let resp = c.read_response_within(Duration::from_secs(10)).unwrap();
    assert_eq!((resp.status, resp.text()), (200, expected(b"abc")));
    assert_eq!(server.memory_budget().unwrap().in_use, 0);
}

#[test]
fn spooling_is_on_by_default_where_there_is_a_disk() {
    for (preset, on) in [
        (Preset::Embedded, false),
        (Preset::Light, false),
        (Preset::Normal, true),
        (Preset::Large, true),
    ] {
        let config = ServerConfig::from_preset(preset);
        assert_eq!(config.spool.is_some(), on, "{preset:?}");
    }
    let normal = ServerConfig::from_preset(Preset::Normal).spool.unwrap();
    assert_eq!(normal.threshold, 64 * 1024);
    assert_eq!(normal.dir, std::env::temp_dir());
}
