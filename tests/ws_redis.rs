//! WebSocket groups across instances through a real redis-server (Debian's), started by the
//! test on a loopback port: a message sent on instance A reaches the members on A and on B exactly
//! once, text and binary; with Redis stopped, local broadcast and the event loops go on; after
//! Redis restarts, messages cross again; and two `microweb --ws-redis` processes share one chat
//! room. Skipped when redis-server is not installed, unless `MICROWEB_REQUIRE_PEERS=1`.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

mod cli_support;
#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/peer_servers.rs"]
mod peer_servers;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli_support::Demo;
use microweb::{
    WebServer, WebSockets, mods::websockets::GroupBackend, mods::websockets::RedisBackend,
    mods::websockets::WebSocketGroup,
};
use peer_servers::{Peer, ScratchDir, available, free_port};
use tungstenite::{Error as WsError, Message};

type Client = tungstenite::WebSocket<TcpStream>;

/// Starts redis-server on 127.0.0.1:`port`, keeping nothing on disk.
fn start_redis(dir: &ScratchDir, port: u16) -> Peer {
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir.path());
    let mut redis = Peer::spawn(cmd, dir.path().join(format!("redis-{port}.txt")));
    redis.wait_listening(SocketAddr::from(([127, 0, 0, 1], port)));
    redis
}

/// An instance: `/ws/chat` joins the room (shared through `backend`) and broadcasts what it
/// gets; `/ws/echo` echoes.
fn instance(backend: &Arc<dyn GroupBackend>) -> (WebServer, SocketAddr) {
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    let ws = server
        .load_module("WebSockets")
        .unwrap()
        .downcast::<WebSockets>()
        .unwrap();
    let room = WebSocketGroup::shared("room", Arc::clone(backend));
    ws.on_websocket_accepted(move |socket| {
        if socket.request().path() == "/ws/echo" {
            socket.on_text_message(|s, t| {
                let _ = s.send_text_message(t);
            });
            return;
        }
        room.add(socket);
        let r = room.clone();
        socket.on_text_message(move |_, text| {
            r.broadcast_text(text);
        });
        let r = room.clone();
        socket.on_binary_message(move |_, data| {
            r.broadcast_binary(data);
        });
    });
    server.start_managed(2, None).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

fn connect(addr: SocketAddr, path: &str) -> Client {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    tungstenite::client(format!("ws://{addr}{path}").as_str(), stream)
        .unwrap()
        .0
}

/// The next data message within `limit`, or `None` when none came.
fn next_message(client: &mut Client, limit: Duration) -> Option<Message> {
    client.get_ref().set_read_timeout(Some(limit)).unwrap();
    loop {
        match client.read() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => return Some(m),
            Ok(_) => {}
            Err(WsError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(e) => panic!("the socket failed: {e}"),
        }
    }
}

/// Sends probes from `from` until `to` hears one (Redis subscriptions take a moment), then
/// drains what is left of them on both; true when they crossed within 20 s.
fn wait_crossing(from: &mut Client, to: &mut Client) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut crossed = false;
    while !crossed && Instant::now() < deadline {
        from.send(Message::text("probe")).unwrap();
        crossed = next_message(to, Duration::from_millis(200)).is_some();
    }
    while next_message(from, Duration::from_millis(300)).is_some() {}
    while next_message(to, Duration::from_millis(300)).is_some() {}
    crossed
}

/// Exactly one copy of `expected` reaches `client`: it arrives within 10 s and nothing follows
/// it within a short window.
fn heard_once(client: &mut Client, expected: &Message) {
    assert_eq!(
        next_message(client, Duration::from_secs(10)).as_ref(),
        Some(expected)
    );
    assert_eq!(
        next_message(client, Duration::from_millis(500)),
        None,
        "a duplicate"
    );
}

/// The 99th percentile of `n` echo round trips on `client`.
fn echo_p99(client: &mut Client, n: usize) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let started = Instant::now();
            let text = format!("ping {i}");
            client.send(Message::text(text.clone())).unwrap();
            assert_eq!(
                next_message(client, Duration::from_secs(10)),
                Some(Message::text(text))
            );
            started.elapsed()
        })
        .collect();
    times.sort();
    times[n * 99 / 100]
}

#[test]
fn a_room_spans_two_instances_and_survives_a_redis_restart() {
    if !available("redis-server") {
        return;
    }
    let dir = ScratchDir::new("redis");
    let port = free_port();
    let redis = start_redis(&dir, port);
    let url = format!("redis://127.0.0.1:{port}");
    let backend_a: Arc<dyn GroupBackend> = Arc::new(RedisBackend::connect(&url).unwrap());
    let backend_b: Arc<dyn GroupBackend> = Arc::new(RedisBackend::connect(&url).unwrap());
    let (_a, a) = instance(&backend_a);
    let (_b, b) = instance(&backend_b);
    let (mut on_a, mut also_on_a, mut on_b) = (
        connect(a, "/ws/chat"),
        connect(a, "/ws/chat"),
        connect(b, "/ws/chat"),
    );
    assert!(wait_crossing(&mut on_a, &mut on_b), "A to B through Redis");
    while next_message(&mut also_on_a, Duration::from_millis(300)).is_some() {}

    // Text and binary from A: every member on A and on B hears it once (the sender included,
    // as in a chat room); nothing comes back from Redis to A a second time.
    for message in [
        Message::text("hello from A"),
        Message::binary(vec![0u8, 1, 2, 255]),
    ] {
        on_a.send(message.clone()).unwrap();
        for client in [&mut on_a, &mut also_on_a, &mut on_b] {
            heard_once(client, &message);
        }
    }
    // And from B to A.
    let from_b = Message::text("hello from B");
    on_b.send(from_b.clone()).unwrap();
    for client in [&mut on_b, &mut on_a, &mut also_on_a] {
        heard_once(client, &from_b);
    }

    // Redis stops: the room goes on locally, and the event loop answers as fast as before.
    let mut echo = connect(a, "/ws/echo");
    let before = echo_p99(&mut echo, 200);
    drop(redis);
    let local = Message::text("while Redis is down");
    on_a.send(local.clone()).unwrap();
    heard_once(&mut on_a, &local);
    heard_once(&mut also_on_a, &local);
    assert_eq!(next_message(&mut on_b, Duration::from_millis(500)), None);
    let during = echo_p99(&mut echo, 200);
    eprintln!("echo p99 with Redis up {before:?}, down {during:?}");
    assert!(
        during < before.max(Duration::from_millis(5)) * 10,
        "echo p99 {during:?} with Redis down against {before:?}"
    );

    // Redis is back on the same port: the backends reconnect and resubscribe.
    let _redis = start_redis(&dir, port);
    assert!(
        wait_crossing(&mut on_a, &mut on_b),
        "A to B again after the restart"
    );
    while next_message(&mut also_on_a, Duration::from_millis(300)).is_some() {}
    let again = Message::text("after the restart");
    on_a.send(again.clone()).unwrap();
    for client in [&mut on_a, &mut also_on_a, &mut on_b] {
        heard_once(client, &again);
    }
}

#[test]
fn two_binaries_with_ws_redis_share_the_demo_chat() {
    if !available("redis-server") {
        return;
    }
    let dir = ScratchDir::new("redis-cli");
    let port = free_port();
    let redis = start_redis(&dir, port);
    let url = format!("redis://127.0.0.1:{port}");
    let first = Demo::start(&["--ws-redis", &url]);
    let second = Demo::start(&["--ws-redis", &url]);
    let mut alice = connect(first.http_addr(), "/ws/chat?name=alice");
    let mut bob = connect(second.http_addr(), "/ws/chat?name=bob");
    // Bob's join notice crosses to Alice once the instances' subscriptions are up; probes
    // from Alice until Bob hears one make sure of it.
    assert!(
        wait_crossing(&mut alice, &mut bob),
        "the chat crosses instances"
    );
    let said = Message::text("alice: hi bob");
    alice.send(said.clone()).unwrap();
    heard_once(&mut bob, &said);
    heard_once(&mut alice, &said);

    // Redis stops: each instance logs one warning for the outage (not one per retry or
    // message) and its chat goes on locally.
    drop(redis);
    let local = Message::text("alice: anyone still here?");
    alice.send(local.clone()).unwrap();
    heard_once(&mut alice, &local);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut warnings = 0;
    while Instant::now() < deadline && warnings == 0 {
        if let Ok(line) = first.stderr.recv_timeout(Duration::from_millis(200)) {
            warnings += usize::from(line.contains("WARN") && line.contains("deliver locally"));
        }
    }
    assert_eq!(warnings, 1, "a warning names the outage");
    // Retries go on with backoff, quietly.
    for _ in 0..3 {
        alice.send(Message::text("alice: still local")).unwrap();
        assert!(next_message(&mut alice, Duration::from_secs(10)).is_some());
    }
    let more = first.stderr_lines(Duration::from_secs(2));
    assert!(
        !more.iter().any(|l| l.contains("deliver locally")),
        "one warning per outage: {more:?}"
    );
}

#[test]
fn a_full_publish_queue_drops_and_counts_without_blocking_the_broadcaster() {
    // A "Redis" that accepts connections and never answers: the publisher thread hangs in its
    // connection's first command, so the queue fills. No redis-server needed.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let config = microweb::mods::websockets::RedisConfig::new(&url).with_queue_capacity(4);
    let backend = Arc::new(RedisBackend::start(config).unwrap());
    let room = WebSocketGroup::shared("room", backend.clone());
    for i in 0..1000 {
        room.broadcast_text(&format!("message {i}"));
    }
    let stats = backend.stats();
    assert_eq!(stats.published, 0, "{stats:?}");
    // Only the queue's four and the message the publisher holds may be kept (for now).
    assert!(stats.dropped >= 1000 - 5, "{stats:?}");
    // The publisher may be waiting for an answer (2 s at most); stopping does not wait longer.
    let started = Instant::now();
    backend.stop();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stop took {:?}",
        started.elapsed()
    );
}
