//! The crate-level error: every layer's error, plus IO.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::http::HttpError;
#[cfg(feature = "crypto")]
use crate::mods::crypto::CryptoError;
#[cfg(feature = "templates")]
use crate::mods::templates::TemplateError;
#[cfg(feature = "redis")]
use crate::mods::websockets::RedisError;
use crate::pool::PoolError;
use crate::routing::RouteError;
#[cfg(feature = "tls")]
use crate::server::TlsError;

/// Everything that can go wrong in microweb, by layer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system IO error (bind, accept, read, write, files).
    Io(io::Error),
    /// A socket-pool operation was refused.
    Pool(PoolError),
    /// A request broke an HTTP rule, or a response could not be written.
    Http(HttpError),
    /// A route could not be registered or a path could not be built.
    Route(RouteError),
    /// A body could not be encrypted, decrypted or authenticated, or a key file was refused.
    #[cfg(feature = "crypto")]
    Crypto(CryptoError),
    /// A template failed to load, parse or render.
    #[cfg(feature = "templates")]
    Template(TemplateError),
    /// A TLS certificate, key or CA file could not be used.
    #[cfg(feature = "tls")]
    Tls(TlsError),
    /// A Redis backend for WebSocket groups could not be made.
    #[cfg(feature = "redis")]
    Redis(RedisError),
    /// An address could not be bound.
    Bind(SocketAddr, io::Error),
    /// `start_*` was called on a server that is already running.
    AlreadyRunning,
    /// `load_module` was given a name no built-in module has.
    UnknownModule(String),
    /// `load_module` named a built-in module this build leaves out: it needs that cargo feature.
    ModuleDisabled {
        /// The module's name, as given to `load_module`.
        module: String,
        /// The cargo feature that builds it.
        feature: &'static str,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "io error: {e}"),
            Error::Pool(e) => write!(f, "pool error: {e}"),
            Error::Http(e) => write!(f, "http error: {e}"),
            Error::Route(e) => write!(f, "route error: {e}"),
            #[cfg(feature = "crypto")]
            Error::Crypto(e) => write!(f, "crypto error: {e}"),
            #[cfg(feature = "templates")]
            Error::Template(e) => write!(f, "template error: {e}"),
            #[cfg(feature = "tls")]
            Error::Tls(e) => write!(f, "tls error: {e}"),
            #[cfg(feature = "redis")]
            Error::Redis(e) => write!(f, "redis error: {e}"),
            Error::Bind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            Error::AlreadyRunning => f.write_str("the server is already running"),
            Error::UnknownModule(name) => write!(f, "no built-in module is named {name:?}"),
            Error::ModuleDisabled { module, feature } => write!(
                f,
                "module {module} is not in this build: enable the cargo feature \"{feature}\""
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::Bind(_, e) => Some(e),
            Error::Pool(e) => Some(e),
            Error::Http(e) => Some(e),
            Error::Route(e) => Some(e),
            #[cfg(feature = "crypto")]
            Error::Crypto(e) => Some(e),
            #[cfg(feature = "templates")]
            Error::Template(e) => Some(e),
            #[cfg(feature = "tls")]
            Error::Tls(e) => Some(e),
            #[cfg(feature = "redis")]
            Error::Redis(e) => Some(e),
            Error::AlreadyRunning | Error::UnknownModule(_) | Error::ModuleDisabled { .. } => None,
        }
    }
}

macro_rules! from_layer {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::$v(e)
            }
        }
    )*};
}

from_layer!(io::Error => Io, PoolError => Pool, HttpError => Http, RouteError => Route);
#[cfg(feature = "crypto")]
from_layer!(CryptoError => Crypto);
#[cfg(feature = "templates")]
from_layer!(TemplateError => Template);
#[cfg(feature = "tls")]
from_layer!(TlsError => Tls);
#[cfg(feature = "redis")]
from_layer!(RedisError => Redis);
