//! The smallest microweb server: one route, managed start, Ctrl-C to stop.
//!
//! Run: `cargo run --example hello -- 127.0.0.1:8080`, then `curl http://127.0.0.1:8080/hello/you`.

use microweb::{Method, WebServer};

fn main() -> Result<(), microweb::Error> {
    let addr = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
    let mut server = WebServer::new();
    server.set_bind_address(addr).set_root_path("webroot");
    server.route(Method::GET, "/hello/<name>", |req, _resp| {
        format!("Hello, {}!\n", req.args().str("name").unwrap_or("stranger"))
    })?;
    server.start_managed(1, None)?;
    println!("listening on http://{}", server.local_addrs()[0]);
    server.wait();
    Ok(())
}
