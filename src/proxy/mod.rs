//! Running behind proxies: which peers are trusted, what their forwarding headers say, and the
//! PROXY protocol that HAProxy (and others) put before a connection's first byte.
//!
//! In scope: [`TrustedProxies`] (a list of CIDR blocks), reading `Forwarded` (RFC 7239) and
//! `X-Forwarded-For` / `X-Forwarded-Proto` from a trusted peer ([`forwarded`]), and parsing the
//! PROXY protocol header, versions 1 and 2 ([`protocol`]). All of it is sans-IO: bytes in,
//! facts out.
//! Out of scope: where the bytes come from (the pool reads the PROXY header before it hands the
//! connection to its acceptor; the HTTP connection asks [`forwarded::resolve`] per request).

mod cidr;
pub mod forwarded;
pub mod protocol;

pub use cidr::{Cidr, CidrError, TrustedProxies};
