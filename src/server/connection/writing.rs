//! Sending a response: the slot, then the rest of the body (in memory, a reader, a file through
//! `sendfile`, a stream); then the next request, a takeover, or the close and its linger.

use std::io::{self, ErrorKind, IoSlice};
use std::mem;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::socket::{Io, Socket, io_outcome};
use super::{HttpConnection, State, Step};
use crate::http;
use crate::pool::{CloseReason, ConnEvent, Next, Reservation};
use crate::server::batch::Batch;
use crate::server::file_body::FileRange;
use crate::server::response::{Handover, OnSent, Takeover};
use crate::server::stream::ResponseStream;
use crate::server::web_server::{LogLevel, ServerShared};
/// How long a closing connection keeps reading (and dropping) what the client still sends, so
/// the client reads the final response before the close (a close with unread input would reset
/// the connection and could destroy the response in flight).
pub(super) const LINGER: Duration = Duration::from_secs(2);

/// The most bytes a closing connection drops before it closes anyway.
const LINGER_MAX_BYTES: usize = 1 << 20;

/// The most bytes one `sendfile` call is asked for (it sends what the socket takes, and the
/// connection calls again until the socket is full).
pub(super) const SENDFILE_BYTES: usize = 1 << 20;

/// The rest of a response body, after the bytes already in the slot.
pub(super) enum Pending {
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
    pub(super) fn in_memory(&self) -> Option<&[u8]> {
        match self {
            Pending::Static(b, off) => b.get(*off..),
            Pending::Bytes(b, off) => b.get(*off..),
            Pending::Shared(b, off) => b.get(*off..),
            _ => None,
        }
    }

    /// Whether a body sent piece by piece has handed out its last piece (it is done once the
    /// slot's bytes are out).
    fn is_finished(&self) -> bool {
        match self {
            Pending::Reader { finished, .. } | Pending::Stream { finished, .. } => *finished,
            Pending::File { range, .. } => range.remaining() == 0,
            _ => false,
        }
    }

    /// Whether sending the rest refills the slot (a reader, a stream, a file through the slot):
    /// nothing else may wait in it meanwhile.
    pub(super) fn refills_slot(&self) -> bool {
        !matches!(self, Pending::None) && self.in_memory().is_none()
    }

    /// Counts `n` more bytes of an in-memory body as sent.
    pub(super) fn advance(&mut self, n: usize) {
        if let Pending::Static(_, off) | Pending::Bytes(_, off) | Pending::Shared(_, off) = self {
            *off += n;
        }
    }
}

/// A response on its way out: `slot[pos..end]`, then `pending`.
pub(super) struct Outgoing {
    pub(super) pos: usize,
    pub(super) end: usize,
    pub(super) pending: Pending,
    pub(super) keep_alive: bool,
    pub(super) on_sent: Option<OnSent>,
    pub(super) takeover: Option<Takeover>,
    /// What an owned body beyond the slot holds of the memory budget while it is sent.
    pub(super) _held: Option<Reservation>,
}

impl Outgoing {
    /// An answer that lies whole in `slot[..end]`.
    pub(super) fn of_slot(end: usize, keep_alive: bool) -> Outgoing {
        Outgoing {
            pos: 0,
            end,
            pending: Pending::None,
            keep_alive,
            on_sent: None,
            takeover: None,
            _held: None,
        }
    }
}

impl HttpConnection {
    /// Sends what is in the slot, then the rest of the body; at the end, prepares the next
    /// request or the close.
    pub(super) fn write_response(&mut self, conn: &mut impl Socket) -> Step {
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
        let more = self.len > 0 || !self.stash.is_empty();
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
                    Some(rest) => io_outcome(|| {
                        conn.write_vectored(&[IoSlice::new(head), IoSlice::new(rest)])
                    }),
                    None => io_outcome(|| conn.write(head)),
                };
                match written {
                    Io::Moved(n) => {
                        self.written_total += n as u64;
                        let of_head = n.min(out.end - out.pos);
                        out.pos += of_head;
                        out.pending.advance(n - of_head);
                    }
                    Io::Blocked => return wait_writable(conn, &self.shared),
                    Io::Ended(reason) => return Step::Wait(Next::Close(reason)),
                }
                continue;
            }
            // The rest of an in-memory body goes out straight from where it lies.
            if let Some(rest) = out.pending.in_memory() {
                if rest.is_empty() {
                    out.pending = Pending::None; // sent along with the head
                    continue;
                }
                match io_outcome(|| conn.write(rest)) {
                    Io::Moved(n) => {
                        self.written_total += n as u64;
                        out.pending.advance(n);
                    }
                    Io::Blocked => return wait_writable(conn, &self.shared),
                    Io::Ended(reason) => return Step::Wait(Next::Close(reason)),
                }
                continue;
            }
            if out.pending.is_finished() {
                out.pending = Pending::None;
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
                } => match refill(slot, reader.as_mut(), remaining, *chunked) {
                    Ok((range, done)) => {
                        out.pos = range.start;
                        out.end = range.end;
                        *finished = done;
                    }
                    Err(e) => return self.close_failed_body(&e),
                },
                Pending::File { range, zero_copy } => {
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
                    if self.shared.is_draining() {
                        // The server is stopping: what is queued goes out, then the last chunk.
                        stream.close();
                    }
                    let start = if *chunked { http::CHUNK_HEAD_ROOM } else { 0 };
                    let end = slot.len().saturating_sub(http::LAST_CHUNK.len() + 2);
                    let window = slot.get_mut(start..end).unwrap_or_default();
                    let (n, over) = stream.take(window, || conn.waker());
                    if n > 0 {
                        let range = if *chunked {
                            match http::frame_chunk_in_place(slot, n) {
                                Ok(range) => range,
                                Err(_) => return Step::Wait(Next::Close(CloseReason::ByHost)),
                            }
                        } else {
                            0..n
                        };
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
    pub(super) fn close_failed_body(&self, e: &io::Error) -> Step {
        self.shared.log(
            LogLevel::Error,
            format_args!("a response body failed: {e}; closing"),
        );
        Step::Wait(Next::Close(CloseReason::ByHost))
    }

    pub(super) fn finish_response(&mut self, conn: &mut impl Socket) -> Step {
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
            let next = conn.hand_over(handler.as_mut(), ConnEvent::Opened);
            self.state = State::Upgraded(handler);
            return Step::Wait(next);
        }
        if !out.keep_alive || self.shared.is_draining() {
            return self.start_linger(conn);
        }
        if self.len > 0 {
            // The next request is at the front of the slot already.
        } else if !self.stash.is_empty() {
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
    pub(super) fn start_linger(&mut self, conn: &mut impl Socket) -> Step {
        self.stash = Vec::new();
        self.stash_held = None;
        self.len = 0;
        if conn.shutdown().is_err() {
            return Step::Wait(Next::Close(CloseReason::ByHost));
        }
        conn.set_deadline(Some(Instant::now() + LINGER));
        self.state = State::Lingering { dropped: 0 };
        Step::Again
    }

    pub(super) fn linger(&mut self, conn: &mut impl Socket) -> Step {
        let State::Lingering { dropped } = &mut self.state else {
            return Step::Again;
        };
        self.slot = None;
        let mut sink = [0u8; 2048];
        loop {
            match io_outcome(|| conn.read(&mut sink)) {
                Io::Moved(n) => {
                    *dropped += n;
                    if *dropped > LINGER_MAX_BYTES {
                        return Step::Wait(Next::Close(CloseReason::ByHost));
                    }
                }
                Io::Blocked => return Step::Wait(Next::Read),
                // The client's close, or a failure: ours either way.
                Io::Ended(_) => return Step::Wait(Next::Close(CloseReason::ByHost)),
            }
        }
    }
}

/// Writes the answers gathered in `batch`; `None` once they are out (or there were none), else
/// the step to take (wait for the socket, or close).
pub(super) fn flush(
    batch: &mut Batch,
    conn: &mut impl Socket,
    shared: &ServerShared,
) -> Option<Step> {
    if batch.is_empty() {
        return None;
    }
    match batch.write_to(|bytes| conn.write(bytes)) {
        Ok(()) => None,
        Err(e) if e.kind() == ErrorKind::WouldBlock => Some(wait_writable(conn, shared)),
        Err(e) => Some(Step::Wait(Next::Close(CloseReason::from_io(&e)))),
    }
}

/// Waits for the socket to take more, bounded by the request timeout.
pub(super) fn wait_writable(conn: &mut impl Socket, shared: &ServerShared) -> Step {
    conn.set_deadline(Some(Instant::now() + shared.config.requests_timeout));
    Step::Wait(Next::Write)
}

/// Fills the slot with the next piece of a streamed body (framed as a chunk when `chunked`).
/// Returns the bytes to send and whether the stream is finished.
pub(super) fn refill(
    slot: &mut [u8],
    reader: &mut (dyn io::Read + Send),
    remaining: &mut Option<u64>,
    chunked: bool,
) -> io::Result<(Range<usize>, bool)> {
    if chunked {
        let tail = http::LAST_CHUNK.len() + 2;
        let data_end = slot.len().saturating_sub(tail);
        let Some(window) = slot.get_mut(http::CHUNK_HEAD_ROOM..data_end) else {
            return Err(io::Error::other("buffer slot too small for a chunk"));
        };
        let n = read_some(reader, window)?;
        if n == 0 {
            let last = http::LAST_CHUNK;
            slot[..last.len()].copy_from_slice(last);
            return Ok((0..last.len(), true));
        }
        let range = http::frame_chunk_in_place(slot, n).map_err(io::Error::other)?;
        return Ok((range, false));
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

/// Waits for a stream's next data (a wake) while reading the socket only to notice the client
/// leaving; whatever a client sends meanwhile is dropped.
pub(super) fn watch_peer(conn: &mut impl Socket) -> Step {
    conn.set_deadline(None);
    let mut sink = [0u8; 512];
    loop {
        match io_outcome(|| conn.read(&mut sink)) {
            Io::Moved(_) => {}
            Io::Blocked => return Step::Wait(Next::Read),
            Io::Ended(reason) => return Step::Wait(Next::Close(reason)),
        }
    }
}

/// Reads from `reader`, again when a signal interrupts it.
pub(super) fn read_some(reader: &mut (dyn io::Read + Send), buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
