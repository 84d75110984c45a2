//! axum on tokio's multi-thread runtime (one worker per core), serving the load benchmark's
//! endpoints: `GET /plaintext`, `GET /json` and the static folder under `/static/` through
//! tower-http's `ServeDir`, the way an axum user serves a static folder; TCP_NODELAY on.
//!
//! Run: `axum_peer 127.0.0.1:PORT [STATIC_DIR]` (STATIC_DIR defaults to `benches/static`).

use axum::{Json, Router, routing::get, serve::ListenerExt};
use serde::Serialize;
use tower_http::services::ServeDir;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn plaintext() -> &'static str {
    "Hello, World!"
}

async fn json() -> Json<Message> {
    Json(Message {
        message: "Hello, World!",
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    let dir = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../static").to_owned());
    let app = Router::new()
        .route("/plaintext", get(plaintext))
        .route("/json", get(json))
        .nest_service("/static", ServeDir::new(dir));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // TCP_NODELAY as axum's `ListenerExt::tap_io` docs show: without it a response written in two
    // pieces (ServeDir's head, then the file) waits on the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
