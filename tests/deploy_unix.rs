//! Listening on Unix sockets: curl over the socket, the file's mode, a stale file replaced but
//! a live socket or another file left alone, the file removed at stop, `user_address` `unix`
//! (or the client a trusted proxy on the socket names), and the binary's `--bind unix:PATH`.
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

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cli_support::Demo;
use http_client::wait_until;
use microweb::WebServer;
use microweb::proxy::TrustedProxies;
use peer_servers::{ScratchDir, route_who};

/// A server on the Unix socket `path` only, with `/who`.
fn unix_server(path: &Path, trusted: &[&str]) -> microweb::Result<WebServer> {
    let mut server = WebServer::new();
    server.set_bind_addresses(Vec::new());
    let config = server.config_mut();
    config.unix_binds = vec![path.to_path_buf()];
    config.unix_socket_mode = Some(0o660);
    config.trusted_proxies = TrustedProxies::from_list(trusted).unwrap();
    route_who(&mut server, "unix");
    server.start_managed(1, None)?;
    Ok(server)
}

/// `curl --unix-socket path http://localhost/who` with extra headers, as JSON.
fn curl_who(path: &Path, headers: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--unix-socket"])
        .arg(path);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg("http://localhost/who").output().unwrap();
    assert!(out.status.success(), "curl: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn serves_http_on_a_unix_socket_and_removes_the_file_at_stop() {
    let dir = ScratchDir::new("unix");
    let path = dir.path().join("web.sock");
    let mut server = unix_server(&path, &[]).unwrap();
    assert_eq!(server.unix_paths(), std::slice::from_ref(&path));
    assert!(server.local_addrs().is_empty());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    // Forwarding headers from an untrusted peer change nothing: the client is `unix`.
    let got = curl_who(&path, &["X-Forwarded-For: 203.0.113.9"]);
    assert_eq!(got["user_address"], "unix");
    assert_eq!(got["peer_address"], "unix");

    server.stop();
    assert!(!path.exists(), "the socket file is removed at stop");
}

#[test]
fn a_trusted_proxy_on_the_unix_socket_names_the_client() {
    let dir = ScratchDir::new("unix-trust");
    let path = dir.path().join("web.sock");
    let _server = unix_server(&path, &["unix"]).unwrap();
    let got = curl_who(&path, &["X-Forwarded-For: 203.0.113.9"]);
    assert_eq!(got["user_address"], "203.0.113.9:0");
    assert_eq!(got["peer_address"], "unix");
}

#[test]
fn a_stale_socket_file_is_replaced_but_a_live_one_or_another_file_is_not() {
    let dir = ScratchDir::new("unix-stale");
    let path = dir.path().join("web.sock");

    // Something listens there: the server does not start, the socket stays usable.
    let live = UnixListener::bind(&path).unwrap();
    let err = unix_server(&path, &[]).unwrap_err().to_string();
    assert!(
        err.contains("already listens") && err.contains("web.sock"),
        "{err}"
    );
    assert!(path.exists());

    // The listener is gone but its file stays behind (a crashed server): replaced.
    drop(live);
    assert!(path.exists());
    let server = unix_server(&path, &[]).unwrap();
    assert_eq!(curl_who(&path, &[])["user_address"], "unix");
    drop(server);

    // A file that is not a socket is never removed.
    let plain = dir.path().join("notes.txt");
    std::fs::write(&plain, "keep me").unwrap();
    let err = unix_server(&plain, &[]).unwrap_err().to_string();
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), "keep me");
}

#[test]
fn the_binary_listens_on_a_unix_socket_beside_tcp_and_removes_it_at_exit() {
    let dir = ScratchDir::new("unix-cli");
    let path = dir.path().join("demo.sock");
    let bind = format!("unix:{}", path.display());
    let mut demo = Demo::start(&["--bind", &bind, "--unix-socket-mode", "600"]);
    let tcp = demo.http_addr();
    assert!(wait_until(Duration::from_secs(10), || path.exists()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--unix-socket"])
        .arg(&path)
        .arg("http://localhost/api/echo")
        .output()
        .unwrap();
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["user_address"], "unix");
    // TCP keeps serving beside it.
    let resp = http_client::roundtrip(tcp, b"GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.unwrap().status, 200);

    demo.signal(rustix::process::Signal::TERM);
    let status = demo.exited_within(Duration::from_secs(15)).expect("exits");
    assert!(status.success());
    assert!(!path.exists(), "the socket file is removed at exit");
}
