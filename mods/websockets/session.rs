//! One WebSocket connection on the pool: tungstenite's `WebSocketContext` driven by pool events.
//!
//! In scope: reading frames through a borrowed buffer slot (released between frames), running
//! the user's callbacks, moving the send queue to the socket without blocking, pings, the
//! closing handshake, failing the connection (1002, 1007, 1009) and the deadlines.
//! Out of scope: the opening handshake (`upgrade`), the user API (`socket`).
//!
//! ```text
//!   Opened ─► Open ──(peer's close / our close)──► Closing ──(handshake done)──► closed
//!              │                                      │ (deadline) ─────────────► closed
//!              └──(protocol error, too big: send close 1002/1007/1009)──► Draining
//!                     discard input until the peer's close frame, end of stream or the
//!                     deadline ─► closed
//! ```
//!
//! Memory: tungstenite reads frames into its own buffer (`READ_BUFFER_SIZE` bytes, grown to
//! hold a frame being received) and writes through its own out buffer; the session reads the
//! socket into a pool slot, borrowed only while bytes or a frame are in flight. When the socket
//! goes idle after a large frame, the context is rebuilt so the grown buffers are freed.
//!
//! A message larger than `READ_BUFFER_SIZE` is paid from the server's memory budget before
//! tungstenite sees its payload: the frame's length (and, for a fragmented message, twice what
//! is gathered so far, as the gathering vector doubles), read from the frame header. When the
//! budget is short the session stops reading (the peer's TCP window fills) until it is granted
//! its bytes in turn; that wait never counts against the frame timeout, and one longer than the
//! server's `memory_wait_timeout` closes the socket with 1013 "try again later". The bytes are
//! given back when the grown buffers are freed.
#![allow(clippy::disallowed_methods)] // IO edge: the session reads the clock for its deadlines

use std::io::{self, Cursor, Read, Write};
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tungstenite::error::Error as WsError;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, FrameHeader};
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Bytes, Message};

use super::socket::{CHARGED_MESSAGE, Command, WebSocket};
use crate::pool::{
    CloseReason, Conn, ConnEvent, ConnHandler, Holding, Need, Next, Reservation, SlotGuard,
};
use crate::server::Handover;

/// tungstenite's read buffer: allocated per socket, and the most it reads per call.
pub(crate) const READ_BUFFER_SIZE: usize = 512;
/// Small messages are gathered up to this many bytes before a write to the socket.
const WRITE_BUFFER_SIZE: usize = 4096;
/// How long the closing handshake (or draining after a failure) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Messages read per event before the session yields its loop to other connections.
const READ_BUDGET: u32 = 64;
/// The longest frame header (RFC 6455 §5.2).
const MAX_HEADER: usize = 14;

pub(crate) type AcceptedFn = Arc<dyn Fn(&WebSocket) + Send + Sync>;

/// Follows frame boundaries in the bytes handed to tungstenite, reading headers only, so the
/// session knows when no frame is in progress (then it may return its slot or rebuild the
/// context) and, after a failure, when the peer's close frame went by.
#[derive(Debug, Default, Clone)]
struct FrameTracker {
    head: [u8; MAX_HEADER],
    head_len: usize,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    current_is_close: bool,
    /// A fragmented data message has started and not ended.
    in_message: bool,
    /// The largest frame payload seen since the context was built.
    largest: u64,
    /// Payload bytes of the finished fragments of the data message in progress.
    message_bytes: u64,
    /// The most bytes tungstenite may hold for a data message seen since the context was
    /// built: a frame's payload, plus twice the fragments gathered before it.
    need_peak: u64,
    close_seen: bool,
    broken: bool,
}

impl FrameTracker {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.broken {
            if self.remaining > 0 {
                let n = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.remaining -= n as u64;
                bytes = bytes.get(n..).unwrap_or_default();
                if self.remaining == 0 {
                    self.end_frame();
                }
                continue;
            }
            let room = MAX_HEADER - self.head_len;
            let take = room.min(bytes.len());
            let before = self.head_len;
            if let (Some(dst), Some(src)) =
                (self.head.get_mut(before..before + take), bytes.get(..take))
            {
                dst.copy_from_slice(src);
            }
            self.head_len += take;
            let mut cursor = Cursor::new(self.head.get(..self.head_len).unwrap_or_default());
            match FrameHeader::parse(&mut cursor) {
                Ok(Some((header, len))) => {
                    let used = usize::try_from(cursor.position()).unwrap_or(0);
                    bytes = bytes.get(used.saturating_sub(before)..).unwrap_or_default();
                    self.head_len = 0;
                    self.start_frame(&header, len);
                }
                Ok(None) => bytes = bytes.get(take..).unwrap_or_default(),
                Err(_) => self.broken = true,
            }
        }
    }

    fn start_frame(&mut self, header: &FrameHeader, len: u64) {
        self.largest = self.largest.max(len);
        self.current_is_close = header.opcode == OpCode::Control(Control::Close);
        match header.opcode {
            OpCode::Data(Data::Continue) => {
                let need = self.message_bytes.saturating_mul(2).saturating_add(len);
                self.need_peak = self.need_peak.max(need);
                self.message_bytes = self.message_bytes.saturating_add(len);
                if header.is_final {
                    self.in_message = false;
                    self.message_bytes = 0;
                }
            }
            OpCode::Data(Data::Text | Data::Binary) => {
                self.need_peak = self.need_peak.max(len);
                self.in_message = !header.is_final;
                self.message_bytes = if header.is_final { 0 } else { len };
            }
            _ => {}
        }
        self.remaining = len;
        if len == 0 {
            self.end_frame();
        }
    }

    fn end_frame(&mut self) {
        if self.current_is_close {
            self.close_seen = true;
        }
        self.current_is_close = false;
    }

    /// No frame is partly received.
    fn at_boundary(&self) -> bool {
        self.head_len == 0 && self.remaining == 0
    }

    /// No frame and no fragmented message is partly received.
    fn is_idle(&self) -> bool {
        self.at_boundary() && !self.in_message
    }
}

/// The stream tungstenite reads and writes: reads come out of a pool slot refilled from the
/// connection (the slot is borrowed on the first read that needs it), writes go straight to the
/// connection.
struct SlotStream<'s, 'c> {
    conn: &'s mut Conn<'c>,
    slot: &'s mut Option<SlotGuard>,
    tracker: &'s mut FrameTracker,
    /// What tungstenite's buffers hold of the memory budget; `None` when input is discarded.
    holding: Option<&'s mut Holding>,
    /// A read wanted a slot and none was free.
    starved: bool,
    /// A read waits for the memory budget (the session is woken when it is granted).
    budget_wait: bool,
    /// Bytes came from the socket.
    received: bool,
}

impl<'s, 'c> SlotStream<'s, 'c> {
    /// A stream over `conn` that reads into `slot` (borrowed when bytes come) and counts frames
    /// with `tracker`.
    fn new(
        conn: &'s mut Conn<'c>,
        slot: &'s mut Option<SlotGuard>,
        tracker: &'s mut FrameTracker,
    ) -> Self {
        SlotStream {
            conn,
            slot,
            tracker,
            holding: None,
            starved: false,
            budget_wait: false,
            received: false,
        }
    }
}

impl Read for SlotStream<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.slot.as_ref().is_none_or(|s| s.filled_len() == 0) {
            if self.slot.is_none() {
                let Some(slot) = self.conn.try_borrow_slot() else {
                    self.starved = true;
                    return Err(io::ErrorKind::WouldBlock.into());
                };
                *self.slot = Some(slot);
            }
            let Some(slot) = self.slot.as_mut() else {
                return Err(io::ErrorKind::WouldBlock.into());
            };
            let n = self.conn.read(slot.spare_mut())?;
            if n == 0 {
                return Ok(0);
            }
            slot.advance(n);
            self.received = true;
        }
        let Some(slot) = self.slot.as_mut() else {
            return Ok(0);
        };
        let filled = slot.filled();
        let n = filled.len().min(buf.len());
        let (Some(src), Some(dst)) = (filled.get(..n), buf.get_mut(..n)) else {
            return Ok(0);
        };
        // The headers among these bytes say what tungstenite will hold: reserve it first.
        let mut ahead = self.tracker.clone();
        ahead.feed(src);
        if let Some(holding) = self.holding.as_deref_mut() {
            let need = usize::try_from(ahead.need_peak).unwrap_or(usize::MAX);
            let limit = holding.budget().limit();
            // A frame over the limit is refused by tungstenite from its header (the message
            // bound is at most the budget, see `sync_limits`): nothing to reserve for it.
            let refused = ahead.largest > limit as u64;
            if need > READ_BUFFER_SIZE
                && !refused
                && (need > holding.held() || holding.is_waiting())
            {
                let want = need.saturating_add(MAX_HEADER).min(limit);
                let conn = &*self.conn;
                match holding.ensure(want, || conn.waker()) {
                    Need::Ready => {}
                    Need::Wait | Need::TooLarge => {
                        self.budget_wait = true;
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                }
            }
        }
        dst.copy_from_slice(src);
        *self.tracker = ahead;
        slot.consume(n);
        Ok(n)
    }
}

impl Write for SlotStream<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.conn.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.conn.flush()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Messages flow both ways.
    Open,
    /// A close frame went one way; waiting for the handshake to finish, until the instant.
    Closing(Instant),
    /// The connection failed and our close frame is queued: input is discarded until the peer's
    /// close frame, the end of the stream or the instant.
    Draining(Instant),
}

/// What a step decided.
enum Flow {
    Go,
    Stop(Next),
}

/// The pool handler of one WebSocket connection.
pub(crate) struct Session {
    ws: WebSocket,
    ctx: WebSocketContext,
    config: WebSocketConfig,
    on_accepted: Option<AcceptedFn>,
    ping_interval: Option<Duration>,
    slot: Option<SlotGuard>,
    tracker: FrameTracker,
    phase: Phase,
    /// A read may find bytes (set by readiness, cleared by `WouldBlock`).
    read_pending: bool,
    /// The last read ended with `WouldBlock`: tungstenite holds no complete frame.
    drained: bool,
    /// A read needs a slot and none was free.
    starved: bool,
    /// What tungstenite's grown read buffer holds of the server's memory budget.
    holding: Holding,
    /// What its grown out buffer holds (large messages written to it since it was built).
    out_held: Option<Reservation>,
    /// Since when a read waits for the memory budget (reading stopped).
    budget_wait: Option<Instant>,
    /// The longest wait for the budget before the socket is closed with 1013.
    memory_wait_timeout: Duration,
    /// tungstenite's out buffer holds bytes the socket has not taken yet.
    out_blocked: bool,
    /// The most bytes written to tungstenite between two complete flushes since the context
    /// was built (its out buffer keeps that capacity).
    out_peak: usize,
    out_burst: usize,
    last_recv: Instant,
    ping_sent: Option<Instant>,
    frame_started: Option<Instant>,
    deadline: Option<Instant>,
}

impl Session {
    pub(crate) fn new(
        ws: WebSocket,
        handover: Handover,
        on_accepted: Option<AcceptedFn>,
        ping_interval: Option<Duration>,
    ) -> Session {
        let Handover {
            leftover,
            budget,
            memory_wait_timeout,
            ..
        } = handover;
        let max = ws.max_recv_message_length().min(budget.limit().max(1));
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_SIZE)
            .write_buffer_size(WRITE_BUFFER_SIZE)
            .max_message_size(Some(max))
            // A single frame over the message limit is refused from its header, before any of
            // its payload is buffered.
            .max_frame_size(Some(max));
        let _ = ws.0.budget.set(budget.clone());
        let mut tracker = FrameTracker::default();
        tracker.feed(&leftover);
        Session {
            ctx: WebSocketContext::from_partially_read(leftover, Role::Server, Some(config)),
            ws,
            config,
            on_accepted,
            ping_interval,
            slot: None,
            tracker,
            phase: Phase::Open,
            read_pending: true,
            drained: false,
            starved: false,
            holding: Holding::new(&budget),
            out_held: None,
            budget_wait: None,
            memory_wait_timeout,
            out_blocked: false,
            out_peak: 0,
            out_burst: 0,
            last_recv: Instant::now(),
            ping_sent: None,
            frame_started: None,
            deadline: None,
        }
    }

    fn run(&mut self, conn: &mut Conn<'_>, event: ConnEvent) -> Next {
        let now = Instant::now();
        // While the session runs it drains the queue before waiting again: senders need not
        // wake it (cleared below, before the last look at the queue).
        self.ws.0.wake_pending.store(true, Ordering::SeqCst);
        match event {
            ConnEvent::Opened => {
                if let Flow::Stop(next) = self.open(conn) {
                    return next;
                }
            }
            ConnEvent::Readable | ConnEvent::SlotFree => self.read_pending = true,
            // A wake while the budget is short may be its grant.
            ConnEvent::Woken if self.budget_wait.is_some() => self.read_pending = true,
            ConnEvent::TimedOut => {
                self.deadline = None;
                if let Flow::Stop(next) = self.on_deadline(conn, now) {
                    return next;
                }
            }
            _ => {}
        }
        self.sync_limits();
        if self.read_pending {
            if let Flow::Stop(next) = self.read(conn, now) {
                return next;
            }
        }
        self.ws.0.wake_pending.store(false, Ordering::SeqCst);
        if let Flow::Stop(next) = self.write(conn, now) {
            return next;
        }
        self.set_deadline(conn, now);
        if self.budget_wait.is_some() {
            // Not reading: the grant wakes the session (and the wait has its deadline).
            return if self.out_blocked {
                Next::Write
            } else {
                Next::Idle
            };
        }
        if self.starved {
            self.starved = false;
            return if self.out_blocked {
                Next::Write
            } else {
                Next::WaitSlot
            };
        }
        if self.out_blocked {
            Next::ReadWrite
        } else {
            Next::Read
        }
    }

    fn open(&mut self, conn: &mut Conn<'_>) -> Flow {
        conn.set_deadline(None); // the HTTP request's deadline no longer applies
        let _ = self.ws.0.waker.set(conn.waker());
        if let Some(accepted) = self.on_accepted.take() {
            let ws = self.ws.clone();
            if catch_unwind(AssertUnwindSafe(|| accepted(&ws))).is_err() {
                log::error!("websockets: on_websocket_accepted panicked; closing");
                return Flow::Stop(Next::Close(CloseReason::Panicked));
            }
        }
        Flow::Go
    }

    fn sync_limits(&mut self) {
        // A message never needs more than the whole budget.
        let max = self
            .ws
            .max_recv_message_length()
            .min(self.holding.budget().limit().max(1));
        if self.config.max_message_size != Some(max) {
            self.config = self
                .config
                .max_message_size(Some(max))
                .max_frame_size(Some(max));
            self.ctx.set_config(|c| {
                c.max_message_size = Some(max);
                c.max_frame_size = Some(max);
            });
        }
    }

    fn on_deadline(&mut self, conn: &mut Conn<'_>, now: Instant) -> Flow {
        if let Some(since) = self.budget_wait {
            if now >= since + self.memory_wait_timeout {
                log::debug!("websockets: a message waited too long for the memory budget");
                // RFC 6455 §7.4.1 (IANA registry): 1013 "try again later".
                self.budget_wait = None;
                self.holding.release();
                return self.fail(conn, now, CloseCode::Again, "try again later");
            }
        }
        match self.phase {
            Phase::Closing(until) | Phase::Draining(until) if now >= until => {
                return Flow::Stop(Next::Close(CloseReason::Timeout));
            }
            _ => {}
        }
        let timeout = self.ws.wait_frame_timeout_sec();
        if let Some(started) = self.frame_started {
            if timeout > 0 && now >= started + Duration::from_secs(timeout) {
                log::debug!("websockets: a frame took longer than {timeout} s; closing");
                return Flow::Stop(Next::Close(CloseReason::Timeout));
            }
        }
        if let Some(interval) = self.ping_interval {
            match self.ping_sent {
                Some(sent) if now >= sent + interval => {
                    log::debug!("websockets: no answer to a ping; dropping the peer");
                    return Flow::Stop(Next::Close(CloseReason::Timeout));
                }
                None if now >= self.last_recv + interval && self.phase == Phase::Open => {
                    self.ping_sent = Some(now);
                    if let Err(e) = self.ws.send(Message::Ping(Bytes::from_static(b"mw"))) {
                        log::debug!("websockets: cannot queue a ping: {e}");
                    }
                }
                _ => {}
            }
        }
        Flow::Go
    }

    /// Reads and dispatches messages until the socket has no more (or the budget is spent).
    fn read(&mut self, conn: &mut Conn<'_>, now: Instant) -> Flow {
        for _ in 0..READ_BUDGET {
            let mut stream = SlotStream::new(conn, &mut self.slot, &mut self.tracker);
            let result = if let Phase::Draining(_) = self.phase {
                discard(&mut stream)
            } else {
                stream.holding = Some(&mut self.holding);
                self.ctx.read(&mut stream)
            };
            let (starved, received) = (stream.starved, stream.received);
            if stream.budget_wait {
                // Reading stops until the budget grants the message its bytes.
                self.budget_wait.get_or_insert(now);
            } else {
                self.budget_wait = None;
            }
            if received {
                self.last_recv = now;
                self.ping_sent = None;
            }
            match result {
                Ok(msg) => {
                    self.drained = false;
                    if let Flow::Stop(next) = self.dispatch(msg, conn, now) {
                        return Flow::Stop(next);
                    }
                }
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_pending = false;
                    self.drained = true;
                    self.starved = starved;
                    if self.tracker.at_boundary()
                        && self.slot.as_ref().is_some_and(|s| s.filled_len() == 0)
                    {
                        self.slot = None; // idle: the socket holds no slot
                    }
                    if let Phase::Draining(_) = self.phase {
                        if self.tracker.close_seen {
                            return self.finish(conn);
                        }
                    }
                    return Flow::Go;
                }
                Err(e) => return self.on_error(e, conn, now),
            }
        }
        // Budget spent: let other connections run, and come back.
        conn.waker().wake();
        Flow::Go
    }

    fn dispatch(&mut self, msg: Message, conn: &mut Conn<'_>, now: Instant) -> Flow {
        match msg {
            Message::Text(text) if self.phase == Phase::Open => {
                let cb = self.ws.0.callbacks.lock().on_text.clone();
                if let Some(cb) = cb {
                    let ok = catch_unwind(AssertUnwindSafe(|| cb(&self.ws, text.as_str()))).is_ok();
                    return self.call(conn, now, ok);
                }
            }
            Message::Binary(data) if self.phase == Phase::Open => {
                let cb = self.ws.0.callbacks.lock().on_binary.clone();
                if let Some(cb) = cb {
                    let ok = catch_unwind(AssertUnwindSafe(|| cb(&self.ws, &data))).is_ok();
                    return self.call(conn, now, ok);
                }
            }
            Message::Close(frame) => {
                // tungstenite queued the reply (RFC 6455 §5.5.1); the next read or flush sends
                // it and reports the end.
                let code = frame.map_or(1005, |f| u16::from(f.code));
                self.ws
                    .0
                    .peer_close_code
                    .store(usize::from(code), Ordering::SeqCst);
                self.mark_closed();
                if self.phase == Phase::Open {
                    self.phase = Phase::Closing(now + CLOSE_TIMEOUT);
                }
            }
            // Pings are answered by tungstenite; pongs only prove the peer alive (done above).
            _ => {}
        }
        Flow::Go
    }

    fn call(&mut self, conn: &mut Conn<'_>, now: Instant, ok: bool) -> Flow {
        if !ok {
            log::error!("websockets: a message callback panicked; closing with 1011");
            return self.fail(conn, now, CloseCode::Error, "internal error");
        }
        Flow::Go
    }

    fn on_error(&mut self, e: WsError, conn: &mut Conn<'_>, now: Instant) -> Flow {
        match e {
            WsError::ConnectionClosed | WsError::AlreadyClosed => {
                Flow::Stop(Next::Close(CloseReason::ByHost))
            }
            WsError::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
                Flow::Stop(Next::Close(CloseReason::ByPeer))
            }
            WsError::Io(e) => Flow::Stop(Next::Close(CloseReason::from_io(&e))),
            // RFC 6455 §7.4.1: 1009 "a message that is too big for it to process".
            WsError::Capacity(_) => self.fail(conn, now, CloseCode::Size, "message too big"),
            // §8.1: text that is not UTF-8 fails the connection with 1007.
            WsError::Utf8(_) => self.fail(conn, now, CloseCode::Invalid, "invalid utf-8"),
            // §7.4.1: 1002 "a protocol error".
            other => {
                log::debug!("websockets: failing the connection: {other}");
                self.fail(conn, now, CloseCode::Protocol, "protocol error")
            }
        }
    }

    /// Fails the connection (RFC 6455 §7.1.7): sends a close frame with `code`, then discards
    /// input until the peer answers, so our close frame is not lost to a reset.
    fn fail(&mut self, conn: &mut Conn<'_>, now: Instant, code: CloseCode, reason: &str) -> Flow {
        self.mark_closed();
        if self.phase != Phase::Open {
            return Flow::Stop(Next::Close(CloseReason::ByHost));
        }
        self.phase = Phase::Draining(now + CLOSE_TIMEOUT);
        let frame = CloseFrame {
            code,
            reason: reason.to_owned().into(),
        };
        let mut stream = SlotStream::new(conn, &mut self.slot, &mut self.tracker);
        match self.ctx.close(&mut stream, Some(frame)) {
            Ok(()) => Flow::Go,
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.out_blocked = true;
                Flow::Go
            }
            Err(_) => Flow::Stop(Next::Close(CloseReason::ByHost)),
        }
    }

    /// Ends a drained connection once our close frame is out.
    fn finish(&mut self, conn: &mut Conn<'_>) -> Flow {
        match self.flush(conn) {
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.out_blocked = true;
                Flow::Go
            }
            _ => Flow::Stop(Next::Close(CloseReason::ByHost)),
        }
    }

    fn mark_closed(&mut self) {
        self.ws.0.closed.store(true, Ordering::SeqCst);
        let mut outbox = self.ws.0.outbox.lock();
        outbox.queue.clear();
        outbox.bytes = 0;
    }

    fn flush(&mut self, conn: &mut Conn<'_>) -> Result<(), WsError> {
        let mut stream = SlotStream::new(conn, &mut self.slot, &mut self.tracker);
        self.ctx.flush(&mut stream)
    }

    /// Moves queued messages to the socket while it takes them, then flushes.
    fn write(&mut self, conn: &mut Conn<'_>, now: Instant) -> Flow {
        if self.phase == Phase::Open {
            loop {
                if self.out_blocked {
                    match self.flush(conn) {
                        Ok(()) => self.flushed(),
                        Err(e) => return self.on_write_error(e),
                    }
                }
                let cmd = {
                    let mut outbox = self.ws.0.outbox.lock();
                    let cmd = outbox.queue.pop_front();
                    if let Some(Command::Message(m, _)) = &cmd {
                        outbox.bytes = outbox.bytes.saturating_sub(m.len());
                    }
                    cmd
                };
                let mut stream = SlotStream::new(conn, &mut self.slot, &mut self.tracker);
                let result = match cmd {
                    None => break,
                    Some(Command::Message(m, charge)) => {
                        self.out_burst += m.len();
                        // tungstenite copies the frame into its out buffer, which keeps that
                        // size until the context is rebuilt: the message's charge (or a new one,
                        // for a shared payload) follows it there.
                        let charge = charge.or_else(|| {
                            (m.len() > CHARGED_MESSAGE)
                                .then(|| self.holding.budget().charge(m.len()))
                        });
                        match (&mut self.out_held, charge) {
                            (Some(held), Some(charge)) => held.merge(charge),
                            (held, charge @ Some(_)) => *held = charge,
                            _ => {}
                        }
                        self.ctx.write(&mut stream, m)
                    }
                    Some(Command::Close(frame)) => {
                        self.phase = Phase::Closing(now + CLOSE_TIMEOUT);
                        self.ctx.close(&mut stream, Some(frame))
                    }
                };
                match result {
                    Ok(()) => {}
                    Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        // The frame waits in tungstenite's out buffer.
                        self.out_blocked = true;
                    }
                    Err(e) => return self.on_write_error(e),
                }
                if self.phase != Phase::Open {
                    break;
                }
            }
        }
        match self.flush(conn) {
            Ok(()) => {
                self.flushed();
                if let Phase::Draining(_) = self.phase {
                    if self.tracker.close_seen {
                        return Flow::Stop(Next::Close(CloseReason::ByHost));
                    }
                }
                self.maybe_rebuild();
                Flow::Go
            }
            Err(e) => self.on_write_error(e),
        }
    }

    fn flushed(&mut self) {
        self.out_blocked = false;
        self.out_peak = self.out_peak.max(self.out_burst);
        self.out_burst = 0;
    }

    fn on_write_error(&mut self, e: WsError) -> Flow {
        match e {
            WsError::Io(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.out_blocked = true;
                Flow::Go
            }
            WsError::Io(e) => Flow::Stop(Next::Close(CloseReason::from_io(&e))),
            // The closing handshake is complete (or was already).
            _ => Flow::Stop(Next::Close(CloseReason::ByHost)),
        }
    }

    /// Frees tungstenite's grown buffers once the socket is idle after a large frame: a fresh
    /// context holds exactly what an idle socket needs. Safe only when tungstenite holds no
    /// input (the last read drained it and no frame is partly received), no fragment, and no
    /// output (just flushed).
    fn maybe_rebuild(&mut self) {
        let grown = self.tracker.largest > READ_BUFFER_SIZE as u64
            || self.out_peak > WRITE_BUFFER_SIZE
            || self.holding.held() > 0
            || self.out_held.is_some();
        if grown
            && self.phase == Phase::Open
            && self.drained
            && self.tracker.is_idle()
            && self.ctx.can_write()
        {
            self.ctx = WebSocketContext::new(Role::Server, Some(self.config));
            self.tracker.largest = 0;
            self.tracker.need_peak = 0;
            self.out_peak = 0;
            // The grown buffers are gone: so is what they held of the budget.
            self.holding.release();
            self.out_held = None;
        }
    }

    fn set_deadline(&mut self, conn: &mut Conn<'_>, now: Instant) {
        let in_frame = !self.tracker.at_boundary() && self.budget_wait.is_none();
        if let Some(since) = self.budget_wait {
            // The server's wait, not the peer's: the frame timeout starts again after it.
            self.frame_started = None;
            let until = since + self.memory_wait_timeout;
            if self.deadline.is_none_or(|d| until < d) {
                conn.set_deadline(Some(until));
                self.deadline = Some(until);
            }
        }
        if !in_frame {
            self.frame_started = None;
        } else if self.frame_started.is_none() {
            self.frame_started = Some(now);
        }
        let mut wanted: Option<Instant> = None;
        let mut want = |t: Instant| wanted = Some(wanted.map_or(t, |w: Instant| w.min(t)));
        match self.phase {
            Phase::Closing(until) | Phase::Draining(until) => want(until),
            Phase::Open => {}
        }
        let timeout = self.ws.wait_frame_timeout_sec();
        if let (Some(started), true) = (self.frame_started, timeout > 0) {
            want(started + Duration::from_secs(timeout));
        }
        if let Some(interval) = self.ping_interval {
            want(self.ping_sent.unwrap_or(self.last_recv) + interval);
        }
        // Only ever move the deadline earlier: a deadline that fires early is checked and
        // re-armed, which costs less than re-arming on every message.
        if let Some(w) = wanted {
            if self.deadline.is_none_or(|d| w < d) {
                conn.set_deadline(Some(w));
                self.deadline = Some(w);
            }
        }
    }
}

/// Reads and throws away input (the frame tracker still sees it).
fn discard(stream: &mut SlotStream<'_, '_>) -> Result<Message, WsError> {
    let mut scratch = [0u8; 512];
    loop {
        if stream.tracker.close_seen {
            return Err(WsError::Io(io::ErrorKind::WouldBlock.into()));
        }
        match stream.read(&mut scratch) {
            Ok(0) => return Err(WsError::ConnectionClosed),
            Ok(_) => {}
            Err(e) => return Err(WsError::Io(e)),
        }
    }
}

impl ConnHandler for Session {
    fn on_event(&mut self, conn: &mut Conn<'_>, event: ConnEvent) -> Next {
        self.run(conn, event)
    }

    fn on_closed(&mut self, reason: CloseReason) {
        log::debug!("websockets: socket {} closed: {reason}", self.ws.id());
        self.slot = None;
        self.mark_closed();
        let callbacks = mem::take(&mut *self.ws.0.callbacks.lock());
        if let Some(cb) = callbacks.on_closed.as_ref() {
            if catch_unwind(AssertUnwindSafe(|| cb(&self.ws))).is_err() {
                log::error!("websockets: on_closed panicked");
            }
        }
        // Dropping the callbacks here breaks cycles through closures that hold the socket.
        drop(callbacks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | opcode];
        let mask = [1, 2, 3, 4];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn tracker_finds_boundaries_at_every_split_point() {
        let mut wire = frame(false, 1, b"hel");
        wire.extend(frame(true, 0, &[b'x'; 300]));
        wire.extend(frame(true, 8, &[3, 232]));
        for split in 0..=wire.len() {
            let mut t = FrameTracker::default();
            t.feed(&wire[..split]);
            t.feed(&wire[split..]);
            assert!(t.is_idle(), "split at {split}");
            assert!(t.close_seen);
            assert_eq!(t.largest, 300);
        }
    }

    #[test]
    fn tracker_reports_a_partial_frame_and_an_open_fragmented_message() {
        let wire = frame(true, 2, &[7; 70_000]);
        let mut t = FrameTracker::default();
        t.feed(&wire[..5]);
        assert!(!t.at_boundary());
        t.feed(&wire[5..]);
        assert!(t.at_boundary());
        let mut t = FrameTracker::default();
        t.feed(&frame(false, 2, b"ab"));
        assert!(t.at_boundary() && !t.is_idle());
        assert!(!t.close_seen);
    }
}
