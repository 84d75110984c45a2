//! The demo's routes and modules: what `cargo run --release` serves besides `webroot/`.

use std::path::Path;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use microweb::{
    Json, Method, TemplateResponseExt, WebServer, WebSockets, mods::websockets::GroupBackend,
    mods::websockets::WebSocketGroup, server::ResponseStream,
};

/// Installs the demo routes on `server`; with `chat_backend`, the chat room spans every
/// instance joined to it (`--ws-redis`).
pub(crate) fn install(
    server: &mut WebServer,
    templates: &Path,
    chat_backend: Option<&Arc<dyn GroupBackend>>,
) {
    install_templates(server, templates);
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
            "peer_address": req.peer_address().to_string(),
            "is_ssl": req.is_tls(),
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
    if let Err(e) = server.route(Method::GET, "/events", |req, resp| {
        // A browser following a link asks for a page, not for the stream: show it the page that
        // reads the stream with EventSource (which asks for text/event-stream).
        if wants_page(req.get_header("accept").unwrap_or("")) {
            resp.return_redirect("/clock.html");
            return;
        }
        clock_subscribe(resp.event_stream());
    }) {
        log::error!("demo route /events: {e}");
    }
    let handle = server.handle();
    if let Err(e) = server.route(Method::GET, "/api/stats", move |_req, _resp| {
        let budget = handle.memory_budget().map(|b| {
            serde_json::json!({
                "limit": b.limit,
                "in_use": b.in_use,
                "high_water": b.high_water,
                "waiting": b.waiting,
            })
        });
        let slots = handle
            .slots()
            .map(|(free, total)| serde_json::json!({ "free": free, "total": total }));
        Json(serde_json::json!({ "memory_budget": budget, "slots": slots }))
    }) {
        log::error!("demo route /api/stats: {e}");
    }
    install_websockets(server, chat_backend);
}

/// Returns whether an `Accept` header asks for an HTML page rather than an event stream.
fn wants_page(accept: &str) -> bool {
    let accept = accept.to_ascii_lowercase();
    accept.contains("text/html") && !accept.contains("text/event-stream")
}

/// The SSE clock's subscribers; one thread ticks for all of them.
static CLOCK_CLIENTS: Mutex<Vec<ResponseStream>> = Mutex::new(Vec::new());

/// Adds a client to the SSE clock at `/events` (an event `tick` with the Unix time each second).
fn clock_subscribe(stream: ResponseStream) {
    static START: Once = Once::new();
    let _ = stream.send_event(
        "connected",
        Some("hello"),
        None,
        Some(Duration::from_secs(3)),
    );
    if let Ok(mut clients) = CLOCK_CLIENTS.lock() {
        clients.push(stream);
    }
    START.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("demo-clock".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    if let Ok(mut clients) = CLOCK_CLIENTS.lock() {
                        // A client that left (or reads too slowly) is dropped.
                        clients.retain(|c| {
                            c.send_event(
                                serde_json::json!({ "unix": now }),
                                Some("tick"),
                                None,
                                None,
                            )
                            .is_ok()
                        });
                    }
                }
            });
        if let Err(e) = spawned {
            log::error!("demo: cannot start the clock: {e}");
        }
    });
}

/// Loads the Templates module over `templates` (pages by URL, such as `/test.html`) and adds
/// `/hello/<name>`, a route that renders `hello.html` with its own context.
fn install_templates(server: &mut WebServer, templates: &Path) {
    server.set_templates_path(templates);
    match server.load_module("Templates") {
        Ok(handle) => {
            if let Some(t) = handle.downcast::<microweb::TemplatesModule>() {
                t.set_global_var("site_name", serde_json::json!("microweb demo"));
                t.set_global_var("visits", serde_json::json!(0));
            }
        }
        Err(e) => log::error!("demo templates: {e}"),
    }
    let hello = |req: &microweb::Request<'_>, resp: &mut microweb::Response| {
        let shout = req.query_param("shout").is_some();
        resp.return_template("hello.html", serde_json::json!({ "shout": shout }));
    };
    if let Err(e) = server.route(Method::GET, "/hello/<name>", hello) {
        log::error!("demo route /hello/<name>: {e}");
    }
}

/// The chat page's sockets: `/ws/chat` broadcasts every text message to every open chat socket
/// (`webroot/wschat.html` connects there) and tells the room when someone joins or leaves
/// (`* NAME joined (N in the room)`, NAME from `?name=`); `/ws/echo` sends text back as text and
/// binary as binary.
fn install_websockets(server: &mut WebServer, chat_backend: Option<&Arc<dyn GroupBackend>>) {
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
    let room = match chat_backend {
        Some(backend) => WebSocketGroup::shared("chat", Arc::clone(backend)),
        None => WebSocketGroup::new(),
    };
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
        let name = chat_name(socket.request().query_string());
        room.add(socket);
        room.broadcast_text(&format!("* {name} joined ({} in the room)", room.len()));
        let r = room.clone();
        socket.on_text_message(move |_, text| {
            r.broadcast_text(text);
        });
        let r = room.clone();
        socket.on_closed(move |s| {
            r.remove(s);
            r.broadcast_text(&format!("* {name} left ({} in the room)", r.len()));
        });
    });
}

/// The name a chat socket announces: `?name=` (at most 24 letters, digits, `-`, `_` or `.`), or
/// "a guest".
fn chat_name(query: &str) -> String {
    let name: String = microweb::http::form_pairs(query.as_bytes())
        .find(|(k, _)| k == "name")
        .map(|(_, v)| {
            v.chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .take(24)
                .collect()
        })
        .unwrap_or_default();
    if name.is_empty() {
        "a guest".to_owned()
    } else {
        name
    }
}
