//! The `microweb` binary started by `systemd-socket-activate` (Debian's `systemd`) serves the
//! listener it inherits (LISTEN_FDS) instead of binding `--bind`. Skipped when the tool is not
//! installed, unless `MICROWEB_REQUIRE_PEERS=1`.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; test code

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/peer_servers.rs"]
mod peer_servers;

use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use http_client::RawClient;
use peer_servers::{Peer, ScratchDir, available, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_microweb");
const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn a_socket_activated_binary_serves_the_inherited_listener() {
    if !available("systemd-socket-activate") {
        return;
    }
    // `--bind` names a port this test holds: binding it would fail, so an answer proves the
    // binary served the inherited socket.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().map(|a| (taken, a)).unwrap();
    let port = free_port();
    let dir = ScratchDir::new("activation");
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.current_dir(DIR)
        .args(["-l", &format!("127.0.0.1:{port}"), BIN])
        .args(["--bind", &taken.1.to_string(), "--threads", "1"]);
    let mut activator = Peer::spawn(cmd, dir.path().join("stderr.txt"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // systemd-socket-activate listens at once and starts microweb on the first connection.
    activator.wait_listening(addr);

    for _ in 0..2 {
        let mut c = RawClient::connect(addr);
        c.send(b"GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n");
        let resp = c
            .read_response_within(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("no answer: {}", activator.stderr_text()));
        assert_eq!(resp.status, 200);
        let got: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(got["path"], "/api/echo");
        // The index page comes from the same server.
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(c.read_response().unwrap().status, 200);
    }
    drop(taken);
}
