//! Shared helpers of the WebSocket tests: a server with the WebSockets module, and clients.
#![allow(clippy::disallowed_types, clippy::disallowed_methods, dead_code)] // IO edge

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use microweb::{WebServer, WebSockets};
use tungstenite::WebSocket as Client;
use tungstenite::handshake::client::Response as ClientResponse;

// The raw HTTP client comes through here, so a crate using both loads each file once.
#[path = "../support/http_client.rs"]
pub(crate) mod http_client;
pub(crate) use http_client::wait_until;

/// Starts a server on 127.0.0.1:0 with the WebSockets module set up by `configure`.
pub(crate) fn start(
    configure: impl FnOnce(&WebSockets),
) -> (WebServer, SocketAddr, Arc<WebSockets>) {
    let mut server = WebServer::new();
    server.set_bind_address(SocketAddr::from(([127, 0, 0, 1], 0)));
    let ws = server
        .load_module("WebSockets")
        .expect("load_module")
        .downcast::<WebSockets>()
        .expect("downcast");
    configure(&ws);
    server.start_managed(2, None).expect("start");
    let addr = server.local_addrs()[0];
    (server, addr, ws)
}

/// Makes every accepted socket echo: text as text, binary as binary.
pub(crate) fn echo(ws: &WebSockets) {
    ws.on_websocket_accepted(|socket| {
        socket.on_text_message(|s, t| {
            let _ = s.send_text_message(t);
        });
        socket.on_binary_message(|s, b| {
            let _ = s.send_binary_message(b);
        });
    });
}

/// Opens a client WebSocket to `path` (reads bounded by 10 s).
pub(crate) fn connect(addr: SocketAddr, path: &str) -> (Client<TcpStream>, ClientResponse) {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    stream.set_nodelay(true).ok();
    let url = format!("ws://{addr}{path}");
    tungstenite::client(url.as_str(), stream).expect("handshake")
}

/// Waits (bounded) until every buffer slot of the server is free again.
pub(crate) fn slots_all_free(server: &WebServer) -> bool {
    wait_until(
        Duration::from_secs(5),
        || matches!(server.slots(), Some((free, total)) if free == total),
    )
}
