//! The demo's routes and modules: what `cargo run --release` serves besides `webroot/`.

use std::path::Path;

use microweb::{Json, Method, WebServer, WebSocketGroup, WebSockets};

/// Installs the demo routes on `server`.
pub(crate) fn install(server: &mut WebServer, templates: &Path) {
    let _ = templates;
    let echo = |req: &microweb::Request<'_>, _: &mut microweb::Response| {
        let headers: serde_json::Map<String, serde_json::Value> = req
            .headers()
            .map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned().into()))
            .collect();
        let query: serde_json::Map<String, serde_json::Value> = req
            .query_params()
            .map(|(k, v)| (k.into_owned(), v.into_owned().into()))
            .collect();
        Json(serde_json::json!({
            "method": req.method().as_str(),
            "path": req.path(),
            "query_string": req.query_string(),
            "query": query,
            "headers": headers,
            "body": String::from_utf8_lossy(req.content()),
            "user_address": req.user_address().to_string(),
        }))
    };
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ] {
        if let Err(e) = server.route(method, "/api/echo", echo) {
            log::error!("demo route /api/echo: {e}");
        }
    }
    install_websockets(server);
}

/// The chat page's sockets: `/ws/chat` broadcasts every text message to every open chat socket
/// (`webroot/wschat.html` connects there), `/ws/echo` sends text back as text and binary as
/// binary.
fn install_websockets(server: &mut WebServer) {
    let ws = match server.load_module("WebSockets") {
        Ok(handle) => handle.downcast::<WebSockets>(),
        Err(e) => {
            log::error!("demo: {e}");
            return;
        }
    };
    let Some(ws) = ws else {
        return;
    };
    ws.add_path("/ws/chat");
    ws.add_path("/ws/echo");
    ws.on_websocket_protocol(|_request, offered| {
        offered.iter().find(|p| *p == "microweb-chat").cloned()
    });
    let room = WebSocketGroup::new();
    ws.on_websocket_accepted(move |socket| {
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
}
