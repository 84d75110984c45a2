//! The sockets a WebSockets module has open, so that a stopping server can tell each one it is
//! going away (close 1001) instead of dropping it.
//!
//! Only weak references are kept: a closed socket's state is freed as usual, and the list is
//! pruned of dead entries whenever it has doubled since the last pruning.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::socket::{Shared, WebSocket};

/// The close reason a stopping server gives.
const STOPPING: &str = "server stopping";

/// The open sockets of one module.
#[derive(Default)]
pub(crate) struct LiveSockets {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sockets: Vec<Weak<Shared>>,
    /// The length at which the list is next pruned.
    prune_at: usize,
    /// Set by [`LiveSockets::close_all`]: no socket is taken afterwards.
    stopping: bool,
}

impl LiveSockets {
    /// Returns true once [`LiveSockets::close_all`] has run.
    pub(crate) fn is_stopping(&self) -> bool {
        self.inner.lock().stopping
    }

    /// Records a new socket. Once the module is stopping, the socket is closed at once instead
    /// (1001; its session sends the close right after the handshake).
    pub(crate) fn add(&self, socket: &WebSocket) {
        let mut inner = self.inner.lock();
        if inner.stopping {
            drop(inner);
            let _ = socket.close(1001, STOPPING);
            return;
        }
        if inner.sockets.len() >= inner.prune_at {
            inner
                .sockets
                .retain(|w| w.upgrade().is_some_and(|s| !WebSocket(s).is_closed()));
            inner.prune_at = (inner.sockets.len() * 2).max(64);
        }
        inner.sockets.push(Arc::downgrade(&socket.0));
    }

    /// Closes every open socket with 1001 "going away" (RFC 6455 §7.4.1), and every socket added
    /// from now on.
    pub(crate) fn close_all(&self) {
        let sockets = {
            let mut inner = self.inner.lock();
            inner.stopping = true;
            std::mem::take(&mut inner.sockets)
        };
        for socket in sockets.iter().filter_map(Weak::upgrade) {
            let _ = WebSocket(socket).close(1001, STOPPING);
        }
    }

    /// Returns how many sockets are open (closing ones excluded).
    pub(crate) fn open(&self) -> usize {
        let inner = self.inner.lock();
        inner
            .sockets
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|s| !WebSocket(s.clone()).is_closed())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mods::websockets::{Settings, WebSocketRequest};

    fn socket() -> WebSocket {
        let request = WebSocketRequest {
            path: "/ws".into(),
            query_string: String::new(),
            headers: Vec::new(),
            peer: crate::pool::Endpoint::Unix,
            is_tls: false,
            protocol: None,
        };
        WebSocket::new(request, &Settings::new(1024))
    }

    #[test]
    fn close_all_closes_every_open_socket_and_refuses_new_ones() {
        let live = LiveSockets::default();
        let (a, b) = (socket(), socket());
        live.add(&a);
        live.add(&b);
        assert_eq!(live.open(), 2);
        assert!(!live.is_stopping());
        live.close_all();
        assert!(a.is_closed() && b.is_closed());
        assert!(live.is_stopping());
        let late = socket();
        live.add(&late);
        assert!(
            late.is_closed(),
            "a socket that comes during the stop is closed at once"
        );
    }

    #[test]
    fn dropped_and_closed_sockets_are_pruned() {
        let live = LiveSockets::default();
        let kept = socket();
        live.add(&kept);
        for _ in 0..500 {
            let s = socket();
            live.add(&s);
            let _ = s.close(1000, "");
        }
        assert!(live.inner.lock().sockets.len() <= 130, "pruned as it grows");
        assert_eq!(live.open(), 1);
    }
}
