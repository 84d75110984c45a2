//! actix-web (its default: one worker per core) serving the load benchmark's endpoints:
//! `GET /plaintext`, `GET /json` and the static folder under `/static/` through actix-files,
//! the way an actix user serves a static folder; TCP_NODELAY on.
//!
//! Run: `actix_peer 127.0.0.1:PORT [STATIC_DIR]` (STATIC_DIR defaults to `benches/static`).

use actix_files::Files;
use actix_web::{App, HttpResponse, HttpServer, http::header::ContentType, web};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn plaintext() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body("Hello, World!")
}

async fn json() -> HttpResponse {
    HttpResponse::Ok().json(Message {
        message: "Hello, World!",
    })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18082".to_owned());
    let dir = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../static").to_owned());
    let server = HttpServer::new(move || {
        App::new()
            .route("/plaintext", web::get().to(plaintext))
            .route("/json", web::get().to(json))
            .service(Files::new("/static", &dir))
    })
    // actix-web leaves Nagle's algorithm on unless told; its `tcp_nodelay` switch turns it off.
    .tcp_nodelay(true)
    .bind(&addr)?;
    println!("listening on http://{addr}");
    server.run().await
}
