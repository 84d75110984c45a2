//! Starts a `WebServer` on 127.0.0.1:0 for a test; it stops when dropped.
#![allow(dead_code, unreachable_pub)] // shared by many test crates

use std::net::SocketAddr;
use std::time::Duration;

use microweb::WebServer;

/// Starts a server configured by `configure` (Normal preset, root `webroot/`, 2 workers).
pub fn start(configure: impl FnOnce(&mut WebServer)) -> (WebServer, SocketAddr) {
    let mut server = WebServer::new();
    server
        .set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)))
        .set_root_path(concat!(env!("CARGO_MANIFEST_DIR"), "/webroot"));
    configure(&mut server);
    server.start_managed(2, None).expect("server starts");
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// Waits until every buffer slot of `server` is free again (5 s bound).
pub fn all_slots_free(server: &WebServer) -> bool {
    super::http_client::wait_until(Duration::from_secs(5), || {
        let (free, total) = server.slots().expect("running");
        free == total
    })
}
