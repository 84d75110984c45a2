//! `Pool::stop` leaves nothing behind: no thread, no open socket, every slot back.
//! (One test in this file, so no other test's threads or sockets disturb the counts.)
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

#[path = "support/pool.rs"]
mod support;

use std::io::Write;

use microweb::{Preset, pool::Pool, pool::PoolConfig, pool::UdpDatagram};
use support::{WAIT, connect, echo_server, fd_count, read_line, thread_count, wait_until};

#[test]
fn stop_leaves_no_thread_no_socket_and_every_slot_free() {
    let fds_before = fd_count();
    let threads_before = thread_count();
    let pool = Pool::new(PoolConfig::from_preset(Preset::Light)).unwrap();
    let server = echo_server(&pool);
    let udp = UdpDatagram::bind(&pool, "127.0.0.1:0".parse().unwrap(), |_, _, _| {}).unwrap();
    pool.start(4, None).unwrap();
    // Loop 0 spawns the connection loops itself, so they may appear just after `start` returns.
    assert!(
        wait_until(WAIT, || thread_count() == threads_before + 5),
        "loop 0 and four connection loops"
    );

    let clients: Vec<_> = (0..10).map(|_| connect(server.local_addr())).collect();
    for c in &clients[..5] {
        (&*c).write_all(b"ping\n").unwrap();
        assert_eq!(read_line(c), "ping");
    }
    // One connection holds a slot (half a line) when the pool stops.
    (&clients[5]).write_all(b"half").unwrap();
    assert!(wait_until(WAIT, || pool.sources_count() == 12
        && pool.free_slots() < pool.slots_count()));

    pool.stop();
    assert!(!pool.is_running());
    // Every thread is joined when `stop` returns; the kernel may list a joined thread for a
    // moment longer (it is reaped just after it wakes its joiner), hence the bounded wait.
    assert!(
        wait_until(WAIT, || thread_count() == threads_before),
        "{} threads left, {threads_before} before",
        thread_count()
    );
    assert_eq!(pool.free_slots(), pool.slots_count());
    assert_eq!(pool.sources_count(), 0);
    assert!(server.listener().is_closed() && udp.is_closed());
    for c in &clients {
        assert_eq!(read_line(c), "", "the server closed every connection");
    }
    drop(clients);
    drop(pool);
    assert_eq!(fd_count(), fds_before);
}
