//! Reading a request: its head, a body larger than the slot or chunked, an upload's body, and
//! `100 Continue`.

use std::io;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use ::http::{StatusCode, Version};

use super::socket::{Io, Socket, io_outcome};
use super::writing::flush;
use super::{HttpConnection, State, Step};
use crate::http::{self, BodyDecoder, BodyEvent, BodyKind, HttpError, RequestHead, Status};
use crate::pool::{CloseReason, Next, Reservation};
use crate::routing::{Resolution, RouteArgs};
use crate::server::body_memory::Room;
use crate::server::body_store::{BodyStore, Finished};
use crate::server::pipeline;
use crate::server::request::Request;
use crate::server::response::Response;
use crate::server::upload::BodySink;
use crate::server::web_server::{LogLevel, ServerShared};
/// The most body bytes one connection reads per turn of its event loop: a large upload from a
/// fast client does not hold up the other connections of the loop.
const BODY_READ_TURN: usize = 256 * 1024;

/// A body being received: into memory (larger than the slot, or chunked), or piece by piece
/// into an upload's sink.
pub(super) struct BodyRead {
    pub(super) head: RequestHead,
    decoder: BodyDecoder,
    /// The body gathered in memory or spooled to a file (unused by an upload).
    body: BodyStore,
    sink: Option<Box<dyn BodySink>>,
    /// Where undecoded body bytes start in the slot (after the head).
    pos: usize,
    /// Set while the body waits for the memory budget (reading stopped).
    pub(super) budget_wait: bool,
    /// The whole body has arrived (a spooled one may still wait to be read back).
    complete: bool,
}

impl HttpConnection {
    /// Moves the part of a head read so far out of the slot into a copy charged to the memory
    /// budget, and returns the slot, while the client is silent: a thousand clients trickling
    /// their heads then hold a few bytes each of the budget instead of every slot. Keeps the slot
    /// when the budget cannot take the copy.
    pub(super) fn park_partial_head(&mut self) {
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

    /// Sets `bytes` (the next request's) aside in the stash, charged to the memory budget.
    pub(super) fn set_aside(&mut self, bytes: &[u8]) {
        self.stash.extend_from_slice(bytes);
        let capacity = self.stash.capacity();
        if self.stash_held.as_ref().map(Reservation::bytes) != Some(capacity) {
            self.stash_held = Some(self.shared.budget.charge(capacity));
        }
    }

    /// Moves the next request's bytes, kept at the front of the slot while an answer is
    /// written after them, to the stash: the answer needs the whole slot.
    pub(super) fn set_next_request_aside(&mut self) {
        if self.len == 0 {
            return;
        }
        let Some(slot) = self.slot.take() else {
            self.len = 0;
            return;
        };
        self.set_aside(slot.get(..self.len).unwrap_or_default());
        self.slot = Some(slot);
        self.len = 0;
    }

    /// Moves what the stash holds (the next pipelined request, or a parked partial head) to the
    /// start of the slot, once the connection holds one and has nothing in it. A small stash
    /// keeps its buffer and reservation for the next time.
    pub(super) fn restore_stash(&mut self) {
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

    /// Reads until a head is complete, then dispatches it. The head is parsed into `head`
    /// (whatever it held before), in place: it is not moved per request.
    pub(super) fn read_request(&mut self, conn: &mut impl Socket, head: &mut RequestHead) -> Step {
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
                match http::parse_head_into(input, &self.shared.limits, head) {
                    Ok(Status::Complete(())) => {
                        self.head_deadline = None;
                        if let Some(step) = self.on_head(conn, head) {
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
            match io_outcome(|| conn.read(spare)) {
                Io::Moved(n) => {
                    self.len += n;
                    self.read_total += n as u64;
                    self.drained = n < room;
                }
                Io::Ended(reason) => return Step::Wait(Next::Close(reason)),
                Io::Blocked => {
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
            }
        }
    }

    /// Decides what a complete head needs; `None` means "read more, then parse again" (a small
    /// body not fully arrived).
    pub(super) fn on_head(&mut self, conn: &mut impl Socket, head: &RequestHead) -> Option<Step> {
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
    pub(super) fn try_upload(
        &mut self,
        conn: &mut impl Socket,
        head: &RequestHead,
    ) -> Option<Step> {
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
    pub(super) fn maybe_continue(
        &mut self,
        conn: &mut impl Socket,
        head: &RequestHead,
    ) -> Option<Step> {
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
    pub(super) fn send_continue(
        &mut self,
        conn: &mut impl Socket,
        head: &RequestHead,
    ) -> Option<Step> {
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
    pub(super) fn read_body(&mut self, conn: &mut impl Socket) -> Step {
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
                    match io_outcome(|| conn.read(spare)) {
                        Io::Moved(n) => {
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
                        Io::Blocked => {
                            let timeout = self.shared.config.requests_timeout;
                            conn.set_deadline(Some(Instant::now() + timeout));
                            return Step::Wait(Next::Read);
                        }
                        Io::Ended(reason) => return Step::Wait(Next::Close(reason)),
                    }
                }
                Err(e) => return self.fail(conn, e),
            }
        }
    }

    /// Hands a complete body to its upload sink or to the pipeline; a spooled body is read back
    /// first, once the budget grants its length (until then the connection waits, as for room).
    pub(super) fn finish_body(&mut self, conn: &mut impl Socket) -> Step {
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
    pub(super) fn spool_failed(
        &mut self,
        conn: &mut impl Socket,
        version: Version,
        e: &io::Error,
    ) -> Step {
        self.shared.log(
            LogLevel::Error,
            format_args!("cannot spool a request body to disk ({e}); answering 500"),
        );
        let mut response = Response::new();
        response.return_internal_server_error();
        self.respond_and_close(conn, response, version)
    }
}

/// Stops reading until the budget grants a body its bytes (the client's TCP window fills
/// meanwhile), for up to `memory_wait_timeout` from when `waiting` was first set: that wait is
/// the server's, so it ends in 503, never 408.
pub(super) fn wait_for_budget(
    conn: &mut impl Socket,
    shared: &ServerShared,
    waiting: &mut bool,
) -> Step {
    if !mem::replace(waiting, true) {
        conn.set_deadline(Some(Instant::now() + shared.config.memory_wait_timeout));
    }
    Step::Wait(Next::Idle)
}
