//! Streaming uploads: bodies go to a sink piece by piece, never whole in memory.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/server.rs"]
mod server_support;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_client::{RawClient, roundtrip};
use microweb::{Method, Preset, Request, Response, StatusCode, server::BodySink, server::FileSink};
use server_support::{all_slots_free, start};

/// Resident memory of this process, in KiB (the server runs in it).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Counts bytes and checks them against the pattern the client sends.
struct Counter {
    seen: u64,
    total: Arc<AtomicU64>,
}

impl BodySink for Counter {
    fn write(&mut self, data: &[u8]) -> Result<(), StatusCode> {
        for (i, b) in data.iter().enumerate() {
            if *b != ((self.seen + i as u64) % 251) as u8 {
                return Err(StatusCode::UNPROCESSABLE_ENTITY);
            }
        }
        self.seen += data.len() as u64;
        Ok(())
    }

    fn finish(self: Box<Self>, _req: &Request<'_>, resp: &mut Response) {
        self.total.store(self.seen, Ordering::SeqCst);
        resp.return_ok(format!("{}", self.seen));
    }
}

fn pattern(offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = ((offset + i as u64) % 251) as u8;
    }
}

#[test]
fn a_100_mb_upload_streams_through_one_slot() {
    let total = Arc::new(AtomicU64::new(0));
    let t = total.clone();
    let (server, addr) = start(move |s| {
        s.set_preset(Preset::Normal);
        let t = t.clone();
        s.route_upload(Method::PUT, "/blob", move |_req| {
            Ok(Box::new(Counter {
                seen: 0,
                total: t.clone(),
            }))
        })
        .unwrap();
        s.route(Method::GET, "/after", |_r, _p| "still here")
            .unwrap();
    });
    const SIZE: u64 = 100 * 1024 * 1024;
    let before = rss_kib();
    let mut c = RawClient::connect(addr);
    c.send(format!("PUT /blob HTTP/1.1\r\nHost: t\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes());
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    let mut peak = before;
    while sent < SIZE {
        let n = buf.len().min((SIZE - sent) as usize);
        pattern(sent, &mut buf[..n]);
        c.send(&buf[..n]);
        sent += n as u64;
        if sent % (8 * 1024 * 1024) == 0 {
            peak = peak.max(rss_kib());
        }
    }
    let r = c.read_response().unwrap();
    assert_eq!((r.status, r.text()), (200, SIZE.to_string()));
    assert_eq!(total.load(Ordering::SeqCst), SIZE);
    peak = peak.max(rss_kib());
    // The whole slot budget may become resident, plus a small constant; never the body.
    let budget_kib = (Preset::Normal.slot_budget() / 1024) as u64 + 8 * 1024;
    assert!(
        peak - before < budget_kib,
        "RSS grew by {} KiB during a 100 MB upload",
        peak - before
    );
    c.send(b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().unwrap().text(), "still here");
    assert!(all_slots_free(&server));
}

#[test]
fn an_upload_goes_to_a_file_chunked_with_curl() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().to_path_buf();
    let (_server, addr) = start(move |s| {
        let target = target.clone();
        s.route_upload(Method::POST, "/files/<name>", move |req| {
            let name = req
                .args()
                .str("name")
                .unwrap_or("x")
                .replace(['/', '\\'], "_");
            FileSink::create(target.join(name), |_req, resp, written| {
                resp.return_(StatusCode::CREATED, format!("stored {written}"));
            })
        })
        .unwrap();
    });
    let src = dir.path().join("source.bin");
    let mut f = std::fs::File::create(&src).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..3u64 {
        pattern(i << 20, &mut buf);
        f.write_all(&buf).unwrap();
    }
    drop(f);
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "20",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
        ])
        .arg(format!("@{}", src.display()))
        .arg(format!("http://{addr}/files/copy.bin"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "stored 3145728");
    assert_eq!(
        std::fs::read(dir.path().join("copy.bin")).unwrap(),
        std::fs::read(&src).unwrap()
    );
}

#[test]
fn an_upload_refused_from_its_head_gets_no_100_continue() {
    let (server, addr) = start(|s| {
        s.route_upload(Method::PUT, "/small", |req| {
            if req.content_length().unwrap_or(0) > 1000 {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            FileSink::create("/dev/null", |_r, resp, n| resp.return_ok(format!("{n}")))
        })
        .unwrap();
    });
    let mut c = RawClient::connect(addr);
    c.send(b"PUT /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 413);
    assert!(c.closed_within(std::time::Duration::from_secs(5)));
    // Accepted: 100 Continue first.
    let mut c = RawClient::connect(addr);
    c.send(b"PUT /small HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(c.read_head_only().unwrap().status, 100);
    c.send(b"abc");
    assert_eq!(c.read_response().unwrap().text(), "3");
    assert!(all_slots_free(&server));
}

#[test]
fn a_sink_error_stops_the_upload_with_its_status() {
    let (server, addr) = start(|s| {
        let total = Arc::new(AtomicU64::new(0));
        s.route_upload(Method::PUT, "/checked", move |_req| {
            Ok(Box::new(Counter {
                seen: 0,
                total: total.clone(),
            }))
        })
        .unwrap();
    });
    let mut c = RawClient::connect(addr);
    c.send(b"PUT /checked HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
    c.send(&[9u8; 100_000]);
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 422);
    assert!(c.closed_within(std::time::Duration::from_secs(5)));
    // Other routes are not uploads: their bodies stay bounded by max_request_content_length.
    let r = roundtrip(
        addr,
        b"PUT /elsewhere HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 413);
    assert!(all_slots_free(&server));
}

/// Runs curl: a PUT of `size` bytes to `url`, with `headers`; returns (status, headers, body).
fn curl_put(url: &str, size: usize, headers: &[&str]) -> (u16, String, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args([
        "-s",
        "--max-time",
        "20",
        "-X",
        "PUT",
        "-D",
        "-",
        "--data-binary",
        "@-",
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let mut child = cmd
        .arg(url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A refused upload may close before curl has sent everything: a failed write is expected.
    let _ = stdin.write_all(&vec![b'x'; size]);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // The last head (after any `100 Continue`), then the body.
    let (heads, body) = text.rsplit_once("\r\n\r\n").unwrap_or((&text, ""));
    let head = heads.rsplit("\r\n\r\n").next().unwrap_or(heads);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn uploads_go_through_the_before_and_after_hooks_and_the_error_handlers() {
    let factory_calls = Arc::new(AtomicU64::new(0));
    let calls = factory_calls.clone();
    let (server, addr) = start(move |s| {
        s.before_request(|req, resp| {
            if req.get_header("authorization") != Some("Bearer ok") {
                resp.return_(StatusCode::UNAUTHORIZED, "who are you?");
            }
        });
        s.after_request(|_req, resp| {
            resp.set_header("X-After", "seen").unwrap();
        });
        s.on_error(StatusCode::PAYLOAD_TOO_LARGE, |_req, _resp| {
            (StatusCode::PAYLOAD_TOO_LARGE, "1000 bytes at most")
        });
        let calls = calls.clone();
        s.route_upload(Method::PUT, "/up", move |req| {
            calls.fetch_add(1, Ordering::SeqCst);
            if req.content_length().unwrap_or(0) > 1000 {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            FileSink::create("/dev/null", |_r, resp, n| {
                resp.return_ok(format!("{n} bytes"))
            })
        })
        .unwrap();
    });
    let url = format!("http://{addr}/up");

    // The before hook refuses: its answer, the after hook's header, and no sink made.
    let (status, head, body) = curl_put(&url, 5000, &[]);
    assert_eq!((status, body.as_str()), (401, "who are you?"), "{head}");
    assert!(head.contains("x-after: seen"), "{head}");
    assert_eq!(factory_calls.load(Ordering::SeqCst), 0);

    // Accepted: the sink's answer, with the after hook's header.
    let (status, head, body) = curl_put(&url, 3, &["Authorization: Bearer ok"]);
    assert_eq!((status, body.as_str()), (200, "3 bytes"), "{head}");
    assert!(head.contains("x-after: seen"), "{head}");

    // Refused by the factory: the error handler of 413 writes the page.
    let (status, head, body) = curl_put(&url, 5000, &["Authorization: Bearer ok"]);
    assert_eq!(
        (status, body.as_str()),
        (413, "1000 bytes at most"),
        "{head}"
    );
    assert!(head.contains("x-after: seen"), "{head}");
    assert_eq!(factory_calls.load(Ordering::SeqCst), 2);
    assert!(all_slots_free(&server));
}
