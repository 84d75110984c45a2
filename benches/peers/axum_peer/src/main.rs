//! axum on tokio's multi-thread runtime (one worker per core), serving the load benchmark's
//! endpoints: `GET /plaintext`, `GET /json` and the static folder under `/static/` through
//! tower-http's `ServeDir`, the way an axum user serves a static folder; TCP_NODELAY on.
//! With a certificate and key it serves HTTPS instead, through axum-server's rustls acceptor
//! (ring provider, as microweb), the way axum's users add TLS.
//!
//! Run: `axum_peer 127.0.0.1:PORT [STATIC_DIR [CERT.pem KEY.pem]]` (STATIC_DIR defaults to
//! `benches/static`).

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
    let tls = args.next().zip(args.next());
    let app = Router::new()
        .route("/plaintext", get(plaintext))
        .route("/json", get(json))
        .nest_service("/static", ServeDir::new(dir));
    if let Some((cert, key)) = tls {
        let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
        let listener = std::net::TcpListener::bind(&addr)?;
        listener.set_nonblocking(true)?;
        println!("listening on https://{}", listener.local_addr()?);
        // TCP_NODELAY under TLS too, as below for HTTP.
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
            .acceptor(axum_server::accept::NoDelayAcceptor::new());
        return axum_server::from_tcp(listener)?
            .acceptor(acceptor)
            .serve(app.into_make_service())
            .await;
    }
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // TCP_NODELAY as axum's `ListenerExt::tap_io` docs show: without it a response written in two
    // pieces (ServeDir's head, then the file) waits on the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
