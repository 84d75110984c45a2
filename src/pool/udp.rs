//! UDP datagrams (XAsyncSockets' `XAsyncUDPDatagram`): bind, a receive callback with the
//! sender's address, and `send_to`.
//!
//! In scope: [`UdpDatagram`] and the pool's side of a UDP socket. A datagram is received into a
//! buffer slot borrowed for the time of the callback (a datagram longer than a slot is cut, as
//! `recv_from` does); when no slot is free the socket waits for one.
//! Out of scope: any protocol over UDP.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::conn::{CloseReason, wait_for_slot};
use super::poller::{Interest, Poller};
use super::source::{self, Body, CLOSE_REQ, SLOT_FREE, Source, SourceKey};
use super::{Pool, Shared};

type RecvCallback = Box<dyn FnMut(&UdpDatagram, &[u8], SocketAddr) + Send>;

/// How many datagrams are read in one run before the socket's other work (the slot goes back).
const RECV_BATCH: usize = 64;

struct UdpInner {
    /// The socket lives in the pool's body; handles only reach it while it is open.
    socket: Weak<UdpSocket>,
    local: SocketAddr,
    key: SourceKey,
    source: Weak<Source>,
    shared: Weak<Shared>,
}

/// A UDP socket in a pool: receives through a callback, sends with [`UdpDatagram::send_to`].
///
/// Cloning is cheap.
#[derive(Clone)]
pub struct UdpDatagram {
    inner: Arc<UdpInner>,
}

impl fmt::Debug for UdpDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpDatagram")
            .field("key", &self.inner.key)
            .field("local", &self.inner.local)
            .finish()
    }
}

impl UdpDatagram {
    /// Binds `addr` (`SO_REUSEADDR`, dual stack on `[::]`); `on_recv` gets each datagram and its
    /// sender, on a pool thread.
    ///
    /// # Errors
    ///
    /// Socket creation or bind errors.
    pub fn bind(
        pool: &Pool,
        addr: SocketAddr,
        on_recv: impl FnMut(&UdpDatagram, &[u8], SocketAddr) + Send + 'static,
    ) -> io::Result<UdpDatagram> {
        let sh = pool.shared();
        let socket = source::bind_udp(addr)?;
        let local = socket.local_addr()?;
        let src = sh.insert(0)?;
        let socket = Arc::new(socket);
        let handle = UdpDatagram {
            inner: Arc::new(UdpInner {
                socket: Arc::downgrade(&socket),
                local,
                key: src.key,
                source: Arc::downgrade(&src),
                shared: Arc::downgrade(sh),
            }),
        };
        let mut body = src.body.lock();
        if let Err(e) = src.home.poller.add(&*socket, src.key.0, Interest::READ) {
            drop(body);
            sh.remove(&src);
            return Err(e);
        }
        *body = Some(Body::Udp(UdpBody {
            socket,
            handle: handle.clone(),
            on_recv: Box::new(on_recv),
            waiting_slot: false,
        }));
        Ok(handle)
    }

    /// Sends one datagram to `to` without blocking.
    ///
    /// # Errors
    ///
    /// `NotConnected` once closed; `WouldBlock` if the send buffer is full; any socket error.
    pub fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        match self.inner.socket.upgrade() {
            Some(socket) => socket.send_to(data, to),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "udp socket closed",
            )),
        }
    }

    /// Returns the bound address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Returns the socket's key in its pool.
    #[must_use]
    pub fn key(&self) -> SourceKey {
        self.inner.key
    }

    /// Stops receiving and closes the socket.
    pub fn close(&self) {
        if let (Some(src), Some(shared)) =
            (self.inner.source.upgrade(), self.inner.shared.upgrade())
        {
            source::request_close(&shared, &src);
        }
    }

    /// Returns whether the socket is closed (its descriptor released).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.socket.strong_count() == 0
    }
}

/// The pool's side of a UDP socket.
pub(crate) struct UdpBody {
    socket: Arc<UdpSocket>,
    handle: UdpDatagram,
    on_recv: RecvCallback,
    waiting_slot: bool,
}

impl UdpBody {
    pub(crate) fn handle(
        &mut self,
        pool: &Pool,
        src: &Arc<Source>,
        bits: u32,
    ) -> Option<CloseReason> {
        let shared = pool.shared();
        if bits & CLOSE_REQ != 0 {
            return Some(CloseReason::ByHost);
        }
        if bits & SLOT_FREE != 0 {
            self.waiting_slot = false;
        }
        if self.waiting_slot {
            return None;
        }
        let Some(mut slot) = shared.slots.try_borrow() else {
            self.waiting_slot = true;
            wait_for_slot(shared, src, true);
            return None;
        };
        let socket = &*self.socket;
        for _ in 0..RECV_BATCH {
            match socket.recv_from(&mut slot) {
                Ok((n, from)) => (self.on_recv)(&self.handle, slot.get(..n).unwrap_or(&[]), from),
                // Edge-triggered: the socket is empty now, the next datagram raises an edge.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                // An ICMP error for an earlier send_to: not this socket's failure.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(CloseReason::Error(e.kind())),
            }
        }
        // More may wait: run again (after the slot is back) rather than wait for an edge.
        drop(slot);
        src.state.fetch_or(source::READABLE, Ordering::SeqCst);
        None
    }

    pub(crate) fn deregister(&self, poller: &Poller) {
        let _ = poller.delete(&*self.socket);
    }
}
