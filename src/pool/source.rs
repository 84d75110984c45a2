//! Sources: the registry entries of the pool (listeners, TCP connections, UDP sockets), their
//! scheduling state, and the sockets they are made of.
//!
//! In scope: [`SourceKey`], the per-source state word that guarantees a source is run by one
//! thread at a time without losing events, running a source, closing it, [`Waker`], and socket
//! creation (socket2: `SO_REUSEADDR`, dual-stack `[::]`, `TCP_NODELAY`).
//! Out of scope: what a connection does with its events (`conn.rs`, `tcp_client.rs`, `udp.rs`).
//!
//! ## The state word
//!
//! ```text
//!  bit 0 SCHEDULED  a task for this source is queued or running (at most one exists)
//!  bit 1 CLOSED     the source is closed; nothing is scheduled any more
//!  bits 2.. events  READABLE WRITABLE WOKEN TIMEDOUT SLOT_FREE OPENED CLOSE_REQ, pending
//! ```
//!
//! `schedule` ORs the event bits and SCHEDULED in; only the caller that flipped SCHEDULED from 0
//! queues a task. The running thread takes the pending bits, runs the handler,
//! then clears SCHEDULED with a compare-and-swap that fails if new bits arrived meanwhile, in which
//! case it runs again. So a handler never runs concurrently with itself and no event is lost.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};

use super::conn::{CloseReason, ConnBody, ListenerBody};
use super::event_loop::Loop;
use super::poller::Poller;
use super::proxied::ProxiedBody;
use super::udp::UdpBody;
use super::{Pool, Shared};

/// A task for this source is queued or running.
pub(crate) const SCHEDULED: u32 = 1;
/// The source is closed.
pub(crate) const CLOSED: u32 = 1 << 1;
/// The socket became readable (an edge came, or the connection is still known readable).
pub(crate) const READABLE: u32 = 1 << 2;
/// The socket became writable (an edge came, or the connection is still known writable).
pub(crate) const WRITABLE: u32 = 1 << 3;
/// A [`Waker`] was woken.
pub(crate) const WOKEN: u32 = 1 << 4;
/// The deadline passed.
pub(crate) const TIMEDOUT: u32 = 1 << 5;
/// A buffer slot was returned while this source waited for one.
pub(crate) const SLOT_FREE: u32 = 1 << 6;
/// The connection was just opened.
pub(crate) const OPENED: u32 = 1 << 7;
/// Someone asked the pool to close this source.
pub(crate) const CLOSE_REQ: u32 = 1 << 8;
/// Every event bit.
pub(crate) const EVENTS: u32 =
    READABLE | WRITABLE | WOKEN | TIMEDOUT | SLOT_FREE | OPENED | CLOSE_REQ;

/// Identifies a source (listener, connection, UDP socket) in its pool, like mio's `Token`.
///
/// Keys are reused after a source closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey(pub usize);

/// One registry entry.
pub(crate) struct Source {
    /// Its key in the registry and the poller.
    pub(crate) key: SourceKey,
    /// INVARIANT: see the module doc; only `schedule` sets SCHEDULED from 0.
    pub(crate) state: AtomicU32,
    /// The deadline, in nanoseconds since the pool's epoch; 0 means none.
    pub(crate) deadline: AtomicU64,
    /// When this source's earliest heap entry is due; 0 means none. Written under the timers lock.
    pub(crate) timer_at: AtomicU64,
    /// The socket and its handler; `None` once closed (or while being set up).
    pub(crate) body: Mutex<Option<Body>>,
    /// The loop whose poller the socket is registered with, and which runs it.
    pub(crate) home: Arc<Loop>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("key", &self.key)
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}

impl Source {
    /// A new source with `state` bits already set.
    pub(crate) fn new(key: SourceKey, state: u32, home: Arc<Loop>) -> Source {
        Source {
            key,
            state: AtomicU32::new(state),
            deadline: AtomicU64::new(0),
            timer_at: AtomicU64::new(0),
            body: Mutex::new(None),
            home,
        }
    }

    /// Returns whether the source is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::SeqCst) & CLOSED != 0
    }
}

/// What a source is.
pub(crate) enum Body {
    /// A TCP listener.
    Listener(ListenerBody),
    /// A TCP connection with its handler.
    Conn(ConnBody),
    /// A TCP connection still reading its PROXY protocol header, before it has a handler.
    Proxied(ProxiedBody),
    /// A UDP socket with its receive callback.
    Udp(UdpBody),
}

impl Body {
    /// Handles the pending `bits`; returns `Some(reason)` when the source must close.
    fn handle(&mut self, pool: &Pool, src: &Arc<Source>, bits: u32) -> Option<CloseReason> {
        match self {
            Body::Listener(b) => b.handle(pool, src, bits),
            Body::Conn(b) => b.handle(pool, src, bits),
            Body::Udp(b) => b.handle(pool, src, bits),
            Body::Proxied(b) => match b.handle(pool, src, bits) {
                Ok(None) => None,
                Ok(Some(connection)) => {
                    // Admitted: from now on it is a connection, opened on the next turn.
                    *self = Body::Conn(connection);
                    src.state.fetch_or(OPENED, Ordering::SeqCst);
                    None
                }
                Err(reason) => Some(reason),
            },
        }
    }

    /// Deletes the socket from its loop's poller (before its key can be reused).
    fn deregister(&self, poller: &Poller) {
        match self {
            Body::Listener(b) => b.deregister(poller),
            Body::Conn(b) => b.deregister(poller),
            Body::Udp(b) => b.deregister(poller),
            Body::Proxied(b) => b.deregister(poller),
        }
    }

    /// Drops the socket and tells the handler why.
    fn close(self, reason: CloseReason) {
        match self {
            Body::Conn(b) => b.close(reason),
            Body::Listener(_) | Body::Udp(_) | Body::Proxied(_) => {}
        }
    }
}

/// Runs a scheduled source until no event is pending (see the module doc).
pub(crate) fn run_source(pool: &Pool, src: &Arc<Source>) {
    let mut body = src.body.lock();
    loop {
        let bits = src.state.fetch_and(!EVENTS, Ordering::SeqCst) & EVENTS;
        let Some(b) = body.as_mut() else { return };
        let reason = match catch_unwind(AssertUnwindSafe(|| b.handle(pool, src, bits))) {
            Ok(r) => r,
            Err(_) => {
                log::error!("pool: a handler panicked; closing source {}", src.key.0);
                Some(CloseReason::Panicked)
            }
        };
        if let Some(reason) = reason {
            src.state.fetch_or(CLOSED, Ordering::SeqCst);
            if let Some(b) = body.take() {
                drop(body);
                b.deregister(&src.home.poller);
                pool.shared.remove(src);
                b.close(reason);
            }
            return;
        }
        if src
            .state
            .compare_exchange(SCHEDULED, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// Closes `src` right now on this thread (used when no loop runs, and at stop).
pub(crate) fn close_now(shared: &Shared, src: &Arc<Source>, reason: CloseReason) {
    src.state.fetch_or(CLOSED | SCHEDULED, Ordering::SeqCst);
    let body = src.body.lock().take();
    if let Some(b) = body {
        b.deregister(&src.home.poller);
        shared.remove(src);
        if catch_unwind(AssertUnwindSafe(|| b.close(reason))).is_err() {
            log::error!("pool: a close handler panicked");
        }
    }
}

/// Asks the pool to close `src`: through its loop when running, at once otherwise.
pub(crate) fn request_close(shared: &Shared, src: &Arc<Source>) {
    if shared.is_running() {
        shared.schedule(src, CLOSE_REQ);
    } else {
        close_now(shared, src, CloseReason::ByHost);
    }
}

/// Wakes a connection from any thread: its handler gets [`ConnEvent::Woken`](super::ConnEvent).
///
/// Cloning is cheap; waking a closed connection (or one of a dropped pool) does nothing.
#[derive(Clone)]
pub struct Waker {
    source: Weak<Source>,
    shared: Weak<Shared>,
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.source.upgrade().map(|s| s.key);
        f.debug_struct("Waker").field("key", &key).finish()
    }
}

impl Waker {
    pub(crate) fn new(source: &Arc<Source>, shared: &Arc<Shared>) -> Waker {
        Waker {
            source: Arc::downgrade(source),
            shared: Arc::downgrade(shared),
        }
    }

    /// A waker of no connection (waking it does nothing), for unit tests.
    #[cfg(test)]
    pub(crate) fn detached() -> Waker {
        Waker {
            source: Weak::new(),
            shared: Weak::new(),
        }
    }

    /// Schedules a `Woken` event for the connection. Wakes that arrive while its handler runs
    /// are delivered after it returns; several wakes before it runs make one event.
    pub fn wake(&self) {
        if let (Some(src), Some(shared)) = (self.source.upgrade(), self.shared.upgrade()) {
            shared.schedule(&src, WOKEN);
        }
    }

    /// Returns whether the connection is gone (closed, or its pool dropped).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.source.upgrade().is_none_or(|s| s.is_closed())
    }
}

fn new_socket(addr: &SocketAddr, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(*addr), ty, Some(proto))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // `[::]` serves IPv4 too (dual stack), whatever the system's bindv6only default.
        socket.set_only_v6(false)?;
    }
    Ok(socket)
}

/// Creates a nonblocking TCP listener: `SO_REUSEADDR` (and `SO_REUSEPORT` when asked), dual
/// stack on `[::]`, the given backlog.
pub(crate) fn bind_listener(
    addr: SocketAddr,
    backlog: u32,
    reuse_port: bool,
) -> io::Result<TcpListener> {
    let socket = new_socket(&addr, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    #[cfg(all(unix, not(target_os = "solaris"), not(target_os = "illumos")))]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(all(unix, not(target_os = "solaris"), not(target_os = "illumos"))))]
    if reuse_port {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_REUSEPORT is not available on this platform",
        ));
    }
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Starts a nonblocking connect; the result shows when the socket turns writable.
pub(crate) fn start_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

/// Returns whether a nonblocking connect reported "in progress" (`ErrorKind::InProgress` is
/// still unstable, so the errno is compared).
#[cfg(unix)]
fn in_progress(e: &io::Error) -> bool {
    rustix::io::Errno::from_io_error(e) == Some(rustix::io::Errno::INPROGRESS)
}

#[cfg(not(unix))]
fn in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(10036) // WSAEINPROGRESS
}

/// Creates a nonblocking UDP socket: `SO_REUSEADDR`, dual stack on `[::]`.
pub(crate) fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = new_socket(&addr, Type::DGRAM, Protocol::UDP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
