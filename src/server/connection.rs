//! The HTTP connection state machine: the edge where the pool's events meet the HTTP core.
//!
//! ```text
//!            bytes, head partial                     body larger than the slot, or chunked
//!           ┌───────────┐                          ┌─────────────┐
//!  Opened ─►│ReadingHead│── head (+ small body) ──►│ ReadingBody │── body done ─┐
//!           └───────────┘◄────────────┐            └─────────────┘              │
//!              ▲    │ head complete   │ keep-alive                               ▼
//!              │    └─────────► dispatch (pipeline) ──► Awaiting (deferred) ──► Writing
//!              │                                                                   │
//!              └──────────────── response sent, keep-alive ◄───────────────────────┤
//!                                 response sent, close ─► Lingering ─► closed ◄────┘
//! ```
//!
//! Memory: the connection holds one buffer slot while it has bytes in flight (request input, or
//! the response going out) and none while idle. The request head lives in the slot, the response
//! is written into the same slot once the handler has run; bytes of a pipelined next request
//! that arrived with the current one are set aside meanwhile. A body larger than the slot is
//! gathered in memory bounded by `max_request_content_length`.

use std::cell::Cell;
use std::io::{self, ErrorKind, IoSlice, Read};
use std::mem;
use std::net::SocketAddr;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::http::{StatusCode, Version};

use super::access_log::AccessRecord;
use super::batch::Batch;
use super::body_memory::Room;
use super::body_store::{BodyStore, Finished};
use super::deferred::DeferredResponse;
use super::file_body::FileRange;
#[cfg(feature = "metrics")]
use super::metrics;
use super::pipeline;
use super::request::{Origin, Request};
use super::response::{Body, Handover, OnSent, Response, Takeover};
use super::stream::ResponseStream;
use super::upload::BodySink;
use super::web_server::{LogLevel, ServerShared};
use crate::http::{
    self, BodyDecoder, BodyEvent, BodyKind, ChunkHeader, Framing, HttpDate, HttpError, RequestHead,
    ResponseWriter, Status,
};
use crate::pool::{
    CloseReason, Conn, ConnEvent, ConnHandler, ConnInfo, Endpoint, Next, Reservation, SlotGuard,
};
use crate::routing::{Resolution, RouteArgs};

/// How long a closing connection keeps reading (and dropping) what the client still sends, so
/// the client reads the final response before the close (a close with unread input would reset
/// the connection and could destroy the response in flight).
const LINGER: Duration = Duration::from_secs(2);
/// The most bytes a closing connection drops before it closes anyway.
const LINGER_MAX_BYTES: usize = 1 << 20;
/// Room kept in front of a chunk's data for its size line (up to 16 hex digits and CRLF).
const CHUNK_HEAD_ROOM: usize = 18;
/// The most bytes one `sendfile` call is asked for (it sends what the socket takes, and the
/// connection calls again until the socket is full).
const SENDFILE_BYTES: usize = 1 << 20;

thread_local! {
    static DATE: Cell<Option<(u64, HttpDate)>> = const { Cell::new(None) };
}

/// Returns the `Date` header value, formatted at most once per second per event loop thread.
fn current_date() -> HttpDate {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cell| match cell.get() {
        Some((s, date)) if s == secs => date,
        _ => {
            let date = HttpDate::new(now);
            cell.set(Some((secs, date)));
            date
        }
    })
}

/// What the answer needs to know about the request once the request is gone.
#[derive(Debug, Clone, Copy)]
struct Facts {
    version: Version,
    is_head: bool,
    keep_alive: bool,
}

/// A body being received: into memory (larger than the slot, or chunked), or piece by piece
/// into an upload's sink.
struct BodyRead {
    head: RequestHead,
    decoder: BodyDecoder,
    /// The body gathered in memory or spooled to a file (unused by an upload).
    body: BodyStore,
    sink: Option<Box<dyn BodySink>>,
    /// Where undecoded body bytes start in the slot (after the head).
    pos: usize,
    /// Set while the body waits for the memory budget (reading stopped).
    budget_wait: bool,
    /// The whole body has arrived (a spooled one may still wait to be read back).
    complete: bool,
}

/// The rest of a response body, after the bytes already in the slot.
enum Pending {
    None,
    Static(&'static [u8], usize),
    Bytes(Vec<u8>, usize),
    Shared(Arc<[u8]>, usize),
    Reader {
        reader: Box<dyn io::Read + Send>,
        remaining: Option<u64>,
        chunked: bool,
        finished: bool,
    },
    /// A file range: with `sendfile` while the transport takes it (`zero_copy`), else through
    /// the slot.
    File {
        range: FileRange,
        zero_copy: bool,
    },
    Stream {
        stream: ResponseStream,
        chunked: bool,
        finished: bool,
    },
}

impl Pending {
    /// What is left to send of an in-memory body.
    fn in_memory(&self) -> Option<&[u8]> {
        match self {
            Pending::Static(b, off) => b.get(*off..),
            Pending::Bytes(b, off) => b.get(*off..),
            Pending::Shared(b, off) => b.get(*off..),
            _ => None,
        }
    }

    /// Counts `n` more bytes of an in-memory body as sent.
    fn advance(&mut self, n: usize) {
        if let Pending::Static(_, off) | Pending::Bytes(_, off) | Pending::Shared(_, off) = self {
            *off += n;
        }
    }
}

/// A response on its way out: `slot[pos..end]`, then `pending`.
struct Outgoing {
    pos: usize,
    end: usize,
    pending: Pending,
    keep_alive: bool,
    on_sent: Option<OnSent>,
    takeover: Option<Takeover>,
    /// What an owned body beyond the slot holds of the memory budget while it is sent.
    _held: Option<Reservation>,
}

/// What the connection waits for.
enum State {
    /// A request head (the slot holds `len` bytes of it, maybe with a small body).
    ReadingHead,
    /// A body that does not fit in the slot after the head, or a chunked one.
    ReadingBody(Box<BodyRead>),
    /// A handler's deferred answer.
    Awaiting(DeferredResponse, Facts),
    /// The socket, to take the response.
    Writing(Outgoing),
    /// The client's close, after ours (see [`LINGER`]).
    Lingering { dropped: usize },
    /// Nothing: another protocol owns the connection since a `101 Switching Protocols`.
    Upgraded(Box<dyn ConnHandler>),
}

/// What one step of the machine decided.
enum Step {
    /// Run the machine again (the state changed).
    Again,
    /// Return this to the pool.
    Wait(Next),
}

/// One HTTP connection.
pub(crate) struct HttpConnection {
    shared: Arc<ServerShared>,
    peer: Endpoint,
    /// The client's address a PROXY protocol header gave.
    proxied_source: Option<SocketAddr>,
    is_ssl: bool,
    /// INVARIANT: `len > 0` implies `slot.is_some()`.
    slot: Option<SlotGuard>,
    /// Received bytes at `slot[..len]` while reading a request.
    len: usize,
    /// Bytes of the next (pipelined) request, set aside while the slot carries a response.
    stash: Vec<u8>,
    /// What the stash holds of the memory budget.
    stash_held: Option<Reservation>,
    /// Answers to pipelined requests not written yet: they go out together (see `batch.rs`),
    /// always before anything written after them.
    batch: Batch,
    served: u32,
    continue_sent: bool,
    /// The last read took less than it could: the socket was empty then. After a response the
    /// connection then waits for readiness instead of trying a read that would block.
    drained: bool,
    state: State,
    /// The key of this connection in the server's registry (for a graceful stop).
    registration: Option<usize>,
    /// With an access hook or metrics: when the request being read began, and the answer
    /// being sent.
    request_started: Option<Instant>,
    /// When the head being read must be complete: set by its first byte, never moved by later
    /// ones (a client trickling a byte at a time is cut `requests_timeout` after it began).
    head_deadline: Option<Instant>,
    observed: Option<Box<Observation>>,
    /// Bytes read and written on this connection, and up to where the last answer was counted
    /// (an answer's share is what came since).
    read_total: u64,
    written_total: u64,
    read_mark: u64,
    written_mark: u64,
}

/// The answer being sent, as the access log and the metrics will see it once its last byte is
/// out.
struct Observation {
    started: Instant,
    #[cfg(feature = "metrics")]
    method_class: u8,
    status: u16,
    is_head: bool,
    head_len: u64,
    /// The request line's text and headers, kept only for an access hook.
    text: Option<RequestText>,
}

/// What the access log writes of the request.
struct RequestText {
    /// The client's address (behind a trusted proxy, the one it names).
    client: Endpoint,
    method: String,
    target: String,
    version: &'static str,
    referer: Option<String>,
    user_agent: Option<String>,
}

impl RequestText {
    fn new(head: &RequestHead, raw: &[u8], client: Endpoint) -> RequestText {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let header = |name: &str| head.header(raw, name).map(text);
        RequestText {
            client,
            method: head.method().as_str().to_owned(),
            target: text(head.target(raw).as_bytes()),
            version: match head.version() {
                Version::HTTP_10 => "HTTP/1.0",
                _ => "HTTP/1.1",
            },
            referer: header("referer"),
            user_agent: header("user-agent"),
        }
    }
}

impl RequestText {
    /// What is known of a request refused before its head was complete: its first line as
    /// received (at most [`REFUSED_LINE_BYTES`]), no method or version.
    fn refused(received: &[u8], peer: Endpoint) -> RequestText {
        let line = received.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.get(..REFUSED_LINE_BYTES).unwrap_or(line);
        RequestText {
            client: peer,
            method: String::new(),
            target: String::from_utf8_lossy(line).into_owned(),
            version: "",
            referer: None,
            user_agent: None,
        }
    }
}

/// The most bytes of a refused request's first line the access log keeps.
const REFUSED_LINE_BYTES: usize = 1024;

impl Observation {
    /// Hands the answer to the access hook and the metrics; `bytes` are the connection's bytes
    /// (read, written) since the last answer was counted.
    fn report(&self, shared: &ServerShared, bytes: (u64, u64)) {
        let duration = self.started.elapsed();
        let body_bytes = if self.is_head {
            0
        } else {
            bytes.1.saturating_sub(self.head_len)
        };
        if let (Some(text), Some(hook)) = (&self.text, &shared.config.on_access) {
            let now = SystemTime::now();
            let record = AccessRecord {
                peer: text.client,
                started: now.checked_sub(duration).unwrap_or(now),
                method: &text.method,
                target: &text.target,
                version: text.version,
                status: self.status,
                body_bytes,
                referer: text.referer.as_deref(),
                user_agent: text.user_agent.as_deref(),
                duration,
            };
            if catch_unwind(AssertUnwindSafe(|| (hook.0)(&record))).is_err() {
                log::error!("the on_access hook panicked");
            }
        }
        #[cfg(feature = "metrics")]
        if let Some(metrics) = &shared.metrics {
            metrics.observe(&metrics::Observed {
                method_class: self.method_class,
                status: self.status,
                duration,
                bytes_in: bytes.0,
                bytes_out: bytes.1,
            });
        }
    }
}

impl HttpConnection {
    /// Who sent the request `head`: the peer, or the client a trusted proxy names.
    fn origin(&self, head: &RequestHead, raw: &[u8]) -> Origin {
        Origin::of(
            &self.shared.config.trusted_proxies,
            self.peer,
            self.proxied_source,
            self.is_ssl,
            head,
            raw,
        )
    }

    pub(crate) fn new(shared: Arc<ServerShared>, info: &ConnInfo) -> HttpConnection {
        HttpConnection {
            shared,
            peer: info.peer_addr,
            proxied_source: info.proxied_source,
            is_ssl: false,
            slot: None,
            len: 0,
            stash: Vec::new(),
            stash_held: None,
            batch: Batch::default(),
            served: 0,
            continue_sent: false,
            drained: false,
            state: State::ReadingHead,
            registration: None,
            request_started: None,
            head_deadline: None,
            observed: None,
            read_total: 0,
            written_total: 0,
            read_mark: 0,
            written_mark: 0,
        }
    }

    fn drive(&mut self, conn: &mut Conn<'_>) -> Next {
        if self.shared.is_forced() {
            return Next::Close(CloseReason::ByHost);
        }
        loop {
            let step = match self.state {
                State::ReadingHead => self.read_request(conn),
                State::ReadingBody(_) => self.read_body(conn),
                State::Awaiting(..) => self.check_answer(conn),
                State::Writing(_) => self.write_response(conn),
                State::Lingering { .. } => self.linger(conn),
                State::Upgraded(ref mut handler) => {
                    return handler.on_event(conn, ConnEvent::Readable);
                }
            };
            match step {
                Step::Again => continue,
                Step::Wait(next @ Next::Close(_)) => return next,
                // Before waiting for anything, the answers gathered so far go out.
                Step::Wait(next) => match flush(&mut self.batch, conn, &self.shared) {
                    None => return next,
                    Some(Step::Wait(flushing)) => return flushing,
                    Some(Step::Again) => continue,
                },
            }
        }
    }

    /// Moves the part of a head read so far out of the slot into a copy charged to the memory
    /// budget, and returns the slot, while the client is silent: a thousand clients trickling
    /// their heads then hold a few bytes each of the budget instead of every slot. Keeps the slot
    /// when the budget cannot take the copy.
    fn park_partial_head(&mut self) {
        if !self.stash.is_empty() {
            return;
        }
        let Some(slot) = self.slot.as_ref() else {
            return;
        };
        // The stash keeps its buffer (and the reservation for it) between uses.
        if self.stash.capacity() < self.len {
            let Some(held) = self.shared.budget.try_reserve(self.len) else {
                return;
            };
            self.stash = Vec::with_capacity(self.len); // exactly `len`: what `held` covers
            self.stash_held = Some(held);
        }
        self.stash
            .extend_from_slice(slot.get(..self.len).unwrap_or_default());
        self.len = 0;
        self.slot = None;
    }

    /// Moves what the stash holds (the next pipelined request, or a parked partial head) to the
    /// start of the slot, once the connection holds one and has nothing in it. A small stash
    /// keeps its buffer and reservation for the next time.
    fn restore_stash(&mut self) {
        if self.len != 0 || self.stash.is_empty() {
            return;
        }
        let Some(slot) = self.slot.as_mut() else {
            return;
        };
        let n = self.stash.len().min(slot.len());
        slot[..n].copy_from_slice(&self.stash[..n]);
        self.len = n;
        self.stash.clear();
        if self.stash.capacity() > 4096 {
            self.stash = Vec::new();
            self.stash_held = None;
        }
    }

    /// Reads until a head is complete, then dispatches it.
    fn read_request(&mut self, conn: &mut Conn<'_>) -> Step {
        // Parsed in place: the head (with its header index) is not moved per request.
        let mut head = RequestHead::default();
        loop {
            if self.len > 0 {
                if self.request_started.is_none() && self.shared.observes_requests() {
                    self.request_started = Some(Instant::now());
                }
                let Some(slot) = self.slot.as_ref() else {
                    self.len = 0;
                    continue;
                };
                let input = slot.get(..self.len).unwrap_or_default();
                match http::parse_head_into(input, &self.shared.limits, &mut head) {
                    Ok(Status::Complete(())) => {
                        self.head_deadline = None;
                        if let Some(step) = self.on_head(conn, &head) {
                            return step;
                        }
                    }
                    Ok(Status::Partial) if self.len == slot.len() => {
                        return self.fail(conn, HttpError::HeadTooLarge);
                    }
                    Ok(Status::Partial) => {}
                    Err(e) => return self.fail(conn, e),
                }
            }
            if self.slot.is_none() {
                match conn.try_borrow_slot() {
                    Some(s) => self.slot = Some(s),
                    None => return Step::Wait(Next::WaitSlot),
                }
            }
            self.restore_stash();
            let Some(slot) = self.slot.as_mut() else {
                return Step::Wait(Next::WaitSlot);
            };
            let Some(spare) = slot.get_mut(self.len..) else {
                return self.fail(conn, HttpError::HeadTooLarge);
            };
            let room = spare.len();
            match conn.read(spare) {
                Ok(0) => return Step::Wait(Next::Close(CloseReason::ByPeer)),
                Ok(n) => {
                    self.len += n;
                    self.read_total += n as u64;
                    self.drained = n < room;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if self.len > 0 {
                        // Part of a head: its deadline was set by its first byte, and its bytes
                        // wait out of the slot.
                        let timeout = self.shared.config.requests_timeout;
                        let deadline = *self
                            .head_deadline
                            .get_or_insert_with(|| Instant::now() + timeout);
                        conn.set_deadline(Some(deadline));
                        self.park_partial_head();
                        return Step::Wait(Next::Read);
                    }
                    if self.shared.is_draining() {
                        return Step::Wait(Next::Close(CloseReason::ByHost));
                    }
                    // Idle: hold no slot.
                    self.slot = None;
                    let idle = if self.served == 0 {
                        self.shared.config.requests_timeout
                    } else {
                        self.shared.config.keep_alive_timeout
                    };
                    conn.set_deadline(Some(Instant::now() + idle));
                    return Step::Wait(Next::Read);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Step::Wait(Next::Close(CloseReason::from_io(&e))),
            }
        }
    }

    /// Decides what a complete head needs; `None` means "read more, then parse again" (a small
    /// body not fully arrived).
    fn on_head(&mut self, conn: &mut Conn<'_>, head: &RequestHead) -> Option<Step> {
        let head_len = head.head_len();
        let cap = self.slot.as_ref().map_or(0, |s| s.len());
        if !self.shared.routes.uploads.is_empty() {
            if let Some(step) = self.try_upload(conn, head) {
                return Some(step);
            }
        }
        let max = self.shared.config.max_request_content_length;
        if head.content_length().is_some_and(|n| n > max) {
            return Some(self.fail(conn, HttpError::BodyTooLarge));
        }
        let over_budget = head.content_length().is_some_and(|n| {
            n > (cap.saturating_sub(head_len)) as u64 && n > self.shared.budget.limit() as u64
        });
        if over_budget {
            // It could never be gathered: refused before it is read.
            return Some(self.fail(conn, HttpError::BodyTooLarge));
        }
        match head.body() {
            BodyKind::Length(n) if (head_len as u64).saturating_add(n) <= cap as u64 => {
                let end = head_len + n as usize;
                if self.len >= end {
                    return Some(self.dispatch(conn, head, head_len..end, None));
                }
                if let Some(step) = self.maybe_continue(conn, head) {
                    return Some(step);
                }
                None
            }
            BodyKind::None => Some(self.dispatch(conn, head, head_len..head_len, None)),
            _ => {
                if let Some(step) = self.maybe_continue(conn, head) {
                    return Some(step);
                }
                let limits = self.shared.limits.with_max_body_bytes(max);
                let decoder = BodyDecoder::new(head.body(), &limits);
                let spool = self.shared.config.spool.as_ref();
                let body =
                    match BodyStore::new(&self.shared.budget, head.content_length(), max, spool) {
                        Ok(body) => body,
                        Err(e) => return Some(self.spool_failed(conn, head.version(), &e)),
                    };
                self.state = State::ReadingBody(Box::new(BodyRead {
                    head: head.clone(),
                    decoder,
                    body,
                    sink: None,
                    pos: head_len,
                    budget_wait: false,
                    complete: false,
                }));
                Some(Step::Again)
            }
        }
    }

    /// Starts a streaming upload when an upload route matches: its factory sees the head and
    /// returns the sink (then `100 Continue` goes out) or the refusal (answered at once).
    fn try_upload(&mut self, conn: &mut Conn<'_>, head: &RequestHead) -> Option<Step> {
        let slot = self.slot.as_ref()?;
        let raw = slot.get(..head.head_len()).unwrap_or_default();
        let shared = &self.shared;
        let raw_path = head.path(raw);
        let Resolution::Found(found) = shared.routes.uploads.resolve(head.method(), raw_path)
        else {
            return None;
        };
        let made = match http::decode_path(raw_path) {
            Ok(path) => {
                let origin = self.origin(head, raw);
                let request = Request::new(head, raw, &[], Some(path), origin, found.args);
                pipeline::open_upload(shared, &request, found.handler)
            }
            Err(e) => {
                let mut response = Response::new();
                response.return_error_page(e.status(), None);
                Err(Box::new(response))
            }
        };
        let sink = match made {
            Ok(sink) => sink,
            Err(response) => return Some(self.respond_and_close(conn, *response, head.version())),
        };
        if let Some(step) = self.send_continue(conn, head) {
            return Some(step);
        }
        let limits = self.shared.limits.with_max_body_bytes(u64::MAX);
        self.state = State::ReadingBody(Box::new(BodyRead {
            head: head.clone(),
            decoder: BodyDecoder::new(head.body(), &limits),
            body: BodyStore::new(&self.shared.budget, Some(0), 0, None).ok()?,
            sink: Some(sink),
            pos: head.head_len(),
            budget_wait: false,
            complete: false,
        }));
        Some(Step::Again)
    }

    /// Sends `100 Continue` once when the client waits for it and the server will read the
    /// body; answers the refusal instead when the `on_expect_continue` hook refuses.
    fn maybe_continue(&mut self, conn: &mut Conn<'_>, head: &RequestHead) -> Option<Step> {
        if self.continue_sent || !head.expects_continue() {
            return None;
        }
        if let Some(check) = &self.shared.hooks.expect {
            let slot = self.slot.as_ref()?;
            let raw = slot.get(..head.head_len()).unwrap_or_default();
            let origin = self.origin(head, raw);
            let request = Request::new(head, raw, &[], None, origin, RouteArgs::default());
            let refusal = catch_unwind(AssertUnwindSafe(|| check(&request)))
                .unwrap_or(Some(StatusCode::INTERNAL_SERVER_ERROR));
            if let Some(status) = refusal {
                let mut response = Response::new();
                response.return_error_page(status, None);
                return Some(self.respond_and_close(conn, response, head.version()));
            }
        }
        self.send_continue(conn, head)
    }

    /// Sends `100 Continue` once per request, when the client waits for it and a body follows;
    /// `Some` closes the connection when the socket does not take it.
    fn send_continue(&mut self, conn: &mut Conn<'_>, head: &RequestHead) -> Option<Step> {
        if self.continue_sent || !http::should_send_continue(head, true) {
            return None;
        }
        // The answers before it go first.
        if let Some(step) = flush(&mut self.batch, conn, &self.shared) {
            return Some(step);
        }
        self.continue_sent = true;
        match conn.write(http::CONTINUE_100) {
            Ok(n) if n == http::CONTINUE_100.len() => None,
            // A fresh socket takes 25 bytes; anything else means it is broken.
            Ok(_) => Some(Step::Wait(Next::Close(CloseReason::ByHost))),
            Err(e) => Some(Step::Wait(Next::Close(CloseReason::from_io(&e)))),
        }
    }

    /// Receives a body into memory through the slot, at most [`BODY_READ_TURN`] bytes per turn.
    fn read_body(&mut self, conn: &mut Conn<'_>) -> Step {
        let mut taken = 0usize;
        loop {
            let State::ReadingBody(b) = &mut self.state else {
                return Step::Again;
            };
            let Some(slot) = self.slot.as_mut() else {
                return self.fail(conn, HttpError::Malformed);
            };
            if b.complete {
                return self.finish_body(conn);
            }
            let input = slot.get(b.pos..self.len).unwrap_or_default();
            if b.sink.is_none() {
                // Room first (the decoder moves on once it hands out data): at most all of
                // `input` is body.
                let spool = self.shared.config.spool.as_ref();
                match b.body.make_room(input.len(), spool, || conn.waker()) {
                    Ok(Room::Ready) => b.budget_wait = false,
                    Ok(Room::Wait) => {
                        return wait_for_budget(conn, &self.shared, &mut b.budget_wait);
                    }
                    Ok(Room::TooLarge) => return self.fail(conn, HttpError::BodyTooLarge),
                    Err(e) => {
                        let version = b.head.version();
                        return self.spool_failed(conn, version, &e);
                    }
                }
            }
            match b.decoder.decode(input) {
                Ok((consumed, BodyEvent::Data(range))) => {
                    let data = input.get(range).unwrap_or_default();
                    match &mut b.sink {
                        Some(sink) => {
                            let written = catch_unwind(AssertUnwindSafe(|| sink.write(data)))
                                .unwrap_or(Err(StatusCode::INTERNAL_SERVER_ERROR));
                            if let Err(status) = written {
                                let version = b.head.version();
                                let mut response = Response::new();
                                response.return_error_page(status, None);
                                return self.respond_and_close(conn, response, version);
                            }
                        }
                        None => {
                            if let Err(e) = b.body.push(data) {
                                let version = b.head.version();
                                return self.spool_failed(conn, version, &e);
                            }
                        }
                    }
                    b.pos += consumed;
                }
                Ok((consumed, BodyEvent::Done)) => {
                    b.pos += consumed;
                    b.complete = true;
                    return self.finish_body(conn);
                }
                Ok((consumed, _)) => {
                    // Need more: keep the head, move the undecoded tail behind it, read.
                    b.pos += consumed;
                    let head_len = b.head.head_len();
                    let tail = b.pos..self.len;
                    let tail_len = tail.len();
                    slot.copy_within(tail, head_len);
                    self.len = head_len + tail_len;
                    b.pos = head_len;
                    let Some(spare) = slot.get_mut(self.len..).filter(|s| !s.is_empty()) else {
                        // The head leaves no room for the body's framing.
                        return self.fail(conn, HttpError::HeadTooLarge);
                    };
                    match conn.read(spare) {
                        Ok(0) => return Step::Wait(Next::Close(CloseReason::ByPeer)),
                        Ok(n) => {
                            self.len += n;
                            self.read_total += n as u64;
                            taken += n;
                            if taken >= BODY_READ_TURN {
                                // Other connections of this loop get their turn; this one
                                // goes on when its wake comes round.
                                conn.waker().wake();
                                return Step::Wait(Next::Idle);
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            let timeout = self.shared.config.requests_timeout;
                            conn.set_deadline(Some(Instant::now() + timeout));
                            return Step::Wait(Next::Read);
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Step::Wait(Next::Close(CloseReason::from_io(&e))),
                    }
                }
                Err(e) => return self.fail(conn, e),
            }
        }
    }

    /// Hands a complete body to its upload sink or to the pipeline; a spooled body is read back
    /// first, once the budget grants its length (until then the connection waits, as for room).
    fn finish_body(&mut self, conn: &mut Conn<'_>) -> Step {
        let State::ReadingBody(b) = &mut self.state else {
            return Step::Again;
        };
        let (data, reserved) = if b.sink.is_none() {
            match b.body.finish(|| conn.waker()) {
                Ok(Finished::Ready(data, reserved)) => (data, reserved),
                Ok(Finished::Wait) => {
                    return wait_for_budget(conn, &self.shared, &mut b.budget_wait);
                }
                Ok(Finished::TooLarge) => return self.fail(conn, HttpError::BodyTooLarge),
                Err(e) => {
                    let version = b.head.version();
                    return self.spool_failed(conn, version, &e);
                }
            }
        } else {
            (Vec::new(), None)
        };
        let State::ReadingBody(b) = mem::replace(&mut self.state, State::ReadingHead) else {
            return Step::Again;
        };
        let BodyRead {
            head, sink, pos, ..
        } = *b;
        // The reservation is given back once the request (and its body) is done.
        let _reserved = reserved;
        match sink {
            Some(sink) => self.finish_upload(conn, &head, pos, sink),
            None => self.dispatch(conn, &head, pos..pos, Some(data)),
        }
    }

    /// A body could not be spooled (the folder is missing or full): 500, logged, and closed.
    fn spool_failed(&mut self, conn: &mut Conn<'_>, version: Version, e: &io::Error) -> Step {
        self.shared.log(
            LogLevel::Error,
            format_args!("cannot spool a request body to disk ({e}); answering 500"),
        );
        let mut response = Response::new();
        response.return_internal_server_error();
        self.respond_and_close(conn, response, version)
    }

    /// Runs the pipeline on a complete request and starts its response.
    ///
    /// The body is `slot[body]`, or `owned` when it was gathered in memory; bytes of the slot
    /// after `body.end` (or after the head, for an owned body) belong to the next request.
    fn dispatch(
        &mut self,
        conn: &mut Conn<'_>,
        head: &RequestHead,
        body: Range<usize>,
        owned: Option<Vec<u8>>,
    ) -> Step {
        let Some(slot) = self.slot.take() else {
            return Step::Wait(Next::Close(CloseReason::ByHost));
        };
        let consumed = body.end;
        let raw = slot.get(..head.head_len()).unwrap_or_default();
        let raw_path = head.path(raw);
        let path = match http::decode_path(raw_path) {
            Ok(p) => p,
            Err(_) => {
                // A well-formed request whose path decodes to a NUL or to invalid UTF-8 names
                // nothing that exists: 404, like any other path outside the root.
                self.slot = Some(slot);
                let mut response = Response::new();
                response.return_not_found();
                return self.respond_and_close(conn, response, head.version());
            }
        };
        let body_bytes: &[u8] = match &owned {
            Some(v) => v,
            None => slot.get(body).unwrap_or_default(),
        };
        let origin = self.origin(head, raw);
        let mut request = Request::new(
            head,
            raw,
            body_bytes,
            Some(path),
            origin,
            RouteArgs::default(),
        );
        // One response, filled and sent in place: it is not moved between the steps.
        let mut response = Response::new();
        pipeline::answer(&self.shared, &mut request, &mut response);
        drop(request);
        self.answered(conn, head, origin.client, slot, consumed, &mut response)
    }

    /// Takes the answer to `head` from `client`: sets the bytes after `consumed` aside for the
    /// next request, puts the slot back, and starts sending.
    fn answered(
        &mut self,
        conn: &mut Conn<'_>,
        head: &RequestHead,
        client: Endpoint,
        slot: SlotGuard,
        consumed: usize,
        response: &mut Response,
    ) -> Step {
        let facts = Facts {
            version: head.version(),
            is_head: head.is_head(),
            keep_alive: http::keep_alive(head, self.served, &self.shared.limits, true),
        };
        if self.shared.observes_requests() {
            let raw = slot.get(..head.head_len()).unwrap_or_default();
            self.observed = Some(Box::new(Observation {
                started: self.request_started.take().unwrap_or_else(Instant::now),
                #[cfg(feature = "metrics")]
                method_class: metrics::method_class(head.method().as_str()),
                status: 0,
                is_head: head.is_head(),
                head_len: 0,
                text: self
                    .shared
                    .config
                    .on_access
                    .is_some()
                    .then(|| RequestText::new(head, raw, client)),
            }));
        }
        if let Some(next) = slot.get(consumed..self.len).filter(|b| !b.is_empty()) {
            self.stash.extend_from_slice(next);
            let capacity = self.stash.capacity();
            if self.stash_held.as_ref().map(Reservation::bytes) != Some(capacity) {
                self.stash_held = Some(self.shared.budget.charge(capacity));
            }
        }
        self.len = 0;
        self.continue_sent = false;
        self.slot = Some(slot);
        self.start_response(conn, response, facts)
    }

    /// Lets an upload's sink answer once its body has arrived; bytes after `consumed` belong to
    /// the next request.
    fn finish_upload(
        &mut self,
        conn: &mut Conn<'_>,
        head: &RequestHead,
        consumed: usize,
        sink: Box<dyn BodySink>,
    ) -> Step {
        let Some(slot) = self.slot.take() else {
            return Step::Wait(Next::Close(CloseReason::ByHost));
        };
        let raw = slot.get(..head.head_len()).unwrap_or_default();
        let shared = &self.shared;
        let raw_path = head.path(raw);
        let args = match shared.routes.uploads.resolve(head.method(), raw_path) {
            Resolution::Found(found) => found.args,
            _ => RouteArgs::default(),
        };
        let origin = self.origin(head, raw);
        let request = Request::new(head, raw, &[], None, origin, args);
        let mut response = Response::new();
        if catch_unwind(AssertUnwindSafe(|| sink.finish(&request, &mut response))).is_err() {
            shared.log(
                LogLevel::Error,
                format_args!("an upload sink panicked; answering 500"),
            );
            response = Response::new();
            response.return_internal_server_error();
        }
        if !response.is_answered() {
            response.return_(StatusCode::NO_CONTENT, Body::Empty);
            response.content_type = None;
        }
        pipeline::finish(shared, &request, &mut response, false);
        drop(request);
        self.answered(conn, head, origin.client, slot, consumed, &mut response)
    }

    fn start_response(
        &mut self,
        conn: &mut Conn<'_>,
        response: &mut Response,
        facts: Facts,
    ) -> Step {
        if let Some(deferred) = response.deferred.take() {
            let timeout = self.shared.config.requests_timeout;
            conn.set_deadline(Some(Instant::now() + timeout));
            self.state = State::Awaiting(deferred, facts);
            return Step::Again;
        }
        self.serialize(response, facts)
    }

    fn check_answer(&mut self, conn: &mut Conn<'_>) -> Step {
        let State::Awaiting(deferred, facts) = &self.state else {
            return Step::Again;
        };
        let facts = *facts;
        let waker = conn.waker();
        match deferred.take_or_wait(move || waker.wake()) {
            Some(mut response) => self.serialize(&mut response, facts),
            None => Step::Wait(Next::Idle),
        }
    }

    /// Writes the response head (and a body that fits) into the slot and starts sending.
    fn serialize(&mut self, response: &mut Response, facts: Facts) -> Step {
        let Some(slot) = self.slot.as_mut() else {
            return Step::Wait(Next::Close(CloseReason::ByHost));
        };
        let date = current_date();
        let body = mem::replace(&mut response.body, Body::Empty);
        let len = response.content_length.or_else(|| body.len());
        let framing = match len {
            Some(n) => Framing::Length(n),
            None if facts.version == Version::HTTP_10 => Framing::UntilClose,
            None => Framing::Chunked,
        };
        let keep_alive = facts.keep_alive
            && !response.close
            && framing != Framing::UntilClose
            && !self.shared.is_draining();
        let written = write_head(slot, response, &date, framing, keep_alive, facts);
        if let (Some(observed), Ok((head_len, _))) = (self.observed.as_deref_mut(), &written) {
            observed.status = response.status.as_u16();
            observed.head_len = *head_len as u64;
        }
        let (mut end, no_body) = match written {
            Ok(v) => v,
            Err(e) => {
                self.shared.log(
                    LogLevel::Error,
                    format_args!("cannot write the response head ({e}); answering 500"),
                );
                let n = http::write_error_response(slot, HttpError::ResponseBufferFull, &date)
                    .unwrap_or(0);
                self.state = State::Writing(Outgoing {
                    pos: 0,
                    end: n,
                    pending: Pending::None,
                    keep_alive: false,
                    on_sent: None,
                    takeover: None,
                    _held: None,
                });
                return Step::Again;
            }
        };
        let send_body = !(facts.is_head || no_body);
        let room = slot.len() - end;
        if let (false, Body::Stream(stream)) = (send_body, &body) {
            stream.mark_gone();
        }
        let mut held = None;
        let pending = match body {
            _ if !send_body => Pending::None,
            Body::Empty => Pending::None,
            Body::Static(b) if b.len() <= room => {
                slot[end..end + b.len()].copy_from_slice(b);
                end += b.len();
                Pending::None
            }
            Body::Bytes(b) if b.len() <= room => {
                slot[end..end + b.len()].copy_from_slice(&b);
                end += b.len();
                Pending::None
            }
            Body::Shared(b) if b.len() <= room => {
                slot[end..end + b.len()].copy_from_slice(&b);
                end += b.len();
                Pending::None
            }
            Body::Static(b) => Pending::Static(b, 0),
            Body::Bytes(mut b) => {
                // Already allocated by the handler: accounted while a slow reader drains it, so
                // that no new body is admitted past the budget meanwhile. Spare capacity left by
                // a growing serializer is given back first (a shrink of a large block is cheap).
                if b.capacity() - b.len() > room {
                    b.shrink_to_fit();
                }
                held = Some(self.shared.budget.charge(b.capacity()));
                Pending::Bytes(b, 0)
            }
            Body::Shared(b) => Pending::Shared(b, 0),
            // A small file goes out with its head, in one write.
            Body::Reader {
                mut reader,
                len: Some(n),
            } if n <= room as u64 => {
                let n = n as usize;
                if let Err(e) = reader.read_exact(&mut slot[end..end + n]) {
                    return self.close_failed_body(&e);
                }
                end += n;
                Pending::None
            }
            Body::File(mut range) if range.remaining() <= room as u64 => {
                let n = range.remaining() as usize;
                if let Err(e) = range.read_exact(&mut slot[end..end + n]) {
                    return self.close_failed_body(&e);
                }
                end += n;
                Pending::None
            }
            // A large one: its first bytes fill the slot after the head, the rest follows.
            Body::File(mut range) => {
                if let Err(e) = range.read_exact(&mut slot[end..]) {
                    return self.close_failed_body(&e);
                }
                end = slot.len();
                Pending::File {
                    range,
                    zero_copy: true,
                }
            }
            Body::Reader { reader, len } => Pending::Reader {
                reader,
                remaining: len,
                chunked: framing == Framing::Chunked,
                finished: false,
            },
            Body::Stream(stream) => {
                stream.charge_to(&self.shared.budget);
                Pending::Stream {
                    stream,
                    chunked: framing == Framing::Chunked,
                    finished: false,
                }
            }
        };
        response.headers_sent = true;
        self.state = State::Writing(Outgoing {
            pos: 0,
            end,
            pending,
            keep_alive,
            on_sent: response.on_sent.take(),
            takeover: response.takeover.take(),
            _held: held,
        });
        Step::Again
    }

    /// Sends what is in the slot, then the rest of the body; at the end, prepares the next
    /// request or the close.
    fn write_response(&mut self, conn: &mut Conn<'_>) -> Step {
        let State::Writing(out) = &mut self.state else {
            return Step::Again;
        };
        if self.slot.is_none() {
            // A stream that waited for data gave its slot back.
            match conn.try_borrow_slot() {
                Some(s) => self.slot = Some(s),
                None => return Step::Wait(Next::WaitSlot),
            }
        }
        let Some(slot) = self.slot.as_mut() else {
            return Step::Wait(Next::WaitSlot);
        };
        // A whole answer in the slot while requests are pipelined (more input waits, or the
        // answers before it do): into the batch, which goes out with the last one — or before
        // the connection waits for anything (see `drive`). A lone answer is written from the slot.
        let whole = matches!(out.pending, Pending::None)
            && out.on_sent.is_none()
            && out.takeover.is_none()
            && out.keep_alive;
        let more = !self.stash.is_empty();
        if whole && (more || !self.batch.is_empty()) && !self.shared.is_draining() {
            let answer = slot.get(out.pos..out.end).unwrap_or_default();
            if self.batch.try_add(answer, slot.len(), &self.shared.budget) {
                self.written_total += answer.len() as u64;
                out.pos = out.end;
                if more {
                    return self.finish_response(conn);
                }
            }
        }
        if let Some(step) = flush(&mut self.batch, conn, &self.shared) {
            return step;
        }
        loop {
            if out.pos < out.end {
                let head = slot.get(out.pos..out.end).unwrap_or_default();
                // The head and an in-memory body go out in one write.
                let written = match out.pending.in_memory() {
                    Some(rest) => conn.write_vectored(&[IoSlice::new(head), IoSlice::new(rest)]),
                    None => conn.write(head),
                };
                match written {
                    Ok(0) => return Step::Wait(Next::Close(CloseReason::ByPeer)),
                    Ok(n) => {
                        self.written_total += n as u64;
                        let of_head = n.min(out.end - out.pos);
                        out.pos += of_head;
                        out.pending.advance(n - of_head);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        return wait_writable(conn, &self.shared);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Step::Wait(Next::Close(CloseReason::from_io(&e))),
                }
                continue;
            }
            // The rest of an in-memory body goes out straight from where it lies.
            if let Some(rest) = out.pending.in_memory() {
                if rest.is_empty() {
                    out.pending = Pending::None; // sent along with the head
                    continue;
                }
                match conn.write(rest) {
                    Ok(0) => return Step::Wait(Next::Close(CloseReason::ByPeer)),
                    Ok(n) => {
                        self.written_total += n as u64;
                        out.pending.advance(n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        return wait_writable(conn, &self.shared);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Step::Wait(Next::Close(CloseReason::from_io(&e))),
                }
                continue;
            }
            match &mut out.pending {
                Pending::None => break,
                Pending::Static(..) | Pending::Bytes(..) | Pending::Shared(..) => {}
                Pending::Reader {
                    reader,
                    remaining,
                    chunked,
                    finished,
                } => {
                    if *finished {
                        out.pending = Pending::None;
                        continue;
                    }
                    match refill(slot, reader.as_mut(), remaining, *chunked) {
                        Ok((range, done)) => {
                            out.pos = range.start;
                            out.end = range.end;
                            *finished = done;
                        }
                        Err(e) => return self.close_failed_body(&e),
                    }
                }
                Pending::File { range, zero_copy } => {
                    if range.remaining() == 0 {
                        out.pending = Pending::None;
                        continue;
                    }
                    if !*zero_copy {
                        match read_some(range, slot) {
                            Ok(n) => {
                                out.pos = 0;
                                out.end = n;
                            }
                            Err(e) => return self.close_failed_body(&e),
                        }
                        continue;
                    }
                    match range.send_with(SENDFILE_BYTES, |file, offset, count| {
                        conn.send_file(file, offset, count)
                    }) {
                        Ok(n) => {
                            self.written_total += n as u64;
                            #[cfg(feature = "metrics")]
                            if let Some(metrics) = &self.shared.metrics {
                                metrics.count_sendfile(n as u64);
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            return wait_writable(conn, &self.shared);
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        // TLS, or a file the kernel cannot send (EINVAL): through the slot.
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::Unsupported | ErrorKind::InvalidInput
                            ) =>
                        {
                            *zero_copy = false;
                        }
                        Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                            return self.close_failed_body(&e);
                        }
                        Err(e) => return Step::Wait(Next::Close(CloseReason::from_io(&e))),
                    }
                }
                Pending::Stream {
                    stream,
                    chunked,
                    finished,
                } => {
                    if *finished {
                        out.pending = Pending::None;
                        continue;
                    }
                    if self.shared.is_draining() {
                        // The server is stopping: what is queued goes out, then the last chunk.
                        stream.close();
                    }
                    let start = if *chunked { CHUNK_HEAD_ROOM } else { 0 };
                    let end = slot.len().saturating_sub(http::LAST_CHUNK.len() + 2);
                    let window = slot.get_mut(start..end).unwrap_or_default();
                    let (n, over) = stream.take(window, || conn.waker());
                    if n > 0 {
                        let range = if *chunked { frame_chunk(slot, n) } else { 0..n };
                        out.pos = range.start;
                        out.end = range.end;
                    } else if over {
                        *finished = true;
                        if *chunked {
                            let last = http::LAST_CHUNK;
                            slot[..last.len()].copy_from_slice(last);
                            out.pos = 0;
                            out.end = last.len();
                        }
                    } else {
                        // Nothing to send yet: hold no slot, watch for the client leaving.
                        self.slot = None;
                        return watch_peer(conn);
                    }
                }
            }
        }
        match conn.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                return wait_writable(conn, &self.shared);
            }
            Err(e) => return Step::Wait(Next::Close(CloseReason::from_io(&e))),
        }
        self.finish_response(conn)
    }

    /// Ends a connection whose response body could not be read to its end (a reader that
    /// failed, a file truncated meanwhile: shorter than its announced length): the client sees
    /// the body cut, not a wrong one.
    fn close_failed_body(&self, e: &io::Error) -> Step {
        self.shared.log(
            LogLevel::Error,
            format_args!("a response body failed: {e}; closing"),
        );
        Step::Wait(Next::Close(CloseReason::ByHost))
    }

    fn finish_response(&mut self, conn: &mut Conn<'_>) -> Step {
        let State::Writing(out) = mem::replace(&mut self.state, State::ReadingHead) else {
            return Step::Again;
        };
        self.served = self.served.saturating_add(1);
        if let Some(observed) = self.observed.take() {
            let bytes = (
                self.read_total - self.read_mark,
                self.written_total - self.written_mark,
            );
            observed.report(&self.shared, bytes);
        }
        self.read_mark = self.read_total;
        self.written_mark = self.written_total;
        if let Some(on_sent) = out.on_sent {
            if catch_unwind(AssertUnwindSafe(on_sent)).is_err() {
                self.shared.log(
                    LogLevel::Error,
                    format_args!("an on_sent callback panicked"),
                );
            }
        }
        if let Some(takeover) = out.takeover {
            let mut handler = takeover(Handover {
                leftover: {
                    self.stash_held = None;
                    mem::take(&mut self.stash)
                },
                budget: self.shared.budget.clone(),
                memory_wait_timeout: self.shared.config.memory_wait_timeout,
            });
            self.slot = None;
            self.len = 0;
            let next = handler.on_event(conn, ConnEvent::Opened);
            self.state = State::Upgraded(handler);
            return Step::Wait(next);
        }
        if !out.keep_alive || self.shared.is_draining() {
            return self.start_linger(conn);
        }
        self.len = 0;
        if !self.stash.is_empty() {
            // Without a slot now, the stash waits for the one the next read borrows.
            self.restore_stash();
        } else if mem::take(&mut self.drained) {
            // The socket was empty when the request was read: skip the read that would only
            // say so, and wait for readiness (the poller reports data that came meanwhile).
            self.slot = None;
            let idle = self.shared.config.keep_alive_timeout;
            conn.set_deadline(Some(Instant::now() + idle));
            return Step::Wait(Next::Read);
        }
        Step::Again
    }

    /// Closes our side and drops what the client still sends, for a little while.
    fn start_linger(&mut self, conn: &mut Conn<'_>) -> Step {
        self.stash = Vec::new();
        self.stash_held = None;
        self.len = 0;
        if conn.transport().shutdown().is_err() {
            return Step::Wait(Next::Close(CloseReason::ByHost));
        }
        conn.set_deadline(Some(Instant::now() + LINGER));
        self.state = State::Lingering { dropped: 0 };
        Step::Again
    }

    fn linger(&mut self, conn: &mut Conn<'_>) -> Step {
        let State::Lingering { dropped } = &mut self.state else {
            return Step::Again;
        };
        self.slot = None;
        let mut sink = [0u8; 2048];
        loop {
            match conn.read(&mut sink) {
                Ok(0) => return Step::Wait(Next::Close(CloseReason::ByHost)),
                Ok(n) => {
                    *dropped += n;
                    if *dropped > LINGER_MAX_BYTES {
                        return Step::Wait(Next::Close(CloseReason::ByHost));
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Wait(Next::Read),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Step::Wait(Next::Close(CloseReason::ByHost)),
            }
        }
    }

    /// Answers a protocol error with its status, then closes.
    fn fail(&mut self, conn: &mut Conn<'_>, error: HttpError) -> Step {
        let mut response = Response::new();
        response.return_error_page(error.status(), Some(&error.to_string()));
        self.respond_and_close(conn, response, Version::HTTP_11)
    }

    /// Sends `response` and closes the connection after it.
    fn respond_and_close(
        &mut self,
        conn: &mut Conn<'_>,
        mut response: Response,
        version: Version,
    ) -> Step {
        self.observe_refusal();
        self.state = State::ReadingHead;
        self.stash.clear();
        self.len = 0;
        if self.slot.is_none() {
            match conn.try_borrow_slot() {
                Some(s) => self.slot = Some(s),
                None => return Step::Wait(Next::Close(CloseReason::ByHost)),
            }
        }
        let facts = Facts {
            version,
            is_head: false,
            keep_alive: false,
        };
        self.serialize(&mut response, facts)
    }

    /// Starts the observation of an answer to a request refused before it reached a handler
    /// (400, 408, 413, 431, 503 while reading): with its head's text when the head was read,
    /// else with the first line received.
    fn observe_refusal(&mut self) {
        if self.observed.is_some() || !self.shared.observes_requests() {
            return;
        }
        let received = self
            .slot
            .as_ref()
            .map_or(&[][..], |s| s.get(..).unwrap_or_default());
        let (head, text) = match &self.state {
            State::ReadingBody(b) => {
                let raw = received.get(..b.head.head_len()).unwrap_or_default();
                let client = self.origin(&b.head, raw).client;
                (Some(&b.head), RequestText::new(&b.head, raw, client))
            }
            _ => (
                None,
                RequestText::refused(
                    received.get(..self.len).unwrap_or_default(),
                    Origin::connection(self.peer, self.proxied_source, self.is_ssl).client,
                ),
            ),
        };
        self.observed = Some(Box::new(Observation {
            started: self.request_started.take().unwrap_or_else(Instant::now),
            #[cfg(feature = "metrics")]
            method_class: metrics::method_class(head.map_or("", |h| h.method().as_str())),
            status: 0,
            is_head: head.is_some_and(RequestHead::is_head),
            head_len: 0,
            text: self.shared.config.on_access.is_some().then_some(text),
        }));
    }

    fn on_timeout(&mut self, conn: &mut Conn<'_>) -> Next {
        match &self.state {
            // Idle between requests: closed without an answer. A head begun (in the slot or
            // parked) gets its 408 below.
            State::ReadingHead if self.len == 0 && self.stash.is_empty() => {
                Next::Close(CloseReason::Timeout)
            }
            State::ReadingBody(b) if b.budget_wait => {
                let version = b.head.version();
                self.shared.log(
                    LogLevel::Warning,
                    format_args!(
                        "a request body waited too long for the memory budget; answering 503"
                    ),
                );
                let mut response = Response::new();
                response.return_service_unavailable();
                let _ = response.set_header("Retry-After", "5");
                let step = self.respond_and_close(conn, response, version);
                self.after(conn, step)
            }
            State::ReadingHead | State::ReadingBody(_) => {
                // A parked head comes back so that the 408 is logged with its request line.
                if self.slot.is_none() && !self.stash.is_empty() {
                    self.slot = conn.try_borrow_slot();
                }
                self.restore_stash();
                let step = self.fail(conn, HttpError::Timeout);
                self.after(conn, step)
            }
            State::Awaiting(deferred, facts) => {
                deferred.abandon();
                let version = facts.version;
                self.shared.log(
                    LogLevel::Warning,
                    format_args!("a deferred response was not answered in time; answering 503"),
                );
                let mut response = Response::new();
                response.return_service_unavailable();
                let step = self.respond_and_close(conn, response, version);
                self.after(conn, step)
            }
            State::Writing(_) | State::Lingering { .. } => Next::Close(CloseReason::Timeout),
            State::Upgraded(_) => Next::Close(CloseReason::Timeout),
        }
    }

    fn after(&mut self, conn: &mut Conn<'_>, step: Step) -> Next {
        match step {
            Step::Again => self.drive(conn),
            Step::Wait(next) => next,
        }
    }
}

/// The most body bytes one connection reads per turn of its event loop: a large upload from a
/// fast client does not hold up the other connections of the loop.
const BODY_READ_TURN: usize = 256 * 1024;

/// Stops reading until the budget grants a body its bytes (the client's TCP window fills
/// meanwhile), for up to `memory_wait_timeout` from when `waiting` was first set: that wait is
/// the server's, so it ends in 503, never 408.
fn wait_for_budget(conn: &mut Conn<'_>, shared: &ServerShared, waiting: &mut bool) -> Step {
    if !mem::replace(waiting, true) {
        conn.set_deadline(Some(Instant::now() + shared.config.memory_wait_timeout));
    }
    Step::Wait(Next::Idle)
}

/// Writes the answers gathered in `batch`; `None` once they are out (or there were none), else
/// the step to take (wait for the socket, or close).
fn flush(batch: &mut Batch, conn: &mut Conn<'_>, shared: &ServerShared) -> Option<Step> {
    if batch.is_empty() {
        return None;
    }
    match batch.write_to(conn) {
        Ok(()) => None,
        Err(e) if e.kind() == ErrorKind::WouldBlock => Some(wait_writable(conn, shared)),
        Err(e) => Some(Step::Wait(Next::Close(CloseReason::from_io(&e)))),
    }
}

/// Waits for the socket to take more, bounded by the request timeout.
fn wait_writable(conn: &mut Conn<'_>, shared: &ServerShared) -> Step {
    conn.set_deadline(Some(Instant::now() + shared.config.requests_timeout));
    Step::Wait(Next::Write)
}

/// Writes the response head; returns its length and whether the status forbids a body.
fn write_head(
    slot: &mut [u8],
    response: &Response,
    date: &HttpDate,
    framing: Framing,
    keep_alive: bool,
    facts: Facts,
) -> Result<(usize, bool), HttpError> {
    let status = response.status;
    let no_body = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut w = ResponseWriter::new(slot).head_request(facts.is_head);
    w.start(status, date)?;
    // The response's own fields were checked when they were set, so they are written as they
    // are; the headers a handler set by name are checked again on the way out.
    if let Some(ct) = &response.content_type {
        match &response.content_charset {
            Some(cs) => w.trusted_header(
                "Content-Type",
                &[ct.as_bytes(), b"; charset=", cs.as_bytes()],
            )?,
            None => w.trusted_header("Content-Type", &[ct.as_bytes()])?,
        };
    }
    if let Some(origin) = &response.access_control_allow_origin {
        w.trusted_header("Access-Control-Allow-Origin", &[origin.as_bytes()])?;
    }
    if let Some(upgrade) = &response.upgrade {
        w.trusted_header("Upgrade", &[upgrade.as_bytes()])?;
        w.trusted_header("Connection", &[b"Upgrade"])?;
    }
    if (status.is_success() || status == StatusCode::NOT_MODIFIED)
        && response.header("cache-control").is_none()
    {
        let cache: &[u8] = if response.allow_caching {
            b"public, max-age=0, must-revalidate"
        } else {
            b"no-cache, no-store, must-revalidate"
        };
        w.trusted_header("Cache-Control", &[cache])?;
    }
    for (name, value) in &response.headers {
        w.header(name, value.as_bytes())?;
    }
    for cookie in &response.cookies {
        w.header("Set-Cookie", cookie.as_bytes())?;
    }
    if response.upgrade.is_none() {
        w.framing(if no_body { Framing::NoBody } else { framing })?;
        w.connection(keep_alive, facts.version)?;
    }
    w.end_head()?;
    Ok((w.len(), no_body))
}

/// Fills the slot with the next piece of a streamed body (framed as a chunk when `chunked`).
/// Returns the bytes to send and whether the stream is finished.
fn refill(
    slot: &mut [u8],
    reader: &mut (dyn io::Read + Send),
    remaining: &mut Option<u64>,
    chunked: bool,
) -> io::Result<(Range<usize>, bool)> {
    if chunked {
        let tail = http::LAST_CHUNK.len() + 2;
        let data_end = slot.len().saturating_sub(tail);
        let Some(window) = slot.get_mut(CHUNK_HEAD_ROOM..data_end) else {
            return Err(io::Error::other("buffer slot too small for a chunk"));
        };
        let n = read_some(reader, window)?;
        if n == 0 {
            let last = http::LAST_CHUNK;
            slot[..last.len()].copy_from_slice(last);
            return Ok((0..last.len(), true));
        }
        return Ok((frame_chunk(slot, n), false));
    }
    let want = match *remaining {
        Some(0) => return Ok((0..0, true)),
        Some(r) => slot.len().min(usize::try_from(r).unwrap_or(usize::MAX)),
        None => slot.len(),
    };
    let n = read_some(reader, &mut slot[..want])?;
    match remaining {
        Some(r) => {
            if n == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "the stream ended before its announced length",
                ));
            }
            *r -= n as u64;
            Ok((0..n, *r == 0))
        }
        None => Ok((0..n, n == 0)),
    }
}

/// Frames `n` data bytes that sit at `slot[CHUNK_HEAD_ROOM..]` as one chunk; returns the range
/// to send.
fn frame_chunk(slot: &mut [u8], n: usize) -> Range<usize> {
    let header = ChunkHeader::new(n);
    let h = header.as_bytes();
    let start = CHUNK_HEAD_ROOM - h.len();
    slot[start..CHUNK_HEAD_ROOM].copy_from_slice(h);
    let end = CHUNK_HEAD_ROOM + n;
    slot[end..end + 2].copy_from_slice(b"\r\n");
    start..end + 2
}

/// Waits for a stream's next data (a wake) while reading the socket only to notice the client
/// leaving; whatever a client sends meanwhile is dropped.
fn watch_peer(conn: &mut Conn<'_>) -> Step {
    conn.set_deadline(None);
    let mut sink = [0u8; 512];
    loop {
        match conn.read(&mut sink) {
            Ok(0) => return Step::Wait(Next::Close(CloseReason::ByPeer)),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Wait(Next::Read),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Step::Wait(Next::Close(CloseReason::from_io(&e))),
        }
    }
}

fn read_some(reader: &mut (dyn io::Read + Send), buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl ConnHandler for HttpConnection {
    fn on_event(&mut self, conn: &mut Conn<'_>, event: ConnEvent) -> Next {
        if self.shared.is_forced() {
            return Next::Close(CloseReason::ByHost);
        }
        if let State::Upgraded(handler) = &mut self.state {
            return handler.on_event(conn, event);
        }
        match event {
            ConnEvent::TimedOut => self.on_timeout(conn),
            ConnEvent::Opened => {
                self.is_ssl = conn.is_tls();
                self.registration = Some(self.shared.register(conn.waker()));
                self.drive(conn)
            }
            _ => self.drive(conn),
        }
    }

    fn on_closed(&mut self, reason: CloseReason) {
        match &mut self.state {
            State::Awaiting(deferred, _) => deferred.abandon(),
            State::Upgraded(handler) => handler.on_closed(reason),
            State::Writing(Outgoing {
                pending: Pending::Stream { stream, .. },
                ..
            }) => stream.mark_gone(),
            _ => {}
        }
        self.slot = None;
        self.stash = Vec::new();
        if let Some(key) = self.registration.take() {
            self.shared.deregister(key);
        }
    }
}
