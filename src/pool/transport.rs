//! The transport seam: how a connection's bytes reach its socket.
//!
//! In scope: plain TCP, a Unix socket, and TLS (a rustls `ServerConnection` over the same nonblocking socket,
//! see [`TlsStream`]). The contract a variant keeps, which the pool honours:
//! - `read`/`write` never block; `WouldBlock` means "wait for readiness";
//! - [`Transport::interest`] lets the transport add readiness it needs on its own (TLS: writable
//!   while `wants_write()`, readable during the handshake);
//! - [`Transport::has_buffered_input`] reports plaintext already decrypted, so the pool delivers
//!   `Readable` again without waiting for the socket.
//! - the pool calls [`Transport::flush`] when the socket turns writable, before the handler
//!   sees `Writable`, so buffered records go out even while the handler is idle.
//!
//! The TLS variant holds `(TcpStream, rustls::ServerConnection)`: `read` runs `read_tls` +
//! `process_new_packets` until `reader()` yields plaintext or the socket would block (this drives
//! the handshake); `write` goes through `writer()` then `write_tls` as far as the socket takes;
//! `interest` adds writable while `wants_write()`; `has_buffered_input` counts the plaintext
//! rustls holds. It is boxed, so the plain variant stays two words.
//!
//! Out of scope: protocols above the byte stream.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use super::poller::Interest;
#[cfg(feature = "tls")]
use super::tls::TlsStream;

/// The byte stream under a connection: plain TCP, a Unix socket, or TLS over TCP.
#[derive(Debug)]
#[non_exhaustive]
pub enum Transport {
    /// A plain, nonblocking TCP stream.
    Tcp(TcpStream),
    /// A nonblocking Unix stream socket (accepted by a Unix socket listener).
    Unix(UnixStream),
    /// A TLS connection over a nonblocking TCP stream (accepted by a TLS listener).
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

impl Transport {
    /// Reads decrypted (or plain) bytes; `WouldBlock` when nothing is available, `Ok(0)` at EOF.
    ///
    /// # Errors
    ///
    /// Any socket error, `WouldBlock` included.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.read(buf),
            Transport::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// Writes bytes; `WouldBlock` when the socket's send buffer is full.
    ///
    /// # Errors
    ///
    /// Any socket error, `WouldBlock` included.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.write(buf),
            Transport::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.write(buf),
        }
    }

    /// Writes from several buffers in order: one `writev` for plain TCP; TLS takes the first
    /// non-empty buffer (its records are gathered in rustls anyway).
    ///
    /// # Errors
    ///
    /// Any socket error, `WouldBlock` included.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.write_vectored(bufs),
            Transport::Unix(s) => s.write_vectored(bufs),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => match bufs.iter().find(|b| !b.is_empty()) {
                Some(buf) => t.write(buf),
                None => Ok(0),
            },
        }
    }

    /// Pushes out anything the transport buffers (TLS records); a no-op for plain TCP.
    ///
    /// # Errors
    ///
    /// Any socket error, `WouldBlock` included.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.flush(),
            Transport::Unix(s) => s.flush(),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.flush(),
        }
    }

    /// Ends the sending direction (TLS: after a `close_notify`).
    ///
    /// # Errors
    ///
    /// Any socket error.
    pub fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.shutdown(Shutdown::Write),
            Transport::Unix(s) => s.shutdown(Shutdown::Write),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.shutdown(),
        }
    }

    /// Sends up to `count` bytes of `file` from `*offset` straight from the page cache to the
    /// socket (`sendfile(2)`), advancing `*offset` by what was sent; `Ok(0)` means the file
    /// ends at `*offset`. Plain TCP and Unix sockets on Linux only: elsewhere, and for TLS (whose
    /// records must be encrypted in user space), `Unsupported`.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the socket cannot take more now; `Unsupported` as above; any socket or
    /// file error (`EINVAL` for a file the kernel cannot send this way).
    pub fn send_file(&mut self, file: &File, offset: &mut u64, count: usize) -> io::Result<usize> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let socket = match &*self {
                Transport::Tcp(s) => s.as_fd(),
                Transport::Unix(s) => s.as_fd(),
                #[cfg(feature = "tls")]
                Transport::Tls(_) => return Err(io::ErrorKind::Unsupported.into()),
            };
            Ok(rustix::fs::sendfile(socket, file, Some(offset), count)?)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = (file, offset, count);
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    /// Returns the TLS connection, when the bytes are protected by TLS.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(&self) -> Option<&TlsStream> {
        match self {
            Transport::Tcp(_) | Transport::Unix(_) => None,
            Transport::Tls(t) => Some(t),
        }
    }

    /// Returns whether the bytes are protected by TLS.
    #[must_use]
    pub fn is_tls(&self) -> bool {
        match self {
            Transport::Tcp(_) | Transport::Unix(_) => false,
            #[cfg(feature = "tls")]
            Transport::Tls(_) => true,
        }
    }

    /// The socket under the transport, for the poller.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Transport::Tcp(s) => s.as_fd(),
            Transport::Unix(s) => s.as_fd(),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.socket().as_fd(),
        }
    }

    /// The TCP socket under the transport; `None` for a Unix socket.
    pub(crate) fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Transport::Tcp(s) => Some(s),
            Transport::Unix(_) => None,
            #[cfg(feature = "tls")]
            Transport::Tls(t) => Some(t.socket()),
        }
    }

    /// The readiness to wait for, given what the handler asked for.
    pub(crate) fn interest(&self, wanted: Interest) -> Interest {
        match self {
            Transport::Tcp(_) | Transport::Unix(_) => wanted,
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.interest(wanted),
        }
    }

    /// Returns whether bytes are already waiting inside the transport (never for plain TCP).
    pub(crate) fn has_buffered_input(&self) -> bool {
        match self {
            Transport::Tcp(_) | Transport::Unix(_) => false,
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.has_buffered_input(),
        }
    }
}
