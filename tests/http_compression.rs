//! Gzip for handler answers (`ServerConfig::gzip_min_size`): text bodies over the threshold go
//! out gzip-coded to clients that accept it, decoded byte-equal by curl `--compressed` and Python
//! `requests`; small, binary, already encoded, `no-transform` and partial answers go out as they
//! are; a streamed body is compressed chunk by chunk.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "interop/python.rs"]
#[allow(unreachable_pub)]
mod python;

use std::net::SocketAddr;
use std::process::Command;

use microweb::{Json, Method, StatusCode, WebServer};

fn text() -> String {
    (0..2000)
        .map(|i| format!("line {i} of a compressible page\n"))
        .collect()
}

fn start() -> (WebServer, String) {
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    server.config_mut().gzip_min_size = Some(1024);
    server
        .route(Method::GET, "/text", |_req, _resp| text())
        .unwrap();
    server
        .route(Method::GET, "/json", |_req, _resp| {
            Json(serde_json::json!({ "items": (0..3000).collect::<Vec<u32>>() }))
        })
        .unwrap();
    server
        .route(Method::GET, "/small", |_req, _resp| "tiny")
        .unwrap();
    server
        .route(Method::GET, "/binary", |_req, _resp| text().into_bytes())
        .unwrap();
    server
        .route(Method::GET, "/no-transform", |_req, resp| {
            resp.set_header("Cache-Control", "no-transform").unwrap();
            text()
        })
        .unwrap();
    server
        .route(Method::GET, "/stream", |_req, resp| {
            resp.return_stream(
                StatusCode::OK,
                std::io::Cursor::new(text().into_bytes()),
                None,
            );
            resp.set_content_type("text/plain").unwrap();
        })
        .unwrap();
    server.start_managed(2, None).unwrap();
    let base = format!("http://{}", server.local_addrs()[0]);
    (server, base)
}

/// curl's answer: the head (lower-case) and the body, decoded when `compressed`.
fn curl(url: &str, compressed: bool) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head");
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "10", "-D"]).arg(&head);
    if compressed {
        cmd.arg("--compressed");
    }
    let out = cmd.arg(url).output().expect("curl runs");
    let head = std::fs::read_to_string(&head).unwrap().to_ascii_lowercase();
    (head, out.stdout)
}

#[test]
fn text_and_json_go_out_gzipped_and_decode_to_the_plain_answer() {
    let (_server, base) = start();
    for path in ["/text", "/json", "/stream"] {
        let url = format!("{base}{path}");
        let (plain_head, plain) = curl(&url, false);
        let (gz_head, decoded) = curl(&url, true);
        assert!(
            !plain_head.contains("content-encoding"),
            "{path}: {plain_head}"
        );
        assert!(
            gz_head.contains("content-encoding: gzip"),
            "{path}: {gz_head}"
        );
        assert!(
            gz_head.contains("vary: accept-encoding"),
            "{path}: {gz_head}"
        );
        assert!(plain.len() > 1024);
        assert_eq!(decoded, plain, "{path}");
    }
    // The in-memory answer has its compressed length; the streamed one is chunked.
    let (head, _) = curl(&format!("{base}/text"), true);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(length < text().len() / 4, "{length}");
    let (head, _) = curl(&format!("{base}/stream"), true);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
}

#[test]
fn small_binary_and_no_transform_answers_go_out_as_they_are() {
    let (_server, base) = start();
    for path in ["/small", "/binary", "/no-transform"] {
        let (head, _) = curl(&format!("{base}{path}"), true);
        assert!(!head.contains("content-encoding"), "{path}: {head}");
    }
}

#[test]
fn python_requests_decodes_the_gzip_answers_byte_equal() {
    if !python::interop_available() {
        return;
    }
    let (_server, base) = start();
    let script = r#"
import sys, requests
base = sys.argv[1]
for path in ("/text", "/json", "/stream"):
    coded = requests.get(base + path, timeout=10)
    plain = requests.get(base + path, timeout=10, headers={"Accept-Encoding": "identity"})
    assert coded.headers.get("Content-Encoding") == "gzip", (path, coded.headers)
    assert "Content-Encoding" not in plain.headers, (path, plain.headers)
    assert coded.content == plain.content, path
print("ok")
"#;
    let out = Command::new("python3")
        .args(["-c", script, &base])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
