//! The low-level connection API: what a protocol server (the HTTP server, a WebSocket session…)
//! implements to live on the pool, and the pool's side of it.
//!
//! In scope: [`Acceptor`], [`ConnHandler`], [`Conn`], [`ConnEvent`], [`Next`], [`CloseReason`],
//! [`ConnInfo`], [`Listener`]; running a connection's events and keeping its readiness; accepting
//! under back-pressure.
//! Out of scope: any protocol; the callback-style API ([`TcpClient`](super::TcpClient)) is built
//! on top of this one.
//!
//! ## A connection's life
//!
//! ```text
//!  accept ─► Acceptor::accept ─► on_event(Opened) ─► Next ─┐
//!                                    ▲                      │ Read/Write/ReadWrite: arm socket
//!                                    │                      │ Idle: wait for a wake/deadline
//!        Readable/Writable/Woken/    │                      │ WaitSlot: queue for a free slot
//!        TimedOut/SlotFree ──────────┘◄─────────────────────┘ Close(reason) ─► on_closed(reason)
//! ```
//!
//! Events are hints: after `Readable` a read may still return `WouldBlock`, and an event may
//! come when the last `Next` did not ask for it (a wake racing a readiness). A handler treats
//! them as "try now".
//!
//! ## Readiness
//!
//! A connection is registered once, edge-triggered, for both directions: the poller reports
//! only that new readiness came. The pool keeps what is known in [`Readiness`]: readable until a
//! read through [`Conn::read`] would block or (plain TCP) returns less than it asked for — the
//! socket was empty then, and bytes that come later raise a new edge —, writable until a write
//! would block. When a handler asks for a direction that is still ready, it gets the event again
//! at once instead of waiting; otherwise the connection waits for the next edge, with no poller
//! call.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::endpoint::Endpoint;
use super::listen::{ListenOptions, ProxyProtocol};
use super::poller::{Interest, Poller};
use super::proxied::ProxiedBody;
use super::slots::SlotGuard;
use super::source::{
    self, Body, CLOSE_REQ, CLOSED, OPENED, READABLE, SLOT_FREE, Source, SourceKey, TIMEDOUT, WOKEN,
    WRITABLE, Waker,
};
#[cfg(feature = "tls")]
use super::tls::{TlsConfig, TlsStream};
use super::transport::Transport;
use super::unix::UnixSocketFile;
use super::{Pool, Shared, Task};

/// Why a connection (or any source) closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed the connection (end of stream, or a reset).
    ByPeer,
    /// This side closed it: the handler asked to, a close was requested, or the pool stopped.
    ByHost,
    /// A deadline passed (a connect or an operation with a timeout).
    Timeout,
    /// A socket error.
    Error(io::ErrorKind),
    /// The handler panicked; the connection was closed and its loop went on.
    Panicked,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::ByPeer => f.write_str("closed by peer"),
            CloseReason::ByHost => f.write_str("closed by host"),
            CloseReason::Timeout => f.write_str("timed out"),
            CloseReason::Error(kind) => write!(f, "socket error: {kind}"),
            CloseReason::Panicked => f.write_str("handler panicked"),
        }
    }
}

impl CloseReason {
    /// Maps an IO error to a close reason: resets and broken pipes are the peer's doing.
    #[must_use]
    pub fn from_io(e: &io::Error) -> CloseReason {
        match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => CloseReason::ByPeer,
            io::ErrorKind::TimedOut => CloseReason::Timeout,
            kind => CloseReason::Error(kind),
        }
    }
}

/// What happened to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnEvent {
    /// The connection was accepted (or an outgoing connect completed). Delivered first, once.
    Opened,
    /// The socket (or the transport) may have bytes to read.
    Readable,
    /// The socket may take more bytes.
    Writable,
    /// A [`Waker`] of this connection was woken.
    Woken,
    /// The deadline set with [`Conn::set_deadline`] passed. Delivered once per deadline.
    TimedOut,
    /// A buffer slot was returned after the handler answered [`Next::WaitSlot`].
    SlotFree,
}

/// What a handler waits for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Readability (and wakes, and the deadline).
    Read,
    /// Writability (and wakes, and the deadline).
    Write,
    /// Either.
    ReadWrite,
    /// Nothing on the socket: only wakes and the deadline. The connection costs no slot.
    Idle,
    /// A free buffer slot: `SlotFree` comes once one is returned (wakes and deadline still count).
    WaitSlot,
    /// Close the connection; `on_closed` follows with this reason.
    Close(CloseReason),
}

/// What the pool knows about a connection it just accepted.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ConnInfo {
    /// The connection's key.
    pub key: SourceKey,
    /// The listener that accepted it.
    pub listener: SourceKey,
    /// The peer's address (`Endpoint::Unix` on a Unix socket listener).
    pub peer_addr: Endpoint,
    /// On a PROXY protocol listener, the client's address the header gave (`None` for a v2
    /// `LOCAL` or v1 `UNKNOWN` header, and on other listeners); `peer_addr` is the proxy's.
    pub proxied_source: Option<SocketAddr>,
    /// The listener's bound address (may be unspecified, like `[::]:80`).
    pub local_addr: Endpoint,
}

/// Creates the handler of each connection a listener accepts.
pub trait Acceptor: Send + Sync + 'static {
    /// Returns the handler for a new connection, or `None` to refuse (close) it.
    fn accept(&self, conn: &ConnInfo) -> Option<Box<dyn ConnHandler>>;
}

impl<F> Acceptor for F
where
    F: Fn(&ConnInfo) -> Option<Box<dyn ConnHandler>> + Send + Sync + 'static,
{
    fn accept(&self, conn: &ConnInfo) -> Option<Box<dyn ConnHandler>> {
        self(conn)
    }
}

/// A connection's protocol: gets its events, one at a time, and says what to wait for next.
///
/// INVARIANT (kept by the pool): a handler never runs concurrently with itself, and events that
/// arrive while it runs (wakes, deadlines, readiness) are delivered after it returns.
pub trait ConnHandler: Send + 'static {
    /// Handles one event; the answer tells the pool what to wait for.
    fn on_event(&mut self, conn: &mut Conn<'_>, event: ConnEvent) -> Next;

    /// Called once when the connection is closed, whatever closed it.
    fn on_closed(&mut self, reason: CloseReason) {
        let _ = reason;
    }
}

/// What the pool knows of a connection's socket between edges (see the module doc).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readiness {
    /// A read may find bytes (or the end of the stream).
    read: bool,
    /// A write may be taken.
    write: bool,
}

impl Readiness {
    /// Notes what a read of `asked` bytes returned.
    fn after_read(&mut self, result: &io::Result<usize>, asked: usize, plain: bool) {
        match result {
            // Plain TCP gives all it has up to `asked`: a short read emptied the socket.
            Ok(n) if plain && *n > 0 && *n < asked => self.read = false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.read = false,
            _ => {}
        }
    }

    /// Notes what a write (or flush) returned.
    fn after_write<T>(&mut self, result: &io::Result<T>) {
        if matches!(result, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.write = false;
        }
    }
}

/// A connection, as its handler sees it while handling an event.
pub struct Conn<'a> {
    transport: &'a mut Transport,
    ready: &'a mut Readiness,
    source: &'a Arc<Source>,
    pool: &'a Pool,
    peer: Endpoint,
}

impl fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("key", &self.source.key)
            .field("peer", &self.peer)
            .finish()
    }
}

impl Conn<'_> {
    /// Reads into `buf` through the transport; `Ok(0)` is the end of the stream.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when nothing is available yet; any socket error.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.transport.read(buf);
        let plain = !self.transport.is_tls();
        self.ready.after_read(&result, buf.len(), plain);
        result
    }

    /// Writes from `buf` through the transport.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the socket cannot take more now; any socket error.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.transport.write(buf);
        self.ready.after_write(&result);
        result
    }

    /// Writes from several buffers, in order, in one call where the transport can (plain TCP:
    /// one `writev`); returns how many bytes were taken in all.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the socket cannot take more now; any socket error.
    pub fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let result = self.transport.write_vectored(bufs);
        self.ready.after_write(&result);
        result
    }

    /// Sends up to `count` bytes of `file` from `*offset` with `sendfile(2)`, advancing
    /// `*offset`; see [`Transport::send_file`] (plain sockets on Linux only).
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the socket cannot take more now; `Unsupported` where the transport
    /// cannot; any socket or file error.
    pub fn send_file(
        &mut self,
        file: &std::fs::File,
        offset: &mut u64,
        count: usize,
    ) -> io::Result<usize> {
        let result = self.transport.send_file(file, offset, count);
        self.ready.after_write(&result);
        result
    }

    /// Flushes what the transport buffers (TLS records).
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or any socket error.
    pub fn flush(&mut self) -> io::Result<()> {
        let result = self.transport.flush();
        self.ready.after_write(&result);
        result
    }

    /// Returns the transport (to shut it down, or for what `Conn` does not expose).
    ///
    /// Prefer [`Conn::read`] and [`Conn::write`] for the bytes: they keep the pool's readiness.
    /// After this call the pool assumes the socket may be ready both ways (the handler may get
    /// one event that finds nothing).
    pub fn transport(&mut self) -> &mut Transport {
        self.ready.read = true;
        self.ready.write = true;
        self.transport
    }

    /// Returns whether the connection is protected by TLS.
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.transport.is_tls()
    }

    /// Returns the peer's address (`Endpoint::Unix` on a Unix socket).
    #[must_use]
    pub fn peer_addr(&self) -> Endpoint {
        self.peer
    }

    /// Returns the local address of the connection (one syscall; `Endpoint::Unix` on a Unix
    /// socket).
    ///
    /// # Errors
    ///
    /// Any socket error.
    pub fn local_addr(&self) -> io::Result<Endpoint> {
        match self.transport.tcp() {
            Some(socket) => socket.local_addr().map(Endpoint::Ip),
            None => Ok(Endpoint::Unix),
        }
    }

    /// Returns the connection's key.
    #[must_use]
    pub fn key(&self) -> SourceKey {
        self.source.key
    }

    /// Returns a waker for this connection, to be woken from any thread.
    #[must_use]
    pub fn waker(&self) -> Waker {
        Waker::new(self.source, &self.pool.shared)
    }

    /// Sets (or clears) the deadline; `TimedOut` fires once when it passes.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.pool.shared.set_deadline(self.source, deadline);
    }

    /// Returns the pool, to borrow slots or add timers.
    #[must_use]
    pub fn pool(&self) -> &Pool {
        self.pool
    }

    /// Borrows a buffer slot from the pool, if one is free.
    #[must_use]
    pub fn try_borrow_slot(&self) -> Option<SlotGuard> {
        self.pool.shared.slots.try_borrow()
    }
}

impl io::Read for Conn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Conn::read(self, buf)
    }
}

impl io::Write for Conn<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Conn::write(self, buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Conn::write_vectored(self, bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Conn::flush(self)
    }
}

/// Takes the deadline if it has passed (so `TimedOut` fires once).
pub(crate) fn take_due_deadline(shared: &Shared, src: &Source) -> bool {
    let d = src.deadline.load(Ordering::SeqCst);
    d != 0
        && d <= shared.now_ns()
        && src
            .deadline
            .compare_exchange(d, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
}

/// Queues `src` for a free slot. `taker`: whether it will borrow the slot it is woken for.
pub(crate) fn wait_for_slot(shared: &Arc<Shared>, src: &Arc<Source>, taker: bool) {
    let s = Arc::downgrade(src);
    let sh: Weak<Shared> = Arc::downgrade(shared);
    shared.slots.wait_for_slot(
        Box::new(move || match (s.upgrade(), sh.upgrade()) {
            (Some(s), Some(sh)) if !s.is_closed() => {
                sh.schedule(&s, SLOT_FREE);
                true
            }
            _ => false,
        }),
        taker,
    );
}

/// The pool's side of a connection (TCP, TLS or a Unix socket).
pub(crate) struct ConnBody {
    transport: Transport,
    handler: Box<dyn ConnHandler>,
    peer: Endpoint,
    /// What the socket is known to be ready for (see the module doc).
    ready: Readiness,
    registered: bool,
    connecting: bool,
    waiting_slot: bool,
    last: Next,
}

/// The socket readiness a handler's answer waits for.
fn interest_of(next: Next) -> Interest {
    match next {
        Next::Read => Interest::READ,
        Next::Write => Interest::WRITE,
        Next::ReadWrite => Interest::BOTH,
        Next::Idle | Next::WaitSlot | Next::Close(_) => Interest::NONE,
    }
}

const ORDER: [(u32, ConnEvent); 6] = [
    (OPENED, ConnEvent::Opened),
    (READABLE, ConnEvent::Readable),
    (WRITABLE, ConnEvent::Writable),
    (SLOT_FREE, ConnEvent::SlotFree),
    (WOKEN, ConnEvent::Woken),
    (TIMEDOUT, ConnEvent::TimedOut),
];

impl ConnBody {
    /// An accepted connection, not yet in the poller.
    pub(crate) fn accepted(
        transport: Transport,
        peer: Endpoint,
        handler: Box<dyn ConnHandler>,
    ) -> ConnBody {
        ConnBody {
            transport,
            handler,
            peer,
            // Unknown yet: the first read finds out.
            ready: Readiness {
                read: true,
                write: true,
            },
            registered: false,
            connecting: false,
            waiting_slot: false,
            last: Next::Idle,
        }
    }

    /// Marks the socket as already in the poller for both directions (a connection that read
    /// its PROXY header there first).
    pub(crate) fn already_registered(mut self) -> ConnBody {
        self.registered = true;
        self
    }

    /// An outgoing connection, already in the poller (both directions).
    pub(crate) fn connecting(
        stream: TcpStream,
        peer: SocketAddr,
        handler: Box<dyn ConnHandler>,
    ) -> ConnBody {
        ConnBody {
            transport: Transport::Tcp(stream),
            handler,
            peer: Endpoint::Ip(peer),
            ready: Readiness {
                read: false,
                write: false,
            },
            registered: true,
            connecting: true,
            waiting_slot: false,
            last: Next::Idle,
        }
    }

    /// The socket, to register it.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.transport.fd()
    }

    pub(crate) fn handle(
        &mut self,
        pool: &Pool,
        src: &Arc<Source>,
        mut bits: u32,
    ) -> Option<CloseReason> {
        let shared = &pool.shared;
        if bits & CLOSE_REQ != 0 {
            return Some(CloseReason::ByHost);
        }
        if bits & READABLE != 0 {
            self.ready.read = true;
        }
        if bits & WRITABLE != 0 {
            self.ready.write = true;
        }
        if bits & SLOT_FREE != 0 {
            self.waiting_slot = false;
        }
        if bits & WRITABLE != 0 && !self.connecting {
            // Let the transport push out what it buffers on its own (TLS records) before the
            // handler sees the event; a no-op for plain TCP.
            let flushed = self.transport.flush();
            self.ready.after_write(&flushed);
            match flushed {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Some(CloseReason::from_io(&e)),
            }
        }
        if self.connecting {
            if bits & TIMEDOUT != 0 && take_due_deadline(shared, src) {
                return Some(CloseReason::Timeout);
            }
            if let (true, Some(socket)) = (bits & (READABLE | WRITABLE) != 0, self.transport.tcp())
            {
                match socket.take_error() {
                    Ok(None) => {}
                    Ok(Some(e)) | Err(e) => return Some(CloseReason::from_io(&e)),
                }
                match socket.peer_addr() {
                    Ok(_) => {
                        self.connecting = false;
                        src.deadline.store(0, Ordering::SeqCst); // the connect timeout is done
                        bits = OPENED | (bits & (WOKEN | SLOT_FREE));
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        return Some(CloseReason::Error(io::ErrorKind::ConnectionRefused));
                    }
                    Err(e) => return Some(CloseReason::from_io(&e)),
                }
            }
            if self.connecting {
                return None; // the next edge tells
            }
        }
        let mut delivered = false;
        for (bit, event) in ORDER {
            if bits & bit == 0 || (bit == TIMEDOUT && !take_due_deadline(shared, src)) {
                continue;
            }
            // Readiness the handler did not ask for stays noted in `ready` for later.
            let asked = self.transport.interest(interest_of(self.last));
            if (bit == READABLE && !asked.read) || (bit == WRITABLE && !asked.write) {
                continue;
            }
            let mut conn = Conn {
                transport: &mut self.transport,
                ready: &mut self.ready,
                source: src,
                pool,
                peer: self.peer,
            };
            let next = self.handler.on_event(&mut conn, event);
            if let Next::Close(reason) = next {
                return Some(reason);
            }
            self.last = next;
            delivered = true;
        }
        if delivered && bits & SLOT_FREE != 0 && !self.waiting_slot {
            shared.slots.kick(); // the slot this handler was woken for may still be free
        }
        if self.last == Next::WaitSlot && !self.waiting_slot {
            self.waiting_slot = true;
            wait_for_slot(shared, src, true);
        }
        let want = self.transport.interest(interest_of(self.last));
        if want.read && (self.ready.read || self.transport.has_buffered_input()) {
            // Still readable (or bytes wait in the transport): run again instead of waiting.
            src.state.fetch_or(READABLE, Ordering::SeqCst);
            return None;
        }
        if want.write && self.ready.write {
            src.state.fetch_or(WRITABLE, Ordering::SeqCst);
            return None;
        }
        if self.registered {
            return None; // the next edge tells
        }
        self.registered = true;
        match src
            .home
            .poller
            .add(&self.transport.fd(), src.key.0, Interest::BOTH)
        {
            Ok(()) => None,
            Err(e) => Some(CloseReason::Error(e.kind())),
        }
    }

    pub(crate) fn deregister(&self, poller: &Poller) {
        if self.registered {
            let _ = poller.delete(&self.transport.fd());
        }
    }

    pub(crate) fn close(mut self, reason: CloseReason) {
        drop(self.transport);
        let handler = &mut self.handler;
        if catch_unwind(AssertUnwindSafe(|| handler.on_closed(reason))).is_err() {
            log::error!("pool: on_closed panicked");
        }
    }
}

/// How long a listener pauses when the process is out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a listener gives each connection it accepts: its acceptor, and TLS when it runs it.
/// Shared with the connections still reading their PROXY header.
pub(crate) struct Admission {
    acceptor: Arc<dyn Acceptor>,
    listener: SourceKey,
    local: Endpoint,
    /// Set on a TLS listener: every accepted connection starts a TLS handshake.
    #[cfg(feature = "tls")]
    tls: Option<TlsConfig>,
}

impl Admission {
    /// Makes the connection of a stream from `peer` in `src` (for `proxied_source`, see
    /// [`ConnInfo`]): its transport and its handler; `None` when the TLS setup fails or the
    /// acceptor refuses it.
    pub(crate) fn connection(
        &self,
        shared: &Shared,
        src: &Source,
        stream: Accepted,
        peer: Endpoint,
        proxied_source: Option<SocketAddr>,
    ) -> Option<ConnBody> {
        let transport = match stream {
            Accepted::Unix(s) => Transport::Unix(s),
            #[cfg(feature = "tls")]
            Accepted::Tcp(s) => match &self.tls {
                None => Transport::Tcp(s),
                Some(tls) => match TlsStream::accept(s, tls, shared.slots.size()) {
                    Ok(t) => Transport::Tls(Box::new(t)),
                    Err(e) => {
                        log::debug!("pool: refused a TLS connection from {peer}: {e}");
                        return None;
                    }
                },
            },
            #[cfg(not(feature = "tls"))]
            Accepted::Tcp(s) => {
                let _ = shared;
                Transport::Tcp(s)
            }
        };
        let info = ConnInfo {
            key: src.key,
            listener: self.listener,
            peer_addr: peer,
            proxied_source,
            local_addr: self.local,
        };
        match catch_unwind(AssertUnwindSafe(|| self.acceptor.accept(&info))) {
            Ok(Some(handler)) => Some(ConnBody::accepted(transport, peer, handler)),
            Ok(None) => None,
            Err(_) => {
                log::error!("pool: an acceptor panicked");
                None
            }
        }
    }
}

/// A stream a listener accepted.
pub(crate) enum Accepted {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A bound listening socket: TCP, or a Unix socket with the file it made (removed when the
/// listener is dropped).
pub(crate) enum Bound {
    Tcp(TcpListener),
    Unix {
        listener: UnixListener,
        /// Held for its drop, which removes the socket file.
        _file: UnixSocketFile,
    },
}

impl Bound {
    fn accept(&self) -> io::Result<(Accepted, Endpoint)> {
        match self {
            Bound::Tcp(l) => l
                .accept()
                .map(|(s, peer)| (Accepted::Tcp(s), Endpoint::Ip(peer))),
            Bound::Unix { listener: l, .. } => {
                l.accept().map(|(s, _)| (Accepted::Unix(s), Endpoint::Unix))
            }
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Bound::Tcp(l) => l.as_fd(),
            Bound::Unix { listener: l, .. } => l.as_fd(),
        }
    }
}

/// The pool's side of a listener (TCP or Unix socket).
pub(crate) struct ListenerBody {
    listener: Bound,
    admission: Arc<Admission>,
    waiting_slot: bool,
    /// Accepting fails for want of descriptors or buffers: warned once, until one succeeds.
    accept_failing: bool,
    /// Set when every connection must start with a PROXY protocol header.
    proxy: Option<ProxyProtocol>,
}

impl ListenerBody {
    pub(crate) fn new(
        listener: Bound,
        key: SourceKey,
        acceptor: Arc<dyn Acceptor>,
        local: Endpoint,
        options: ListenOptions,
    ) -> ListenerBody {
        ListenerBody {
            listener,
            admission: Arc::new(Admission {
                acceptor,
                listener: key,
                local,
                #[cfg(feature = "tls")]
                tls: options.tls,
            }),
            waiting_slot: false,
            accept_failing: false,
            proxy: options.proxy_protocol,
        }
    }

    /// The socket, to register it.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.listener.fd()
    }

    pub(crate) fn handle(
        &mut self,
        pool: &Pool,
        src: &Arc<Source>,
        bits: u32,
    ) -> Option<CloseReason> {
        let shared = &pool.shared;
        if bits & CLOSE_REQ != 0 {
            return Some(CloseReason::ByHost);
        }
        if bits & SLOT_FREE != 0 {
            self.waiting_slot = false;
        }
        if self.waiting_slot {
            return None; // still under back-pressure; SlotFree will resume accepting
        }
        // Edge-triggered: accept until the queue is empty, or no slot is left.
        loop {
            if shared.slots.free() == 0 {
                // Back-pressure: stop accepting until a slot is returned (its wake resumes).
                self.waiting_slot = true;
                wait_for_slot(shared, src, false);
                return None;
            }
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if std::mem::take(&mut self.accept_failing) {
                        log::info!("pool: accepting on {} again", self.admission.local);
                    }
                    self.open(pool, stream, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    // Out of file descriptors or buffers: pause instead of spinning, and retry
                    // every ACCEPT_BACKOFF (the connections already open go on meanwhile).
                    if !std::mem::replace(&mut self.accept_failing, true) {
                        log::warn!(
                            "pool: accept on {} failed: {e}; retrying every {} ms until it works",
                            self.admission.local,
                            ACCEPT_BACKOFF.as_millis()
                        );
                    }
                    shared.set_deadline(src, Some(Instant::now() + ACCEPT_BACKOFF));
                    return None;
                }
            }
        }
    }

    fn open(&self, pool: &Pool, stream: Accepted, peer: Endpoint) {
        let shared = &pool.shared;
        let set_up = match &stream {
            Accepted::Tcp(s) => s.set_nonblocking(true).and_then(|()| s.set_nodelay(true)),
            Accepted::Unix(s) => s.set_nonblocking(true),
        };
        if let Err(e) = set_up {
            log::warn!("pool: cannot set up a connection from {peer}: {e}");
            return;
        }
        let src = match (&self.proxy, stream, peer) {
            // The connection's first bytes must say whom the proxy relays: read them first,
            // without a slot, then admit it with the address they give. (A Unix socket
            // listener never has the PROXY protocol: see `Pool::listen_unix`.)
            (Some(proxy), Accepted::Tcp(stream), Endpoint::Ip(peer)) => {
                if !proxy.trusted.contains(peer.ip()) {
                    log::debug!("pool: closed a connection from {peer}, not a trusted proxy");
                    return;
                }
                let Ok(src) = shared.insert_dealt(source::SCHEDULED | READABLE) else {
                    return;
                };
                let body = ProxiedBody::new(stream, peer, Arc::clone(&self.admission));
                *src.body.lock() = Some(Body::Proxied(body));
                shared.set_deadline(&src, Some(Instant::now() + proxy.header_timeout));
                src
            }
            (_, stream, peer) => {
                let Ok(src) = shared.insert_dealt(SCHEDULED_OPENED) else {
                    return;
                };
                let Some(body) = self.admission.connection(shared, &src, stream, peer, None) else {
                    src.state.fetch_or(CLOSED, Ordering::SeqCst);
                    shared.remove(&src);
                    return;
                };
                *src.body.lock() = Some(Body::Conn(body));
                src
            }
        };
        if src.home.is_current(shared) {
            source::run_source(pool, &src);
        } else {
            // Its own loop runs it from the start (`Opened` may already read and answer a
            // request): the accepting loop does nothing more for it.
            src.home.send(shared, Task::Source(Arc::clone(&src)));
        }
    }

    pub(crate) fn deregister(&self, poller: &Poller) {
        let _ = poller.delete(&self.listener.fd());
    }
}

const SCHEDULED_OPENED: u32 = source::SCHEDULED | OPENED;

/// A listening socket of a pool, as returned by [`Pool::listen`] (TCP) or
/// [`Pool::listen_unix`](super::Pool::listen_unix).
#[derive(Debug, Clone)]
pub struct Listener {
    key: SourceKey,
    local: SocketAddr,
    unix_path: Option<Arc<Path>>,
    source: Weak<Source>,
    shared: Weak<Shared>,
}

impl Listener {
    pub(crate) fn new(src: &Arc<Source>, shared: &Arc<Shared>, local: SocketAddr) -> Listener {
        Listener {
            key: src.key,
            local,
            unix_path: None,
            source: Arc::downgrade(src),
            shared: Arc::downgrade(shared),
        }
    }

    pub(crate) fn new_unix(src: &Arc<Source>, shared: &Arc<Shared>, path: &Path) -> Listener {
        Listener {
            unix_path: Some(Arc::from(path)),
            ..Listener::new(src, shared, SocketAddr::from(([0, 0, 0, 0], 0)))
        }
    }

    /// Returns the bound address (with the real port when bound to port 0); `0.0.0.0:0` for a
    /// Unix socket listener (see [`Listener::unix_path`]).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Returns the socket file of a Unix socket listener; `None` for TCP.
    #[must_use]
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix_path.as_deref()
    }

    /// Returns the listener's key.
    #[must_use]
    pub fn key(&self) -> SourceKey {
        self.key
    }

    /// Stops listening and closes the socket; accepted connections live on.
    pub fn close(&self) {
        if let (Some(src), Some(shared)) = (self.source.upgrade(), self.shared.upgrade()) {
            source::request_close(&shared, &src);
        }
    }

    /// Returns whether the listener is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.source.upgrade().is_none_or(|s| s.is_closed())
    }
}
