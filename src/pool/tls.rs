//! TLS on the pool's nonblocking sockets: a rustls `ServerConnection` driven without ever
//! blocking a thread.
//!
//! In scope: [`TlsConfig`] (what a TLS listener is given: the rustls configuration, the bound on
//! the handshake, the bound on rustls' outgoing buffer) and [`TlsStream`] (a TCP socket with its
//! rustls connection) with the nonblocking read, write, flush and shutdown the
//! [`Transport`](super::Transport) seam asks for.
//! Out of scope: loading certificates and keys (the server does it), any protocol above TLS.
//!
//! ## How the handshake is driven
//!
//! There is no separate handshake phase: the handler's first reads drive it. Each
//! [`TlsStream::read`] that finds no plaintext runs one round of
//! `read_tls` → `process_new_packets` → `write_tls` (as far as the socket takes) and returns
//! `WouldBlock` when the socket has nothing more; the pool then waits for the socket to turn
//! readable, plus writable while rustls still has records to send ([`TlsStream::interest`]). So a slow
//! handshake costs no thread and no buffer slot while it waits. It is bounded twice: by the
//! handler's own deadline (the HTTP server's request timeout, when the client goes silent) and by
//! [`TlsConfig::with_handshake_timeout`], checked on every round (when the client trickles).
//!
//! ## Memory
//!
//! rustls keeps its own buffers per connection, outside the pool's slots:
//! - incoming records: 4 KiB while idle, growing to one record (about 16.7 KiB) while one
//!   arrives, 64 KiB at most during the handshake (rustls' own bounds);
//! - decrypted plaintext: read out into the caller's slot at once, so it holds at most one record;
//! - outgoing records: bounded by [`TlsConfig::with_buffer_limit`] (default: one buffer slot),
//!   so a writer gets `WouldBlock` instead of growing it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // IO edge

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::poller::Interest;

/// What a TLS listener needs: the rustls server configuration and its bounds.
///
/// Clones share one connection count: listeners given clones of one `TlsConfig` share
/// [`TlsConfig::with_max_connections`].
#[derive(Clone)]
pub struct TlsConfig {
    server_config: Arc<rustls::ServerConfig>,
    handshake_timeout: Duration,
    buffer_limit: Option<usize>,
    max_connections: Option<usize>,
    live: Arc<AtomicUsize>,
    /// Handshakes completed, and given up (failed, timed out or abandoned by the client).
    handshakes: Arc<[AtomicU64; 2]>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn_protocols", &self.server_config.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("buffer_limit", &self.buffer_limit)
            .field("max_connections", &self.max_connections)
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl From<Arc<rustls::ServerConfig>> for TlsConfig {
    fn from(server_config: Arc<rustls::ServerConfig>) -> Self {
        TlsConfig::new(server_config)
    }
}

impl TlsConfig {
    /// The handshake bound when none is set: 10 s, enough for a slow link, short enough that a
    /// silent or trickling client does not hold its socket for long.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// Creates a TLS listener configuration from a rustls server configuration.
    #[must_use]
    pub fn new(server_config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig {
            server_config,
            handshake_timeout: TlsConfig::DEFAULT_HANDSHAKE_TIMEOUT,
            buffer_limit: None,
            max_connections: None,
            live: Arc::new(AtomicUsize::new(0)),
            handshakes: Arc::default(),
        }
    }

    /// Bounds how many TLS connections may be open at once (default: no bound but the process'
    /// descriptors). rustls' state costs about 8 KiB per idle connection outside the pool's
    /// slots; past the bound a new connection is closed at once, before any handshake.
    #[must_use]
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// Returns how many connections accepted with this configuration (and its clones) are open.
    #[must_use]
    pub fn live_connections(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Returns (completed, failed) handshakes of the connections accepted with this
    /// configuration and its clones; a connection closed before its handshake completed (an
    /// error, the timeout, a client that left) counts as failed.
    #[must_use]
    pub fn handshakes(&self) -> (u64, u64) {
        (
            self.handshakes[0].load(Ordering::Relaxed),
            self.handshakes[1].load(Ordering::Relaxed),
        )
    }

    /// Sets how long a handshake may take in all, from the accept (default 10 s).
    #[must_use]
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the most bytes of outgoing TLS records rustls may buffer per connection (default:
    /// the pool's slot size). A write beyond it gets `WouldBlock` until the socket takes more.
    #[must_use]
    pub fn with_buffer_limit(mut self, bytes: usize) -> Self {
        self.buffer_limit = Some(bytes.max(1));
        self
    }

    /// Returns the rustls server configuration.
    #[must_use]
    pub fn server_config(&self) -> &Arc<rustls::ServerConfig> {
        &self.server_config
    }

    /// Returns the handshake bound.
    #[must_use]
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }
}

/// The answer a plain-HTTP request to a TLS port gets before the close.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain\r\n\
Content-Length: 44\r\n\
Connection: close\r\n\
\r\n\
This port speaks HTTPS: use an https:// URL\n";

/// A TLS connection: a nonblocking TCP socket and its rustls server state.
pub struct TlsStream {
    socket: TcpStream,
    tls: rustls::ServerConnection,
    /// When the handshake must be done by; `None` once it is.
    handshake_deadline: Option<Instant>,
    /// Whether no byte has been read from the socket yet (to recognise plain HTTP).
    first_read: bool,
    /// Decrypted bytes waiting inside rustls.
    plaintext: usize,
    /// Counts this connection among its listener's live ones.
    _live: LiveGuard,
    /// Where its handshake is counted (see [`TlsConfig::handshakes`]).
    handshakes: Arc<[AtomicU64; 2]>,
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        if self.handshake_deadline.is_some() {
            self.handshakes[1].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One open TLS connection in its configuration's count; uncounted on drop.
struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("socket", &self.socket)
            .field("handshaking", &self.tls.is_handshaking())
            .field("protocol_version", &self.tls.protocol_version())
            .finish_non_exhaustive()
    }
}

impl TlsStream {
    /// Starts the server side of a TLS connection on an accepted, nonblocking socket.
    pub(crate) fn accept(
        socket: TcpStream,
        config: &TlsConfig,
        default_limit: usize,
    ) -> io::Result<TlsStream> {
        let count = config.live.fetch_add(1, Ordering::SeqCst);
        let live = LiveGuard(Arc::clone(&config.live));
        if config.max_connections.is_some_and(|max| count >= max) {
            return Err(io::Error::new(
                ErrorKind::OutOfMemory,
                "too many TLS connections open",
            ));
        }
        let mut tls = rustls::ServerConnection::new(Arc::clone(&config.server_config))
            .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?;
        tls.set_buffer_limit(Some(config.buffer_limit.unwrap_or(default_limit).max(1)));
        Ok(TlsStream {
            socket,
            tls,
            handshake_deadline: Some(Instant::now() + config.handshake_timeout),
            first_read: true,
            plaintext: 0,
            _live: live,
            handshakes: Arc::clone(&config.handshakes),
        })
    }

    /// Returns the rustls connection (negotiated protocol version, ALPN, client certificates…).
    #[must_use]
    pub fn connection(&self) -> &rustls::ServerConnection {
        &self.tls
    }

    /// Returns the socket under the TLS layer.
    #[must_use]
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Returns whether the handshake is still going on.
    #[must_use]
    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Reads decrypted bytes; drives the handshake while it lasts.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when no plaintext is available yet; `UnexpectedEof` when the peer closed
    /// without `close_notify`; `InvalidData` for a TLS error (the alert is sent first);
    /// `TimedOut` past the handshake bound; any socket error.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => {
                    self.plaintext = self.plaintext.saturating_sub(n);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if let Some(deadline) = self.handshake_deadline {
                if Instant::now() >= deadline {
                    return Err(io::Error::new(
                        ErrorKind::TimedOut,
                        "TLS handshake timed out",
                    ));
                }
            }
            if self.first_read {
                // Look at the first byte before rustls takes it (a later peek could miss it).
                self.refuse_plain_http()?;
            }
            match self.tls.read_tls(&mut self.socket) {
                // Ok(0) is the end of the stream: rustls remembers it, and the reader above
                // reports it (a clean close or `UnexpectedEof`) after the last records.
                Ok(_) => self.first_read = false,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    ignore_would_block(self.push())?;
                    return Err(e);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            match self.tls.process_new_packets() {
                Ok(state) => self.plaintext = state.plaintext_bytes_to_read(),
                Err(e) => {
                    // Send the alert rustls queued, as far as the socket takes it.
                    let _ = self.push();
                    return Err(io::Error::new(ErrorKind::InvalidData, e));
                }
            }
            if self.handshake_deadline.is_some() && !self.tls.is_handshaking() {
                self.handshake_deadline = None;
                self.handshakes[0].fetch_add(1, Ordering::Relaxed);
            }
            ignore_would_block(self.push())?;
        }
    }

    /// Answers a plain-HTTP request (its first byte is an ASCII capital: a method) with a 400
    /// that names https, then fails; a TLS record starts with a content type byte (22) instead.
    /// `WouldBlock` while no byte has come yet.
    fn refuse_plain_http(&mut self) -> io::Result<()> {
        let mut first = [0u8; 1];
        loop {
            match self.socket.peek(&mut first) {
                Ok(1) if first[0].is_ascii_uppercase() => break,
                // A TLS record, or the end of the stream: rustls handles both.
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Take in what the client sent (so the close is not a reset that could destroy the
        // answer in flight), answer, and close our side.
        let mut sink = [0u8; 4096];
        let _ = self.socket.read(&mut sink);
        let _ = self.socket.write(PLAIN_HTTP_ANSWER);
        let _ = self.socket.shutdown(Shutdown::Write);
        Err(io::Error::new(
            ErrorKind::InvalidData,
            "a plain HTTP request came to a TLS port",
        ))
    }

    /// Writes plaintext; `WouldBlock` when rustls' outgoing buffer is at its limit.
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or any socket error.
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        ignore_would_block(self.push())?;
        let n = self.tls.writer().write(buf)?;
        ignore_would_block(self.push())?;
        if n == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    /// Sends the buffered records.
    ///
    /// # Errors
    ///
    /// `WouldBlock` while some remain; any socket error.
    pub fn flush(&mut self) -> io::Result<()> {
        self.push()
    }

    /// Sends `close_notify` (as far as the socket takes it) and ends the sending direction.
    ///
    /// # Errors
    ///
    /// Any socket error.
    pub fn shutdown(&mut self) -> io::Result<()> {
        self.tls.send_close_notify();
        ignore_would_block(self.push())?;
        self.socket.shutdown(Shutdown::Write)
    }

    /// Writes rustls' outgoing records until none is left or the socket would block.
    fn push(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The readiness to wait for: what the handler wants, plus writable while records wait to
    /// go out, plus readable while the handshake needs the peer's next flight.
    pub(crate) fn interest(&self, wanted: Interest) -> Interest {
        Interest {
            read: wanted.read || (self.tls.is_handshaking() && !self.tls.wants_write()),
            write: wanted.write || self.tls.wants_write(),
        }
    }

    /// Returns whether decrypted bytes wait inside rustls.
    pub(crate) fn has_buffered_input(&self) -> bool {
        self.plaintext > 0
    }
}

fn ignore_would_block(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(()),
        other => other,
    }
}
