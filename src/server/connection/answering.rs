//! The handler's turn: a complete request through the pipeline (or an upload's sink) to the
//! start of its answer.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use ::http::StatusCode;

use super::observation::{Observation, RequestText};
use super::socket::Socket;
use super::{Facts, HttpConnection, State, Step};
use crate::http::{self, RequestHead};
use crate::pool::{CloseReason, Endpoint, Next, SlotGuard};
use crate::routing::{Resolution, RouteArgs};
#[cfg(feature = "metrics")]
use crate::server::metrics;
use crate::server::pipeline;
use crate::server::request::Request;
use crate::server::response::{Body, Response};
use crate::server::upload::BodySink;
use crate::server::web_server::LogLevel;

/// The next request's bytes stay in the slot, in front of the answer, while they take at most
/// this share of it (1/4: the answer keeps the rest); more are set aside in the stash.
const NEXT_IN_SLOT_SHARE: usize = 4;

impl HttpConnection {
    /// Runs the pipeline on a complete request and starts its response.
    ///
    /// The body is `slot[body]`, or `owned` when it was gathered in memory; bytes of the slot
    /// after `body.end` (or after the head, for an owned body) belong to the next request.
    pub(super) fn dispatch(
        &mut self,
        conn: &mut impl Socket,
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

    /// Takes the answer to `head` from `client`: keeps the bytes after `consumed` (the next
    /// request's) at the front of the slot, or sets them aside, puts the slot back, and starts
    /// sending.
    pub(super) fn answered(
        &mut self,
        conn: &mut impl Socket,
        head: &RequestHead,
        client: Endpoint,
        mut slot: SlotGuard,
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
        let next = slot.get(consumed..self.len).map_or(0, <[u8]>::len);
        if next > 0 && next <= slot.len() / NEXT_IN_SLOT_SHARE && response.deferred.is_none() {
            // The next request stays at the front of the slot; the answer is written after it.
            slot.copy_within(consumed..self.len, 0);
            self.len = next;
        } else {
            if next > 0 {
                self.set_aside(slot.get(consumed..self.len).unwrap_or_default());
            }
            self.len = 0;
        }
        self.continue_sent = false;
        self.slot = Some(slot);
        self.start_response(conn, response, facts)
    }

    /// Lets an upload's sink answer once its body has arrived; bytes after `consumed` belong to
    /// the next request.
    pub(super) fn finish_upload(
        &mut self,
        conn: &mut impl Socket,
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

    pub(super) fn start_response(
        &mut self,
        conn: &mut impl Socket,
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

    pub(super) fn check_answer(&mut self, conn: &mut impl Socket) -> Step {
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
}
