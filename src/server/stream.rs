//! Response streams that other threads write into over time (from uHTTP): live data,
//! Server-Sent Events, NDJSON and `multipart/x-mixed-replace` (MJPEG-style).
//!
//! A handler calls [`Response::response_stream`](super::Response::response_stream) (or one of its
//! typed variants) and gives the returned [`ResponseStream`] to whatever produces the data. The
//! connection sends what is queued, chunk by chunk through its slot, and waits (holding no
//! thread) while the queue is empty. Writes are bounded: past [`MAX_STREAM_QUEUE_BYTES`] unsent bytes a
//! write reports [`StreamError::Full`] instead of growing memory. A client that went away is
//! reported by the next write ([`StreamError::Closed`]).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::pool::{MemoryBudget, Reservation, Waker};

/// The most bytes a stream queues before writes report back-pressure.
pub const MAX_STREAM_QUEUE_BYTES: usize = 256 * 1024;

/// Why a stream write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// The stream is closed: by [`ResponseStream::close`], or because the client went away.
    Closed,
    /// The client reads more slowly than the data comes: [`MAX_STREAM_QUEUE_BYTES`] are waiting.
    Full,
    /// An SSE field (event name, id) holds CR or LF, which would break the framing.
    InvalidField,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamError::Closed => "the stream is closed",
            StreamError::Full => "the stream's queue is full",
            StreamError::InvalidField => "an event field holds a line break",
        })
    }
}

impl std::error::Error for StreamError {}

#[derive(Default)]
struct State {
    queue: VecDeque<Vec<u8>>,
    queued: usize,
    /// The writer closed the stream: send what is queued, then end the body.
    finished: bool,
    /// The connection is gone: refuse every write.
    gone: bool,
    waker: Option<Waker>,
    /// The server's memory budget, once a connection sends the stream: what is queued beyond
    /// [`CHARGE_STEP`] is charged to it.
    budget: Option<MemoryBudget>,
    /// What the queue holds of the budget (in steps of [`CHARGE_STEP`]).
    held: Option<Reservation>,
}

/// Queued bytes are charged to the memory budget in steps of this size: a stream that keeps up
/// costs nothing, and a queue that grows costs one budget lock per step.
const CHARGE_STEP: usize = 16 * 1024;

impl State {
    /// Charges (or gives back) whole steps so that what is held covers `queued`.
    fn account(&mut self) {
        let Some(budget) = &self.budget else {
            return;
        };
        let held = self.held.as_ref().map_or(0, Reservation::bytes);
        let want = self.queued.div_ceil(CHARGE_STEP) * CHARGE_STEP;
        if want > held {
            let more = budget.charge(want - held);
            match &mut self.held {
                Some(h) => h.merge(more),
                None => self.held = Some(more),
            }
        } else if want + CHARGE_STEP <= held {
            // Given back a step late, so a queue that hovers at a step's edge does not lock
            // the budget on every write.
            match &mut self.held {
                Some(h) if want > 0 => h.shrink_to(want),
                _ => self.held = None,
            }
        }
    }
}

/// A response body written over time from any thread. Clone it freely.
#[derive(Clone, Default)]
pub struct ResponseStream {
    state: Arc<Mutex<State>>,
    boundary: Option<Arc<str>>,
}

impl fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        f.debug_struct("ResponseStream")
            .field("queued", &s.queued)
            .field("finished", &s.finished)
            .field("gone", &s.gone)
            .finish()
    }
}

impl ResponseStream {
    pub(crate) fn new(boundary: Option<&str>) -> ResponseStream {
        ResponseStream {
            state: Arc::default(),
            boundary: boundary.map(Arc::from),
        }
    }

    /// Queues bytes for the client.
    ///
    /// # Errors
    /// [`StreamError::Closed`] when the stream was closed or the client went away;
    /// [`StreamError::Full`] when too many bytes already wait (nothing is queued then).
    pub fn write(&self, bytes: &[u8]) -> Result<(), StreamError> {
        self.write_parts(&[bytes])
    }

    fn write_parts(&self, parts: &[&[u8]]) -> Result<(), StreamError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len == 0 {
            return Ok(());
        }
        let waker = {
            let mut s = self.state.lock();
            if s.gone || s.finished {
                return Err(StreamError::Closed);
            }
            if s.queued + len > MAX_STREAM_QUEUE_BYTES {
                return Err(StreamError::Full);
            }
            s.queue.push_back(parts.concat());
            s.queued += len;
            s.account();
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Sends a Server-Sent Event: `data` as text (each line a `data:` line) when it is a JSON
    /// string, as JSON otherwise; with an optional event name, id and reconnection delay.
    ///
    /// # Errors
    /// As [`ResponseStream::write`], and [`StreamError::InvalidField`] when `event` or `id`
    /// holds a line break.
    pub fn send_event(
        &self,
        data: impl Into<serde_json::Value>,
        event: Option<&str>,
        id: Option<&str>,
        retry: Option<Duration>,
    ) -> Result<(), StreamError> {
        let breaks = |s: &str| s.contains(['\r', '\n']);
        if event.is_some_and(breaks) || id.is_some_and(breaks) {
            return Err(StreamError::InvalidField);
        }
        let mut out = String::new();
        if let Some(event) = event {
            out.push_str("event: ");
            out.push_str(event);
            out.push('\n');
        }
        if let Some(id) = id {
            out.push_str("id: ");
            out.push_str(id);
            out.push('\n');
        }
        if let Some(retry) = retry {
            out.push_str(&format!("retry: {}\n", retry.as_millis()));
        }
        let text = match data.into() {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        // The SSE parser splits on CRLF, LF and CR alike.
        for line in text.split("\r\n").flat_map(|l| l.split(['\n', '\r'])) {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        self.write(out.as_bytes())
    }

    /// Sends an SSE comment (`: text`), e.g. as a keep-alive ping that clients ignore.
    ///
    /// # Errors
    /// As [`ResponseStream::write`]; [`StreamError::InvalidField`] for a line break.
    pub fn send_comment(&self, text: &str) -> Result<(), StreamError> {
        if text.contains(['\r', '\n']) {
            return Err(StreamError::InvalidField);
        }
        self.write_parts(&[b": ", text.as_bytes(), b"\n\n"])
    }

    /// Sends one NDJSON line: the value as JSON, then `\n`.
    ///
    /// # Errors
    /// As [`ResponseStream::write`].
    pub fn send_json_line<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), StreamError> {
        let mut line = serde_json::to_vec(value).map_err(|_| StreamError::InvalidField)?;
        line.push(b'\n');
        self.write(&line)
    }

    /// Sends one part of a `multipart/x-mixed-replace` stream (one frame of an MJPEG stream).
    ///
    /// # Errors
    /// As [`ResponseStream::write`]; [`StreamError::InvalidField`] when the stream was not made
    /// with [`Response::multipart_stream`](super::Response::multipart_stream) or the content type
    /// holds a line break.
    pub fn send_part(&self, content_type: &str, bytes: &[u8]) -> Result<(), StreamError> {
        let Some(boundary) = &self.boundary else {
            return Err(StreamError::InvalidField);
        };
        if content_type.contains(['\r', '\n']) {
            return Err(StreamError::InvalidField);
        }
        let head = format!(
            "--{boundary}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            bytes.len()
        );
        self.write_parts(&[head.as_bytes(), bytes, b"\r\n"])
    }

    /// Ends the stream: what is queued is sent, then the body ends (the connection may serve
    /// the next request).
    pub fn close(&self) {
        let waker = {
            let mut s = self.state.lock();
            s.finished = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Returns true once the stream is closed or the client went away.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        let s = self.state.lock();
        s.gone || s.finished
    }

    /// Takes up to `max` queued bytes into `out`; returns how many, and whether the stream is
    /// over (finished and drained). With nothing queued and the stream open, registers `waker`.
    pub(crate) fn take(&self, out: &mut [u8], waker: impl FnOnce() -> Waker) -> (usize, bool) {
        let mut s = self.state.lock();
        let mut n = 0;
        while n < out.len() {
            let Some(front) = s.queue.front_mut() else {
                break;
            };
            let k = front.len().min(out.len() - n);
            out[n..n + k].copy_from_slice(&front[..k]);
            n += k;
            if k == front.len() {
                s.queue.pop_front();
            } else {
                front.drain(..k);
            }
        }
        s.queued -= n;
        s.account();
        let over = s.finished && s.queue.is_empty();
        if n == 0 && !over && s.waker.is_none() {
            s.waker = Some(waker());
        }
        (n, over)
    }

    /// Marks the stream as gone (the connection closed): later writes are refused.
    pub(crate) fn mark_gone(&self) {
        let mut s = self.state.lock();
        s.gone = true;
        s.queue.clear();
        s.queued = 0;
        s.waker = None;
        s.held = None;
    }

    /// Charges what this stream queues to `budget` from now on (the connection sending it calls
    /// this).
    pub(crate) fn charge_to(&self, budget: &MemoryBudget) {
        let mut s = self.state.lock();
        s.budget = Some(budget.clone());
        s.account();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(s: &ResponseStream) -> String {
        let mut buf = [0u8; 4096];
        let mut out = Vec::new();
        loop {
            let (n, _) = s.take(&mut buf, || unreachable!("data is queued"));
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if s.state.lock().queue.is_empty() {
                break;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn what_waits_in_the_queue_is_charged_to_the_budget_in_steps() {
        let budget = MemoryBudget::new(1 << 20);
        let s = ResponseStream::new(None);
        s.write(&[1; 100]).unwrap();
        s.charge_to(&budget);
        assert_eq!(budget.stats().in_use, CHARGE_STEP);
        s.write(&[2; 40_000]).unwrap();
        assert_eq!(budget.stats().in_use, 3 * CHARGE_STEP);
        let mut buf = vec![0u8; 5_000];
        let _ = s.take(&mut buf, || unreachable!("data is queued"));
        assert_eq!(
            budget.stats().in_use,
            3 * CHARGE_STEP,
            "35,100 queued: three steps"
        );
        let mut buf = vec![0u8; 30_000];
        let _ = s.take(&mut buf, || unreachable!("data is queued"));
        assert_eq!(budget.stats().in_use, CHARGE_STEP, "5,100 queued: one step");
        let _ = s.take(&mut buf, || unreachable!("data is queued"));
        assert_eq!(budget.stats().in_use, 0);
        s.write(&[3; 20_000]).unwrap();
        assert_eq!(budget.stats().in_use, 2 * CHARGE_STEP);
        s.mark_gone();
        assert_eq!(budget.stats().in_use, 0);
    }

    #[test]
    fn formats_events_with_fields_and_multiline_data() {
        let s = ResponseStream::new(None);
        s.send_event(
            "one\ntwo",
            Some("tick"),
            Some("7"),
            Some(Duration::from_secs(3)),
        )
        .unwrap();
        s.send_event(serde_json::json!({"a": 1}), None, None, None)
            .unwrap();
        s.send_comment("ping").unwrap();
        assert_eq!(
            drain(&s),
            "event: tick\nid: 7\nretry: 3000\ndata: one\ndata: two\n\ndata: {\"a\":1}\n\n: ping\n\n"
        );
        assert_eq!(
            s.send_event("x", Some("a\nb"), None, None),
            Err(StreamError::InvalidField)
        );
    }

    #[test]
    fn refuses_writes_past_the_bound_and_after_close() {
        let s = ResponseStream::new(None);
        s.write(&vec![0u8; MAX_STREAM_QUEUE_BYTES]).unwrap();
        assert_eq!(s.write(b"x"), Err(StreamError::Full));
        s.close();
        assert_eq!(s.write(b"x"), Err(StreamError::Closed));
        let s = ResponseStream::new(None);
        s.mark_gone();
        assert_eq!(s.send_json_line(&1), Err(StreamError::Closed));
        assert!(s.is_closed());
    }

    #[test]
    fn frames_multipart_parts() {
        let s = ResponseStream::new(Some("frame"));
        s.send_part("image/jpeg", b"JPEG").unwrap();
        assert_eq!(
            drain(&s),
            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\n\r\nJPEG\r\n"
        );
        assert_eq!(
            ResponseStream::new(None).send_part("a/b", b""),
            Err(StreamError::InvalidField)
        );
    }
}
