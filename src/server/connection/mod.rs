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
//! is written into the same slot once the handler has run. Bytes of a pipelined next request
//! that arrived with the current one stay at the front of the slot, the answer written after
//! them, while they take at most a quarter of it and the answer lies whole in memory; else they
//! are set aside (the stash) meanwhile. A body larger than the slot is gathered in memory
//! bounded by `max_request_content_length`.
//!
//! The machine is split by what each part owns: [`reading`] the request (head, body, upload,
//! `100 Continue`), [`answering`] the handler's turn, [`encode`] the response head and what of
//! the body fits the slot, [`writing`] the rest of it and the close, [`observation`] what the
//! access log and the metrics see. The socket is behind [`socket::Socket`], so the machine runs
//! in unit tests against a scripted peer.

mod answering;
mod encode;
mod observation;
mod reading;
mod socket;
#[cfg(test)]
mod tests;
mod writing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ::http::Version;

use super::batch::Batch;
use super::deferred::DeferredResponse;
use super::request::Origin;
use super::response::Response;
use super::web_server::{LogLevel, ServerShared};
use crate::http::{HttpError, RequestHead};
use crate::pool::{
    CloseReason, Conn, ConnEvent, ConnHandler, ConnInfo, Endpoint, Next, Reservation, SlotGuard,
};
use observation::Observation;
use reading::BodyRead;
use socket::Socket;
use writing::{Outgoing, Pending, flush};

/// What the answer needs to know about the request once the request is gone.
#[derive(Debug, Clone, Copy)]
struct Facts {
    version: Version,
    is_head: bool,
    keep_alive: bool,
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
    /// The client's close, after ours (see [`writing::LINGER`]).
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
    is_tls: bool,
    /// INVARIANT: `len > 0` implies `slot.is_some()`.
    slot: Option<SlotGuard>,
    /// Received bytes at `slot[..len]`: the request being read, or, while an answer is written
    /// after them (`Writing`), the next pipelined request's.
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

impl HttpConnection {
    /// Who sent the request `head`: the peer, or the client a trusted proxy names.
    fn origin(&self, head: &RequestHead, raw: &[u8]) -> Origin {
        Origin::of(
            &self.shared.config.trusted_proxies,
            self.peer,
            self.proxied_source,
            self.is_tls,
            head,
            raw,
        )
    }

    pub(crate) fn new(shared: Arc<ServerShared>, info: &ConnInfo) -> HttpConnection {
        HttpConnection {
            shared,
            peer: info.peer_addr,
            proxied_source: info.proxied_source,
            is_tls: false,
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

    fn drive(&mut self, conn: &mut impl Socket) -> Next {
        if self.shared.is_forced() {
            return Next::Close(CloseReason::ByHost);
        }
        // One head parsed into for every request of this turn (pipelined ones too): it is
        // about a kilobyte, not worth clearing per request.
        let mut head: Option<RequestHead> = None;
        loop {
            let step = match self.state {
                State::ReadingHead => {
                    self.read_request(conn, head.get_or_insert_with(RequestHead::default))
                }
                State::ReadingBody(_) => self.read_body(conn),
                State::Awaiting(..) => self.check_answer(conn),
                State::Writing(_) => self.write_response(conn),
                State::Lingering { .. } => self.linger(conn),
                State::Upgraded(ref mut handler) => {
                    return conn.hand_over(handler.as_mut(), ConnEvent::Readable);
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

    /// Answers a protocol error with its status, then closes.
    fn fail(&mut self, conn: &mut impl Socket, error: HttpError) -> Step {
        let mut response = Response::new();
        response.return_error_page(error.status(), Some(&error.to_string()));
        self.respond_and_close(conn, response, Version::HTTP_11)
    }

    /// Sends `response` and closes the connection after it.
    fn respond_and_close(
        &mut self,
        conn: &mut impl Socket,
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

    fn on_timeout(&mut self, conn: &mut impl Socket) -> Next {
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

    fn after(&mut self, conn: &mut impl Socket, step: Step) -> Next {
        match step {
            Step::Again => self.drive(conn),
            Step::Wait(next) => next,
        }
    }

    /// Takes one event of the connection's socket.
    fn on_socket_event(&mut self, conn: &mut impl Socket, event: ConnEvent) -> Next {
        if self.shared.is_forced() {
            return Next::Close(CloseReason::ByHost);
        }
        if let State::Upgraded(handler) = &mut self.state {
            return conn.hand_over(handler.as_mut(), event);
        }
        match event {
            ConnEvent::TimedOut => self.on_timeout(conn),
            ConnEvent::Opened => {
                self.is_tls = conn.is_tls();
                self.registration = Some(self.shared.register(conn.waker()));
                self.drive(conn)
            }
            _ => self.drive(conn),
        }
    }
}

impl ConnHandler for HttpConnection {
    fn on_event(&mut self, conn: &mut Conn<'_>, event: ConnEvent) -> Next {
        self.on_socket_event(conn, event)
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
