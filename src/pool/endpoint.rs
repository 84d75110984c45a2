//! [`Endpoint`]: the other end of a connection, an IP socket address or a Unix socket.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Where a connection comes from (or a listener listens): an IP address and port, or a Unix
/// socket. A Unix socket's peer has no address worth naming (clients connect unbound): it shows
/// as `unix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// An IPv4 or IPv6 address and port.
    Ip(SocketAddr),
    /// A peer on a Unix socket.
    Unix,
}

impl Endpoint {
    /// Returns the IP address, `None` for a Unix socket.
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        self.socket_addr().map(|a| a.ip())
    }

    /// Returns the IP address and port, `None` for a Unix socket.
    #[must_use]
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Ip(a) => Some(*a),
            Endpoint::Unix => None,
        }
    }

    /// Returns whether this is a Unix socket.
    #[must_use]
    pub fn is_unix(&self) -> bool {
        matches!(self, Endpoint::Unix)
    }

    /// Returns whether this is an IPv6 address.
    #[must_use]
    pub fn is_ipv6(&self) -> bool {
        matches!(self, Endpoint::Ip(a) if a.is_ipv6())
    }

    /// Returns whether this is a loopback address; a Unix socket is local too.
    #[must_use]
    pub fn is_local(&self) -> bool {
        match self {
            Endpoint::Ip(a) => a.ip().is_loopback(),
            Endpoint::Unix => true,
        }
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Endpoint {
        Endpoint::Ip(addr)
    }
}

impl PartialEq<SocketAddr> for Endpoint {
    fn eq(&self, other: &SocketAddr) -> bool {
        *self == Endpoint::Ip(*other)
    }
}

/// `192.0.2.1:8080`, `[2001:db8::1]:443`, or `unix`.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Ip(a) => a.fmt(f),
            Endpoint::Unix => f.write_str("unix"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_an_address_or_unix() {
        let ip: Endpoint = "[::1]:80".parse::<SocketAddr>().unwrap().into();
        assert_eq!(ip.to_string(), "[::1]:80");
        assert!(ip.is_ipv6() && ip.is_local() && !ip.is_unix());
        assert_eq!(ip.ip(), "::1".parse().ok());
        assert_eq!(Endpoint::Unix.to_string(), "unix");
        assert_eq!(Endpoint::Unix.socket_addr(), None);
        assert!(Endpoint::Unix.is_local());
    }
}
