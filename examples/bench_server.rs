//! The benchmark's microweb side: `/plaintext`, `/json` and `/static/index.html` (from
//! `benches/static/`), as the peers in `benches/peers/` serve them, and the WebSocket echo
//! `/ws/echo` (text back as text, binary as binary), as `tokio_tungstenite_peer` serves it.
//!
//! Run: `cargo run --release --example bench_server -- 127.0.0.1:18080 [--threads N] [--preset NAME]
//! [--pin-threads] [--tls-cert FILE --tls-key FILE]` (with both TLS flags it serves HTTPS;
//! `--pin-threads` pins each event loop to its own CPU, `ServerConfig::pin_threads`).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::net::SocketAddr;
use std::sync::Arc;

use microweb::{Json, Method, Preset, WebServer, WebSockets};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut addr: SocketAddr = "127.0.0.1:18080".parse()?;
    let mut threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut preset = Preset::Normal;
    let mut tls: (Option<String>, Option<String>) = (None, None);
    let mut pin_threads = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = args.next().ok_or("--threads needs a value")?.parse()?,
            "--preset" => {
                let name = args.next().ok_or("--preset needs a value")?;
                preset = Preset::from_name(&name).ok_or("unknown preset")?;
            }
            "--pin-threads" => pin_threads = true,
            "--tls-cert" => tls.0 = Some(args.next().ok_or("--tls-cert needs a file")?),
            "--tls-key" => tls.1 = Some(args.next().ok_or("--tls-key needs a file")?),
            other => addr = other.parse()?,
        }
    }

    let mut server = WebServer::new();
    server
        .set_preset(preset)
        .set_bind_address(addr)
        .set_root_path("benches");
    server.config_mut().pin_threads = pin_threads;
    let scheme = match tls {
        (Some(cert), Some(key)) => {
            server.enable_ssl(cert, key, None)?;
            "https"
        }
        (None, None) => "http",
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    server.route(Method::GET, "/plaintext", |_req, _resp| "Hello, World!")?;
    server.route(Method::GET, "/json", |_req, _resp| {
        Json(Message {
            message: "Hello, World!",
        })
    })?;
    let ws = Arc::new(WebSockets::new());
    ws.add_path("/ws/echo");
    ws.on_websocket_accepted(|socket| {
        socket.on_text_message(|s, text| {
            let _ = s.send_text_message(text);
        });
        socket.on_binary_message(|s, data| {
            let _ = s.send_binary_message(data);
        });
    });
    server.add_module(ws);
    server.start_managed(threads, None)?;
    println!("listening on {scheme}://{}", server.local_addrs()[0]);

    let handle = server.handle();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            handle.stop();
        }
    });
    server.wait();
    Ok(())
}
