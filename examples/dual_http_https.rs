//! HTTP and HTTPS in one pool: the HTTPS server serves `webroot/`, the HTTP server redirects every
//! request to it (307, same host, same path and query).
//!
//! Run: `cargo run --example dual_http_https -- 127.0.0.1:8080 127.0.0.1:8443 [CERT KEY]`.
//! Without CERT and KEY it makes a self-signed certificate for localhost in a temporary folder
//! (`microweb cert` writes one to keep). Then `curl -i http://127.0.0.1:8080/` shows the
//! redirect and `curl -k https://127.0.0.1:8443/` the page. With only the HTTP address, HTTPS
//! listens on the same IP, on port 8443 (or on a free port when the HTTP port is 0).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::net::SocketAddr;
use std::path::PathBuf;

use microweb::{WebServer, pool::Pool, pool::PoolConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let http_addr: SocketAddr = match args.next() {
        Some(a) => a.parse()?,
        None => "127.0.0.1:8080".parse()?,
    };
    let https_addr: SocketAddr = match args.next() {
        Some(a) => a.parse()?,
        None => {
            let port = if http_addr.port() == 0 { 0 } else { 8443 };
            SocketAddr::new(http_addr.ip(), port)
        }
    };
    let _temp; // keeps a generated certificate's folder until the end
    let (cert, key) = match (args.next(), args.next()) {
        (Some(cert), Some(key)) => (PathBuf::from(cert), PathBuf::from(key)),
        _ => {
            let dir = tempfile::tempdir()?;
            let pair = rcgen::generate_simple_self_signed(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ])?;
            let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            std::fs::write(&cert, pair.cert.pem())?;
            std::fs::write(&key, pair.signing_key.serialize_pem())?;
            _temp = dir;
            (cert, key)
        }
    };

    // One pool for both servers: their connections share its threads and buffer slots.
    let pool = Pool::new(PoolConfig::default())?;

    let mut https = WebServer::new();
    https.set_bind_address(https_addr).set_root_path("webroot");
    https.enable_ssl(&cert, &key, None)?;
    https.start_in_pool(&pool)?;
    let https_port = https.local_addrs()[0].port();

    let mut http = WebServer::new();
    http.set_bind_address(http_addr);
    http.before_request(move |req, resp| {
        let host = req.host().unwrap_or("localhost");
        let host = host_without_port(host);
        let query = req.query_string();
        let location = if query.is_empty() {
            format!("https://{host}:{https_port}{}", req.raw_path())
        } else {
            format!("https://{host}:{https_port}{}?{query}", req.raw_path())
        };
        resp.return_redirect(&location);
    });
    http.start_in_pool(&pool)?;

    println!("listening on http://{}", http.local_addrs()[0]);
    println!("listening on https://{}", https.local_addrs()[0]);
    pool.start(2, None)?;
    http.wait();
    pool.stop();
    Ok(())
}

/// Returns the host of a `Host` header value, without its port (`[::1]:8080` → `[::1]`).
fn host_without_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}
