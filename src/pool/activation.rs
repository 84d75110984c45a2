//! Socket activation: the listening sockets a service manager opened for this process.
//!
//! systemd (and `systemd-socket-activate`, `systemfd`) start a service with its listeners already
//! bound, passed as file descriptors 3, 4, … and described by `LISTEN_FDS` (how many) and
//! `LISTEN_PID` (the process they are for). [`inherited_listeners`] takes them; hand each to
//! [`WebServer::adopt_listener`](crate::WebServer::adopt_listener) instead of binding:
//!
//! ```no_run
//! let mut server = microweb::WebServer::new();
//! for listener in microweb::pool::activation::inherited_listeners()? {
//!     server.adopt_listener(listener);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
#![allow(clippy::disallowed_types)] // IO edge: the inherited sockets

use std::io;
use std::net::TcpListener;

/// Takes the TCP listeners passed by socket activation, in the order the service manager gave
/// them; none when the process was not socket-activated (no `LISTEN_FDS`, or a `LISTEN_PID`
/// naming another process). A passed descriptor that is not a listening TCP socket is an error
/// that names it.
///
/// # Errors
///
/// An inherited descriptor is not a TCP listener (a datagram socket, a Unix socket, a file).
pub fn inherited_listeners() -> io::Result<Vec<TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut listeners = Vec::with_capacity(fds.len());
    for index in 0..fds.len() {
        match fds.take_tcp_listener(index) {
            Ok(Some(listener)) => listeners.push(listener),
            Ok(None) => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("inherited descriptor {} (LISTEN_FDS): {e}", index + 3),
                ));
            }
        }
    }
    Ok(listeners)
}
