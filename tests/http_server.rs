//! The server as a whole: start modes, several servers in one pool, IPv6, per-connection bounds,
//! logging, and the demo binary with its flags and its clean stop.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/server.rs"]
mod server_support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_client::{RawClient, roundtrip, wait_until};
use microweb::{Method, Preset, WebServer, pool::Pool, pool::PoolConfig, server::LogLevel};
use server_support::start;

#[test]
fn two_servers_share_a_pool_the_caller_owns() {
    let pool = Pool::new(PoolConfig::from_preset(Preset::Light)).unwrap();
    pool.start(2, None).unwrap();
    let mut servers = Vec::new();
    for name in ["one", "two"] {
        let mut s = WebServer::new();
        s.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
        s.route(Method::GET, "/who", move |_r, _p| name).unwrap();
        s.start_in_pool(&pool).unwrap();
        servers.push(s);
    }
    for (s, name) in servers.iter().zip(["one", "two"]) {
        let r = roundtrip(s.local_addrs()[0], b"GET /who HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        assert_eq!(r.text(), name);
    }
    // Stopping one server leaves the other and the pool running.
    let first = servers[0].local_addrs()[0];
    servers[0].stop();
    assert!(std::net::TcpStream::connect_timeout(&first, Duration::from_secs(1)).is_err());
    let r = roundtrip(
        servers[1].local_addrs()[0],
        b"GET /who HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.text(), "two");
    assert!(pool.is_running());
    drop(servers);
    assert!(wait_until(Duration::from_secs(5), || pool.free_slots()
        == pool.slots_count()));
    pool.stop();
}

#[test]
fn serves_ipv6_loopback() {
    let mut s = WebServer::new();
    s.set_bind_address("[::1]:0".parse().unwrap());
    s.route(Method::GET, "/v6", |req, _r| {
        req.user_address().is_ipv6().to_string()
    })
    .unwrap();
    if let Err(e) = s.start_managed(1, None) {
        eprintln!("skipped: no IPv6 loopback here ({e})");
        return;
    }
    let r = roundtrip(
        s.local_addrs()[0],
        b"GET /v6 HTTP/1.1\r\nHost: [::1]\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.text(), "true");
}

#[test]
fn bounds_the_requests_served_on_one_connection() {
    let (_server, addr) = start(|s| {
        s.config_mut().max_requests_per_connection = 2;
        s.route(Method::GET, "/n", |_r, _p| "n").unwrap();
    });
    let mut c = RawClient::connect(addr);
    c.send(b"GET /n HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read_response().unwrap().header("connection"), None);
    c.send(b"GET /n HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read_response().unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(5)));
}

#[test]
fn on_logging_receives_the_servers_messages() {
    let seen: Arc<Mutex<Vec<(LogLevel, String)>>> = Arc::default();
    let seen2 = seen.clone();
    let (_server, addr) = start(move |s| {
        s.on_logging(move |level, msg| seen2.lock().unwrap().push((level, msg.to_owned())));
        s.route(Method::GET, "/boom", |_r, _p| -> &'static str {
            panic!("boom")
        })
        .unwrap();
    });
    let listening = seen
        .lock()
        .unwrap()
        .iter()
        .any(|(l, m)| *l == LogLevel::Info && m.contains(&addr.to_string()));
    assert!(listening, "{:?}", seen.lock().unwrap());
    assert_eq!(
        roundtrip(addr, b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap()
            .status,
        500
    );
    assert!(wait_until(Duration::from_secs(5), || seen
        .lock()
        .unwrap()
        .iter()
        .any(|(l, m)| *l == LogLevel::Error && m.contains("panicked"))));
}

#[test]
fn refuses_to_start_twice_or_on_a_taken_port() {
    let (mut server, addr) = start(|_| {});
    assert!(matches!(
        server.start_managed(1, None),
        Err(microweb::Error::AlreadyRunning)
    ));
    let mut other = WebServer::new();
    other.set_bind_address(addr);
    match other.start_managed(1, None) {
        Err(microweb::Error::Bind(a, _)) => assert_eq!(a, addr),
        r => panic!("expected a bind error, got {r:?}"),
    }
    assert!(!other.is_running());
}

#[test]
fn the_demo_binary_serves_echo_and_stops_on_sigterm() {
    let bin = env!("CARGO_BIN_EXE_microweb");
    let help = Command::new(bin).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--bind", "--root", "--preset", "--threads", "--log"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    let bad = Command::new(bin)
        .args(["--preset", "huge"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));

    let mut child = Command::new(bin)
        .args([
            "--bind",
            "127.0.0.1:0",
            "--threads",
            "2",
            "--preset",
            "light",
            "--log",
            "warn",
        ])
        .arg("--root")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/webroot"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    let r = roundtrip(
        addr,
        b"GET /api/echo?x=1 HTTP/1.1\r\nHost: t\r\nX-Probe: yes\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["query"]["x"], "1");
    assert_eq!(v["headers"]["X-Probe"], "yes");
    let r = roundtrip(addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert!(r.text().contains("microweb"));

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the binary did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
