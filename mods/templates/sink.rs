//! Where a page goes: the [`RenderSink`] a render writes through, the [`SlotSink`] over a
//! buffer slot, and the outputs the walk writes into (one that is never full, and the caller's
//! slice of a [`RenderStream`](super::RenderStream) that pauses the walk when it is).
//!
//! In scope: delivering page bytes and saying when the walk must pause. Out of scope: what the
//! bytes are (see `print.rs`) and the walk itself (see `walk.rs`).

use std::fmt;

use super::error::SinkError;

/// Where a render writes the page: the server's buffer slot, flushed as it fills.
pub trait RenderSink {
    /// Writes bytes of the page.
    ///
    /// # Errors
    ///
    /// [`SinkError`] when the bytes cannot be delivered (the client went away); the render stops.
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError>;

    /// Returns whether any byte has already left for the client. After an error, the server
    /// answers 500 (or the debug page) if not, and closes the connection if so.
    fn has_sent(&self) -> bool;
}

/// A `Vec` collects the whole page; nothing leaves before the render ends.
impl RenderSink for Vec<u8> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.extend_from_slice(bytes);
        Ok(())
    }

    fn has_sent(&self) -> bool {
        false
    }
}

/// A sink over a fixed buffer (a buffer slot) that hands the buffer to `flush` each time it
/// fills, so a page larger than the slot costs no extra memory.
///
/// After the render, [`SlotSink::pending`] holds the bytes not yet flushed: if nothing was sent
/// ([`RenderSink::has_sent`] is false) the whole page is there and the server can answer with a
/// `Content-Length`; otherwise it sends the rest as the last chunk.
pub struct SlotSink<'b, F> {
    pub(crate) buf: &'b mut [u8],
    len: usize,
    sent: bool,
    flush: F,
}

impl<'b, F> SlotSink<'b, F>
where
    F: FnMut(&[u8]) -> Result<(), SinkError>,
{
    /// Creates a sink filling `buf` and calling `flush` with it when it is full.
    pub fn new(buf: &'b mut [u8], flush: F) -> Self {
        SlotSink {
            buf,
            len: 0,
            sent: false,
            flush,
        }
    }

    /// Returns the bytes written since the last flush.
    #[must_use]
    pub fn pending(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Flushes the pending bytes, if any.
    ///
    /// # Errors
    ///
    /// What `flush` returns.
    pub fn finish(&mut self) -> Result<(), SinkError> {
        if self.len > 0 {
            (self.flush)(self.buf.get(..self.len).unwrap_or_default())?;
            self.sent = true;
            self.len = 0;
        }
        Ok(())
    }
}

impl<F> RenderSink for SlotSink<'_, F>
where
    F: FnMut(&[u8]) -> Result<(), SinkError>,
{
    fn write(&mut self, mut bytes: &[u8]) -> Result<(), SinkError> {
        if self.buf.is_empty() {
            (self.flush)(bytes)?;
            self.sent |= !bytes.is_empty();
            return Ok(());
        }
        while !bytes.is_empty() {
            let room = self.buf.len() - self.len;
            if room == 0 {
                self.finish()?;
                continue;
            }
            let n = room.min(bytes.len());
            let (now, later) = bytes.split_at(n);
            if let Some(dst) = self.buf.get_mut(self.len..self.len + n) {
                dst.copy_from_slice(now);
            }
            self.len += n;
            bytes = later;
        }
        Ok(())
    }

    fn has_sent(&self) -> bool {
        self.sent
    }
}

impl<F> fmt::Debug for SlotSink<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotSink")
            .field("capacity", &self.buf.len())
            .field("pending", &self.len)
            .field("sent", &self.sent)
            .finish()
    }
}

/// Where a walk writes: a sink that also says when the walk must pause.
pub(crate) trait Output: RenderSink {
    /// Returns whether the walk must stop before the next node.
    fn is_full(&self) -> bool;
}

/// Any sink, never full: the walk runs to the end.
pub(crate) struct Unbounded<'s>(pub(crate) &'s mut dyn RenderSink);

impl RenderSink for Unbounded<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        self.0.write(bytes)
    }

    fn has_sent(&self) -> bool {
        self.0.has_sent()
    }
}

impl Output for Unbounded<'_> {
    fn is_full(&self) -> bool {
        false
    }
}

/// A caller's slice; what does not fit goes to `spill`, for the next call.
pub(crate) struct SliceOut<'b> {
    pub(crate) buf: &'b mut [u8],
    pub(crate) len: usize,
    pub(crate) spill: &'b mut Vec<u8>,
}

impl RenderSink for SliceOut<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        let room = self.buf.len() - self.len;
        let n = room.min(bytes.len());
        let (now, later) = bytes.split_at(n);
        if let Some(dst) = self.buf.get_mut(self.len..self.len + n) {
            dst.copy_from_slice(now);
        }
        self.len += n;
        self.spill.extend_from_slice(later);
        Ok(())
    }

    fn has_sent(&self) -> bool {
        false
    }
}

impl Output for SliceOut<'_> {
    fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_sink_flushes_when_full_and_reports_it() {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut slot = [0u8; 4];
        {
            let mut sink = SlotSink::new(&mut slot, |b: &[u8]| {
                chunks.push(b.to_vec());
                Ok(())
            });
            sink.write(b"abc").unwrap();
            assert!(!sink.has_sent());
            sink.write(b"defgh").unwrap();
            assert!(sink.has_sent());
            assert_eq!(sink.pending(), b"efgh");
            sink.finish().unwrap();
        }
        assert_eq!(chunks, [b"abcd".to_vec(), b"efgh".to_vec()]);
    }
}
