//! A line-echo server on the socket pool, with the Embedded preset.
//!
//! Run it with `cargo run --example tcp_echo -- 127.0.0.1:7000`, then talk to it with
//! `nc 127.0.0.1 7000`: every line you send comes back. The first line it prints is
//! `listening on tcp://ADDR`, with the real bound address.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::net::SocketAddr;
use std::time::Duration;

use microweb::{Preset, pool::Pool, pool::PoolConfig, pool::TcpClient, pool::TcpServer};

/// How long a client may stay silent before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Echoes one line, then waits for the next.
fn serve(client: &TcpClient) {
    let _ = client.recv_line(Some(IDLE_TIMEOUT), |c, line| {
        let _ = c.send(line);
        let _ = c.send(b"\n");
        serve(c);
    });
}

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(a) => a.parse().map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{a}: {e}"))
        })?,
        None => SocketAddr::from(([127, 0, 0, 1], 7000)),
    };
    let pool = Pool::new(PoolConfig::from_preset(Preset::Embedded))?;
    let server = TcpServer::bind(&pool, addr, |client| {
        client.on_closed(|c, reason| eprintln!("{}: {reason}", c.peer_addr()));
        serve(&client);
    })?;
    println!("listening on tcp://{}", server.local_addr());
    // Runs the loop on this thread until the process is stopped.
    pool.start(0, None)
}
