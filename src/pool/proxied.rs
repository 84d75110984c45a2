//! A connection still reading its PROXY protocol header (see
//! [`ProxyProtocol`](super::ProxyProtocol)).
//!
//! The header is peeked, not read, until it is whole, so the bytes after it stay in the socket
//! for the connection (or its TLS handshake); then exactly the header is consumed and the
//! connection is admitted with the address it gives (`ConnInfo::proxied_source`). No buffer slot is held meanwhile: the peek
//! goes to a buffer on the stack.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Pool;
use super::conn::{Accepted, Admission, CloseReason, ConnBody, take_due_deadline};
use super::endpoint::Endpoint;
use super::poller::{Interest, Poller};
use super::source::{CLOSE_REQ, Source, TIMEDOUT};
use crate::proxy::protocol::{self, Header, MAX_HEADER, Parsed};

/// The pool's side of a connection reading its PROXY header.
pub(crate) struct ProxiedBody {
    /// `None` once handed to the connection.
    stream: Option<TcpStream>,
    peer: SocketAddr,
    admission: Arc<Admission>,
    registered: bool,
}

impl ProxiedBody {
    pub(crate) fn new(stream: TcpStream, peer: SocketAddr, admission: Arc<Admission>) -> Self {
        ProxiedBody {
            stream: Some(stream),
            peer,
            admission,
            registered: false,
        }
    }

    /// Looks for the header: `Ok(Some(connection))` once it is read and the connection
    /// admitted, `Ok(None)` to wait for more bytes, `Err` to close.
    pub(crate) fn handle(
        &mut self,
        pool: &Pool,
        src: &Arc<Source>,
        bits: u32,
    ) -> Result<Option<ConnBody>, CloseReason> {
        let shared = &pool.shared;
        if bits & CLOSE_REQ != 0 {
            return Err(CloseReason::ByHost);
        }
        if bits & TIMEDOUT != 0 && take_due_deadline(shared, src) {
            log::debug!("pool: no PROXY header from {} in time", self.peer);
            return Err(CloseReason::Timeout);
        }
        let stream = self.stream.as_ref().ok_or(CloseReason::ByHost)?;
        let mut buf = [0u8; MAX_HEADER];
        let (header, len) = match stream.peek(&mut buf) {
            Ok(0) => return Err(CloseReason::ByPeer),
            Ok(n) => match protocol::parse(&buf[..n]) {
                Parsed::Complete { header, len } => (header, len),
                Parsed::Incomplete => return self.wait(src),
                Parsed::Invalid(why) => {
                    log::debug!("pool: closed a connection from {}: {why}", self.peer);
                    return Err(CloseReason::Error(io::ErrorKind::InvalidData));
                }
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.wait(src),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return self.wait(src),
            Err(e) => return Err(CloseReason::from_io(&e)),
        };
        let mut stream = self.stream.take().ok_or(CloseReason::ByHost)?;
        // The peeked bytes are in the socket: one read takes exactly the header.
        stream
            .read_exact(&mut buf[..len])
            .map_err(|e| CloseReason::from_io(&e))?;
        src.deadline.store(0, Ordering::SeqCst); // the header's time is over
        let source = match header {
            Header::Proxied { source, .. } => Some(source),
            Header::Local => None,
        };
        let registered = self.registered;
        let connection = self
            .admission
            .connection(
                shared,
                src,
                Accepted::Tcp(stream),
                Endpoint::Ip(self.peer),
                source,
            )
            .ok_or(CloseReason::ByHost)?;
        if registered {
            Ok(Some(connection.already_registered()))
        } else {
            Ok(Some(connection))
        }
    }

    /// Waits for the next bytes: registers the socket (both directions, as the connection it
    /// becomes keeps it) the first time.
    fn wait(&mut self, src: &Arc<Source>) -> Result<Option<ConnBody>, CloseReason> {
        if !self.registered {
            let stream = self.stream.as_ref().ok_or(CloseReason::ByHost)?;
            src.home
                .poller
                .add(stream, src.key.0, Interest::BOTH)
                .map_err(|e| CloseReason::Error(e.kind()))?;
            self.registered = true;
        }
        Ok(None)
    }

    pub(crate) fn deregister(&self, poller: &Poller) {
        if let (true, Some(stream)) = (self.registered, &self.stream) {
            let _ = poller.delete(stream);
        }
    }
}
