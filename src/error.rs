//! The crate-level error: every layer's error, plus IO.

use std::fmt;
use std::io;

/// Everything that can go wrong in microweb, by layer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system IO error (bind, accept, read, write, files).
    Io(io::Error),
    /// A socket-pool operation was refused.
    Pool(crate::pool::PoolError),
    /// A route could not be registered or a path could not be built.
    Route(crate::routing::RouteError),
    /// An address could not be bound.
    Bind(std::net::SocketAddr, io::Error),
    /// `start_*` was called on a server that is already running.
    AlreadyRunning,
    /// `load_module` was given a name no built-in module has.
    UnknownModule(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "io error: {e}"),
            Error::Pool(e) => write!(f, "pool error: {e}"),
            Error::Route(e) => write!(f, "route error: {e}"),
            Error::Bind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            Error::AlreadyRunning => f.write_str("the server is already running"),
            Error::UnknownModule(name) => write!(f, "no built-in module is named {name:?}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Pool(e) => Some(e),
            Error::Route(e) => Some(e),
            Error::Bind(_, e) => Some(e),
            Error::AlreadyRunning | Error::UnknownModule(_) => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::pool::PoolError> for Error {
    fn from(e: crate::pool::PoolError) -> Self {
        Error::Pool(e)
    }
}

impl From<crate::routing::RouteError> for Error {
    fn from(e: crate::routing::RouteError) -> Self {
        Error::Route(e)
    }
}
