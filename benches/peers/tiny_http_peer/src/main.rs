//! tiny_http serving the load benchmark's endpoints from one request-handling thread per core
//! (tiny_http itself adds a thread per connection): `GET /plaintext`, `GET /json` (serde_json)
//! and `GET /static/<file>`, opened from disk on every request and sent with
//! `Response::from_file`, as tiny_http's own examples serve files.
//!
//! Run: `tiny_http_peer 127.0.0.1:PORT [STATIC_DIR]` (STATIC_DIR defaults to `benches/static`).

#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::thread;

use serde::Serialize;
use tiny_http::{Header, Method, Request, Response, Server};

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// Maps `/static/<rel>` to a file under `dir`, refusing anything but plain path segments.
fn static_path(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = Path::new(url_path.strip_prefix("/static/")?);
    rel.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(rel))
}

fn header(value: &str) -> Header {
    Header::from_bytes("Content-Type", value).expect("static header is valid")
}

fn handle(dir: &Path, req: Request) -> std::io::Result<()> {
    let path = req.url().split('?').next().unwrap_or("").to_owned();
    if *req.method() != Method::Get {
        return req.respond(Response::empty(405));
    }
    match path.as_str() {
        "/plaintext" => {
            req.respond(Response::from_string("Hello, World!").with_header(header("text/plain")))
        }
        "/json" => {
            let body = serde_json::to_vec(&Message {
                message: "Hello, World!",
            })?;
            req.respond(Response::from_data(body).with_header(header("application/json")))
        }
        _ => match static_path(dir, &path).map(File::open) {
            Some(Ok(file)) => req
                .respond(Response::from_file(file).with_header(header("text/html; charset=utf-8"))),
            _ => req.respond(Response::empty(404)),
        },
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18084".to_owned());
    let dir: Arc<Path> =
        Arc::from(PathBuf::from(args.next().unwrap_or_else(|| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../static").to_owned()
        })));
    let server = Arc::new(Server::http(&addr).map_err(std::io::Error::other)?);
    println!("listening on http://{addr}");
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let server = Arc::clone(&server);
            let dir = Arc::clone(&dir);
            thread::spawn(move || {
                for req in server.incoming_requests() {
                    // A client that hangs up mid-response is not the server's failure.
                    let _ = handle(&dir, req);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}
