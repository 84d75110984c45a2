//! `ServerConfig::metrics_path` over real sockets: the scrape is OpenMetrics text that Python's
//! `prometheus_client` parser reads, and its counters match the requests sent (by method and
//! status class, durations, bytes), with the gauges of the moment (connections, slots, memory
//! budget, WebSockets).
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

mod cli_support;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "interop/python.rs"]
#[allow(unreachable_pub)]
mod python;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use http_client::{RawClient, wait_until};
use microweb::{Method, WebServer, WebSockets};

fn start() -> (WebServer, SocketAddr) {
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    server.config_mut().metrics_path = Some("/metrics".to_owned());
    server
        .route(Method::GET, "/hello", |_req, _resp| "hello")
        .unwrap();
    server
        .route(Method::POST, "/echo", |req, _resp| req.content().to_vec())
        .unwrap();
    let ws = server
        .load_module("WebSockets")
        .unwrap()
        .downcast::<WebSockets>()
        .unwrap();
    ws.add_path("/ws");
    server.start_managed(2, None).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

fn get(addr: SocketAddr, request: &str) -> http_client::RawResponse {
    let mut c = RawClient::connect(addr);
    c.send(request.as_bytes());
    c.read_response_within(Duration::from_secs(10)).unwrap()
}

fn scrape(addr: SocketAddr) -> String {
    let resp = get(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    resp.text()
}

/// The samples of a scrape as `name{labels} value` lines, parsed by Python's OpenMetrics parser.
fn parsed(text: &str) -> Vec<String> {
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value!r}")
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn value(samples: &[String], key: &str) -> f64 {
    samples
        .iter()
        .find_map(|s| s.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {key} in {samples:#?}"))
        .parse()
        .unwrap()
}

#[test]
fn the_scrape_parses_and_counts_what_was_sent() {
    if !python::interop_available() {
        return;
    }
    let (server, addr) = start();
    for _ in 0..5 {
        assert_eq!(
            get(addr, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n").status,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            get(addr, "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n").status,
            404
        );
    }
    for _ in 0..3 {
        let r = get(
            addr,
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd",
        );
        assert_eq!(r.text(), "abcd");
    }
    // Counted once the answer is out: wait until the last one is in.
    assert!(wait_until(Duration::from_secs(5), || {
        scrape(addr).contains("method=\"POST\",status=\"2xx\"} 3")
    }));
    // The five GETs and the scrapes made so far: a scrape is counted once its answer is out,
    // which may be just after the client has read it, so a later scrape shows it.
    let gets_of = |samples: &[String]| {
        value(
            samples,
            "microweb_http_requests_total{method=GET,status=2xx}",
        )
    };
    let mut samples = parsed(&scrape(addr));
    let counted = wait_until(Duration::from_secs(5), || {
        samples = parsed(&scrape(addr));
        gets_of(&samples) >= 6.0
    });
    assert!(counted, "the GETs and a scrape: {}", gets_of(&samples));
    assert_eq!(
        value(
            &samples,
            "microweb_http_requests_total{method=POST,status=2xx}"
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            "microweb_http_requests_total{method=GET,status=4xx}"
        ),
        2.0
    );
    let gets = gets_of(&samples);
    let count = value(&samples, "microweb_http_request_duration_seconds_count{}");
    assert_eq!(count, gets + 2.0 + 3.0);
    let inf = value(
        &samples,
        "microweb_http_request_duration_seconds_bucket{le=+Inf}",
    );
    assert_eq!(inf, count);
    assert!(value(&samples, "microweb_http_received_bytes_total{}") > 10.0 * 30.0);
    assert!(value(&samples, "microweb_http_sent_bytes_total{}") > 10.0 * 60.0);
    assert_eq!(
        value(&samples, "microweb_slots{}"),
        server.slots().unwrap().1 as f64
    );
    assert!(value(&samples, "microweb_connections_open{}") >= 1.0);
    assert_eq!(
        value(&samples, "microweb_memory_budget_in_use_bytes{}"),
        0.0
    );
    assert_eq!(
        value(&samples, "microweb_memory_budget_bytes{}"),
        server.memory_budget().unwrap().limit as f64
    );
    assert_eq!(value(&samples, "microweb_websockets_open{}"), 0.0);
}

#[test]
fn open_websockets_show_in_the_scrape() {
    let (_server, addr) = start();
    let stream = std::net::TcpStream::connect(addr).unwrap();
    let (socket, _) = tungstenite::client(format!("ws://{addr}/ws").as_str(), stream).unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        scrape(addr).contains("microweb_websockets_open 1\n")
    }));
    drop(socket);
    assert!(wait_until(Duration::from_secs(5), || {
        scrape(addr).contains("microweb_websockets_open 0\n")
    }));
}

#[test]
fn without_a_metrics_path_there_is_no_such_page() {
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    server.start_managed(1, None).unwrap();
    let addr = server.local_addrs()[0];
    assert_eq!(
        get(addr, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").status,
        404
    );
}

#[test]
fn the_binary_counts_tls_handshakes_completed_and_failed() {
    let certs = tempfile::tempdir().unwrap();
    let made = Command::new(cli_support::BIN)
        .args(["cert", "--out"])
        .arg(certs.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let demo = cli_support::Demo::start(&[
        "--metrics-path",
        "/metrics",
        "--https-bind",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let https = demo.listening(2)[1].1;
    let curl = |path: &str| {
        let out = Command::new("curl")
            .args(["-sk", "--max-time", "10"])
            .arg(format!("https://localhost:{}{path}", https.port()))
            .args([
                "--resolve",
                &format!("localhost:{}:127.0.0.1", https.port()),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    curl("/api/echo");
    // A client that sends garbage instead of a ClientHello: a failed handshake.
    let mut bad = std::net::TcpStream::connect(https).unwrap();
    std::io::Write::write_all(&mut bad, &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = std::io::Read::read(&mut bad, &mut [0u8; 64]);
    drop(bad);
    // Each scrape is a completed handshake of its own.
    assert!(
        wait_until(Duration::from_secs(5), || {
            let text = curl("/metrics");
            text.contains("microweb_tls_handshakes_failed_total 1\n")
                && text.contains("microweb_tls_handshakes_completed_total ")
        }),
        "{}",
        curl("/metrics")
    );
    let text = curl("/metrics");
    let completed: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("microweb_tls_handshakes_completed_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(completed >= 2, "{text}");
}
