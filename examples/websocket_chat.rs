//! A chat server: serves `webroot/wschat.html` and broadcasts every message of the chat socket
//! (`/ws/chat`) to every open page; `/ws/echo` echoes text as text and binary as binary.
//!
//! Run: `cargo run --example websocket_chat -- 127.0.0.1:8080`, then open
//! `http://127.0.0.1:8080/wschat.html` in two browser windows.

use std::sync::Arc;

use microweb::{WebServer, WebSockets, mods::websockets::WebSocketGroup};

fn main() -> Result<(), microweb::Error> {
    let addr = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
    let mut server = WebServer::new();
    server.set_bind_address(addr).set_root_path("webroot");

    let ws = Arc::new(WebSockets::new());
    ws.add_path("/ws/chat");
    ws.add_path("/ws/echo");
    ws.on_websocket_protocol(|_request, offered| {
        offered.iter().find(|p| *p == "microweb-chat").cloned()
    });
    let room = WebSocketGroup::new();
    ws.on_websocket_accepted(move |socket| {
        println!(
            "WebSocket {} from {}",
            socket.request().path(),
            socket.request().user_address()
        );
        if socket.request().path() == "/ws/echo" {
            socket.on_text_message(|s, text| {
                let _ = s.send_text_message(text);
            });
            socket.on_binary_message(|s, data| {
                let _ = s.send_binary_message(data);
            });
            return;
        }
        room.add(socket);
        let r = room.clone();
        socket.on_text_message(move |_, text| {
            r.broadcast_text(text);
        });
        let r = room.clone();
        socket.on_closed(move |s| {
            r.remove(s);
        });
    });
    server.add_module(ws);

    server.start_managed(2, None)?;
    println!("listening on http://{}", server.local_addrs()[0]);
    server.wait();
    Ok(())
}
