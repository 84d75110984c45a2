//! The smallest microweb server: one route, managed start, Ctrl-C to stop.
//!
//! Run: `cargo run --example hello -- 127.0.0.1:8080`, then `curl http://127.0.0.1:8080/hello/you`.
//! A second argument names the preset (`Embedded`, `Light`, `Normal`, `Large`; default Normal).
//! It builds without any cargo feature: `cargo run --example hello --no-default-features`.

use microweb::{Method, Preset, WebServer};

fn main() -> Result<(), microweb::Error> {
    let addr = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
    let preset = std::env::args()
        .nth(2)
        .and_then(|p| Preset::from_name(&p))
        .unwrap_or(Preset::Normal);
    let mut server = WebServer::new();
    server.set_preset(preset);
    server.set_bind_address(addr).set_root_path("webroot");
    server.route(Method::GET, "/hello/<name>", |req, _resp| {
        format!("Hello, {}!\n", req.args().str("name").unwrap_or("stranger"))
    })?;
    server.start_managed(1, None)?;
    println!("listening on http://{}", server.local_addrs()[0]);
    server.wait();
    Ok(())
}
