//! The access log over real sockets: one Combined Log Format line per answered request (GET,
//! POST, 404, keep-alive, HEAD), from the library's `on_access` hook and from the binary's
//! `--access-log FILE`, which is reopened on SIGHUP (logrotate).
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

mod cli_support;
#[path = "support/wait.rs"]
mod wait;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use microweb::access::{AccessHook, combined_line};
use microweb::{Method, WebServer};
use regex::Regex;
use wait::wait_until;

/// nginx's `combined` format, then `$request_time`.
fn combined() -> Regex {
    Regex::new(
        r#"^(?P<ip>\S+) - - \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "(?P<method>[A-Z]+) (?P<target>\S+) (?P<version>HTTP/1\.[01])" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)" (?P<duration>\d+\.\d{3})$"#,
    )
    .unwrap()
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_hook_sees_one_combined_line_per_answer() {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    let seen = lines.clone();
    server.config_mut().on_access = Some(AccessHook::new(move |r| {
        seen.lock().unwrap().push(combined_line(r));
    }));
    server
        .route(Method::GET, "/hello", |_req, _resp| "hello world")
        .unwrap();
    server
        .route(Method::POST, "/echo", |req, _resp| req.content().to_vec())
        .unwrap();
    server.start_managed(2, None).unwrap();
    let base = format!("http://{}", server.local_addrs()[0]);

    assert_eq!(
        curl(&[
            "-A",
            "probe/1.0",
            "-e",
            "http://ref.example/",
            &format!("{base}/hello?x=1")
        ]),
        "hello world"
    );
    assert_eq!(
        curl(&["--data-binary", "abcdef", &format!("{base}/echo")]),
        "abcdef"
    );
    curl(&[&format!("{base}/missing")]);
    // Two requests on one keep-alive connection, then a HEAD.
    curl(&[&format!("{base}/hello"), &format!("{base}/hello")]);
    curl(&["-I", &format!("{base}/hello")]);

    assert!(wait_until(Duration::from_secs(5), || lines
        .lock()
        .unwrap()
        .len()
        == 6));
    let lines = lines.lock().unwrap().clone();
    let re = combined();
    let fields: Vec<regex::Captures<'_>> = lines
        .iter()
        .map(|l| {
            re.captures(l.trim_end())
                .unwrap_or_else(|| panic!("not combined: {l:?}"))
        })
        .collect();
    let get = |i: usize, k: &str| fields[i].name(k).unwrap().as_str().to_owned();
    assert_eq!(get(0, "ip"), "127.0.0.1");
    assert_eq!(
        (
            get(0, "method"),
            get(0, "target"),
            get(0, "status"),
            get(0, "bytes")
        ),
        ("GET".into(), "/hello?x=1".into(), "200".into(), "11".into())
    );
    assert_eq!(
        (get(0, "referer"), get(0, "agent")),
        ("http://ref.example/".into(), "probe/1.0".into())
    );
    assert_eq!(
        (get(1, "method"), get(1, "status"), get(1, "bytes")),
        ("POST".into(), "200".into(), "6".into())
    );
    assert_eq!(
        (get(2, "target"), get(2, "status")),
        ("/missing".into(), "404".into())
    );
    assert!(get(2, "agent").starts_with("curl/"));
    assert_eq!(
        (get(3, "status"), get(4, "status")),
        ("200".into(), "200".into())
    );
    assert_eq!(
        (get(5, "method"), get(5, "status"), get(5, "bytes")),
        ("HEAD".into(), "200".into(), "0".into())
    );
    for f in &fields {
        assert!(f["duration"].parse::<f64>().unwrap() < 5.0);
    }
}

#[test]
fn the_binary_writes_its_access_log_and_reopens_it_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let demo = cli_support::Demo::start(&["--access-log", log.to_str().unwrap()]);
    let base = format!("http://{}", demo.http_addr());
    curl(&[&format!("{base}/api/echo?first=1")]);
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    assert!(wait_until(Duration::from_secs(5), || read(&log)
        .contains("/api/echo?first=1")));
    let first = read(&log);
    assert!(
        combined().is_match(first.lines().next().unwrap()),
        "{first}"
    );

    // logrotate: move the file away, then SIGHUP; the next line goes to a new file.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    demo.signal(rustix::process::Signal::HUP);
    assert!(wait_until(Duration::from_secs(5), || log.exists()));
    curl(&[&format!("{base}/api/echo?second=1")]);
    assert!(wait_until(Duration::from_secs(5), || read(&log)
        .contains("/api/echo?second=1")));
    assert!(!read(&rotated).contains("second=1"));
    assert!(read(&rotated).contains("first=1"));
}

#[test]
fn a_log_that_cannot_keep_up_drops_lines_and_counts_them_while_the_server_answers() {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;

    // A FIFO nobody reads past its first bytes: the writer thread blocks once the pipe is full.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stuck.log");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let log =
        microweb::access::AccessLog::open(microweb::access::AccessTarget::File(fifo.clone()), 4)
            .unwrap();
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    server.config_mut().on_access = Some(log.hook());
    server
        .route(Method::GET, "/<page>", |_req, _resp| "ok")
        .unwrap();
    server.start_managed(2, None).unwrap();
    let addr = server.local_addrs()[0];

    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let long = "x".repeat(2000);
    let requests = 300;
    let mut answered = 0;
    let mut buf = vec![0u8; 4096];
    let mut pending = Vec::new();
    for i in 0..requests {
        conn.write_all(format!("GET /{long}{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        // Each answer ends with its 2-byte body "ok".
        while !pending.ends_with(b"\r\n\r\nok") {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the server closed after {answered} answers");
            pending.extend_from_slice(&buf[..n]);
        }
        pending.clear();
        answered += 1;
    }
    assert_eq!(answered, requests);
    // 300 lines of 2 kB do not fit a 64 KiB pipe and a queue of 4: the rest were dropped.
    assert!(
        wait_until(Duration::from_secs(5), || log.dropped() >= 200),
        "{}",
        log.dropped()
    );
    assert!(log.dropped() < requests);
}

/// Sends `bytes` on a fresh connection and reads until the server closes it.
fn send_raw(addr: SocketAddr, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn requests_refused_before_a_handler_are_logged_too() {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    server.config_mut().requests_timeout = Duration::from_millis(300);
    server.config_mut().max_request_content_length = 1000;
    let seen = lines.clone();
    server.config_mut().on_access = Some(AccessHook::new(move |r| {
        seen.lock().unwrap().push(combined_line(r));
    }));
    server
        .route(Method::POST, "/echo", |req, _resp| req.content().to_vec())
        .unwrap();
    server.start_managed(2, None).unwrap();
    let addr = server.local_addrs()[0];

    let cases: [(&[u8], &str, &str); 5] = [
        // A malformed request line: logged as received, escaped as nginx does.
        (
            b"GET /a\"b HTTP/9\r\n\r\n",
            "400",
            r#""GET /a\x22b HTTP/9""#,
        ),
        // Binary garbage (a TLS hello on a plain port).
        (
            b"\x16\x03\x01\x02\x00\x01\r\n\r\n",
            "400",
            r#""\x16\x03\x01\x02\x00\x01""#,
        ),
        // A head larger than the slot.
        (
            &[b"GET /".as_slice(), &[b'x'; 9000], b" HTTP/1.1\r\n\r\n"].concat(),
            "431",
            "\"GET /xxx",
        ),
        // A declared body over the limit: refused at the head, which is logged whole.
        (
            b"POST /echo HTTP/1.1\r\nHost: a\r\nUser-Agent: big/1\r\nContent-Length: 5000\r\n\r\n",
            "413",
            r#""POST /echo HTTP/1.1" 413"#,
        ),
        // A head that stops halfway: 408 once the head timeout passes.
        (
            b"GET /slow HTTP/1.1\r\nHost:",
            "408",
            r#""GET /slow HTTP/1.1" 408"#,
        ),
    ];
    for (i, (bytes, status, request)) in cases.iter().enumerate() {
        let answer = send_raw(addr, bytes);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "case {i}: {answer:?}"
        );
        assert!(
            wait_until(Duration::from_secs(5), || lines.lock().unwrap().len()
                == i + 1),
            "case {i}: no line"
        );
        let line = lines.lock().unwrap()[i].clone();
        assert!(line.starts_with("127.0.0.1 - - ["), "case {i}: {line}");
        assert!(line.contains(request), "case {i}: {line}");
        assert!(line.contains(&format!("\" {status} ")), "case {i}: {line}");
    }
    // A connection that sends nothing and is closed idle is no request: nothing logged.
    drop(std::net::TcpStream::connect(addr).unwrap());
    assert_eq!(send_raw(addr, b""), "");
    assert!(
        !wait_until(Duration::from_millis(500), || lines.lock().unwrap().len()
            > 5),
        "{:?}",
        lines.lock().unwrap()
    );
}
