//! How a listener is set up: [`ListenOptions`] (`SO_REUSEPORT`, TLS, the PROXY protocol).

use std::time::Duration;

#[cfg(feature = "tls")]
use super::tls::TlsConfig;
use crate::proxy::TrustedProxies;

/// What a listener does beside accepting: see [`Pool::listen_with_options`](super::Pool::listen_with_options).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ListenOptions {
    /// Set `SO_REUSEPORT` (several processes may listen on one port; the kernel spreads the
    /// connections). Ignored for an adopted listener.
    pub reuse_port: bool,
    /// Run TLS on every accepted connection.
    #[cfg(feature = "tls")]
    pub tls: Option<TlsConfig>,
    /// Read a PROXY protocol header before admitting each connection (TCP listeners only).
    pub proxy_protocol: Option<ProxyProtocol>,
    /// The permissions of a Unix socket listener's file, such as `0o660` (else the umask's).
    pub unix_mode: Option<u32>,
}

impl ListenOptions {
    /// Plain TCP, no options.
    #[must_use]
    pub fn new() -> ListenOptions {
        ListenOptions::default()
    }

    /// Sets `SO_REUSEPORT`.
    #[must_use]
    pub fn reuse_port(mut self, on: bool) -> ListenOptions {
        self.reuse_port = on;
        self
    }

    /// Runs TLS on every accepted connection.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, tls: impl Into<TlsConfig>) -> ListenOptions {
        self.tls = Some(tls.into());
        self
    }

    /// Sets the permissions of a Unix socket listener's file.
    #[must_use]
    pub fn unix_mode(mut self, mode: u32) -> ListenOptions {
        self.unix_mode = Some(mode);
        self
    }

    /// Requires a PROXY protocol header on every connection.
    #[must_use]
    pub fn proxy_protocol(mut self, proxy: ProxyProtocol) -> ListenOptions {
        self.proxy_protocol = Some(proxy);
        self
    }
}

/// The PROXY protocol (HAProxy's, version 1 or 2) on a listener.
///
/// Each accepted connection must start with a header: it is read before the connection is
/// handed to the acceptor, without a buffer slot, and the acceptor sees the client's address it
/// gives ([`ConnInfo::proxied_source`](super::ConnInfo)); a `LOCAL` (health check) or `UNKNOWN`
/// header keeps the peer's. A connection from a peer outside `trusted` is closed at once; one
/// whose header is missing, malformed or longer than
/// [`MAX_HEADER`](crate::proxy::protocol::MAX_HEADER), or not complete within
/// `header_timeout`, is closed.
#[derive(Debug, Clone)]
pub struct ProxyProtocol {
    /// The proxies allowed to send the header.
    pub trusted: TrustedProxies,
    /// How long the header may take to arrive.
    pub header_timeout: Duration,
}

impl ProxyProtocol {
    /// Headers from `trusted` peers, each within `header_timeout`.
    #[must_use]
    pub fn new(trusted: TrustedProxies, header_timeout: Duration) -> ProxyProtocol {
        ProxyProtocol {
            trusted,
            header_timeout,
        }
    }
}
