//! may_minihttp (may's coroutine scheduler, one worker per core by default) serving the load
//! benchmark's endpoints: `GET /plaintext`, `GET /json` (serde_json) and
//! `GET /static/<file>`, read from disk on every request as a plain may_minihttp service would.
//!
//! Run: `may_minihttp_peer 127.0.0.1:PORT [STATIC_DIR]` (STATIC_DIR defaults to `benches/static`).

use std::io;
use std::path::{Component, Path, PathBuf};

use may_minihttp::{HttpServer, HttpService, Request, Response};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Clone)]
struct Bench {
    dir: PathBuf,
}

/// Maps `/static/<rel>` to a file under `dir`, refusing anything but plain path segments.
fn static_path(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = Path::new(url_path.strip_prefix("/static/")?);
    rel.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(rel))
}

impl HttpService for Bench {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        let path = req.path().split('?').next().unwrap_or("");
        if req.method() != "GET" {
            rsp.status_code(405, "Method Not Allowed");
            return Ok(());
        }
        match path {
            "/plaintext" => rsp.header("Content-Type: text/plain").body("Hello, World!"),
            "/json" => {
                rsp.header("Content-Type: application/json");
                let body = serde_json::to_vec(&Message {
                    message: "Hello, World!",
                })?;
                rsp.body_vec(body);
            }
            _ => match static_path(&self.dir, path).map(std::fs::read) {
                Some(Ok(bytes)) => {
                    rsp.header("Content-Type: text/html; charset=utf-8");
                    rsp.body_vec(bytes);
                }
                _ => {
                    rsp.status_code(404, "Not Found");
                }
            },
        }
        Ok(())
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18083".to_owned());
    let dir = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../static").to_owned());
    let server = HttpServer(Bench { dir: dir.into() }).start(&addr)?;
    println!("listening on http://{addr}");
    server
        .join()
        .map_err(|_| io::Error::other("server coroutine panicked"))
}
