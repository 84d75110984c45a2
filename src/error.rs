//! The crate-level error: every layer's error, plus IO.

use std::fmt;
use std::io;

/// Everything that can go wrong in microweb, by layer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system IO error (bind, accept, read, write, files).
    Io(io::Error),
    /// A request the HTTP layer refused, or a response it could not write.
    Http(crate::http::HttpError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "io error: {e}"),
            Error::Http(e) => write!(f, "http error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Http(e) => Some(e),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::http::HttpError> for Error {
    fn from(e: crate::http::HttpError) -> Self {
        Error::Http(e)
    }
}
