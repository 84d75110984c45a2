//! The user's side of one WebSocket: MicroWebSrv2's `WebSocket` class, in Rust spelling.
//!
//! In scope: the [`WebSocket`] handle (send from any thread into a bounded queue, close, the
//! per-socket settings and callbacks), the [`WebSocketRequest`] snapshot and [`WebSocketError`].
//! Out of scope: the wire (the session moves queued messages to the socket when it can).

use std::collections::VecDeque;
use std::fmt;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use tungstenite::Message;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use crate::pool::{Endpoint, MemoryBudget, Reservation, Waker};

/// Why a send or a close was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebSocketError {
    /// The socket is closed (or closing): nothing more can be sent.
    Closed,
    /// The send queue holds `limit` bytes or more that the peer has not taken yet
    /// (back-pressure: the peer reads slower than messages are sent).
    QueueFull {
        /// The queue's bound, in bytes.
        limit: usize,
    },
    /// The close code may not be sent (RFC 6455 §7.4: 1005, 1006, 1015 and codes below 1000
    /// are reserved).
    InvalidCloseCode(u16),
    /// The close reason is longer than the 123 bytes a close frame can carry (RFC 6455 §5.5).
    CloseReasonTooLong,
}

impl fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebSocketError::Closed => f.write_str("websocket is closed"),
            WebSocketError::QueueFull { limit } => {
                write!(f, "websocket send queue is full ({limit} bytes)")
            }
            WebSocketError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            WebSocketError::CloseReasonTooLong => f.write_str("close reason longer than 123 bytes"),
        }
    }
}

impl std::error::Error for WebSocketError {}

/// An owned snapshot of the upgrade request (MicroWebSrv2's `WebSocket.Request`).
#[derive(Debug, Clone)]
pub struct WebSocketRequest {
    pub(crate) path: String,
    pub(crate) query_string: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) peer: Endpoint,
    pub(crate) is_tls: bool,
    pub(crate) protocol: Option<String>,
}

impl WebSocketRequest {
    /// Returns the percent-decoded path the client connected to (e.g. `/ws/chat`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Returns the query string, without its `?`.
    #[must_use]
    pub fn query_string(&self) -> &str {
        &self.query_string
    }

    /// Returns the first header of that name (case-insensitive).
    #[must_use]
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Iterates every header as `(name, value)`, in order (values decoded lossily as UTF-8).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Returns the client's address (MicroWebSrv2's `UserAddress`).
    #[must_use]
    pub fn user_address(&self) -> Endpoint {
        self.peer
    }

    /// Returns whether the connection is protected by TLS (a `wss://` socket).
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.is_tls
    }

    /// Returns the sub-protocol chosen for this socket, if any.
    #[must_use]
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }
}

pub(crate) type TextFn = Arc<dyn Fn(&WebSocket, &str) + Send + Sync>;
pub(crate) type BinaryFn = Arc<dyn Fn(&WebSocket, &[u8]) + Send + Sync>;
pub(crate) type ClosedFn = Arc<dyn Fn(&WebSocket) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) on_text: Option<TextFn>,
    pub(crate) on_binary: Option<BinaryFn>,
    pub(crate) on_closed: Option<ClosedFn>,
}

/// Messages longer than this are charged to the memory budget while queued (shorter ones are
/// part of a socket's own cost).
pub(crate) const CHARGED_MESSAGE: usize = 4096;

/// What the session does next for the user, besides messages.
pub(crate) enum Command {
    /// A message, and what its payload holds of the memory budget while it is queued (a copy
    /// the socket owns; a broadcast's shared payload is not charged per socket).
    Message(Message, Option<Reservation>),
    Close(CloseFrame),
}

#[derive(Default)]
pub(crate) struct Outbox {
    pub(crate) queue: VecDeque<Command>,
    /// INVARIANT: the payload bytes of the messages in `queue`.
    pub(crate) bytes: usize,
}

/// What a socket's handle and its session share.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) request: WebSocketRequest,
    pub(crate) outbox: Mutex<Outbox>,
    pub(crate) callbacks: Mutex<Callbacks>,
    pub(crate) waker: OnceLock<Waker>,
    /// The server's memory budget, once the session runs: queued copies are charged to it.
    pub(crate) budget: OnceLock<MemoryBudget>,
    /// Set while a wake is scheduled or the session is running (it drains the outbox before it
    /// goes back to waiting), so a burst of sends makes one wake.
    pub(crate) wake_pending: AtomicBool,
    /// Set once close was asked (either side) or the connection is gone.
    pub(crate) closed: AtomicBool,
    pub(crate) max_queue_bytes: AtomicUsize,
    pub(crate) max_recv_message_length: AtomicUsize,
    pub(crate) wait_frame_timeout_sec: AtomicU64,
    /// The close code the peer sent, 0 when none.
    pub(crate) peer_close_code: AtomicUsize,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One WebSocket connection, as the user holds it. Cloning is cheap; every clone is the same
/// socket, and it can be used from any thread.
#[derive(Clone)]
pub struct WebSocket(pub(crate) Arc<Shared>);

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.0.id)
            .field("path", &self.0.request.path)
            .field("peer", &self.0.request.peer)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl PartialEq for WebSocket {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for WebSocket {}

impl WebSocket {
    pub(crate) fn new(request: WebSocketRequest, settings: &super::Settings) -> WebSocket {
        WebSocket(Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            request,
            outbox: Mutex::new(Outbox::default()),
            callbacks: Mutex::new(Callbacks::default()),
            waker: OnceLock::new(),
            budget: OnceLock::new(),
            wake_pending: AtomicBool::new(true),
            closed: AtomicBool::new(false),
            max_queue_bytes: AtomicUsize::new(settings.max_send_queue_bytes),
            max_recv_message_length: AtomicUsize::new(settings.max_recv_message_length),
            wait_frame_timeout_sec: AtomicU64::new(settings.wait_frame_timeout_sec),
            peer_close_code: AtomicUsize::new(0),
        }))
    }

    /// Returns this socket's identifier, unique in the process.
    #[must_use]
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// Queues a text message; it is sent as soon as the socket can take it.
    ///
    /// # Errors
    ///
    /// [`WebSocketError::Closed`] once the socket is closing or closed;
    /// [`WebSocketError::QueueFull`] when the queue already holds its bound in bytes.
    pub fn send_text_message(&self, msg: impl Into<String>) -> Result<(), WebSocketError> {
        self.send_owned(Message::text(msg.into()))
    }

    /// Queues a binary message; it is sent as soon as the socket can take it.
    ///
    /// # Errors
    ///
    /// As [`WebSocket::send_text_message`].
    pub fn send_binary_message(&self, msg: impl Into<Vec<u8>>) -> Result<(), WebSocketError> {
        self.send_owned(Message::binary(msg.into()))
    }

    /// Queues a message whose payload this socket alone holds: a large one is charged to the
    /// memory budget while it waits.
    fn send_owned(&self, msg: Message) -> Result<(), WebSocketError> {
        let charge = match self.0.budget.get() {
            Some(budget) if msg.len() > CHARGED_MESSAGE => Some(budget.charge(msg.len())),
            _ => None,
        };
        self.queue(msg, charge)
    }

    /// Queues any message (shared payloads are not copied: the broadcast uses this).
    pub(crate) fn send(&self, msg: Message) -> Result<(), WebSocketError> {
        self.queue(msg, None)
    }

    fn queue(&self, msg: Message, charge: Option<Reservation>) -> Result<(), WebSocketError> {
        if self.is_closed() {
            return Err(WebSocketError::Closed);
        }
        let len = msg.len();
        {
            let mut outbox = self.0.outbox.lock();
            let limit = self.0.max_queue_bytes.load(Ordering::Relaxed);
            // One message is always taken into an empty queue, so a message longer than the
            // bound can still be sent; after that, the bound holds.
            if outbox.bytes > 0 && outbox.bytes.saturating_add(len) > limit {
                return Err(WebSocketError::QueueFull { limit });
            }
            outbox.bytes += len;
            outbox.queue.push_back(Command::Message(msg, charge));
        }
        self.wake();
        Ok(())
    }

    /// Starts the closing handshake with `code` and `reason` (RFC 6455 §7.1.2); the socket is
    /// closed once the peer answers, or after a few seconds if it does not. Closing a closed
    /// socket does nothing.
    ///
    /// # Errors
    ///
    /// [`WebSocketError::InvalidCloseCode`] or [`WebSocketError::CloseReasonTooLong`].
    pub fn close(&self, code: u16, reason: &str) -> Result<(), WebSocketError> {
        let close_code = CloseCode::from(code);
        if code < 1000 || !close_code.is_allowed() {
            return Err(WebSocketError::InvalidCloseCode(code));
        }
        if reason.len() > 123 {
            return Err(WebSocketError::CloseReasonTooLong);
        }
        if self.0.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.0
            .outbox
            .lock()
            .queue
            .push_back(Command::Close(CloseFrame {
                code: close_code,
                reason: reason.to_owned().into(),
            }));
        self.wake();
        Ok(())
    }

    fn wake(&self) {
        if !self.0.wake_pending.swap(true, Ordering::SeqCst) {
            if let Some(waker) = self.0.waker.get() {
                waker.wake();
            }
        }
    }

    /// Returns whether the socket is closed or closing (MicroWebSrv2's `IsClosed`).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::SeqCst)
    }

    /// Returns the close code the peer sent, once it sent one.
    #[must_use]
    pub fn peer_close_code(&self) -> Option<u16> {
        match self.0.peer_close_code.load(Ordering::SeqCst) {
            0 => None,
            c => u16::try_from(c).ok(),
        }
    }

    /// Returns the upgrade request (an owned snapshot: path, headers, peer).
    #[must_use]
    pub fn request(&self) -> &WebSocketRequest {
        &self.0.request
    }

    /// Returns how long, in seconds, a frame may take to arrive in full once its first byte
    /// came (a frame being received holds a buffer slot). 0 means no limit.
    #[must_use]
    pub fn wait_frame_timeout_sec(&self) -> u64 {
        self.0.wait_frame_timeout_sec.load(Ordering::Relaxed)
    }

    /// Sets [`WebSocket::wait_frame_timeout_sec`].
    pub fn set_wait_frame_timeout_sec(&self, seconds: u64) {
        self.0
            .wait_frame_timeout_sec
            .store(seconds, Ordering::Relaxed);
    }

    /// Returns the longest message this socket accepts, in bytes; a longer one closes the
    /// socket with 1009 (RFC 6455 §7.4.1).
    #[must_use]
    pub fn max_recv_message_length(&self) -> usize {
        self.0.max_recv_message_length.load(Ordering::Relaxed)
    }

    /// Sets [`WebSocket::max_recv_message_length`]; it applies from the next frame on.
    pub fn set_max_recv_message_length(&self, bytes: usize) {
        self.0
            .max_recv_message_length
            .store(bytes.max(1), Ordering::Relaxed);
    }

    /// Returns the bound of the send queue, in bytes.
    #[must_use]
    pub fn max_send_queue_bytes(&self) -> usize {
        self.0.max_queue_bytes.load(Ordering::Relaxed)
    }

    /// Sets the bound of the send queue, in bytes.
    pub fn set_max_send_queue_bytes(&self, bytes: usize) {
        self.0.max_queue_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Returns how many payload bytes wait in the send queue.
    #[must_use]
    pub fn queued_bytes(&self) -> usize {
        self.0.outbox.lock().bytes
    }

    /// Sets the callback for text messages (MicroWebSrv2's `OnTextMessage`). It runs on the
    /// event loop that serves this socket: keep it short, or hand work to another thread.
    pub fn on_text_message(&self, f: impl Fn(&WebSocket, &str) + Send + Sync + 'static) {
        self.0.callbacks.lock().on_text = Some(Arc::new(f));
    }

    /// Sets the callback for binary messages (MicroWebSrv2's `OnBinaryMessage`).
    pub fn on_binary_message(&self, f: impl Fn(&WebSocket, &[u8]) + Send + Sync + 'static) {
        self.0.callbacks.lock().on_binary = Some(Arc::new(f));
    }

    /// Sets the callback run once when the socket is closed, whatever closed it (MicroWebSrv2's
    /// `OnClosed`). The socket's callbacks are dropped after it, which breaks reference cycles
    /// through closures that hold the socket.
    pub fn on_closed(&self, f: impl Fn(&WebSocket) + Send + Sync + 'static) {
        self.0.callbacks.lock().on_closed = Some(Arc::new(f));
    }
}
