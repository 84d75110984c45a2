//! The io_uring experiment of the benchmark: one minimal plaintext server written twice, with
//! the same request parsing (httparse, pipelining) and the same answer, on the same threads and
//! `SO_REUSEPORT` listeners — once on an epoll loop (mio, edge-triggered, as microweb's pool),
//! once on an io_uring loop (multishot accept, one recv and one send in flight per connection,
//! the connection's buffer as the recv target: what microweb's slots would be). What differs is
//! only how bytes reach and leave the socket, so the CPU per request of the two tells what
//! moving microweb's plaintext path to io_uring could save at most.
//!
//! Run: `uring_experiment epoll|uring 127.0.0.1:PORT [THREADS]`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nDate: Mon, 07 Dec 2026 12:00:00 GMT\r\n\r\nHello, World!";
const BUF: usize = 4096;

/// Answers every complete request at the start of `input`; returns the bytes consumed.
fn answer(input: &[u8], out: &mut Vec<u8>) -> usize {
    let mut used = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&input[used..]) {
            Ok(httparse::Status::Complete(n)) => {
                used += n;
                out.extend_from_slice(ANSWER);
            }
            _ => return used,
        }
    }
}

fn listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

mod epoll {
    use super::*;
    use mio::net::{TcpListener, TcpStream};
    use mio::{Events, Interest, Poll, Token};

    struct Conn {
        stream: TcpStream,
        input: Vec<u8>,
        out: Vec<u8>,
        sent: usize,
    }

    pub(crate) fn run(listener: std::net::TcpListener) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let mut poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, Token(usize::MAX), Interest::READABLE)?;
        let mut conns: slab::Slab<Conn> = slab::Slab::new();
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; BUF];
        loop {
            poll.poll(&mut events, None)?;
            for ev in &events {
                if ev.token() == Token(usize::MAX) {
                    while let Ok((mut stream, _)) = listener.accept() {
                        let _ = stream.set_nodelay(true);
                        let entry = conns.vacant_entry();
                        poll.registry().register(
                            &mut stream,
                            Token(entry.key()),
                            Interest::READABLE | Interest::WRITABLE,
                        )?;
                        entry.insert(Conn {
                            stream,
                            input: Vec::new(),
                            out: Vec::new(),
                            sent: 0,
                        });
                    }
                    continue;
                }
                let key = ev.token().0;
                let Some(c) = conns.get_mut(key) else { continue };
                if !drive(c, &mut buf) {
                    let mut c = conns.remove(key);
                    let _ = poll.registry().deregister(&mut c.stream);
                }
            }
        }
    }

    /// Reads what there is, answers, writes what the socket takes; false when the peer left.
    fn drive(c: &mut Conn, buf: &mut [u8]) -> bool {
        loop {
            match c.stream.read(buf) {
                Ok(0) => return false,
                Ok(n) => {
                    c.input.extend_from_slice(&buf[..n]);
                    let used = answer(&c.input, &mut c.out);
                    c.input.drain(..used);
                    if n < buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        while c.sent < c.out.len() {
            match c.stream.write(&c.out[c.sent..]) {
                Ok(n) => c.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        c.out.clear();
        c.sent = 0;
        true
    }
}

mod uring {
    use super::*;
    use io_uring::{IoUring, cqueue, opcode, squeue, types};

    const ACCEPT: u64 = u64::MAX;
    const RECV: u64 = 1;
    const SEND: u64 = 2;

    struct Conn {
        fd: OwnedFd,
        buf: Box<[u8; BUF]>,
        len: usize,
        out: Vec<u8>,
        sent: usize,
    }

    fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: every buffer an entry names lives in a `Conn` (boxed, or a Vec left alone
        // while its send is in flight) that is only dropped after its operation completed.
        while unsafe { ring.submission().push(entry) }.is_err() {
            ring.submit()?;
        }
        Ok(())
    }

    fn recv(ring: &mut IoUring, key: usize, c: &mut Conn) -> io::Result<()> {
        let target = &mut c.buf[c.len..];
        let e = opcode::Recv::new(types::Fd(c.fd.as_raw_fd()), target.as_mut_ptr(), target.len() as u32)
            .build()
            .user_data((key as u64) << 2 | RECV);
        push(ring, &e)
    }

    fn send(ring: &mut IoUring, key: usize, c: &Conn) -> io::Result<()> {
        let rest = &c.out[c.sent..];
        let e = opcode::Send::new(types::Fd(c.fd.as_raw_fd()), rest.as_ptr(), rest.len() as u32)
            .build()
            .user_data((key as u64) << 2 | SEND);
        push(ring, &e)
    }

    fn accept(ring: &mut IoUring, listener: RawFd) -> io::Result<()> {
        push(ring, &opcode::AcceptMulti::new(types::Fd(listener)).build().user_data(ACCEPT))
    }

    pub(crate) fn run(listener: std::net::TcpListener) -> io::Result<()> {
        let mut ring = IoUring::new(4096)?;
        let lfd = listener.as_raw_fd();
        accept(&mut ring, lfd)?;
        let mut conns: slab::Slab<Conn> = slab::Slab::new();
        let mut done: Vec<(u64, i32, u32)> = Vec::with_capacity(1024);
        loop {
            ring.submit_and_wait(1)?;
            done.extend(ring.completion().map(|c| (c.user_data(), c.result(), c.flags())));
            for (data, res, flags) in done.drain(..) {
                if data == ACCEPT {
                    if res >= 0 {
                        // SAFETY: a completed accept's result is a new descriptor we own.
                        let fd = unsafe { OwnedFd::from_raw_fd(res) };
                        let stream = std::net::TcpStream::from(fd);
                        let _ = stream.set_nodelay(true);
                        let key = conns.insert(Conn {
                            fd: stream.into(),
                            buf: Box::new([0; BUF]),
                            len: 0,
                            out: Vec::new(),
                            sent: 0,
                        });
                        recv(&mut ring, key, &mut conns[key])?;
                    }
                    if !cqueue::more(flags) {
                        accept(&mut ring, lfd)?;
                    }
                    continue;
                }
                let key = (data >> 2) as usize;
                let Some(c) = conns.get_mut(key) else { continue };
                if res <= 0 {
                    conns.remove(key);
                    continue;
                }
                if data & 3 == RECV {
                    c.len += res as usize;
                    let used = answer(&c.buf[..c.len], &mut c.out);
                    c.buf.copy_within(used..c.len, 0);
                    c.len -= used;
                    if c.out.is_empty() {
                        recv(&mut ring, key, c)?;
                    } else {
                        send(&mut ring, key, c)?;
                    }
                } else {
                    c.sent += res as usize;
                    if c.sent < c.out.len() {
                        send(&mut ring, key, c)?;
                    } else {
                        c.out.clear();
                        c.sent = 0;
                        recv(&mut ring, key, c)?;
                    }
                }
            }
        }
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "epoll".to_owned());
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:18090".to_owned())
        .parse()
        .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(2);
    let run = match mode.as_str() {
        "epoll" => epoll::run,
        "uring" => uring::run,
        other => return Err(io::Error::new(ErrorKind::InvalidInput, format!("mode {other}"))),
    };
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let l = listener(addr)?;
            Ok(std::thread::spawn(move || run(l)))
        })
        .collect::<io::Result<_>>()?;
    println!("listening on http://{addr} ({mode}, {threads} threads)");
    for w in workers {
        match w.join() {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::other("a worker panicked")),
        }
    }
    Ok(())
}
