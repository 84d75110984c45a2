//! Criterion benches of the socket pool: borrowing and returning a buffer slot, and an echo
//! round trip over loopback through the low-level connection API and through `TcpClient`.
//!
//! Run with `cargo bench --bench pool -- --warm-up-time 1 --measurement-time 3`.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    missing_docs
)] // IO edge

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpStream;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use microweb::{
    pool::BufferSlots, pool::Conn, pool::ConnEvent, pool::ConnHandler, pool::ConnInfo, pool::Next,
    pool::Pool, pool::PoolConfig, pool::TcpClient, pool::TcpServer,
};

fn slots(c: &mut Criterion) {
    let mut g = c.benchmark_group("slots");
    g.throughput(Throughput::Elements(1));
    for keep in [true, false] {
        let slots = BufferSlots::new(512, 4096, keep);
        let name = if keep {
            "borrow_return_keep_alloc"
        } else {
            "borrow_return_alloc_on_borrow"
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                let s = slots.try_borrow().unwrap();
                black_box(s.len());
            });
        });
    }
    g.finish();
}

/// Echoes whatever it reads, through a slot borrowed for the time of one read.
struct Echo;

impl ConnHandler for Echo {
    fn on_event(&mut self, conn: &mut Conn<'_>, _event: ConnEvent) -> Next {
        let Some(mut slot) = conn.try_borrow_slot() else {
            return Next::WaitSlot;
        };
        loop {
            match conn.read(&mut slot) {
                Ok(0) => return Next::Close(microweb::pool::CloseReason::ByPeer),
                Ok(n) => {
                    if conn.write(&slot[..n]).is_err() {
                        return Next::Close(microweb::pool::CloseReason::ByHost);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Next::Read,
                Err(_) => return Next::Close(microweb::pool::CloseReason::ByHost),
            }
        }
    }
}

fn echo_line(client: &TcpClient) {
    let _ = client.recv_line(None, |c, line| {
        let _ = c.send(line);
        let _ = c.send(b"\n");
        echo_line(c);
    });
}

fn round_trip(c: &mut Criterion) {
    const MSG: &[u8; 64] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
    let mut g = c.benchmark_group("echo_round_trip_64B");
    g.throughput(Throughput::Bytes(MSG.len() as u64));
    for threads in [1, 2] {
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let low = pool
            .listen(
                "127.0.0.1:0".parse().unwrap(),
                |_: &ConnInfo| -> Option<Box<dyn ConnHandler>> { Some(Box::new(Echo)) },
            )
            .unwrap();
        let high =
            TcpServer::bind(&pool, "127.0.0.1:0".parse().unwrap(), |c| echo_line(&c)).unwrap();
        pool.start(threads, None).unwrap();
        for (api, addr) in [
            ("conn_handler", low.local_addr()),
            ("tcp_client", high.local_addr()),
        ] {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.set_nodelay(true).unwrap();
            let mut buf = [0u8; 64];
            g.bench_function(format!("{api}_threads_{threads}"), |b| {
                b.iter(|| {
                    stream.write_all(MSG).unwrap();
                    stream.read_exact(&mut buf).unwrap();
                });
            });
        }
        pool.stop();
    }
    g.finish();
}

criterion_group!(benches, slots, round_trip);
criterion_main!(benches);
