//! The XAsyncSockets-style operations and the low-level connection API over loopback: receive
//! exactly N bytes, receive a line, timeouts and close reasons, bad peers, outgoing clients,
//! UDP, timers, wakers, deadlines, panicking handlers and the start modes.
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used
)] // IO edge; helpers unwrap like tests

#[path = "support/pool.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use microweb::{
    Preset, pool::CloseReason, pool::Conn, pool::ConnEvent, pool::ConnHandler, pool::ConnInfo,
    pool::Next, pool::Pool, pool::PoolConfig, pool::PoolError, pool::TcpClient, pool::TcpServer,
    pool::UdpDatagram, pool::Waker,
};
use support::{
    WAIT, closed_by_server, connect, echo_server, read_line, read_to_eof, round_trip, wait_until,
};

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn small_pool(threads: usize) -> Pool {
    let pool = Pool::new(PoolConfig::from_preset(Preset::Embedded)).unwrap();
    pool.start(threads, None).unwrap();
    pool
}

/// A server whose clients report their close reason on `tx`, after running `setup`.
fn reporting_server(
    pool: &Pool,
    setup: impl Fn(&TcpClient) + Send + Sync + 'static,
) -> (TcpServer, mpsc::Receiver<CloseReason>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = TcpServer::bind(pool, any_port(), move |client| {
        let tx = tx.lock().unwrap().clone();
        client.on_closed(move |_, reason| {
            let _ = tx.send(reason);
        });
        setup(&client);
    })
    .unwrap();
    (server, rx)
}

#[test]
fn recv_exactly_delivers_the_asked_sizes_in_order() {
    let pool = small_pool(2);
    let server = TcpServer::bind(&pool, any_port(), |client| {
        let _ = client.recv_exactly(5, None, |c, first| {
            let mut reply = first.to_vec();
            reply.push(b'|');
            let _ = c.send(&reply);
            let _ = c.recv_exactly(3, None, |c, second| {
                let _ = c.send(second);
                let _ = c.send(b"\n");
            });
        });
    })
    .unwrap();
    let client = connect(server.local_addr());
    (&client).write_all(b"abc").unwrap();
    (&client).write_all(b"defgh").unwrap();
    assert_eq!(read_line(&client), "abcde|fgh");
    pool.stop();
}

#[test]
fn recv_exactly_refuses_sizes_a_slot_cannot_hold_and_a_second_pending_receive() {
    let pool = small_pool(1);
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = TcpServer::bind(&pool, any_port(), move |client| {
        let too_large = client.recv_exactly(pool_slot_size() + 1, None, |_, _| {});
        let zero = client.recv_exactly(0, None, |_, _| {});
        let first = client.recv_line(None, |_, _| {});
        let second = client.recv_any(None, |_, _| {});
        tx.lock()
            .unwrap()
            .send((too_large, zero, first, second))
            .unwrap();
    })
    .unwrap();
    let _client = connect(server.local_addr());
    let got = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        got,
        (
            Err(PoolError::TooLarge),
            Err(PoolError::TooLarge),
            Ok(()),
            Err(PoolError::ReceivePending)
        )
    );
    pool.stop();
}

fn pool_slot_size() -> usize {
    PoolConfig::from_preset(Preset::Embedded).slot_size
}

#[test]
fn recv_line_strips_crlf_and_keeps_what_follows_for_the_next_receive() {
    let pool = small_pool(1);
    let server = echo_server(&pool);
    let client = connect(server.local_addr());
    (&client).write_all(b"one\r\ntwo\nthr").unwrap();
    assert_eq!(read_line(&client), "one");
    assert_eq!(read_line(&client), "two");
    (&client).write_all(b"ee\n").unwrap();
    assert_eq!(read_line(&client), "three");
    pool.stop();
}

#[test]
fn a_line_longer_than_a_slot_closes_with_invalid_data_and_returns_the_slot() {
    let pool = small_pool(1);
    let (server, closed) = reporting_server(&pool, |c| support::echo_lines(c, None));
    let client = connect(server.local_addr());
    let long = vec![b'x'; pool.slot_size() + 10];
    let _ = (&client).write_all(&long);
    assert_eq!(
        closed.recv_timeout(WAIT).unwrap(),
        CloseReason::Error(std::io::ErrorKind::InvalidData)
    );
    assert!(wait_until(WAIT, || pool.free_slots() == pool.slots_count()));
    pool.stop();
}

#[test]
fn a_silent_peer_costs_one_timeout_and_no_slot() {
    let pool = small_pool(2);
    let (server, closed) = reporting_server(&pool, |c| {
        support::echo_lines(c, Some(Duration::from_millis(200)))
    });
    let started = Instant::now();
    let client = connect(server.local_addr());
    assert_eq!(closed.recv_timeout(WAIT).unwrap(), CloseReason::Timeout);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(
        read_to_eof(&client).is_empty(),
        "the server closes the connection"
    );
    assert!(wait_until(WAIT, || pool.free_slots() == pool.slots_count()
        && pool.sources_count() == 1));
    assert!(
        closed.recv_timeout(Duration::from_millis(100)).is_err(),
        "one close only"
    );
    pool.stop();
}

#[test]
fn half_a_line_costs_one_timeout_and_the_slot_comes_back() {
    let pool = small_pool(2);
    let (server, closed) = reporting_server(&pool, |c| {
        support::echo_lines(c, Some(Duration::from_millis(200)))
    });
    let client = connect(server.local_addr());
    (&client).write_all(b"half a li").unwrap();
    assert!(
        wait_until(WAIT, || pool.free_slots() < pool.slots_count()),
        "the half line sits in a slot"
    );
    assert_eq!(closed.recv_timeout(WAIT).unwrap(), CloseReason::Timeout);
    assert!(read_to_eof(&client).is_empty());
    assert!(wait_until(WAIT, || pool.free_slots() == pool.slots_count()
        && pool.sources_count() == 1));
    pool.stop();
}

#[test]
fn a_timeout_is_for_the_wait_not_the_connection() {
    let pool = small_pool(1);
    let server = TcpServer::bind(&pool, any_port(), |c| {
        support::echo_lines(&c, Some(Duration::from_millis(300)))
    })
    .unwrap();
    let client = connect(server.local_addr());
    // Each line comes within the timeout; together they take longer than it.
    for i in 0..4 {
        assert_eq!(
            round_trip(&client, &format!("line {i}")),
            format!("line {i}")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    pool.stop();
}

#[test]
fn a_peer_that_resets_mid_send_costs_nothing_else() {
    let pool = small_pool(2);
    let (server, closed) = reporting_server(&pool, |c| {
        let _ = c.recv_line(None, |c, _| {
            // A reply far larger than the socket buffers, so the server is mid-send.
            let _ = c.send(&vec![b'y'; 8 * 1024 * 1024]);
        });
    });
    let client = connect(server.local_addr());
    (&client).write_all(b"send me a lot\n").unwrap();
    let mut some = [0u8; 1024];
    (&client).read_exact(&mut some).unwrap();
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client); // RST
    assert_eq!(closed.recv_timeout(WAIT).unwrap(), CloseReason::ByPeer);

    // A peer resetting with half a line sent.
    let client = connect(server.local_addr());
    (&client).write_all(b"half").unwrap();
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    assert_eq!(closed.recv_timeout(WAIT).unwrap(), CloseReason::ByPeer);

    assert!(wait_until(WAIT, || pool.free_slots() == pool.slots_count()
        && pool.sources_count() == 1));
    let echo = echo_server(&pool);
    assert_eq!(
        round_trip(&connect(echo.local_addr()), "still serving"),
        "still serving"
    );
    pool.stop();
}

#[test]
fn an_outgoing_client_connects_sends_and_receives_then_reports_its_close() {
    let pool = small_pool(2);
    let server = echo_server(&pool);
    let (tx, rx) = mpsc::channel::<String>();
    let tx2 = tx.clone();
    TcpClient::connect(&pool, server.local_addr(), Some(WAIT), move |result| {
        let client = result.unwrap();
        let tx3 = tx2.clone();
        client.on_closed(move |_, reason| {
            let _ = tx3.send(format!("closed: {reason}"));
        });
        let sent = tx2.clone();
        client
            .send_with(b"ping\n", Some(WAIT), move |_| {
                let _ = sent.send("sent".into());
            })
            .unwrap();
        client
            .recv_line(Some(WAIT), move |c, line| {
                let _ = tx2.send(String::from_utf8_lossy(line).into_owned());
                c.close();
            })
            .unwrap();
    })
    .unwrap();
    let got: Vec<String> = (0..3).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(got, ["sent", "ping", "closed: closed by host"]);
    drop(tx);
    pool.stop();
}

#[test]
fn connecting_to_a_closed_port_reports_the_refusal() {
    let pool = small_pool(1);
    // Bind then drop a listener to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    TcpClient::connect(&pool, port, Some(WAIT), move |result| {
        let _ = tx.send(result.map(|_| ()).map_err(|e| e.kind()));
    })
    .unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Err(std::io::ErrorKind::ConnectionRefused)
    );
    assert!(wait_until(WAIT, || pool.sources_count() == 0));
    pool.stop();
}

#[test]
fn udp_datagrams_are_echoed_to_their_sender() {
    let pool = small_pool(2);
    let udp = UdpDatagram::bind(&pool, any_port(), |d, data, from| {
        let _ = d.send_to(data, from);
    })
    .unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    // UDP may drop; retry a bounded number of times.
    let mut answered = 0;
    for i in 0..20 {
        let msg = format!("datagram {i}");
        client.send_to(msg.as_bytes(), udp.local_addr()).unwrap();
        if let Ok((n, from)) = client.recv_from(&mut buf) {
            assert_eq!(&buf[..n], msg.as_bytes());
            assert_eq!(from, udp.local_addr());
            answered += 1;
            if answered == 3 {
                break;
            }
        }
    }
    assert_eq!(answered, 3);
    assert!(wait_until(WAIT, || pool.free_slots() == pool.slots_count()));
    udp.close();
    assert!(wait_until(WAIT, || udp.is_closed()));
    assert!(udp.send_to(b"x", client.local_addr().unwrap()).is_err());
    pool.stop();
}

#[test]
fn timers_fire_after_their_delay_and_cancelled_ones_never_do() {
    let pool = small_pool(2);
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    let t2 = tx.clone();
    let cancelled = pool.add_timer(Duration::from_millis(50), move || {
        t2.send("cancelled").unwrap()
    });
    pool.add_timer(Duration::from_millis(150), move || {
        tx.send("fired").unwrap()
    });
    assert!(pool.cancel_timer(cancelled));
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "fired");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(!pool.cancel_timer(cancelled));
    assert!(rx.try_recv().is_err());
    pool.stop();
}

/// A low-level handler: sends its waker out, answers wakes, closes on its deadline.
struct WakeThenTimeout {
    wakers: mpsc::Sender<Waker>,
    closed: mpsc::Sender<CloseReason>,
}

impl ConnHandler for WakeThenTimeout {
    fn on_event(&mut self, conn: &mut Conn<'_>, event: ConnEvent) -> Next {
        match event {
            ConnEvent::Opened => {
                self.wakers.send(conn.waker()).unwrap();
                Next::Idle
            }
            ConnEvent::Woken => {
                let _ = conn.write(b"woken\n");
                conn.set_deadline(Some(Instant::now() + Duration::from_millis(150)));
                Next::Idle
            }
            ConnEvent::TimedOut => {
                let _ = conn.write(b"timed out\n");
                Next::Close(CloseReason::Timeout)
            }
            _ => Next::Idle,
        }
    }

    fn on_closed(&mut self, reason: CloseReason) {
        let _ = self.closed.send(reason);
    }
}

#[test]
fn a_low_level_handler_is_woken_from_another_thread_and_times_out_once() {
    let pool = small_pool(2);
    let (wtx, wrx) = mpsc::channel();
    let (ctx, crx) = mpsc::channel();
    let wtx = std::sync::Mutex::new(wtx);
    let ctx = std::sync::Mutex::new(ctx);
    let listener = pool
        .listen(
            any_port(),
            move |_: &ConnInfo| -> Option<Box<dyn ConnHandler>> {
                Some(Box::new(WakeThenTimeout {
                    wakers: wtx.lock().unwrap().clone(),
                    closed: ctx.lock().unwrap().clone(),
                }))
            },
        )
        .unwrap();
    let client = connect(listener.local_addr());
    let waker: Waker = wrx.recv_timeout(WAIT).unwrap();
    std::thread::spawn({
        let w = waker.clone();
        move || w.wake()
    })
    .join()
    .unwrap();
    assert_eq!(read_line(&client), "woken");
    assert_eq!(read_line(&client), "timed out");
    assert_eq!(crx.recv_timeout(WAIT).unwrap(), CloseReason::Timeout);
    assert!(read_to_eof(&client).is_empty());
    assert!(wait_until(WAIT, || waker.is_closed()));
    waker.wake(); // a wake for a closed connection does nothing
    assert!(crx.recv_timeout(Duration::from_millis(100)).is_err());
    pool.stop();
}

/// A handler that panics on its first read.
struct Panics;

impl ConnHandler for Panics {
    fn on_event(&mut self, _conn: &mut Conn<'_>, event: ConnEvent) -> Next {
        match event {
            ConnEvent::Readable => panic!("handler bug"),
            _ => Next::Read,
        }
    }
}

#[test]
fn a_panicking_handler_closes_its_connection_only() {
    let pool = small_pool(2);
    let bad = pool
        .listen(any_port(), |_: &ConnInfo| -> Option<Box<dyn ConnHandler>> {
            Some(Box::new(Panics))
        })
        .unwrap();
    let good = echo_server(&pool);
    let client = connect(bad.local_addr());
    (&client).write_all(b"boom\n").unwrap();
    assert!(closed_by_server(&client));
    assert_eq!(round_trip(&connect(good.local_addr()), "alive"), "alive");
    assert!(pool.is_running());
    pool.stop();
}

#[test]
fn threads_zero_runs_on_the_caller_until_a_handler_stops_the_pool() {
    let pool = Pool::new(PoolConfig::from_preset(Preset::Embedded)).unwrap();
    let p = pool.clone();
    let server = TcpServer::bind(&pool, any_port(), move |client| {
        let p = p.clone();
        let _ = client.recv_line(None, move |c, line| {
            let _ = c.send(line);
            let _ = c.send(b"\n");
            p.stop(); // from a handler: signals, the loop ends after it returns
        });
    })
    .unwrap();
    let addr = server.local_addr();
    let client = std::thread::spawn(move || {
        let s: TcpStream = connect(addr);
        round_trip(&s, "last words")
    });
    pool.start(0, None).unwrap(); // returns once stopped
    assert!(!pool.is_running());
    assert_eq!(client.join().unwrap(), "last words");
    assert!(server.listener().is_closed());
    assert_eq!(pool.sources_count(), 0);
}

#[test]
fn threads_zero_stops_when_another_thread_calls_stop() {
    let pool = Pool::new(PoolConfig::from_preset(Preset::Embedded)).unwrap();
    let server = echo_server(&pool);
    let looper = {
        let p = pool.clone();
        std::thread::spawn(move || p.start(0, None))
    };
    assert_eq!(round_trip(&connect(server.local_addr()), "hi"), "hi");
    pool.stop();
    looper.join().unwrap().unwrap();
    assert!(!pool.is_running());
    assert!(
        pool.start(1, None).is_ok(),
        "a stopped pool can start again"
    );
    assert!(pool.start(1, None).is_err(), "but not twice");
    pool.stop();
}

/// Counts its runs and fails loudly if two overlap; echoes bytes; records wakes it saw.
struct Exclusive {
    busy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    overlaps: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    requested: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    wakers: mpsc::Sender<Waker>,
}

impl ConnHandler for Exclusive {
    fn on_event(&mut self, conn: &mut Conn<'_>, event: ConnEvent) -> Next {
        use std::sync::atomic::Ordering::SeqCst;
        if self.busy.swap(true, SeqCst) {
            self.overlaps.fetch_add(1, SeqCst);
        }
        let next = match event {
            ConnEvent::Opened => {
                self.wakers.send(conn.waker()).unwrap();
                Next::Read
            }
            ConnEvent::Woken => {
                self.seen.store(self.requested.load(SeqCst), SeqCst);
                Next::Read
            }
            _ => {
                let mut buf = [0u8; 256];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) => break Next::Close(CloseReason::ByPeer),
                        Ok(n) => {
                            let _ = conn.write(&buf[..n]);
                        }
                        Err(_) => break Next::Read,
                    }
                }
            }
        };
        self.busy.store(false, SeqCst);
        next
    }
}

#[test]
fn a_handler_never_runs_concurrently_with_itself_and_no_wake_is_lost() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let pool = small_pool(4);
    let overlaps = Arc::new(AtomicUsize::new(0));
    let requested = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let (wtx, wrx) = mpsc::channel();
    let wtx = std::sync::Mutex::new(wtx);
    let (o, r, s) = (overlaps.clone(), requested.clone(), seen.clone());
    let listener = pool
        .listen(
            any_port(),
            move |_: &ConnInfo| -> Option<Box<dyn ConnHandler>> {
                Some(Box::new(Exclusive {
                    busy: Arc::new(AtomicBool::new(false)),
                    overlaps: o.clone(),
                    requested: r.clone(),
                    seen: s.clone(),
                    wakers: wtx.lock().unwrap().clone(),
                }))
            },
        )
        .unwrap();
    let client = connect(listener.local_addr());
    let waker: Waker = wrx.recv_timeout(WAIT).unwrap();
    let wakers: Vec<_> = (0..3)
        .map(|_| {
            let (w, r) = (waker.clone(), requested.clone());
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    r.fetch_add(1, SeqCst);
                    w.wake();
                }
            })
        })
        .collect();
    for i in 0..200 {
        assert_eq!(round_trip(&client, &format!("msg {i}")), format!("msg {i}"));
    }
    for w in wakers {
        w.join().unwrap();
    }
    assert!(
        wait_until(WAIT, || seen.load(SeqCst) == 6000),
        "the last wake was delivered"
    );
    assert_eq!(overlaps.load(SeqCst), 0);
    pool.stop();
}

#[test]
fn a_server_on_the_ipv6_any_address_serves_ipv4_and_ipv6_clients() {
    let pool = small_pool(1);
    let Ok(server) = TcpServer::bind(&pool, "[::]:0".parse().unwrap(), |c| {
        support::echo_lines(&c, None)
    }) else {
        eprintln!("no IPv6 on this host; dual stack not checked");
        pool.stop();
        return;
    };
    let port = server.local_addr().port();
    let v4 = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(round_trip(&v4, "over v4"), "over v4");
    if let Ok(v6) = TcpStream::connect(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port))) {
        v6.set_read_timeout(Some(WAIT)).unwrap();
        assert_eq!(round_trip(&v6, "over v6"), "over v6");
    }
    pool.stop();
}

#[test]
fn a_connect_that_never_completes_fails_with_a_timeout() {
    // A listener that never accepts, with its accept queue full: the kernel drops new SYNs, so a
    // connect stays pending.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let fillers: Vec<_> = (0..4)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();
    let pending = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
    if pending.is_ok() {
        eprintln!(
            "this kernel does not hold connects to a full queue; connect timeout not checked"
        );
        return;
    }
    let pool = small_pool(1);
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    TcpClient::connect(
        &pool,
        addr,
        Some(Duration::from_millis(300)),
        move |result| {
            let _ = tx.send(result.map(|_| ()).map_err(|e| e.kind()));
        },
    )
    .unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        Err(std::io::ErrorKind::TimedOut)
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(wait_until(WAIT, || pool.sources_count() == 0));
    drop(fillers);
    pool.stop();
}
