//! A response into the slot: its head, and what of its body fits after it; the rest is left
//! [`Pending`] for [`super::writing`].

use std::io::{self, Read};
use std::mem;

use super::writing::{Outgoing, Pending};
use super::{Facts, HttpConnection, State, Step};
use crate::http::{self, Framing, HttpDate, HttpError, ResponseWriter};
use crate::pool::{CloseReason, MemoryBudget, Next, Reservation};
use crate::server::date::current_date;
use crate::server::response::{Body, Response};
use crate::server::web_server::LogLevel;

impl HttpConnection {
    /// Writes the response head (and a body that fits) into the slot and starts sending. The
    /// answer goes after the next request's bytes when the slot holds some (`slot[..len]`);
    /// they are set aside first when the head does not fit after them, and after when the
    /// body needs the whole slot (a reader, a stream, a file through the slot) or the
    /// connection is taken over.
    pub(super) fn serialize(&mut self, response: &mut Response, facts: Facts) -> Step {
        let date = current_date();
        let len = response.content_length.or_else(|| response.body.len());
        let framing = http::response_framing(facts.version, len);
        let keep_alive = facts.keep_alive
            && !response.close
            && framing != Framing::UntilClose
            && !self.shared.is_draining();
        let (base, head_len) = loop {
            let base = self.len;
            let Some(slot) = self.slot.as_mut() else {
                return Step::Wait(Next::Close(CloseReason::ByHost));
            };
            let room = slot.get_mut(base..).unwrap_or_default();
            match write_head(room, response, &date, framing, keep_alive, facts) {
                Ok(n) => break (base, n),
                Err(_) if base > 0 => self.set_next_request_aside(),
                Err(e) => {
                    self.shared.log(
                        LogLevel::Error,
                        format_args!("cannot write the response head ({e}); answering 500"),
                    );
                    let n = http::write_error_response(slot, HttpError::ResponseBufferFull, &date)
                        .unwrap_or(0);
                    self.state = State::Writing(Outgoing::of_slot(n, false));
                    return Step::Again;
                }
            }
        };
        if let Some(observed) = self.observed.as_deref_mut() {
            observed.status = response.status.as_u16();
            observed.head_len = head_len as u64;
        }
        let body = mem::replace(&mut response.body, Body::Empty);
        let body = if facts.is_head || !http::status_carries_body(response.status) {
            if let Body::Stream(stream) = &body {
                stream.mark_gone();
            }
            Body::Empty
        } else {
            body
        };
        let Some(slot) = self.slot.as_mut() else {
            return Step::Wait(Next::Close(CloseReason::ByHost));
        };
        let room = slot.get_mut(base..).unwrap_or_default();
        let (end, pending, held) =
            match place_body(room, head_len, body, framing, &self.shared.budget) {
                Ok(placed) => placed,
                Err(e) => return self.close_failed_body(&e),
            };
        if pending.refills_slot() || response.takeover.is_some() {
            self.set_next_request_aside();
        }
        response.headers_sent = true;
        self.state = State::Writing(Outgoing {
            pos: base,
            end: base + end,
            pending,
            keep_alive,
            on_sent: response.on_sent.take(),
            takeover: response.takeover.take(),
            _held: held,
        });
        Step::Again
    }
}

/// Puts what of `body` fits into `slot` after the head (which ends at `end`); returns where the
/// slot's bytes end, what is left to send after them, and what that holds of the budget.
///
/// # Errors
///
/// A reader or a file that fails (or ends early) while its first bytes are read.
fn place_body(
    slot: &mut [u8],
    mut end: usize,
    body: Body,
    framing: Framing,
    budget: &MemoryBudget,
) -> io::Result<(usize, Pending, Option<Reservation>)> {
    let room = slot.len() - end;
    let mut held = None;
    let mut copy = |bytes: &[u8]| {
        slot[end..end + bytes.len()].copy_from_slice(bytes);
        end += bytes.len();
        Pending::None
    };
    let pending = match body {
        Body::Empty => Pending::None,
        Body::Static(b) if b.len() <= room => copy(b),
        Body::Bytes(b) if b.len() <= room => copy(&b),
        Body::Shared(b) if b.len() <= room => copy(&b),
        Body::Static(b) => Pending::Static(b, 0),
        Body::Bytes(mut b) => {
            // Already allocated by the handler: accounted while a slow reader drains it, so
            // that no new body is admitted past the budget meanwhile. Spare capacity left by
            // a growing serializer is given back first (a shrink of a large block is cheap).
            if b.capacity() - b.len() > room {
                b.shrink_to_fit();
            }
            held = Some(budget.charge(b.capacity()));
            Pending::Bytes(b, 0)
        }
        Body::Shared(b) => Pending::Shared(b, 0),
        // A small file goes out with its head, in one write.
        Body::Reader {
            mut reader,
            len: Some(n),
        } if n <= room as u64 => {
            let n = n as usize;
            reader.read_exact(&mut slot[end..end + n])?;
            end += n;
            Pending::None
        }
        Body::File(mut range) if range.remaining() <= room as u64 => {
            let n = range.remaining() as usize;
            range.read_exact(&mut slot[end..end + n])?;
            end += n;
            Pending::None
        }
        // A large one: its first bytes fill the slot after the head, the rest follows.
        Body::File(mut range) => {
            range.read_exact(&mut slot[end..])?;
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
            stream.charge_to(budget);
            Pending::Stream {
                stream,
                chunked: framing == Framing::Chunked,
                finished: false,
            }
        }
    };
    Ok((end, pending, held))
}

/// Writes the response head; returns its length.
fn write_head(
    slot: &mut [u8],
    response: &Response,
    date: &HttpDate,
    framing: Framing,
    keep_alive: bool,
    facts: Facts,
) -> Result<usize, HttpError> {
    let status = response.status;
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
    if response.header("cache-control").is_none() {
        if let Some(cache) = http::default_cache_control(status, response.allow_caching) {
            w.trusted_header("Cache-Control", &[cache.as_bytes()])?;
        }
    }
    for (name, value) in &response.headers {
        w.header(name, value.as_bytes())?;
    }
    for cookie in &response.cookies {
        w.header("Set-Cookie", cookie.as_bytes())?;
    }
    if response.upgrade.is_none() {
        let framing = if http::status_carries_body(status) {
            framing
        } else {
            Framing::NoBody
        };
        w.framing(framing)?;
        w.connection(keep_alive, facts.version)?;
    }
    w.end_head()?;
    Ok(w.len())
}
