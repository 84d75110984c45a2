//! The poller: one per event loop, a thin wrapper over `mio::Poll`.
//!
//! In scope: registering and deleting sockets, waiting, waking the loop from another thread.
//! Every registration is edge-triggered (mio's only mode): an event says that new readiness came,
//! and the source keeps what it knows until a read or write would block (see `conn.rs`).
//! A wait is one `epoll_wait` (or `kevent`); a notify is one eventfd write, and only the first
//! notify between two waits makes it.
//! Out of scope: what a readiness event means (see `source.rs` and `conn.rs`).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Poll, Registry, Token, Waker};
use parking_lot::Mutex;

/// The token of the loop's waker; no source has it (keys are slab indices).
const WAKE_TOKEN: Token = Token(usize::MAX);

/// The readiness a source is registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Interest {
    /// The socket may become readable.
    pub(crate) read: bool,
    /// The socket may become writable.
    pub(crate) write: bool,
}

impl Interest {
    /// No readiness: the source only wakes on a waker, a deadline or a free slot.
    pub(crate) const NONE: Interest = Interest {
        read: false,
        write: false,
    };
    /// Readable only.
    pub(crate) const READ: Interest = Interest {
        read: true,
        write: false,
    };
    /// Writable only.
    pub(crate) const WRITE: Interest = Interest {
        read: false,
        write: true,
    };
    /// Both directions.
    pub(crate) const BOTH: Interest = Interest {
        read: true,
        write: true,
    };

    fn to_mio(self) -> mio::Interest {
        match (self.read, self.write) {
            (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
            (false, true) => mio::Interest::WRITABLE,
            _ => mio::Interest::READABLE,
        }
    }
}

/// One readiness event: the source's key and what it may do now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ready {
    /// The source's key.
    pub(crate) key: usize,
    /// It may be read (or has hung up, or has an error a read will report).
    pub(crate) readable: bool,
    /// It may be written (or has an error a write will report).
    pub(crate) writable: bool,
}

/// The sources' events of the last [`Poller::wait`] (the waker's are left out).
pub(crate) fn ready(events: &Events) -> impl Iterator<Item = Ready> + '_ {
    events
        .iter()
        .filter(|ev| ev.token() != WAKE_TOKEN)
        .map(|ev| {
            let error = ev.is_error();
            Ready {
                key: ev.token().0,
                readable: ev.is_readable() || ev.is_read_closed() || error,
                writable: ev.is_writable() || ev.is_write_closed() || error,
            }
        })
}

/// A loop's poller.
pub(crate) struct Poller {
    /// Waited on by the loop's thread only; the lock is never contended.
    poll: Mutex<Poll>,
    registry: Registry,
    waker: Waker,
    /// A notify since the last wait returned: further ones need no syscall.
    notified: AtomicBool,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").finish_non_exhaustive()
    }
}

impl Poller {
    /// Creates the poller (epoll, kqueue… whatever the platform offers) and its waker.
    pub(crate) fn new() -> io::Result<Poller> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(Poller {
            poll: Mutex::new(poll),
            registry,
            waker,
            notified: AtomicBool::new(false),
        })
    }

    /// Registers `socket` under `key`, edge-triggered, for `interest` (reading when NONE).
    pub(crate) fn add(
        &self,
        socket: &impl AsRawFd,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        let fd = socket.as_raw_fd();
        self.registry
            .register(&mut SourceFd(&fd), Token(key), interest.to_mio())
    }

    /// Removes `socket` from the poller.
    pub(crate) fn delete(&self, socket: &impl AsRawFd) -> io::Result<()> {
        let fd = socket.as_raw_fd();
        self.registry.deregister(&mut SourceFd(&fd))
    }

    /// Waits for events or until `timeout`; an interrupted wait counts as no event. Read them
    /// with [`ready`].
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let result = self.poll.lock().poll(events, timeout);
        // Cleared before the loop reads its queue: a task sent after this point notifies again.
        self.notified.store(false, Ordering::SeqCst);
        match result {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                events.clear();
                Ok(())
            }
            other => other,
        }
    }

    /// Wakes the loop blocked in (or about to enter) [`Poller::wait`].
    pub(crate) fn notify(&self) {
        if self.notified.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.waker.wake() {
            log::warn!("pool: poller notify failed: {e}");
        }
    }
}
