//! The poller: a thin wrapper over `polling::Poller`, one per event loop.
//!
//! In scope: adding, re-arming and deleting sources, waiting, waking the loop. Listeners and UDP
//! sockets are registered oneshot (an event disarms them until re-armed); connections are
//! registered once, edge-triggered, for both directions ([`Poller::watch`]), where the platform
//! supports it, and oneshot otherwise. This file holds the crate's only `unsafe` (registering a
//! raw socket with the poller).
//! Out of scope: what a readiness event means (see `source.rs` and `conn.rs`).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::io;
use std::time::Duration;

use polling::{AsRawSource, AsSource, Event, Events, PollMode};

/// The readiness a source waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Interest {
    /// Wait for the socket to become readable.
    pub(crate) read: bool,
    /// Wait for the socket to become writable.
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

    fn event(self, key: usize) -> Event {
        Event::new(key, self.read, self.write)
    }
}

/// A loop's poller. [`Poller::add`] and [`Poller::modify`] register oneshot: an event disarms
/// the source until it is re-armed. [`Poller::watch`] registers a connection edge-triggered
/// when the platform can (see [`Poller::is_edge`]).
#[derive(Debug)]
pub(crate) struct Poller {
    inner: polling::Poller,
    edge: bool,
}

impl Poller {
    /// Creates the poller (epoll, kqueue, IOCP… whatever the platform offers).
    pub(crate) fn new() -> io::Result<Poller> {
        let inner = polling::Poller::new()?;
        let edge = inner.supports_edge();
        Ok(Poller { inner, edge })
    }

    /// Makes sure a connection's events come: edge-triggered, it registers the socket the first
    /// time (`registered` false) for both directions and does nothing afterwards; oneshot, it
    /// adds or re-arms the socket for `want` unless `armed` already equals it.
    ///
    /// The same INVARIANT as [`Poller::add`] holds for `source`.
    pub(crate) fn watch<S>(
        &self,
        source: &S,
        key: usize,
        registered: bool,
        armed: Interest,
        want: Interest,
    ) -> io::Result<()>
    where
        for<'a> &'a S: AsRawSource + AsSource,
    {
        if self.edge {
            if registered {
                return Ok(());
            }
            // SAFETY: as in `add`: the socket lives in a registry body that deletes it from this
            // poller before dropping it.
            #[allow(unsafe_code)]
            return unsafe {
                self.inner
                    .add_with_mode(source, Interest::BOTH.event(key), PollMode::Edge)
            };
        }
        if !registered {
            self.add(source, key, want)
        } else if want != armed {
            self.modify(source, key, want)
        } else {
            Ok(())
        }
    }

    /// Registers `source` under `key`, armed for `interest` (oneshot).
    ///
    /// INVARIANT (relied upon by the `unsafe` block below): every source the pool adds is owned by
    /// a `Body` in the pool's registry, and the only paths that drop a body (`source::close_body`
    /// and the pool's final cleanup) call [`Poller::delete`] first.
    #[allow(unsafe_code)]
    pub(crate) fn add<S>(&self, source: &S, key: usize, interest: Interest) -> io::Result<()>
    where
        for<'a> &'a S: AsRawSource,
    {
        // SAFETY: `polling` requires that the source is deleted from the poller before it is
        // dropped. The pool upholds this: sockets live inside a registry `Body` and every path
        // that drops a body deletes its socket from this poller first (see INVARIANT above). A
        // missed delete could only yield stale events for a reused key, which the pool already
        // treats as spurious readiness.
        unsafe { self.inner.add(source, interest.event(key)) }
    }

    /// Re-arms `source` for `interest`: the one syscall a worker makes when it is done.
    pub(crate) fn modify(
        &self,
        source: impl AsSource,
        key: usize,
        interest: Interest,
    ) -> io::Result<()> {
        self.inner.modify(source, interest.event(key))
    }

    /// Removes `source` from the poller.
    pub(crate) fn delete(&self, source: impl AsSource) -> io::Result<()> {
        self.inner.delete(source)
    }

    /// Waits for events or until `timeout`; an interrupted wait counts as no event.
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        match self.inner.wait(events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            other => other,
        }
    }

    /// Wakes a thread blocked in [`Poller::wait`].
    pub(crate) fn notify(&self) {
        if let Err(e) = self.inner.notify() {
            log::warn!("pool: poller notify failed: {e}");
        }
    }
}
