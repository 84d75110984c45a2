//! The XAsyncSockets-style TCP API: a server that hands out clients, and clients with callback
//! operations (receive what is there, exactly N bytes, or a line; send with a completion
//! callback; each with an optional timeout; every close reports its reason).
//!
//! In scope: [`TcpServer`], [`TcpClient`], built on the low-level [`ConnHandler`] API.
//! Out of scope: protocols; a protocol server uses [`ConnHandler`] directly (fewer layers).
//!
//! Received bytes live in a buffer slot borrowed only while data waits there, so an idle client
//! (even with a receive pending) holds no slot. A line that does not fit in a slot closes the
//! connection with `Error(InvalidData)`. Bytes to send are copied into a per-client buffer that
//! is reused, so steady traffic does not allocate.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::conn::{CloseReason, Conn, ConnEvent, ConnHandler, ConnInfo, Listener, Next};
use super::endpoint::Endpoint;
use super::slots::SlotGuard;
use super::source::{SourceKey, Waker};
use super::{Pool, PoolError};

type RecvCallback = Box<dyn FnOnce(&TcpClient, &[u8]) + Send>;
type SentCallback = Box<dyn FnOnce(&TcpClient) + Send>;
type ClosedCallback = Box<dyn FnOnce(&TcpClient, CloseReason) + Send>;
type ConnectCallback = Box<dyn FnOnce(io::Result<TcpClient>) + Send>;
type AcceptCallback = Arc<dyn Fn(TcpClient) + Send + Sync>;

thread_local! {
    /// The client whose callbacks run on this thread now: its operations need no wake.
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

#[derive(Debug, Clone, Copy)]
enum RecvKind {
    Any,
    Exactly(usize),
    Line,
}

impl RecvKind {
    /// How many filled bytes complete the receive, if they do.
    fn complete(self, filled: &[u8]) -> Option<usize> {
        match self {
            RecvKind::Any => (!filled.is_empty()).then_some(filled.len()),
            RecvKind::Exactly(n) => (filled.len() >= n).then_some(n),
            RecvKind::Line => memchr::memchr(b'\n', filled).map(|i| i + 1),
        }
    }
}

struct RecvOp {
    kind: RecvKind,
    deadline: Option<Instant>,
    callback: RecvCallback,
}

struct SendMark {
    /// The total count of bytes sent once this send is complete.
    end: u64,
    deadline: Option<Instant>,
    callback: Option<SentCallback>,
}

#[derive(Default)]
struct ClientOps {
    recv: Option<RecvOp>,
    out: Vec<u8>,
    out_pos: usize,
    queued: u64,
    sent: u64,
    marks: VecDeque<SendMark>,
    on_closed: Option<ClosedCallback>,
    close_requested: bool,
    closed: Option<CloseReason>,
}

struct ClientInner {
    key: SourceKey,
    peer: Endpoint,
    local: Option<Endpoint>,
    waker: Waker,
    slot_size: usize,
    ops: Mutex<ClientOps>,
}

/// A TCP connection with callback operations (XAsyncSockets' `XAsyncTCPClient`).
///
/// Cloning is cheap. Callbacks run on a pool thread, one at a time per client; they may call
/// any method of the client (queue the next receive, send, close).
#[derive(Clone)]
pub struct TcpClient {
    inner: Arc<ClientInner>,
}

impl fmt::Debug for TcpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpClient")
            .field("key", &self.inner.key)
            .field("peer", &self.inner.peer)
            .finish()
    }
}

impl TcpClient {
    fn new(conn: &Conn<'_>) -> TcpClient {
        TcpClient {
            inner: Arc::new(ClientInner {
                key: conn.key(),
                peer: conn.peer_addr(),
                local: conn.local_addr().ok(),
                waker: conn.waker(),
                slot_size: conn.pool().slot_size(),
                ops: Mutex::new(ClientOps::default()),
            }),
        }
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// Lets the handler see a change (no wake needed from inside this client's own callbacks).
    fn poke(&self) {
        if CURRENT.get() != self.id() {
            self.inner.waker.wake();
        }
    }

    /// Connects to `addr` through `pool`; `on_connected` gets the client, or the error
    /// (`TimedOut` after `timeout`, `ConnectionRefused`, …).
    ///
    /// # Errors
    ///
    /// Errors that show at once (socket creation, unreachable network).
    pub fn connect(
        pool: &Pool,
        addr: SocketAddr,
        timeout: Option<Duration>,
        on_connected: impl FnOnce(io::Result<TcpClient>) + Send + 'static,
    ) -> io::Result<()> {
        let handler = ClientHandler::new(Start::Connecting(Some(Box::new(on_connected))));
        pool.connect(addr, timeout, Box::new(handler)).map(|_| ())
    }

    fn set_recv(
        &self,
        kind: RecvKind,
        timeout: Option<Duration>,
        callback: RecvCallback,
    ) -> Result<(), PoolError> {
        {
            let mut ops = self.inner.ops.lock();
            if ops.closed.is_some() || ops.close_requested {
                return Err(PoolError::Closed);
            }
            if ops.recv.is_some() {
                return Err(PoolError::ReceivePending);
            }
            let deadline = timeout.map(|t| Instant::now() + t);
            ops.recv = Some(RecvOp {
                kind,
                deadline,
                callback,
            });
        }
        self.poke();
        Ok(())
    }

    /// Receives whatever is available (at least one byte, at most a slot).
    ///
    /// # Errors
    ///
    /// `Closed`, or `ReceivePending` if a receive is already waiting.
    pub fn recv_any(
        &self,
        timeout: Option<Duration>,
        on_recv: impl FnOnce(&TcpClient, &[u8]) + Send + 'static,
    ) -> Result<(), PoolError> {
        self.set_recv(RecvKind::Any, timeout, Box::new(on_recv))
    }

    /// Receives exactly `n` bytes (`1 ..= slot size`).
    ///
    /// # Errors
    ///
    /// `TooLarge` for `n` of zero or past the slot size; `Closed`; `ReceivePending`.
    pub fn recv_exactly(
        &self,
        n: usize,
        timeout: Option<Duration>,
        on_recv: impl FnOnce(&TcpClient, &[u8]) + Send + 'static,
    ) -> Result<(), PoolError> {
        if n == 0 || n > self.slot_size() {
            return Err(PoolError::TooLarge);
        }
        self.set_recv(RecvKind::Exactly(n), timeout, Box::new(on_recv))
    }

    /// Receives one line; the callback gets it without its `\n` (or `\r\n`).
    ///
    /// # Errors
    ///
    /// `Closed`, or `ReceivePending`.
    pub fn recv_line(
        &self,
        timeout: Option<Duration>,
        on_line: impl FnOnce(&TcpClient, &[u8]) + Send + 'static,
    ) -> Result<(), PoolError> {
        self.set_recv(RecvKind::Line, timeout, Box::new(on_line))
    }

    fn slot_size(&self) -> usize {
        self.inner.slot_size
    }

    fn queue(
        &self,
        data: &[u8],
        timeout: Option<Duration>,
        callback: Option<SentCallback>,
    ) -> Result<(), PoolError> {
        {
            let mut ops = self.inner.ops.lock();
            if ops.closed.is_some() || ops.close_requested {
                return Err(PoolError::Closed);
            }
            ops.out.extend_from_slice(data);
            ops.queued += data.len() as u64;
            if timeout.is_some() || callback.is_some() {
                let end = ops.queued;
                let deadline = timeout.map(|t| Instant::now() + t);
                ops.marks.push_back(SendMark {
                    end,
                    deadline,
                    callback,
                });
            }
        }
        self.poke();
        Ok(())
    }

    /// Queues `data` to be sent (copied; it goes out in order with earlier sends).
    ///
    /// # Errors
    ///
    /// `Closed`.
    pub fn send(&self, data: &[u8]) -> Result<(), PoolError> {
        self.queue(data, None, None)
    }

    /// Queues `data` and calls `on_sent` once all of it is handed to the system; with a timeout,
    /// the connection closes with `Timeout` if that takes longer.
    ///
    /// # Errors
    ///
    /// `Closed`.
    pub fn send_with(
        &self,
        data: &[u8],
        timeout: Option<Duration>,
        on_sent: impl FnOnce(&TcpClient) + Send + 'static,
    ) -> Result<(), PoolError> {
        self.queue(data, timeout, Some(Box::new(on_sent)))
    }

    /// Sets the callback told why the connection closed; called at once if it is closed already.
    pub fn on_closed(&self, callback: impl FnOnce(&TcpClient, CloseReason) + Send + 'static) {
        let reason = {
            let mut ops = self.inner.ops.lock();
            match ops.closed {
                Some(r) => r,
                None => {
                    ops.on_closed = Some(Box::new(callback));
                    return;
                }
            }
        };
        callback(self, reason);
    }

    /// Closes the connection now, dropping sends not yet handed to the system (close from a
    /// `send_with` callback to close after a send). The close reason is `ByHost`.
    pub fn close(&self) {
        self.inner.ops.lock().close_requested = true;
        self.poke();
    }

    /// Returns whether the connection is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.ops.lock().closed.is_some()
    }

    /// Returns why the connection closed, once it has.
    #[must_use]
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.inner.ops.lock().closed
    }

    /// Returns the peer's address (`Endpoint::Unix` on a Unix socket).
    #[must_use]
    pub fn peer_addr(&self) -> Endpoint {
        self.inner.peer
    }

    /// Returns the local address, if the system told it.
    #[must_use]
    pub fn local_addr(&self) -> Option<Endpoint> {
        self.inner.local
    }

    /// Returns the connection's key in its pool.
    #[must_use]
    pub fn key(&self) -> SourceKey {
        self.inner.key
    }
}

/// Runs `f` with `client` marked as the current one on this thread.
fn as_current<R>(client: &TcpClient, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.replace(client.id());
    let r = f();
    CURRENT.set(prev);
    r
}

enum Start {
    Accepted(AcceptCallback),
    Connecting(Option<ConnectCallback>),
    Running,
}

/// The [`ConnHandler`] behind a [`TcpClient`].
struct ClientHandler {
    start: Start,
    client: Option<TcpClient>,
    slot: Option<SlotGuard>,
    maybe_readable: bool,
    done: Vec<SentCallback>,
}

impl ClientHandler {
    fn new(start: Start) -> ClientHandler {
        ClientHandler {
            start,
            client: None,
            slot: None,
            maybe_readable: false,
            done: Vec::new(),
        }
    }

    /// Hands the first `n` filled bytes to the pending receive.
    fn deliver(&mut self, client: &TcpClient, kind: RecvKind, n: usize) {
        let op = client.inner.ops.lock().recv.take();
        let Some(slot) = self.slot.as_mut() else {
            return;
        };
        if let Some(op) = op {
            let mut data = slot.filled().get(..n).unwrap_or(&[]);
            if let RecvKind::Line = kind {
                data = data.strip_suffix(b"\n").unwrap_or(data);
                data = data.strip_suffix(b"\r").unwrap_or(data);
            }
            as_current(client, || (op.callback)(client, data));
        }
        slot.consume(n);
        if slot.filled_len() == 0 {
            self.slot = None; // an idle client holds no slot
        }
    }

    /// Moves queued bytes out and completed sends' callbacks into `self.done`.
    fn flush(&mut self, conn: &mut Conn<'_>, ops: &mut ClientOps) -> Result<(), CloseReason> {
        while ops.out_pos < ops.out.len() {
            let pending = ops.out.get(ops.out_pos..).unwrap_or(&[]);
            match conn.write(pending) {
                Ok(0) => return Err(CloseReason::Error(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    ops.out_pos += n;
                    ops.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(CloseReason::from_io(&e)),
            }
        }
        if ops.out_pos > 0 && ops.out_pos == ops.out.len() {
            ops.out.clear();
            ops.out_pos = 0;
        }
        while ops.marks.front().is_some_and(|m| m.end <= ops.sent) {
            if let Some(cb) = ops.marks.pop_front().and_then(|m| m.callback) {
                self.done.push(cb);
            }
        }
        Ok(())
    }

    /// Runs the client's operations as far as they go; returns what to wait for.
    fn drive(&mut self, conn: &mut Conn<'_>, client: &TcpClient) -> Next {
        loop {
            let (recv, want_write) = {
                let mut ops = client.inner.ops.lock();
                if ops.close_requested {
                    return Next::Close(CloseReason::ByHost);
                }
                if let Err(reason) = self.flush(conn, &mut ops) {
                    return Next::Close(reason);
                }
                (
                    ops.recv.as_ref().map(|op| op.kind),
                    ops.out_pos < ops.out.len(),
                )
            };
            if !self.done.is_empty() {
                let mut done = mem::take(&mut self.done);
                for cb in done.drain(..) {
                    as_current(client, || cb(client));
                }
                self.done = done;
                continue; // the callbacks may have queued more
            }
            let Some(kind) = recv else {
                return self.wait(conn, client, false, want_write);
            };
            if let Some(n) = self.slot.as_ref().and_then(|s| kind.complete(s.filled())) {
                self.deliver(client, kind, n);
                continue;
            }
            if !self.maybe_readable {
                return self.wait(conn, client, true, want_write);
            }
            if self.slot.is_none() {
                match conn.try_borrow_slot() {
                    Some(s) => self.slot = Some(s),
                    None if want_write => return self.wait(conn, client, false, true),
                    None => {
                        self.wait(conn, client, false, false);
                        return Next::WaitSlot;
                    }
                }
            }
            let Some(slot) = self.slot.as_mut() else {
                continue;
            };
            if slot.is_full() {
                return Next::Close(CloseReason::Error(io::ErrorKind::InvalidData)); // line > slot
            }
            match conn.read(slot.spare_mut()) {
                Ok(0) => return Next::Close(CloseReason::ByPeer),
                Ok(n) => slot.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.maybe_readable = false;
                    if slot.filled_len() == 0 {
                        self.slot = None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Next::Close(CloseReason::from_io(&e)),
            }
        }
    }

    /// Sets the deadline of the earliest pending operation and says what to wait for.
    fn wait(&self, conn: &mut Conn<'_>, client: &TcpClient, read: bool, write: bool) -> Next {
        let deadline = {
            let ops = client.inner.ops.lock();
            let recv = ops.recv.as_ref().and_then(|op| op.deadline);
            let send = ops.marks.iter().filter_map(|m| m.deadline).min();
            match (recv, send) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        conn.set_deadline(deadline);
        match (read, write) {
            (true, true) => Next::ReadWrite,
            (true, false) => Next::Read,
            (false, true) => Next::Write,
            (false, false) => Next::Idle,
        }
    }
}

impl ConnHandler for ClientHandler {
    fn on_event(&mut self, conn: &mut Conn<'_>, event: ConnEvent) -> Next {
        match event {
            ConnEvent::Opened => {
                let client = TcpClient::new(conn);
                self.client = Some(client.clone());
                match mem::replace(&mut self.start, Start::Running) {
                    Start::Accepted(cb) => as_current(&client, || cb(client.clone())),
                    Start::Connecting(Some(cb)) => as_current(&client, || cb(Ok(client.clone()))),
                    Start::Connecting(None) | Start::Running => {}
                }
            }
            ConnEvent::TimedOut => return Next::Close(CloseReason::Timeout),
            ConnEvent::Readable | ConnEvent::SlotFree => self.maybe_readable = true,
            _ => {}
        }
        let Some(client) = self.client.clone() else {
            return Next::Close(CloseReason::ByHost);
        };
        self.drive(conn, &client)
    }

    fn on_closed(&mut self, reason: CloseReason) {
        self.slot = None;
        if let Some(client) = self.client.take() {
            let (recv, marks, on_closed) = {
                let mut ops = client.inner.ops.lock();
                ops.closed = Some(reason);
                ops.out = Vec::new();
                (
                    ops.recv.take(),
                    mem::take(&mut ops.marks),
                    ops.on_closed.take(),
                )
            };
            drop((recv, marks));
            if let Some(cb) = on_closed {
                as_current(&client, || cb(&client, reason));
            }
        } else if let Start::Connecting(Some(cb)) = mem::replace(&mut self.start, Start::Running) {
            let kind = match reason {
                CloseReason::Timeout => io::ErrorKind::TimedOut,
                CloseReason::Error(kind) => kind,
                _ => io::ErrorKind::ConnectionAborted,
            };
            cb(Err(io::Error::new(
                kind,
                format!("connect failed: {reason}"),
            )));
        }
    }
}

/// A TCP server of a pool (XAsyncSockets' `XAsyncTCPServer`): each accepted connection becomes
/// a [`TcpClient`] handed to the `on_accepted` callback.
#[derive(Debug, Clone)]
pub struct TcpServer {
    listener: Listener,
}

impl TcpServer {
    /// Listens on `addr` in `pool` (see [`Pool::listen`]).
    ///
    /// # Errors
    ///
    /// Socket creation, bind or listen errors.
    pub fn bind(
        pool: &Pool,
        addr: SocketAddr,
        on_accepted: impl Fn(TcpClient) + Send + Sync + 'static,
    ) -> io::Result<TcpServer> {
        let on_accepted: AcceptCallback = Arc::new(on_accepted);
        let listener = pool.listen(addr, move |_: &ConnInfo| -> Option<Box<dyn ConnHandler>> {
            Some(Box::new(ClientHandler::new(Start::Accepted(Arc::clone(
                &on_accepted,
            )))))
        })?;
        Ok(TcpServer { listener })
    }

    /// Returns the bound address (with the real port when bound to port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Stops listening; accepted clients live on.
    pub fn close(&self) {
        self.listener.close();
    }

    /// Returns the underlying listener.
    #[must_use]
    pub fn listener(&self) -> &Listener {
        &self.listener
    }
}
