//! What the connection needs of its socket, as a trait: the pool's [`Conn`] in the server, a
//! scripted peer in the state machine's unit tests.

use std::fs::File;
use std::io::{self, ErrorKind, IoSlice};
use std::time::Instant;

use crate::pool::{CloseReason, Conn, ConnEvent, ConnHandler, Next, SlotGuard, Waker};

/// A connection's socket and its place in the pool.
pub(crate) trait Socket {
    /// Reads into `buf`; `Ok(0)` is the end of the stream, `WouldBlock` nothing yet.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes from `buf`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Writes from several buffers in order, in one call where it can.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Sends up to `count` bytes of `file` from `*offset`, advancing it (`Unsupported` where
    /// the socket cannot).
    fn send_file(&mut self, file: &File, offset: &mut u64, count: usize) -> io::Result<usize>;
    /// Flushes what the transport buffers (TLS records).
    fn flush(&mut self) -> io::Result<()>;
    /// Closes the sending side.
    fn shutdown(&mut self) -> io::Result<()>;
    /// Whether the connection is protected by TLS.
    fn is_tls(&self) -> bool;
    /// A waker for this connection.
    fn waker(&self) -> Waker;
    /// Sets (or clears) the connection's deadline.
    fn set_deadline(&mut self, deadline: Option<Instant>);
    /// Borrows a buffer slot, if one is free.
    fn try_borrow_slot(&self) -> Option<SlotGuard>;
    /// Hands `event` to the protocol that took the connection over (after a `101`).
    fn hand_over(&mut self, handler: &mut dyn ConnHandler, event: ConnEvent) -> Next;
}

impl Socket for Conn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Conn::read(self, buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Conn::write(self, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Conn::write_vectored(self, bufs)
    }

    fn send_file(&mut self, file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
        Conn::send_file(self, file, offset, count)
    }

    fn flush(&mut self) -> io::Result<()> {
        Conn::flush(self)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.transport().shutdown()
    }

    fn is_tls(&self) -> bool {
        Conn::is_tls(self)
    }

    fn waker(&self) -> Waker {
        Conn::waker(self)
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        Conn::set_deadline(self, deadline);
    }

    fn try_borrow_slot(&self) -> Option<SlotGuard> {
        Conn::try_borrow_slot(self)
    }

    fn hand_over(&mut self, handler: &mut dyn ConnHandler, event: ConnEvent) -> Next {
        handler.on_event(self, event)
    }
}

/// What one read or write came to.
pub(super) enum Io {
    /// This many bytes moved.
    Moved(usize),
    /// The socket cannot move any now.
    Blocked,
    /// The connection ends: the peer closed it (a read or write of 0), or it failed.
    Ended(CloseReason),
}

/// Runs a read or a write on a non-empty buffer, again when a signal interrupts it, and says
/// what it came to.
pub(super) fn io_outcome(mut op: impl FnMut() -> io::Result<usize>) -> Io {
    loop {
        return match op() {
            Ok(0) => Io::Ended(CloseReason::ByPeer),
            Ok(n) => Io::Moved(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Io::Blocked,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => Io::Ended(CloseReason::from_io(&e)),
        };
    }
}
