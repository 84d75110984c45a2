//! The pool under load and under back-pressure: many concurrent clients through fewer slots.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; helpers unwrap like tests

#[path = "support/pool.rs"]
mod support;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use microweb::{Preset, pool::Pool, pool::PoolConfig};
use support::{WAIT, connect, echo_server, raise_fd_limit, read_line, round_trip, wait_until};

#[test]
fn a_thousand_concurrent_clients_through_fewer_slots_are_all_answered() {
    const CLIENTS: usize = 1000;
    const THREADS: usize = 8;
    raise_fd_limit(4 * CLIENTS as u64);
    let config = PoolConfig::from_preset(Preset::Embedded)
        .with_slots_count(8)
        .with_conn_queue_capacity(1024);
    let pool = Pool::new(config).unwrap();
    let server = echo_server(&pool);
    let addr = server.local_addr();
    pool.start(2, None).unwrap();

    // Every client connects first, so all 1,000 are open at once; then each sends its line and
    // reads the answer.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                let streams: Vec<TcpStream> =
                    (0..CLIENTS / THREADS).map(|_| connect(addr)).collect();
                barrier.wait();
                for (i, s) in streams.iter().enumerate() {
                    (&*s)
                        .write_all(format!("client {t}-{i}\n").as_bytes())
                        .unwrap();
                }
                for (i, s) in streams.iter().enumerate() {
                    assert_eq!(read_line(s), format!("client {t}-{i}"));
                }
                barrier.wait();
                streams.len()
            })
        })
        .collect();
    let answered: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(answered, CLIENTS);

    assert!(
        wait_until(WAIT, || pool.free_slots() == 8 && pool.sources_count() == 1),
        "free slots {} and sources {} after the clients closed",
        pool.free_slots(),
        pool.sources_count()
    );
    pool.stop();
}

#[test]
fn a_listener_stops_accepting_while_no_slot_is_free_and_resumes_when_one_returns() {
    let pool = Pool::new(PoolConfig::from_preset(Preset::Embedded).with_slots_count(2)).unwrap();
    let server = echo_server(&pool);
    pool.start(1, None).unwrap();
    let held: Vec<_> = (0..2).map(|_| pool.try_borrow_slot().unwrap()).collect();
    assert_eq!(pool.free_slots(), 0);

    // The kernel completes the handshake, but the pool does not accept the connection.
    let client = connect(server.local_addr());
    (&client).write_all(b"waiting\n").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = std::io::Read::read(&mut &client, &mut byte);
    assert!(early.is_err(), "answered while no slot was free: {early:?}");
    assert_eq!(pool.sources_count(), 1, "accepted while no slot was free");

    drop(held);
    client.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(read_line(&client), "waiting");
    drop(client);
    assert!(wait_until(WAIT, || pool.free_slots() == 2 && pool.sources_count() == 1));
    pool.stop();
}

#[test]
fn a_connection_that_finds_no_slot_waits_for_one_and_is_answered() {
    for keep_alloc in [true, false] {
        connection_waits_for_a_slot(keep_alloc);
    }
}

fn connection_waits_for_a_slot(keep_alloc: bool) {
    let config = PoolConfig::from_preset(Preset::Embedded)
        .with_slots_count(1)
        .with_keep_alloc(keep_alloc);
    let pool = Pool::new(config).unwrap();
    let server = echo_server(&pool);
    pool.start(1, None).unwrap();
    let client = connect(server.local_addr());
    assert_eq!(round_trip(&client, "first"), "first");

    // Accepted and idle: it holds no slot, so the test can take the only one (the echo may
    // still be returning it when the client has read the answer: waited for, not assumed).
    let mut held = None;
    assert!(
        wait_until(WAIT, || {
            held = pool.try_borrow_slot();
            held.is_some()
        }),
        "an idle connection holds no slot"
    );
    (&client).write_all(b"second\n").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        std::io::Read::read(&mut &client, &mut byte).is_err(),
        "answered without a slot"
    );

    drop(held);
    client.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(read_line(&client), "second");
    drop(client);
    assert!(wait_until(WAIT, || pool.free_slots() == 1 && pool.sources_count() == 1));
    pool.stop();
}

#[test]
fn one_pool_serves_two_servers() {
    let pool = Pool::new(PoolConfig::from_preset(Preset::Light)).unwrap();
    let echo = echo_server(&pool);
    let upper = microweb::pool::TcpServer::bind(&pool, "127.0.0.1:0".parse().unwrap(), |client| {
        let _ = client.recv_line(None, |c, line| {
            let _ = c.send(&line.to_ascii_uppercase());
            let _ = c.send(b"\n");
        });
    })
    .unwrap();
    pool.start(3, None).unwrap();
    let a = connect(echo.local_addr());
    let b = connect(upper.local_addr());
    assert_eq!(round_trip(&b, "shout"), "SHOUT");
    assert_eq!(round_trip(&a, "quiet"), "quiet");
    pool.stop();
    assert!(!pool.is_running());
}

#[test]
fn stop_under_load_returns_promptly_and_every_slot_comes_back() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let pool = Pool::new(PoolConfig::from_preset(Preset::Light).with_slots_count(16)).unwrap();
    let server = echo_server(&pool);
    let addr = server.local_addr();
    pool.start(3, None).unwrap();
    let go = Arc::new(AtomicBool::new(true));
    let total = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (go, total) = (go.clone(), total.clone());
            thread::spawn(move || {
                let mut exchanged = 0;
                while go.load(Ordering::SeqCst) {
                    let Ok(s) = TcpStream::connect(addr) else {
                        break;
                    };
                    s.set_read_timeout(Some(WAIT)).unwrap();
                    for _ in 0..10 {
                        if support::try_round_trip(&s, "load").as_deref() != Some("load") {
                            return exchanged;
                        }
                        exchanged += 1;
                        total.fetch_add(1, Ordering::SeqCst);
                    }
                }
                exchanged
            })
        })
        .collect();
    assert!(
        wait_until(WAIT, || total.load(Ordering::SeqCst) > 500),
        "traffic flows"
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let p = pool.clone();
    thread::spawn(move || {
        p.stop();
        tx.send(()).unwrap();
    });
    rx.recv_timeout(WAIT).expect("stop returns under load");
    go.store(false, Ordering::SeqCst);
    let exchanged: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(exchanged > 0);
    assert_eq!(pool.free_slots(), 16);
    assert_eq!(pool.sources_count(), 0);
}
